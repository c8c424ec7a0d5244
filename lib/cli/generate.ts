import { readFileSync } from 'node:fs';
import { apiGenerateDefaults } from '../engine/defaults.js';
import { loadModel } from '../engine/model.js';
import { generationFields } from '../engine/options.js';
import { flagName, parseFields, withDefaults, type Schema } from '../engine/schema.js';
import { discover, fail, integer, loadProgress, rpcWorkers, type CommonFlags } from './common.js';
import { memoryOptions, type MemoryFlags } from './memory-flags.js';

export interface GenerateFlags extends CommonFlags {
  prompt?: string;
  /** Image files (repeatable): the prompt then goes as a user message with them, through the model's chat template. */
  image?: string | string[];
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
  const images = [flags.image ?? []].flat().map((file) => {
    try {
      return readFileSync(String(file));
    } catch (error) {
      fail(`--image ${String(file)}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
  });
  if (images.length > 0 && !entry.mmproj) fail('--image needs a vision model: give its projector with --mmproj PATH (or put its mmproj*.gguf beside it)');
  const model = await loadModel(entry.path, {
    parallel: 1, contextSize: integer(flags, 'ctx-size', 16, 1 << 20), rpc: rpcWorkers(flags), ...memory, lora: entry.lora,
    ...(images.length > 0 ? { mmproj: entry.mmproj } : {}), onProgress: loadProgress(entry.id),
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    // With images, the prompt is a user's message about them, rendered by the model's template (as llama-mtmd-cli does).
    const content = [...images.map((data) => ({ type: 'image' as const, data })), { type: 'text' as const, text: flags.prompt }];
    const input = images.length > 0 ? { chat: await model.renderChat({ messages: [{ role: 'user', content }] }) } : { prompt: flags.prompt };
    const generation = model.start({ ...options, ...input, signal: controller.signal });
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
