#!/usr/bin/env node
// npm run bench:batched — many streams at once: the library's decode rate and step time with greedy
// and with real sampling settings, against llama.cpp's llama-batched-bench (decode only, no
// sampling) from the same vendor/ tree, same threads, in the same run. Rounds interleave the
// contenders and the best round of each is kept (the host is shared and drifts). Prints a markdown
// table for bench/RESULTS.md; the step phases come from model.stats().phases.
//   --model PATH (default: the generated tiny Q8_0 model: 32k vocabulary, so sampling weighs as
//   much as decoding)   --streams 8,32   --tokens 128   --threads N   --rounds 3   --no-llama
//   --gpu-layers N   offload (both sides; -ngl for the tools)
//   --tools DIR      llama.cpp's tools from another build (scripts/bench/gpu.sh: the addon's own
//                    build directory); by default bench/.work/llama-build, built when missing
//   --llama-bench    also llama-bench's single-stream tg, for the 1-stream row
//   --sampling-on cpu,backend   where shimmy samples: on the CPU (default), and/or inside the decode
//                    graph (loadModel's backendSampling); each gets its rows, rounds interleaved
//   --grammar        also every stream under llama.cpp's JSON grammar (grammars/json.gbnf, in an endless array), greedy
//                    and sampled: what JSON mode and tool calls cost each step (CPU sampling only)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { buildLlamaTools, toolsDir as ownToolsDir } from './build-llama-tools.mjs';
import { arg, flag } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const tokens = Number(arg('tokens', 128));
const threads = Number(arg('threads', Math.min(8, availableParallelism())));
const rounds = Number(arg('rounds', 3));
const streamCounts = arg('streams', '8,32').split(',').map(Number);
const placements = arg('sampling-on', 'cpu').split(',');
if (placements.some((p) => p !== 'cpu' && p !== 'backend')) throw new Error('--sampling-on takes cpu and/or backend');
const promptTokens = 8;
const gpuLayers = arg('gpu-layers', undefined);
const toolsDir = arg('tools', ownToolsDir);
const toolArgs = ['-t', String(threads), ...(gpuLayers === undefined ? [] : ['-ngl', gpuLayers])];

let modelPath = arg('model', undefined);
if (!modelPath) {
  const work = join(root, 'bench', '.work');
  mkdirSync(work, { recursive: true });
  modelPath = join(work, 'tiny-q8_0.gguf');
  if (!existsSync(modelPath)) makeFixtureModel(modelPath, { preset: 'tiny', type: 'q8_0' });
}

// What users send: greedy, and llama-server's usual sampling with and without a repeat penalty.
const settings = {
  greedy: { temperature: 0 },
  'temp 0.8, top_k 40, top_p 0.95': { temperature: 0.8, topK: 40, topP: 0.95, seed: 1 },
  '… + repeat_penalty 1.1': { temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1.1, seed: 1 },
};
if (flag('grammar')) {
  if (placements.includes('backend')) throw new Error('--grammar: a grammar is sampled on the CPU only (drop --sampling-on backend)');
  // JSON values in an array that never closes, so no stream runs out of valid tokens before its last.
  const grammar = readFileSync(join(root, 'vendor', 'llama.cpp', 'grammars', 'json.gbnf'), 'utf8').replace('root   ::= object', 'root ::= "[" ws value ("," ws value)*');
  settings['greedy + JSON grammar'] = { temperature: 0, grammar };
  settings['temp 0.8, top_k 40, top_p 0.95 + JSON grammar'] = { temperature: 0.8, topK: 40, topP: 0.95, seed: 1, grammar };
}

/** One round at `streams` streams: decode tok/s over the whole run, and ms per phase per step. */
async function shimmyRound(model, streams, sampling) {
  const before = model.stats();
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, (_, i) =>
    model.complete({ prompt: `Once upon a time ${i}`, maxTokens: tokens, ignoreEos: true, ...sampling })));
  const seconds = (performance.now() - t0) / 1000;
  const after = model.stats();
  const steps = after.steps - before.steps;
  const perStep = (phase) => ((after.phases[phase].seconds - before.phases[phase].seconds) * 1000) / steps;
  const generated = results.reduce((n, r) => n + r.usage.completionTokens, 0);
  return { tokS: generated / seconds, stepMs: (seconds * 1000) / steps, decodeMs: perStep('decode'), sampleMs: perStep('sample'), deliverMs: perStep('deliver') };
}

