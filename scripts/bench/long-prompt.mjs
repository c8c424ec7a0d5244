#!/usr/bin/env node
// npm run bench:long-prompt — what an agent's first turn costs (Claude Code opens with ~32k tokens):
// `shimmy serve` against llama-server from the same vendor/ tree (scripts/bench/build-llama-tools.mjs),
// same model, threads, slots and flash-attention setting, through the same route
// (/v1/completions). For prompts of 2k, 8k and 32k tokens: the time to the first token of a new
// prompt (prefill tok/s), the same prompt again with a short tail (what the prefix cache saves),
// and the worst gap between two tokens of a stream that runs while the long prompt prefills.
// Rounds interleave the servers; each keeps its best round.
//   --model PATH (default stories260K, its context raised)   --sizes 2048,8192,32768   --threads 2
//   --flash-attn on,off   --rounds 2
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../../dist/index.js';
import { startServerProcess, worstGap } from './serve-process.mjs';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const model = arg('model', process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf'));
const sizes = arg('sizes', '2048,8192,32768').split(',').map(Number);
const threads = Number(arg('threads', Math.min(8, availableParallelism())));
const flashSettings = arg('flash-attn', 'on,off').split(',');
const rounds = Number(arg('rounds', 2));
const context = Math.max(...sizes) + 256;

const start = (kind, flash) => startServerProcess(kind,
  ['--model', model, '--ctx-size', String(context), '--parallel', '2', '--threads', String(threads), '--flash-attn', flash],
  ['-m', model, '-c', String(2 * context), '-np', '2', '-t', String(threads), '-fa', flash]);

// Prompts as text (shimmy's /v1/completions takes text only): the same sentence repeated to about
// the size wanted; each starts with a random number, so that no cache serves it. Prefill tok/s
// counts the prompt tokens the server reports.
const sentence = 'Once upon a time there was a little girl named Lily who loved to play in the park with her dog. ';
let perSentence;
let streamTokens; // what the running stream may generate: llama-server caps a slot at the trained context
async function prompt(tokens) {
  if (!perSentence) {
    const m = await loadModel(model, { contextSize: 512, parallel: 1 });
    perSentence = m.tokenize(sentence.repeat(10)).length / 10;
    streamTokens = Math.min(context, m.info.trainedContextLength) - 32;
    await m.close();
  }
  return `${Math.random()} ${sentence.repeat(Math.max(1, Math.round(tokens / perSentence) - 1))}`;
}

async function complete(base, text, maxTokens = 1) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', prompt: text, max_tokens: maxTokens, temperature: 0, cache_prompt: true }), signal: AbortSignal.timeout(300_000) });
  if (!r.ok) throw new Error(`${base}: ${r.status} ${await r.text()}`);
  const body = await r.json();
  return { ms: performance.now() - t0, tokens: body.usage.prompt_tokens };
}

const streamGaps = (base, signal) => worstGap(base, '/v1/completions',
  { model: 'default', prompt: 'Once upon a time', max_tokens: streamTokens, temperature: 0, ignore_eos: true, stream: true }, signal);

/** One round on one server: per size, prefill ms of a new prompt, ms with the prefix cached, a stream's worst gap meanwhile. */
async function round(server, flash) {
  const s = await start(server, flash);
  try {
    await complete(s.base, await prompt(64)); // warm-up
    const out = {};
    for (const size of sizes) {
      const text = await prompt(size);
      const { ms: fresh, tokens } = await complete(s.base, text);
      const { ms: cached } = await complete(s.base, `${text}And then they went home.`);
      const controller = new AbortController();
      const gaps = streamGaps(s.base, controller.signal);
      await new Promise((r) => setTimeout(r, 300)); // the stream is running
      await complete(s.base, await prompt(size));
      controller.abort();
      out[size] = { fresh, tokens, cached, worstGap: await gaps };
    }
    return out;
  } finally {
    await s.stop();
  }
}

const lines = [`model: ${model} (context ${context} per slot, 2 slots), ${threads} threads, best of ${rounds} interleaved rounds`, '',
  '| prompt tokens (as counted: llama-server / shimmy) | flash attn | llama-server: first token ms (prefill tok/s) | shimmy: first token ms (prefill tok/s) | shimmy ÷ llama-server (tok/s) | same prompt + 8 tokens, ms: llama-server / shimmy | worst gap of a running stream meanwhile, ms: llama-server / shimmy |',
  '| --- | --- | --- | --- | --- | --- | --- |'];
for (const flash of flashSettings) {
  const best = { 'llama-server': {}, shimmy: {} };
  for (let r = 0; r < rounds; r++) {
    for (const server of r % 2 ? ['shimmy', 'llama-server'] : ['llama-server', 'shimmy']) {
      const got = await round(server, flash);
      for (const size of sizes) {
        const old = best[server][size];
        best[server][size] = old ? { ...old, fresh: Math.min(old.fresh, got[size].fresh), cached: Math.min(old.cached, got[size].cached), worstGap: Math.min(old.worstGap, got[size].worstGap) } : got[size];
      }
      process.stderr.write(`${server} fa ${flash} round ${r + 1}: ${sizes.map((n) => `${n}: ${got[n].fresh.toFixed(0)} ms, cached ${got[n].cached.toFixed(0)} ms, gap ${got[n].worstGap.toFixed(0)} ms`).join('; ')}\n`);
    }
  }
  for (const size of sizes) {
    const l = best['llama-server'][size];
    const s = best.shimmy[size];
    const tps = (r) => (r.tokens * 1000) / r.fresh;
    lines.push(`| ${size} (${l.tokens} / ${s.tokens}) | ${flash} | ${l.fresh.toFixed(0)} (${tps(l).toFixed(0)}) | ${s.fresh.toFixed(0)} (${tps(s).toFixed(0)}) | ${(tps(s) / tps(l)).toFixed(2)} | ${l.cached.toFixed(0)} / ${s.cached.toFixed(0)} | ${l.worstGap.toFixed(0)} / ${s.worstGap.toFixed(0)} |`);
  }
}
console.log(lines.join('\n'));
