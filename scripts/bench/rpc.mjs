#!/usr/bin/env node
// npm run bench:rpc — a model split over RPC workers on loopback: generation tok/s and prompt
// processing, local vs 1 and 2 workers, every computing process on the same thread count. shimmy
// (loadModel({rpc}) with `shimmy worker` processes) beside llama.cpp's own llama-bench --rpc with
// ggml-rpc-server processes, built from the same vendor/ tree (scripts/bench/build-llama-tools.mjs).
// Contenders alternate for --rounds rounds and each keeps its best, since this host drifts.
//   --model PATH (default: the generated 0.85B Q4_0 "bench" fixture)   --tokens 32   --prompt 32
//   --threads 1   --rounds 2
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { buildLlamaTools } from './build-llama-tools.mjs';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const tokens = Number(arg('tokens', 32));
const promptTokens = Number(arg('prompt', 32));
const threads = Number(arg('threads', 1));
const rounds = Number(arg('rounds', 2));

const work = join(root, 'bench', '.work');
mkdirSync(work, { recursive: true });
let model = arg('model', undefined);
if (!model) {
  model = join(work, 'bench-q4_0.gguf');
  if (!existsSync(model)) makeFixtureModel(model, { preset: 'bench', type: 'q4_0' });
}
const tools = buildLlamaTools(['llama-bench', 'ggml-rpc-server']);

/** A worker process on a fixed loopback port; resolves once it listens. */
async function startWorker(kind, port) {
  const child = kind === 'shimmy'
    ? spawn(process.execPath, [join(root, 'bin', 'shimmy.js'), 'worker', '--bind', `127.0.0.1:${port}`, '--threads', String(threads)], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(join(tools, 'ggml-rpc-server'), ['-H', '127.0.0.1', '-p', String(port), '-t', String(threads)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise((resolve, reject) => {
    const check = (data) => {
      output += data;
      if (output.includes('Listening on')) resolve(); // vendor/patches/0004 prints it once the socket listens
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', (code) => reject(new Error(`${kind} worker exited (${code}): ${output}`)));
  });
  return child;
}

async function withWorkers(kind, count, fn) {
  const ports = Array.from({ length: count }, (_, i) => 50160 + i);
  const children = [];
  try {
    for (const port of ports) children.push(await startWorker(kind, port));
    return await fn(ports.map((p) => `127.0.0.1:${p}`));
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Prompts of exactly promptTokens tokens, as llama-bench's; each run's differs from its first token
// on, so no run reuses another's cached prefix.
const promptOf = (seed) => Int32Array.from({ length: promptTokens }, (_, i) => 100 + ((seed * 7919 + i * 104729) % 20000));

/** Time to first token and generation rate after it, of one fresh request. */
async function timed(m, seed) {
  const t0 = performance.now();
  let first = 0;
  const generation = m.generate({ prompt: promptOf(seed), maxTokens: tokens, temperature: 0, ignoreEos: true });
  for await (const _ of generation) first ||= performance.now();
  const end = performance.now();
  const { completionTokens } = (await generation.result).usage;
  return { ttft: first - t0, pp: promptTokens / ((first - t0) / 1000), tg: (completionTokens - 1) / ((end - first) / 1000) };
}

async function shimmyRun(rpc) {
  const m = await loadModel(model, { parallel: 1, contextSize: 512, threads, rpc });
  try {
    await timed(m, 0); // warm-up: over RPC, each new graph shape is sent once, then recomputed by id
    const runs = [await timed(m, 1), await timed(m, 2)];
    return { tg: Math.max(...runs.map((r) => r.tg)), pp: Math.max(...runs.map((r) => r.pp)), ttft: Math.min(...runs.map((r) => r.ttft)) };
  } finally {
    await m.close();
  }
}

function llamaBenchRun(rpc) {
  const args = ['-m', model, '-t', String(threads), '-p', String(promptTokens), '-n', String(tokens), '-r', '2', '-o', 'json', '-ngl', '99'];
  if (rpc.length) args.push('--rpc', rpc.join(','));
  const out = JSON.parse(execFileSync(join(tools, 'llama-bench'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const pp = out.find((r) => r.n_prompt > 0 && r.n_gen === 0)?.avg_ts;
  return { tg: out.find((r) => r.n_gen > 0)?.avg_ts, pp, ttft: pp ? (promptTokens / pp) * 1000 : undefined };
}

const configs = [['local', 0], ['1 worker', 1], ['2 workers', 2]];
const best = new Map();
const keep = (key, r) => {
  const b = best.get(key) ?? { tg: 0, pp: 0, ttft: Infinity };
  best.set(key, { tg: Math.max(b.tg, r.tg ?? 0), pp: Math.max(b.pp, r.pp ?? 0), ttft: Math.min(b.ttft, r.ttft ?? Infinity) });
};
for (let round = 0; round < rounds; round++) {
  for (const [name, count] of configs) {
    keep(`llama ${name}`, count ? await withWorkers('llama', count, async (rpc) => llamaBenchRun(rpc)) : llamaBenchRun([]));
    keep(`shimmy ${name}`, count ? await withWorkers('shimmy', count, shimmyRun) : await shimmyRun([]));
    process.stderr.write(`round ${round + 1}: ${name} done\n`);
  }
}

console.log(`\n${model.split('/').pop()}, ${threads} thread(s) per computing process, prompt ${promptTokens} tokens, ${tokens} generated, best of ${rounds} rounds\n`);
console.log('| configuration | llama-bench tg tok/s | shimmy tg tok/s | ÷ | llama-bench pp tok/s | shimmy prompt tok/s (to first token) | ÷ | shimmy time to first token |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name] of configs) {
  const l = best.get(`llama ${name}`);
  const s = best.get(`shimmy ${name}`);
  console.log(`| ${name} | ${l.tg.toFixed(2)} | ${s.tg.toFixed(2)} | ${(s.tg / l.tg).toFixed(2)} | ${l.pp.toFixed(1)} | ${s.pp.toFixed(1)} | ${(s.pp / l.pp).toFixed(2)} | ${s.ttft.toFixed(0)} ms |`);
}
