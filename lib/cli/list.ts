import { ModelRegistry } from '../models/registry.js';
import { discover, formatSize, type CommonFlags } from './common.js';

export function list(flags: CommonFlags & { short?: boolean }): void {
  const discovery = discover(flags);
  if (flags.short) {
    for (const m of discovery.models) console.log(m.id);
    return;
  }
  const registry = new ModelRegistry(discovery);
  const models = registry.summaries();
  if (models.length === 0) {
    console.log('no models found (searched: ' + discovery.searched.map((s) => s.path).join(', ') + ')');
    return;
  }
  for (const m of models) {
    const tag = m.path === discovery.base?.path ? ' (default)' : '';
    const facts = [m.architecture, m.quantization, m.contextLength ? `ctx ${m.contextLength}` : undefined, formatSize(m.sizeBytes), m.source].filter(Boolean).join(', ');
    const lora = m.lora?.length ? ` + LoRA${m.lora.length > 1 ? ` ×${m.lora.length}` : ''}` : '';
    const vision = m.mmproj ? ' + vision' : '';
    console.log(`${m.id}${tag}${lora}${vision}  ${facts}\n    ${m.path}`);
    if (m.mmproj) console.log(`    + projector ${m.mmproj}`);
    for (const adapter of m.lora ?? []) console.log(`    + ${adapter.path}${adapter.scale === 1 ? '' : ` (scale ${adapter.scale})`}`);
  }
  for (const adapter of discovery.unpairedAdapters) console.log(`LoRA adapter paired with no model: ${adapter} (it pairs with a model of its architecture beside it whose file name its name holds, unless --no-auto-lora)`);
  for (const projector of discovery.unpairedProjectors) console.log(`projector paired with no model: ${projector} (it pairs with the models in its folder)`);
}

export function discoverCommand(flags: CommonFlags): void {
  const discovery = discover(flags);
  console.log('searched:');
  for (const place of discovery.searched) console.log(`  ${place.exists ? '✓' : '✗'} ${place.source.padEnd(11)} ${place.path}`);
  console.log(`found ${discovery.models.length} model(s):`);
  for (const m of discovery.models) console.log(`  ${m.id}  [${m.source}]  ${m.path}${m.lora ? m.lora.map((a) => `\n    + LoRA ${a.path}`).join('') : ''}${m.mmproj ? `\n    + projector ${m.mmproj}` : ''}`);
  for (const adapter of discovery.unpairedAdapters) console.log(`  LoRA adapter paired with no model: ${adapter}`);
}
