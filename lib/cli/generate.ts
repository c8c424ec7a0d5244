import { apiGenerateDefaults } from '../engine/defaults.js';
import { loadModel } from '../engine/model.js';
import { generationFields } from '../engine/options.js';
import { flagName, parseFields, withDefaults, type Schema } from '../engine/schema.js';
import { discover, fail, integer, loadProgress, rpcWorkers, type CommonFlags } from './common.js';
import { memoryOptions, type MemoryFlags } from './memory-flags.js';

export interface GenerateFlags extends CommonFlags {
  prompt?: string;
  'ctx-size'?: number;
  rpc?: string | string[];
  /** Each generation option under its flag (lib/engine/options.ts): --max-tokens, --top-k, … */
  [flag: string]: unknown;
}

/** `shimmy generate`'s options: the generation options with the seed's defaults, under their flags. */
export const cliGenerateFields = withDefaults(generationFields, apiGenerateDefaults);

/** The sampling flags, declared by the generation options: flag, description, default. */
export function generationFlags(): [flag: string, doc: string, fallback: number | boolean | undefined][] {
  return Object.values(cliGenerateFields as Schema).flatMap((field) => {
    const flag = flagName(field);
    if (!flag) return [];
    const fallback = field.default;
    // sade would send an empty list or text as if given: only scalar defaults are declared.
    return [[`--${flag}`, field.doc, typeof fallback === 'number' || typeof fallback === 'boolean' ? fallback : undefined]];
  });
}

export async function generate(flags: GenerateFlags): Promise<void> {
  if (typeof flags.prompt !== 'string') fail('--prompt "TEXT" is required');
  // Checked by the same declarations as the API's fields, before a model is loaded.
  const options = parseFields(cliGenerateFields, flags, { flags: true });
  const memory = memoryOptions(flags as MemoryFlags);
  const discovery = discover(flags);
  const entry = discovery.base;
  if (!entry) fail('no model found: pass --model PATH, set SHIMMY_BASE_GGUF, or put a .gguf file in ./models');
  const model = await loadModel(entry.path, { parallel: 1, contextSize: integer(flags, 'ctx-size', 16, 1 << 20), rpc: rpcWorkers(flags), ...memory, lora: entry.lora, onProgress: loadProgress(entry.id) });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    const generation = model.start({ ...options, prompt: flags.prompt, signal: controller.signal });
    for await (const chunk of generation) process.stdout.write(chunk.text);
    const result = await generation.result;
    process.stdout.write('\n');
    if (flags.verbose) {
      const t = result.timings;
      process.stderr.write(`${result.usage.completionTokens} tokens, ${t.tokensPerSecond.toFixed(1)} tok/s, finish: ${result.finishReason}\n`);
    }
  } finally {
    await model.close();
  }
}
