#!/usr/bin/env node
// npm run bench:defaults — what a user who gives no `threads` gets, load after load: single-stream
// and 8-stream generation tok/s of fresh loads with the default (the thread governor) against the
// same model loaded with each fixed count, interleaved round by round. Each round's default is
// divided by that round's best fixed count, so the host's drift between rounds cancels out.
// Issue 24, item 0: every load ≥ 0.9×, the median ≥ 0.97×. A control, a second load of the largest
// fixed count divided by the first, shows how far the host's noise alone moves such a ratio.
//   --model PATH (default stories260K)   --rounds 8   --tokens 1500   --streams 1,8
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const model = arg('model', process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf'));
if (!existsSync(model)) throw new Error(`no model at ${model} (--model PATH)`);
const rounds = Number(arg('rounds', 8));
const tokens = Number(arg('tokens', 1500));
const streamCounts = arg('streams', '1,8').split(',').map(Number);
const fixed = Array.from({ length: Math.min(8, availableParallelism()) }, (_, i) => i + 1);

/** A fresh load: one warm-up request, then `streams` greedy generations of `tokens` at once. */
async function tokS(threads, streams) {
  const m = await loadModel(model, { parallel: streams, contextSize: tokens + 16, ...(threads ? { threads } : {}) });
  try {
    await m.complete({ prompt: 'Once upon a time', maxTokens: 16, temperature: 0 });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: streams }, (_, i) =>
      m.complete({ prompt: `Once upon a time ${i}`, maxTokens: tokens, temperature: 0, ignoreEos: true })));
    const n = results.reduce((sum, r) => sum + r.usage.completionTokens, 0);
    return (n * 1000) / (performance.now() - t0);
  } finally {
    await m.close();
  }
}

const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
const lines = [`model: ${model}, ${tokens} tokens per stream (greedy, ignore_eos), ${rounds} rounds, a fresh load per figure`, '',
  '| streams | default tok/s (median) | best fixed tok/s (median) | default ÷ best fixed: worst / median / best | noise: one load of the largest count ÷ another, worst / median / best |', '| --- | --- | --- | --- | --- |'];
const control = fixed.length + 1; // stands for a second load of fixed.at(-1)
for (const streams of streamCounts) {
  const ratios = [];
  const controls = [];
  const defaults = [];
  const bests = [];
  for (let r = 0; r < rounds; r++) {
    // The order changes every round, so neither side always runs right after a load of the other.
    const order = r % 2 ? [control, ...fixed, 0] : [0, ...fixed, control];
    const got = {};
    for (const threads of order) got[threads] = await tokS(threads === control ? fixed.at(-1) : threads, streams);
    const best = Math.max(...fixed.map((t) => got[t]));
    ratios.push(got[0] / best);
    controls.push(got[control] / got[fixed.at(-1)]);
    defaults.push(got[0]);
    bests.push(best);
    process.stderr.write(`streams ${streams} round ${r + 1}: default ${got[0].toFixed(0)}, ${fixed.map((t) => `${t} threads ${got[t].toFixed(0)}`).join(', ')}, control ${got[control].toFixed(0)}\n`);
  }
  lines.push(`| ${streams} | ${quantile(defaults, 0.5).toFixed(0)} | ${quantile(bests, 0.5).toFixed(0)} | ${Math.min(...ratios).toFixed(2)} / ${quantile(ratios, 0.5).toFixed(2)} / ${Math.max(...ratios).toFixed(2)} | ${Math.min(...controls).toFixed(2)} / ${quantile(controls, 0.5).toFixed(2)} / ${Math.max(...controls).toFixed(2)} |`);
}
console.log(lines.join('\n'));
