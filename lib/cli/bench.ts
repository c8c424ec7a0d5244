// `shimmy bench [MODEL]`: how fast a model processes prompts and generates, loaded as `shimmy
// serve` loads it (the same defaults and flags), at 1 stream and at --parallel streams, printed as
// llama-bench prints its table (or as JSON). Prompts are random tokens, as llama-bench's, and
// differ on every run, so the prefix cache never makes a run look faster than a new prompt is.
import { defaultContextSize, loadDefaults } from '../engine/defaults.js';
import { readGgufHeader } from '../engine/gguf-header.js';
import { loadModel, type Model } from '../engine/model.js';
import { ModelRegistry } from '../models/registry.js';
import { native } from '../native.js';
import { discover, fail, formatSize, integer, loadProgress, rpcWorkers, type CommonFlags } from './common.js';
import { memoryOptions, type MemoryFlags } from './memory-flags.js';

export interface BenchFlags extends CommonFlags, MemoryFlags {
  'n-prompt'?: number;
  'n-gen'?: number;
  repetitions?: number;
  parallel?: number;
  threads?: number;
  'ctx-size'?: number;
  output?: string;
  rpc?: string | string[];
}

/** One test: `pp512` or `tg128`, at `streams` streams, `samples` in tokens per second (all streams together). */
interface BenchResult {
  test: string;
  streams: number;
  samples: number[];
}

export async function bench(name: string | undefined, flags: BenchFlags): Promise<void> {
  // A test's context holds its tokens and one more: at most the context's own limit.
  const nPrompt = integer(flags, 'n-prompt', 0, (1 << 20) - 1) ?? 512;
  const nGen = integer(flags, 'n-gen', 0, (1 << 20) - 1) ?? 128;
  const repetitions = integer(flags, 'repetitions', 1, 1000) ?? 5;
  const parallel = integer(flags, 'parallel', 1, 256) ?? loadDefaults.parallel;
  const threads = integer(flags, 'threads', 1, 1024);
  const output = String(flags.output ?? 'md');
  if (output !== 'md' && output !== 'json') fail(`--output must be md or json (got '${output}')`);
  if (nPrompt === 0 && nGen === 0) fail('nothing to measure: --n-prompt and --n-gen are both 0');
  const memory = memoryOptions(flags);
  const registry = new ModelRegistry(discover(flags));
  const entry = name ? registry.resolve(name) : registry.base;
  if (!entry) fail(name ? `model '${name}' not found (see 'shimmy list')` : 'no model found: pass a name, --model PATH, or put a .gguf file in ./models');
  // The server's context unless a test needs more (llama-bench sizes its context to the test, too).
  const contextSize = integer(flags, 'ctx-size', 16, 1 << 20) ?? Math.max(serverContextSize(entry.path), nPrompt + 1, nGen + 1);
  if (memory.kvSize !== undefined && memory.kvSize < contextSize) fail(`--kv-size ${memory.kvSize} is smaller than the ${contextSize} tokens of context a stream needs here (see --ctx-size, -p and -n)`);
  const model = await loadModel(entry.path, { parallel, contextSize, threads, rpc: rpcWorkers(flags), ...memory, lora: entry.lora, onProgress: loadProgress(entry.id) });
  const progress = progressLine();
  try {
    const results = await measure(model, parallel, nPrompt, nGen, repetitions, progress).finally(() => progress(undefined));
    const facts = { model, threads, nPrompt, nGen };
    process.stdout.write(output === 'json' ? `${JSON.stringify(results.map((r) => jsonRow(facts, r)), null, 2)}\n` : table(facts, results));
  } finally {
    await model.close();
  }
}

/** Each test at 1 stream, then at `parallel`: one untimed run, then `repetitions` timed ones. */
async function measure(model: Model, parallel: number, nPrompt: number, nGen: number, repetitions: number, progress: (text: string | undefined) => void): Promise<BenchResult[]> {
  const tests: [test: string, run: (streams: number) => Promise<number>][] = [];
  if (nPrompt > 0) tests.push([`pp${nPrompt}`, (streams) => promptRun(model, streams, nPrompt)]);
  if (nGen > 0) tests.push([`tg${nGen}`, (streams) => genRun(model, streams, nGen)]);
  const results: BenchResult[] = [];
  for (const streams of [...new Set([1, parallel])]) {
    for (const [test, run] of tests) {
      const samples: number[] = [];
      // One run first, untimed, as llama-bench's warm-up: the first decode of a shape costs more.
      for (let i = 0; i <= repetitions; i++) {
        progress(`${test} at ${streams} stream${streams > 1 ? 's' : ''}: run ${i}/${repetitions}`);
        const tokensPerSecond = await run(streams);
        if (i > 0) samples.push(tokensPerSecond);
      }
      results.push({ test, streams, samples });
    }
  }
  return results;
}