function batchedBench(streams) {
  const bin = join(toolsDir, 'llama-batched-bench');
  const out = execFileSync(bin, ['-m', modelPath, ...toolArgs, '-c', String(streams * (promptTokens + tokens + 8)), '-b', '2048', '-ub', '512',
    '-npp', String(promptTokens), '-ntg', String(tokens), '-npl', String(streams), '--output-format', 'jsonl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const row = JSON.parse(out.trim().split('\n').at(-1));
  return { tokS: row.speed_tg, stepMs: (row.t_tg * 1000) / tokens };
}

/** llama-bench's tg tok/s: one stream, no batching, no sampling. */
function llamaBench() {
  const out = execFileSync(join(toolsDir, 'llama-bench'), ['-m', modelPath, ...toolArgs, '-p', '0', '-n', String(tokens), '-r', String(rounds), '-o', 'json'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out).find((r) => r.n_gen > 0)?.avg_ts;
}

const useLlama = !flag('no-llama');
if (useLlama && !existsSync(join(toolsDir, 'llama-batched-bench'))) {
  if (toolsDir !== ownToolsDir) throw new Error(`no llama-batched-bench in ${toolsDir}`);
  buildLlamaTools(['llama-bench', 'llama-batched-bench']);
}

const lines = [
  `model: ${modelPath}, ${threads} threads${gpuLayers === undefined ? '' : `, ${gpuLayers} layers offloaded`}, ${tokens} tokens per stream (ignore_eos), best of ${rounds} interleaved rounds`,
  '',
  '| streams | sampling | on | llama-batched-bench tok/s (step ms) | shimmy tok/s (step ms) | ÷ batched-bench | shimmy step: decode / sample / deliver ms | step ÷ greedy step |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const streams of streamCounts) {
  const models = {};
  for (const on of placements) {
    models[on] = await loadModel(modelPath, { parallel: streams, contextSize: promptTokens + tokens + 16 /* per slot */, threads,
      backendSampling: on === 'backend', ...(gpuLayers === undefined ? {} : { gpuLayers: Number(gpuLayers) }) });
    await shimmyRound(models[on], streams, settings.greedy); // warm-up
  }
  const best = Object.fromEntries(placements.map((on) => [on, {}]));
  let llama;
  const keep = (old, next) => (!old || next.tokS > old.tokS ? next : old);
  for (let r = 0; r < rounds; r++) {
    if (useLlama) llama = keep(llama, batchedBench(streams));
    for (const on of placements) {
      for (const [name, sampling] of Object.entries(settings)) best[on][name] = keep(best[on][name], await shimmyRound(models[on], streams, sampling));
    }
  }
  for (const model of Object.values(models)) await model.close();
  for (const on of placements) {
    for (const [name, s] of Object.entries(best[on])) {
      const ratio = llama ? (s.tokS / llama.tokS).toFixed(2) : '–';
      lines.push(`| ${streams} | ${name} | ${on} | ${llama ? `${llama.tokS.toFixed(0)} (${llama.stepMs.toFixed(2)})` : '–'} | ${s.tokS.toFixed(0)} (${s.stepMs.toFixed(2)}) | ${ratio} | ${s.decodeMs.toFixed(2)} / ${s.sampleMs.toFixed(2)} / ${s.deliverMs.toFixed(2)} | ${(s.stepMs / best[on].greedy.stepMs).toFixed(2)} |`);
    }
  }
}
if (useLlama && flag('llama-bench')) lines.push('', `llama-bench tg${tokens} (1 stream): ${llamaBench().toFixed(0)} tok/s`);
console.log(lines.join('\n'));
