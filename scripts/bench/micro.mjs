#!/usr/bin/env node
// npm run bench:micro — tinybench micro-benchmarks of the JS↔native boundary: tokenize,
// detokenize, and delivering one decode step's chunks (8 requests) to JavaScript, both to
// listeners (what the server uses) and to async iterators (what library users write). Uses
// stories260K when SHIMMY_TEST_MODEL points at it, else the tiny fixture with a 32k vocabulary.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Bench } from 'tinybench';
import { Generation, loadModel } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';

const root = resolve(import.meta.dirname, '..', '..');
let path = process.env.SHIMMY_TEST_MODEL;
if (!path || !existsSync(path)) {
  mkdirSync(join(root, 'bench', '.work'), { recursive: true });
  path = join(root, 'bench', '.work', 'tiny-q8_0.gguf');
  if (!existsSync(path)) makeFixtureModel(path, { preset: 'tiny', type: 'q8_0' });
}
const model = await loadModel(path, { parallel: 8, contextSize: 512 });
const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. '.repeat(4);
const tokens = model.tokenize(text, true);
const step = Array.from({ length: 8 }, (_, i) => ({ id: 1000 + i, kind: 0, text: ' word' }));

// Eight live requests as the engine's event handler sees them (Model.dispatch is the function the
// thread-safe call runs once per decode step).
function liveRequests(kind) {
  model.live.clear();
  const generations = step.map((e) => {
    const g = new Generation(e.id, () => {});
    model.live.set(e.id, g);
    return g;
  });
  if (kind === 'listener') {
    let chars = 0;
    for (const g of generations) g.listen({ text: (t) => { chars += t.length; }, done() {}, error() {} });
    return () => chars;
  }
  return generations.map((g) => g[Symbol.asyncIterator]());
}

const bench = new Bench({ time: 1000, warmupTime: 200 });
bench.add(`tokenize ${text.length} chars (${tokens.length} tokens)`, () => model.tokenize(text, true));
bench.add(`detokenize ${tokens.length} tokens`, () => model.detokenize(tokens));
bench.add('deliver one step: 8 chunks to 8 listeners', () => model.dispatch(step), { beforeAll: () => void liveRequests('listener') });
let iterators;
bench.add('deliver one step: 8 chunks to 8 async iterators (and await them)', async () => {
  model.dispatch(step);
  await Promise.all(iterators.map((it) => it.next()));
}, { beforeAll: () => { iterators = liveRequests('iterator'); } });
await bench.run();
model.live.clear();
await model.close();

console.log(`\nmodel: ${path.split('/').pop()}, Node ${process.version}\n`);
console.log('| task | mean | p99 | ops/s |');
console.log('| --- | --- | --- | --- |');
for (const task of bench.tasks) {
  const r = task.result;
  const us = (ms) => `${(ms * 1000).toFixed(2)} µs`;
  const latency = r.latency ?? r;
  console.log(`| ${task.name} | ${us(latency.mean)} | ${us(latency.p99)} | ${Math.round(r.throughput?.mean ?? r.hz).toLocaleString('en')} |`);
}
