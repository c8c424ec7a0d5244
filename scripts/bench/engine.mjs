#!/usr/bin/env node
// npm run bench:engine — generation tok/s of the library, single stream and 8 streams, on
// stories260K (SHIMMY_TEST_MODEL or ../shared/models) and on generated models, side by side with
// llama.cpp's llama-bench from the same vendor/ tree (scripts/bench/build-llama-tools.mjs), same
// threads, in the same run. Prints a markdown table to paste into bench/RESULTS.md.
//   --presets tiny,bench   --types f32,q8_0,q4_0   --tokens 128   --threads N   --no-llama-bench
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { toolsDir } from './build-llama-tools.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const arg = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
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

async function shimmy(path, streams) {
  const model = await loadModel(path, { parallel: 8, contextSize: 512, threads });
  const run = () => Promise.all(Array.from({ length: streams }, (_, i) =>
    model.complete({ prompt: `Once upon a time ${i}`, maxTokens: tokens, temperature: 0, ignoreEos: true })));
  await run(); // warm-up
  const t0 = performance.now();
  const results = await run();
  const seconds = (performance.now() - t0) / 1000;
  await model.close();
  return results.reduce((n, r) => n + r.usage.completionTokens, 0) / seconds;
}

function llamaBench(path) {
  const bin = join(toolsDir, 'llama-bench');
  if (process.argv.includes('--no-llama-bench') || !existsSync(bin)) return undefined;
  const out = execFileSync(bin, ['-m', path, '-t', String(threads), '-p', '0', '-n', String(tokens), '-r', '3', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out).find((r) => r.n_gen > 0)?.avg_ts;
}

const rows = ['| model | llama-bench tg | shimmy 1 stream | ratio | shimmy 8 streams (total) | 8 / 1 |', '| --- | --- | --- | --- | --- | --- |'];
for (const m of models) {
  const ref = llamaBench(m.path);
  const one = await shimmy(m.path, 1);
  const eight = await shimmy(m.path, 8);
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(1));
  rows.push(`| ${m.name} | ${f(ref)} | ${f(one)} | ${ref ? (one / ref).toFixed(2) : 'n/a'} | ${f(eight)} | ${(eight / one).toFixed(2)} |`);
  console.error(rows.at(-1));
}
console.log(`\n${threads} threads, ${tokens} generated tokens per stream, greedy, parallel 8, context 512 per slot\n`);
console.log(rows.join('\n'));
