#!/usr/bin/env node
// npm run bench:vision — images through `shimmy serve` against llama-server from the same vendor/
// tree, same model, projector, threads and slots, over /v1/chat/completions with data-URL images:
// the first token's latency of a new image (its encoding and prefill), the same image again in a
// second turn (shimmy reuses its cells; llama-server turns prefix reuse off with a projector), and
// the worst gap between two tokens of a text stream while 4 image requests prefill beside it
// (and without them). Rounds interleave the servers; each keeps its best round.
// The projector is a random fixture (scripts/make-fixture-projector.mjs) sized like a small real
// one for the model's width; only its cost matters here, not its text.
//   --model PATH (default: the bench fixture, 0.85B Q4_0)   --image-size 112 --patch 14 (64 tokens)
//   --hidden 384 --layers 6   --threads 2   --rounds 2
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { readGgufHeader } from '../../dist/engine/gguf-header.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';
import { makeFixtureProjector, projectorTokens } from '../make-fixture-projector.mjs';
import { pngImage } from '../make-fixture-image.mjs';
import { arg } from './args.mjs';
import { startServerProcess, worstGap } from './serve-process.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const work = join(root, 'bench', '.work');
mkdirSync(work, { recursive: true });
const model = arg('model', join(work, 'bench-q4_0.gguf'));
if (!existsSync(model)) makeFixtureModel(model, { preset: 'bench', type: 'q4_0' });
const header = readGgufHeader(model);
const width = Number(header.get(`${header.get('general.architecture')}.embedding_length`));
const imageSize = Number(arg('image-size', 112));
const patchSize = Number(arg('patch', 14));
const hidden = Number(arg('hidden', 384));
const layers = Number(arg('layers', 6));
const threads = Number(arg('threads', Math.min(8, availableParallelism())));
const rounds = Number(arg('rounds', 2));
const mmproj = join(work, `mmproj-${width}-${imageSize}-${patchSize}-${hidden}x${layers}.gguf`);
if (!existsSync(mmproj)) makeFixtureProjector(mmproj, { width, imageSize, patchSize, hidden, layers });
const imageTokens = projectorTokens({ imageSize, patchSize });

const start = (kind) => startServerProcess(kind,
  ['--model', model, '--mmproj', mmproj, '--ctx-size', '1024', '--parallel', '5', '--threads', String(threads)],
  ['-m', model, '--mmproj', mmproj, '-c', '5120', '-np', '5', '-t', String(threads)]);

// A new picture each time (random noise), so no cache can serve it unless asked to.
const picture = (seed) => {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) >>> 24);
  return `data:image/png;base64,${pngImage(imageSize, imageSize, () => [next(), next(), next()]).toString('base64')}`;
};
const ask = (url, text = 'What is in this picture?') => [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text }] }];

/** ms to the first streamed token of a chat request. */
async function firstToken(base, messages) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(300_000),
    body: JSON.stringify({ model: 'default', messages, max_tokens: 2, temperature: 0, stream: true, cache_prompt: true }) });
  if (!r.ok) throw new Error(`${base}: ${r.status} ${await r.text()}`);
  let first;
  for await (const chunk of r.body) {
    if (first === undefined && /"content":"[^"]/.test(Buffer.from(chunk).toString())) first = performance.now() - t0;
  }
  return first ?? performance.now() - t0;
}

const textStream = (base, signal) => worstGap(base, '/v1/chat/completions',
  { model: 'default', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 900, temperature: 0, ignore_eos: true, stream: true }, signal);

/** A text stream's worst gap, alone for a while, then with 4 new images prefilling beside it. */
async function gaps(base, seed, withImages) {
  const controller = new AbortController();
  const gap = textStream(base, controller.signal);
  await new Promise((r) => setTimeout(r, 500)); // the stream is running
  if (withImages) await Promise.all([1, 2, 3, 4].map((k) => firstToken(base, ask(picture(seed + k)))));
  else await new Promise((r) => setTimeout(r, 2000));
  controller.abort();
  return gap;
}

async function round(kind, r) {
  const s = await start(kind);
  try {
    await firstToken(s.base, ask(picture(1))); // warm-up: the projector's first graph
    const seed = 1000 * (r + 1);
    const url = picture(seed);
    const fresh = await firstToken(s.base, ask(url));
    const again = await firstToken(s.base, ask(url));
    return { fresh, again, alone: await gaps(s.base, seed + 10, false), beside: await gaps(s.base, seed + 20, true) };
  } finally {
    await s.stop();
  }
}

const best = {};
for (let r = 0; r < rounds; r++) {
  for (const kind of r % 2 ? ['shimmy', 'llama-server'] : ['llama-server', 'shimmy']) {
    const got = await round(kind, r);
    process.stderr.write(`${kind} round ${r + 1}: ${Object.entries(got).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}\n`);
    best[kind] = best[kind] ? Object.fromEntries(Object.entries(got).map(([k, v]) => [k, Math.min(v, best[kind][k])])) : got;
  }
}
const l = best['llama-server'];
const s = best.shimmy;
console.log([`model: ${model} (width ${width}), projector: ${imageSize}² images in ${patchSize}-pixel patches (${imageTokens} tokens), ViT ${hidden} × ${layers} layers; ${threads} threads, 5 slots; best of ${rounds} interleaved rounds`, '',
  '| | llama-server | shimmy | llama-server ÷ shimmy |', '| --- | --- | --- | --- |',
  `| first token of a new image, ms | ${l.fresh.toFixed(0)} | ${s.fresh.toFixed(0)} | ${(l.fresh / s.fresh).toFixed(2)} |`,
  `| the same image again, ms | ${l.again.toFixed(0)} | ${s.again.toFixed(0)} | ${(l.again / s.again).toFixed(2)} |`,
  `| worst gap of a text stream, ms | ${l.alone.toFixed(0)} | ${s.alone.toFixed(0)} | |`,
  `| the same while 4 images prefill, ms | ${l.beside.toFixed(0)} | ${s.beside.toFixed(0)} | ${(l.beside / s.beside).toFixed(2)} |`].join('\n'));
