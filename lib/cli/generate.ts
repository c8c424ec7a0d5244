import { seedGenerateDefaults } from '../engine/defaults.js';
import { loadModel } from '../engine/model.js';
import { discover, fail, loadProgress, number, rpcWorkers, type CommonFlags } from './common.js';

export interface GenerateFlags extends CommonFlags {
  prompt?: string;
  'max-tokens'?: number;
  temperature?: number;
  'top-k'?: number;
  'top-p'?: number;
  'min-p'?: number;
  'repeat-penalty'?: number;
  seed?: number;
  stop?: string | string[];
  'ctx-size'?: number;
  rpc?: string | string[];
}

export async function generate(flags: GenerateFlags): Promise<void> {
  if (typeof flags.prompt !== 'string') fail('--prompt "TEXT" is required');
  const discovery = discover(flags);
  const entry = discovery.base;
  if (!entry) fail('no model found: pass --model PATH, set SHIMMY_BASE_GGUF, or put a .gguf file in ./models');
  const model = await loadModel(entry.path, { parallel: 1, contextSize: number(flags, 'ctx-size'), rpc: rpcWorkers(flags), onProgress: loadProgress(entry.id) });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    const generation = model.generate({
      prompt: flags.prompt,
      maxTokens: number(flags, 'max-tokens') ?? seedGenerateDefaults.maxTokens,
      temperature: number(flags, 'temperature') ?? seedGenerateDefaults.temperature,
      topK: number(flags, 'top-k'),
      topP: number(flags, 'top-p'),
      minP: number(flags, 'min-p'),
      repeatPenalty: number(flags, 'repeat-penalty'),
      seed: number(flags, 'seed'),
      stop: flags.stop === undefined ? undefined : ([] as string[]).concat(flags.stop).map(String),
      signal: controller.signal,
    });
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
