#!/usr/bin/env node
// npm run bench:lora — decoding with a LoRA adapter applied: shimmy's tok/s and step time at 1
// and N streams against llama.cpp's llama-batched-bench --lora from the same vendor/ tree, same
// adapter and threads, in the same run (best of interleaved rounds); the cost of the adapter
// against no adapter; and streams of two adapter sets at once, which llama.cpp cannot decode in
// one step (shimmy alternates them): each stream's tok/s and its worst gap between tokens.
//   --model PATH (default ../shared/models/stories260K.gguf)   --streams 4   --tokens 128
//   --threads N (default: shimmy's own default, and the cores for llama-batched-bench)   --rounds 3
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureLora } from '../make-fixture-model.mjs';
import { buildLlamaTools, toolsDir } from './build-llama-tools.mjs';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const modelPath = resolve(arg('model', join(root, '..', 'shared', 'models', 'stories260K.gguf')));
const streams = Number(arg('streams', 4));
const tokens = Number(arg('tokens', 128));
const rounds = Number(arg('rounds', 3));
const threadsArg = arg('threads', undefined);
const toolThreads = threadsArg ?? String(Math.min(8, availableParallelism()));
const promptTokens = 8;

const work = join(root, 'bench', '.work');
mkdirSync(work, { recursive: true });
const adapter = join(work, 'lora-bench.gguf');
makeFixtureLora(adapter, modelPath);
if (!existsSync(join(toolsDir, 'llama-batched-bench'))) buildLlamaTools(['llama-batched-bench']);

function batchedBench(npl) {
  const out = execFileSync(join(toolsDir, 'llama-batched-bench'), ['-m', modelPath, '--lora', adapter, '-t', toolThreads, '-c', String(npl * (promptTokens + tokens + 8)),
    '-b', '2048', '-ub', '512', '-npp', String(promptTokens), '-ntg', String(tokens), '-npl', String(npl), '--output-format', 'jsonl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const row = JSON.parse(out.trim().split('\n').at(-1));
  return { tokS: row.speed_tg, stepMs: (row.t_tg * 1000) / tokens };
}

/** `n` streams at once, each with its own `lora`: tok/s overall, ms per step, and per stream its tok/s and worst gap between text chunks. */
async function shimmyRound(model, loras) {
  const before = model.stats();
  const t0 = performance.now();
  const per = await Promise.all(loras.map(async (lora, i) => {
    let last = performance.now();
    let worst = 0;
    let count = 0;
    const started = last;
    for await (const _ of model.generate({ prompt: `Once upon a time ${i}`, maxTokens: tokens, temperature: 0, ignoreEos: true, lora })) {
      const now = performance.now();
      if (count++ > 0) worst = Math.max(worst, now - last);
      last = now;
    }
    return { tokS: tokens / ((last - started) / 1000), worstMs: worst };
  }));
  const seconds = (performance.now() - t0) / 1000;
  const steps = model.stats().steps - before.steps;
  return { tokS: (loras.length * tokens) / seconds, stepMs: (seconds * 1000) / steps, per };
}

const options = (parallel) => ({ parallel, contextSize: promptTokens + tokens + 16, lora: [{ path: adapter }], ...(threadsArg ? { threads: Number(threadsArg) } : {}) });
const on = [{ id: 0, scale: 1 }];
const keep = (old, next) => (!old || next.tokS > old.tokS ? next : old);
const lines = [
  `model: ${modelPath}, adapter: rank 4 on every attention projection (scripts/make-fixture-model.mjs makeFixtureLora), ${tokens} tokens per stream, greedy, threads ${threadsArg ?? `shimmy's default / ${toolThreads} for llama-batched-bench`}, best of ${rounds} interleaved rounds`,
  '',
  '| streams | llama-batched-bench --lora tok/s (step ms) | shimmy with the adapter tok/s (step ms) | ÷ batched-bench | shimmy without an adapter tok/s | adapter ÷ none |',
  '| --- | --- | --- | --- | --- | --- |',
];
for (const n of [1, streams]) {
  const model = await loadModel(modelPath, options(n));
  await shimmyRound(model, Array(n).fill(on)); // warm-up
  let llama, withAdapter, without;
  for (let r = 0; r < rounds; r++) {
    llama = keep(llama, batchedBench(n));
    withAdapter = keep(withAdapter, await shimmyRound(model, Array(n).fill(on)));
    without = keep(without, await shimmyRound(model, Array(n).fill([])));
  }
  await model.close();
  lines.push(`| ${n} | ${llama.tokS.toFixed(0)} (${llama.stepMs.toFixed(3)}) | ${withAdapter.tokS.toFixed(0)} (${withAdapter.stepMs.toFixed(3)}) | ${(withAdapter.tokS / llama.tokS).toFixed(2)} | ${without.tokS.toFixed(0)} | ${(withAdapter.tokS / without.tokS).toFixed(2)} |`);
}

// Two adapter sets (scale 1 and 0.5), `streams` each, against the same streams all on one set.
const mixed = await loadModel(modelPath, options(2 * streams));
const half = [{ id: 0, scale: 0.5 }];
await shimmyRound(mixed, Array(2 * streams).fill(on));
let oneSet, twoSets;
for (let r = 0; r < rounds; r++) {
  oneSet = keep(oneSet, await shimmyRound(mixed, Array(2 * streams).fill(on)));
  twoSets = keep(twoSets, await shimmyRound(mixed, [...Array(streams).fill(on), ...Array(streams).fill(half)]));
}
await mixed.close();
const range = (list, key, digits) => `${Math.min(...list.map((p) => p[key])).toFixed(digits)}–${Math.max(...list.map((p) => p[key])).toFixed(digits)}`;
lines.push('', '| streams | sets | tok/s overall | step ms | each stream tok/s | each stream worst gap ms |', '| --- | --- | --- | --- | --- | --- |');
for (const [name, s] of [['one set', oneSet], ['two sets (scale 1 and 0.5)', twoSets]]) {
  lines.push(`| ${2 * streams} | ${name} | ${s.tokS.toFixed(0)} | ${s.stepMs.toFixed(3)} | ${range(s.per, 'tokS', 0)} | ${range(s.per, 'worstMs', 2)} |`);
}
console.log(lines.join('\n'));
