#!/usr/bin/env node
// npm run bench:kv — how many streams of a 4,096-token context fit in 1 GiB of KV cache with f16,
// q8_0 and q4_0 caches, with a cell reserve per slot and with one pool shared by the slots, and
// what the streams decode: every count is the model's own (model.stats().kvBytes), and each
// configuration runs its streams at once (a prompt and a short reply each, greedy, best of
// interleaved rounds). The shared pool is the same 1 GiB: its streams hold only the cells they use.
//   --model PATH (default: the generated 0.85B Q4_0 bench model, heads of 64 values)
//   --budget-mib 1024   --context 4096   --prompt 64   --tokens 32   --rounds 2   --threads N
//   --pool-streams 32   streams run in the shared pool (at most the pool's cells / (prompt + tokens))
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const budget = Number(arg('budget-mib', 1024)) * (1 << 20);
const context = Number(arg('context', 4096));
const promptTokens = Number(arg('prompt', 64));
const tokens = Number(arg('tokens', 32));
const rounds = Number(arg('rounds', 2));
const poolStreams = Number(arg('pool-streams', 32));
const threads = arg('threads', undefined);

let modelPath = arg('model', undefined);
if (!modelPath) {
  const work = join(root, 'bench', '.work');
  mkdirSync(work, { recursive: true });
  modelPath = join(work, 'bench-q4_0.gguf');
  if (!existsSync(modelPath)) makeFixtureModel(modelPath, { preset: 'bench', type: 'q4_0' });
}
const common = { contextSize: context, ...(threads ? { threads: Number(threads) } : {}) };

async function round(model, streams) {
  const t0 = performance.now();
  const prompt = Int32Array.from({ length: promptTokens }, (_, i) => 100 + i);
  const results = await Promise.all(Array.from({ length: streams }, (_, s) => {
    const p = prompt.slice();
    p[0] = 100 + s; // a prompt of its own per stream: no stream reuses another's cells
    return model.complete({ prompt: p, maxTokens: tokens, temperature: 0, ignoreEos: true });
  }));
  const seconds = (performance.now() - t0) / 1000;
  return results.reduce((n, r) => n + r.usage.completionTokens, 0) / seconds;
}

const rows = [];
for (const type of ['f16', 'q8_0', 'q4_0']) {
  const kv = { cacheTypeK: type, cacheTypeV: type };
  // One slot's cells, then as many slots as the budget holds.
  const probe = await loadModel(modelPath, { ...common, ...kv, parallel: 1 });
  const perSlot = probe.stats().kvBytes;
  await probe.close();
  const slots = Math.floor(budget / perSlot);
  const perSlotModel = await loadModel(modelPath, { ...common, ...kv, parallel: slots });
  const poolModel = await loadModel(modelPath, { ...common, ...kv, parallel: poolStreams, kvUnified: true, kvSize: slots * context });
  let slotTokS = 0;
  let poolTokS = 0;
  for (let r = 0; r < rounds; r++) {
    slotTokS = Math.max(slotTokS, await round(perSlotModel, slots));
    poolTokS = Math.max(poolTokS, await round(poolModel, poolStreams));
  }
  rows.push(`| ${type} | ${(perSlot / (1 << 20)).toFixed(1)} | ${slots} (${(perSlotModel.stats().kvBytes / (1 << 20)).toFixed(0)} MiB) | ${slotTokS.toFixed(1)} | ${poolStreams} in ${slots * context} cells (${(poolModel.stats().kvBytes / (1 << 20)).toFixed(0)} MiB) | ${poolTokS.toFixed(1)} |`);
  await perSlotModel.close();
  await poolModel.close();
}
console.log([
  `model: ${modelPath}, context ${context} tokens per stream, KV budget ${budget / (1 << 20)} MiB, each stream a ${promptTokens}-token prompt and ${tokens} tokens (greedy), threads ${threads ?? 'default'}, flash attention auto, best of ${rounds} rounds`,
  '',
  '| KV type | MiB per 4,096-token slot | slots in the budget | their tok/s, all at once | shared pool: streams | their tok/s |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n'));
