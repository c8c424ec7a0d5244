#!/usr/bin/env node
// npm run bench:engine — generation tok/s of the library, single stream and 8 streams, on
// stories260K (SHIMMY_TEST_MODEL or ../shared/models) and on generated models, side by side with
// llama.cpp's llama-bench from the same vendor/ tree (scripts/bench/build-llama-tools.mjs), same
// threads, in the same run. Prints a markdown table to paste into bench/RESULTS.md.
// node-llama-cpp 3.21.1 joins with --node-llama-cpp (installed into bench/.work on first use).
//   --presets tiny,bench   --types f32,q8_0,q4_0   --tokens 128   --threads N   --rounds 3   --no-llama-bench   --node-llama-cpp
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { toolsDir } from './build-llama-tools.mjs';
import { nodeLlamaCppTokS } from './node-llama-cpp.mjs';
import { arg, flag } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const tokens = Number(arg('tokens', 128));
const threads = Number(arg('threads', Math.min(8, availableParallelism())));
const presets = arg('presets', 'tiny').split(',');
const types = arg('types', 'q8_0,q4_0').split(',');

const models = [];
const stories = process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf');
if (existsSync(stories)) models.push({ name: 'stories260K (F32)', path: stories });
const work = join(root, 'bench', '.work');
mkdirSync(work, { recursive: true });
for (const preset of presets) {
  for (const type of types) {
    const path = join(work, `${preset}-${type}.gguf`);
    if (!existsSync(path)) makeFixtureModel(path, { preset, type });
    models.push({ name: `generated ${preset} ${type.toUpperCase()}`, path });
  }
}

async function shimmy(path, parallel, streams) {
  const model = await loadModel(path, { parallel, contextSize: 512, threads });
  const run = () => Promise.all(Array.from({ length: streams }, (_, i) =>
    model.complete({ prompt: `Once upon a time ${i}`, maxTokens: tokens, temperature: 0, ignoreEos: true })));
  await run(); // warm-up
  let best = 0;
  for (let r = 0; r < 2; r++) {
    const t0 = performance.now();
    const results = await run();
    best = Math.max(best, results.reduce((n, x) => n + x.usage.completionTokens, 0) / ((performance.now() - t0) / 1000));
  }
  await model.close();
  return best;
}

function llamaBench(path) {
  const bin = join(toolsDir, 'llama-bench');
  if (flag('no-llama-bench') || !existsSync(bin)) return undefined;
  const out = execFileSync(bin, ['-m', path, '-t', String(threads), '-p', '0', '-n', String(tokens), '-r', '2', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out).find((r) => r.n_gen > 0)?.avg_ts;
}

const rows = [
  '| model | llama-bench tg | shimmy 1 stream (parallel 1) | ÷ llama-bench | node-llama-cpp | shimmy ÷ node-llama-cpp | shimmy 1 stream (parallel 8) | shimmy 8 streams (total) | 8 streams ÷ 1 stream |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
const rounds = Number(arg('rounds', 3));
const best = (xs) => (xs.every((x) => x === undefined) ? undefined : Math.max(...xs.filter((x) => x !== undefined)));
for (const m of models) {
  // The machine is shared and its speed drifts by tens of percent within minutes: the contenders
  // run interleaved, `rounds` times, and each keeps its best round.
  const samples = { ref: [], one: [], nlc: [], oneOfEight: [], eight: [] };
  for (let round = 0; round < rounds; round++) {
    samples.ref.push(llamaBench(m.path));
    samples.one.push(await shimmy(m.path, 1, 1));
    if (flag('node-llama-cpp')) samples.nlc.push(nodeLlamaCppTokS(m.path, threads, tokens));
    samples.oneOfEight.push(await shimmy(m.path, 8, 1));
    samples.eight.push(await shimmy(m.path, 8, 8));
  }
  const [ref, one, nlc, oneOfEight, eight] = ['ref', 'one', 'nlc', 'oneOfEight', 'eight'].map((k) => best(samples[k]));
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(1));
  const r = (a, b) => (a !== undefined && b !== undefined ? (a / b).toFixed(2) : 'n/a');
  rows.push(`| ${m.name} | ${f(ref)} | ${f(one)} | ${r(one, ref)} | ${f(nlc)} | ${r(one, nlc)} | ${f(oneOfEight)} | ${f(eight)} | ${r(eight, one)} |`);
  console.error(rows.at(-1));
}
console.log(`\n${threads} threads, ${tokens} generated tokens per stream, greedy, ignore EOS, context 512 per slot\n`);
console.log(rows.join('\n'));