/** What `shimmy serve` would give this model when not told: min(the cap, its trained context). */
function serverContextSize(path: string): number {
  try {
    const header = readGgufHeader(path);
    return defaultContextSize(Number(header.get(`${String(header.get('general.architecture'))}.context_length`) ?? 0));
  } catch {
    return defaultContextSize(0); // the load says what is wrong with the file
  }
}

function randomTokens(model: Model, count: number): Int32Array {
  const tokens = new Int32Array(count);
  for (let i = 0; i < count; i++) tokens[i] = Math.floor(Math.random() * model.info.vocabSize);
  return tokens;
}

/** `streams` prompts of `nPrompt` tokens at once, one token generated each: prompt tokens per second. */
async function promptRun(model: Model, streams: number, nPrompt: number): Promise<number> {
  const prompts = Array.from({ length: streams }, () => randomTokens(model, nPrompt));
  const started = performance.now();
  await Promise.all(prompts.map((prompt) => model.complete({ prompt, maxTokens: 1, temperature: 0 })));
  return (streams * nPrompt * 1000) / (performance.now() - started);
}

/** `streams` generations of `nGen` tokens at once, each after a one-token prompt: generated tokens per second. */
async function genRun(model: Model, streams: number, nGen: number): Promise<number> {
  const prompts = Array.from({ length: streams }, () => randomTokens(model, 1));
  const started = performance.now();
  const results = await Promise.all(prompts.map((prompt) => model.complete({ prompt, maxTokens: nGen, temperature: 0, ignoreEos: true })));
  const ms = performance.now() - started;
  const short = results.find((r) => r.usage.completionTokens < nGen);
  if (short) fail(`a generation stopped after ${short.usage.completionTokens} of ${nGen} tokens (${short.finishReason}): raise --ctx-size or lower --n-gen`);
  return (streams * nGen * 1000) / ms;
}

/** A line on stderr that says which test runs: rewritten in place on a terminal, one line per test otherwise. */
function progressLine(): (text: string | undefined) => void {
  const tty = process.stderr.isTTY === true;
  let lastTest = '';
  return (text) => {
    if (tty) {
      process.stderr.write(text === undefined ? '\r\x1b[K' : `\r\x1b[Kbench: ${text}`);
      return;
    }
    const test = text?.replace(/: run .*/, '') ?? '';
    if (text !== undefined && test !== lastTest) process.stderr.write(`bench: ${test}\n`);
    lastTest = test;
  };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** The sample standard deviation, as llama-bench's (0 for one sample). */
function stddev(values: number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

interface Facts {
  model: Model;
  threads: number | undefined;
  nPrompt: number;
  nGen: number;
}

function backendName(): string {
  const gpu = native().systemInfo().gpuBackend;
  return gpu && gpu !== 'cpu' ? `${gpu.toUpperCase()},CPU` : 'CPU';
}

function formatParameters(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  return `${(n / 1e3).toFixed(2)} K`;
}

function table({ model, threads }: Facts, results: BenchResult[]): string {
  const info = model.info;
  const rows = [
    ['model', 'size', 'params', 'backend', 'threads', 'streams', 'test', 't/s'],
    ...results.map((r) => [info.description, formatSize(info.sizeBytes), formatParameters(info.parameters), backendName(), threads === undefined ? 'auto' : String(threads), String(r.streams), r.test,
      `${mean(r.samples).toFixed(2)} ± ${stddev(r.samples).toFixed(2)}`]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const left = new Set([0, 3]); // text columns; numbers are right-aligned, as llama-bench's
  const line = (row: string[]) => `| ${row.map((cell, c) => (left.has(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |\n`;
  const rule = `| ${widths.map((w, c) => (left.has(c) ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |\n`;
  const note = `\ncontext ${info.contextSize} tokens per stream, KV ${info.kv.cacheTypeK}/${info.kv.cacheTypeV}${info.kv.kvUnified ? `, one pool of ${info.kv.kvSize}` : ''}; t/s counts every stream's tokens\n`;
  return line(rows[0]!) + rule + rows.slice(1).map(line).join('') + note;
}

function jsonRow({ model, threads, nPrompt, nGen }: Facts, r: BenchResult) {
  const info = model.info;
  return {
    model_filename: info.path,
    model_type: info.description,
    model_size: info.sizeBytes,
    model_n_params: info.parameters,
    backends: backendName(),
    n_threads: threads ?? null, // null: the adaptive default
    n_prompt: r.test.startsWith('pp') ? nPrompt : 0,
    n_gen: r.test.startsWith('tg') ? nGen : 0,
    n_streams: r.streams,
    n_ctx: info.contextSize,
    type_k: info.kv.cacheTypeK,
    type_v: info.kv.cacheTypeV,
    test: r.test,
    avg_ts: mean(r.samples),
    stddev_ts: stddev(r.samples),
    samples_ts: r.samples,
  };
}
