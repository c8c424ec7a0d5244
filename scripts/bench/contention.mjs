#!/usr/bin/env node
// npm run bench:contention — decode speed when other processes want the same cores. For each
// thread count, the library generates (greedy, ignore EOS) with no other load and then beside
// CPU burners (child processes that spin for a bounded time, one per core but one by default),
// alternating. Alone, the best round is kept; beside the burners, the median round (the stalls
// are the point, not a lucky round) and every round's steps. Reports tok/s and the decode phase's
// median and 99th percentile per step (model.stats().phases histogram). ggml's threads meet at a barrier after every
// operation, so one thread that loses its core stalls them all.
//   --model PATH (default: stories260K, else the generated tiny Q8_0)   --streams 1,8
//   --threads 1,2,auto (fixed counts; auto: the default, up to the cores, fewer while that decodes
//   faster)   --burners N   --tokens 256   --rounds 3
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const cores = availableParallelism();
const tokens = Number(arg('tokens', 256));
const rounds = Number(arg('rounds', 3));
const streamCounts = arg('streams', '1,8').split(',').map(Number);
const threadCounts = arg('threads', [...new Set([1, Math.min(8, cores)]), 'auto'].join(',')).split(',').map((t) => (t === 'auto' ? t : Number(t)));
const burnerCount = Number(arg('burners', Math.max(1, cores - 1)));

let modelPath = arg('model', process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf'));
if (!existsSync(modelPath)) {
  mkdirSync(join(root, 'bench', '.work'), { recursive: true });
  modelPath = join(root, 'bench', '.work', 'tiny-q8_0.gguf');
  if (!existsSync(modelPath)) makeFixtureModel(modelPath, { preset: 'tiny', type: 'q8_0' });
}

const burning = new Set();
process.on('exit', () => {
  for (const child of burning) child.kill('SIGKILL'); // even when this script fails
});

/** Processes that each keep a core busy until stopped (and for 10 minutes at most). */
function startBurners(n) {
  const children = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 600_000; while (Date.now() < end);'], { stdio: 'ignore' });
    burning.add(child);
    child.once('exit', () => burning.delete(child));
    return child;
  });
  return () => Promise.all(children.map((child) => new Promise((done) => {
    child.once('exit', done);
    child.kill('SIGKILL');
  })));
}

/** The step time below which `fraction` of the steps fell, from histogram counts. */
function percentile(bounds, counts, fraction) {
  const total = counts.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= fraction * total) return i < bounds.length ? `≤${(bounds[i] * 1000).toPrecision(2)}` : `>${(bounds.at(-1) * 1000).toFixed(0)}`;
  }
  return '–';
}

async function round(model, streams) {
  const before = model.stats();
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, (_, i) =>
    model.complete({ prompt: `Once upon a time ${i}`, maxTokens: tokens, temperature: 0, ignoreEos: true })));
  const tokS = results.reduce((n, r) => n + r.usage.completionTokens, 0) / ((performance.now() - t0) / 1000);
  const after = model.stats();
  return { tokS, counts: after.phases.decode.counts.map((c, i) => c - before.phases.decode.counts[i]), bounds: after.phaseBuckets };
}

const steps = ({ counts, bounds }) => `${percentile(bounds, counts, 0.5)} / ${percentile(bounds, counts, 0.99)}`;

const lines = [
  `model: ${modelPath}, ${cores} cores, ${burnerCount} burner(s), ${tokens} tokens per stream, ${rounds} alternating rounds (alone: best; with burners: median tok/s, all steps)`,
  '',
  '| streams | threads | alone tok/s | alone decode p50 / p99 ms | with burners tok/s | with burners decode p50 / p99 ms | kept |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];
for (const streams of streamCounts) {
  for (const threads of threadCounts) {
    const model = await loadModel(modelPath, { parallel: streams, contextSize: tokens + 32, ...(threads === 'auto' ? {} : { threads }) });
    await round(model, streams); // warm-up
    let alone;
    const contended = [];
    for (let r = 0; r < rounds; r++) {
      const a = await round(model, streams);
      if (!alone || a.tokS > alone.tokS) alone = a;
      const stop = startBurners(burnerCount);
      await new Promise((wait) => setTimeout(wait, 200)); // let them reach their cores
      contended.push(await round(model, streams));
      await stop();
    }
    await model.close();
    const median = contended.map((c) => c.tokS).sort((a, b) => a - b)[Math.floor(rounds / 2)];
    const all = { bounds: contended[0].bounds, counts: contended[0].counts.map((_, i) => contended.reduce((n, c) => n + c.counts[i], 0)) };
    lines.push(`| ${streams} | ${threads} | ${alone.tokS.toFixed(0)} | ${steps(alone)} | ${median.toFixed(0)} | ${steps(all)} | ${(median / alone.tokS).toFixed(2)} |`);
  }
}
console.log(lines.join('\n'));
