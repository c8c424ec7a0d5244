// shimmy's automatic LoRA pairing: a GGUF file beside a model whose name holds `lora` or
// `adapter` and whose header says it is an adapter is no model of its own; it goes with the model
// of its architecture in its folder whose file stem its name holds (the longest such stem), at
// scale 1. One that fits no model there is reported, not loaded.
import { basename, dirname } from 'node:path';
import { readGgufHeader } from '../engine/gguf-header.js';
import type { LoraFile } from '../engine/lora.js';

const ADAPTER_NAME_RE = /lora|adapter/i;

function architecture(path: string): string | undefined {
  try {
    const arch = readGgufHeader(path).get('general.architecture');
    return typeof arch === 'string' ? arch : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the file is a LoRA adapter by name and header (only files so named are read). */
export function isAdapterFile(path: string): boolean {
  if (!ADAPTER_NAME_RE.test(basename(path))) return false;
  try {
    return readGgufHeader(path).get('general.type') === 'adapter';
  } catch {
    return false; // an unreadable file stays a model, which its load will refuse with the reason
  }
}

const stemOf = (path: string) => basename(path).replace(/\.gguf$/i, '').toLowerCase();

/** For each model path, the adapters that pair with it; and the adapters that pair with none. */
export function pairAdapters(models: readonly string[], adapters: readonly string[]): { pairs: Map<string, LoraFile[]>; unpaired: string[] } {
  const pairs = new Map<string, LoraFile[]>();
  const unpaired: string[] = [];
  for (const adapter of adapters) {
    const name = stemOf(adapter);
    const arch = architecture(adapter);
    let best: string | undefined;
    for (const model of models) {
      if (dirname(model) !== dirname(adapter) || !name.includes(stemOf(model))) continue;
      if (best && stemOf(model).length <= stemOf(best).length) continue;
      if (architecture(model) === arch) best = model;
    }
    if (best) pairs.set(best, [...(pairs.get(best) ?? []), { path: adapter, scale: 1 }]);
    else unpaired.push(adapter);
  }
  return { pairs, unpaired };
}
