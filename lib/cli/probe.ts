import { loadModel } from '../engine/model.js';
import { describeWorker } from './worker.js';
import { ModelRegistry } from '../models/registry.js';
import { discover, fail, formatSize, loadProgress, rpcWorkers, type CommonFlags } from './common.js';

export async function probe(name: string | undefined, flags: CommonFlags & { rpc?: string | string[] }): Promise<void> {
  const registry = new ModelRegistry(discover(flags));
  const entry = name ? registry.resolve(name) : registry.base;
  if (!entry) fail(name ? `model '${name}' not found (see 'shimmy list')` : 'no model found: pass a name, --model PATH, or put a .gguf file in ./models');
  const started = performance.now();
  const model = await loadModel(entry.path, { parallel: 1, contextSize: 512, rpc: rpcWorkers(flags), lora: entry.lora, onProgress: loadProgress(entry.id) });
  const loadMs = performance.now() - started;
  try {
    const info = model.info;
    console.log(`model:         ${entry.id}`);
    console.log(`path:          ${entry.path}`);
    console.log(`load time:     ${loadMs.toFixed(0)} ms`);
    console.log(`architecture:  ${info.architecture} (${info.description})`);
    console.log(`parameters:    ${(info.parameters / 1e6).toFixed(2)} M, ${formatSize(info.sizeBytes)}, ${info.quantization}`);
    console.log(`context:       ${info.trainedContextLength} tokens (trained)`);
    for (const a of info.lora) console.log(`lora adapter:  ${a.id} ${a.path} (scale ${a.scale})`);
    console.log(`chat template: ${info.chatTemplate ? 'yes' : 'none (ChatML fallback)'}`);
    for (const w of model.workers()) console.log(`rpc worker:    ${describeWorker(w)}`);
    const r = await model.complete({ prompt: 'Once upon a time', maxTokens: 16, temperature: 0 });
    console.log(`test output:   ${JSON.stringify(r.text)} (${r.timings.tokensPerSecond.toFixed(1)} tok/s)`);
    console.log('status:        ok');
  } finally {
    await model.close();
  }
}
