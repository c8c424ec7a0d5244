// Vision projectors found like models: a GGUF whose header says it is a projector (architecture
// `clip`, llama.cpp's mmproj files) is no model of its own. It goes with the models in its folder
// (a Hugging Face snapshot keeps `mmproj-*.gguf` beside the weights): the one whose name holds a
// model's file stem goes with that model, else the first by name goes with each model there. One
// in a folder without models is reported, not loaded.
import { basename, dirname } from 'node:path';
import { readGgufHeader } from '../engine/gguf-header.js';

/** Whether the file is a projector by its header (only files whose name holds `mmproj` or `proj` are read). */
export function isProjectorFile(path: string): boolean {
  if (!/proj/i.test(basename(path))) return false;
  try {
    return readGgufHeader(path).get('general.architecture') === 'clip';
  } catch {
    return false;
  }
}

const stemOf = (path: string) => basename(path).replace(/\.gguf$/i, '').toLowerCase();

/** Each model's projector (by model path), and the projectors that go with no model. */
export function pairProjectors(models: string[], projectors: string[]): { pairs: Map<string, string>; unpaired: string[] } {
  const pairs = new Map<string, string>();
  const used = new Set<string>();
  for (const model of models) {
    const here = projectors.filter((p) => dirname(p) === dirname(model)).sort();
    if (here.length === 0) continue;
    const named = here.filter((p) => stemOf(p).includes(stemOf(model)));
    const chosen = named[0] ?? here[0]!;
    pairs.set(model, chosen);
    used.add(chosen);
  }
  return { pairs, unpaired: projectors.filter((p) => !used.has(p) && !models.some((m) => dirname(m) === dirname(p))) };
}
