// The engine on generated fixture models: loading, errors, sampling options, batching,
// cancellation. Runs on a fresh machine with no ../shared.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backendSamplingWithheld, loadModel, ShimmyError } from '../dist/index.js';
import { batchingChangesResults } from './helpers/backend.mjs';
import { corruptModel, fixtureModel, notAModel, root, truncatedModel } from './helpers/fixtures.mjs';

async function collect(generation) {
  const chunks = [];
  for await (const chunk of generation) chunks.push(chunk.text);
  return { chunks, result: await generation.result };
}

async function rejectsWithCode(promiseOrFn, code) {
  await assert.rejects(promiseOrFn, (error) => {
    assert.ok(error instanceof ShimmyError, `expected a ShimmyError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

describe('loading', () => {
  test('a missing file is model_not_found', async () => {
    await rejectsWithCode(loadModel('/nonexistent/model.gguf'), 'model_not_found');
  });
  test('a non-GGUF, a corrupt and a truncated file are invalid_model', async () => {
    await rejectsWithCode(loadModel(notAModel()), 'invalid_model');
    await rejectsWithCode(loadModel(corruptModel()), 'invalid_model');
    await rejectsWithCode(loadModel(truncatedModel(0.5)), 'invalid_model');
    await rejectsWithCode(loadModel(truncatedModel(0.001)), 'invalid_model');
  });
  test('reports progress and can be aborted', async () => {
    const seen = [];
    const model = await loadModel(fixtureModel(), { contextSize: 128, parallel: 1, onProgress: (p) => seen.push(p) });
    assert.ok(seen.length > 0 && seen.at(-1) === 1, `progress ended at ${seen.at(-1)}`);
    await model.close();
    const controller = new AbortController();
    controller.abort();
    await rejectsWithCode(loadModel(fixtureModel(), { signal: controller.signal }), 'aborted');
  });
  test('the event loop keeps running while a model loads', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const model = await loadModel(fixtureModel('f32', 'phi-3'), { contextSize: 128, parallel: 1, useMmap: false });
    clearInterval(timer);
    assert.ok(ticks > 0, 'no timer fired during the load');
    await model.close();
  });
});

describe('a loaded model', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 256, parallel: 4, queueLimit: 4 });
  });
  after(() => model.close());

  test('exposes metadata', () => {
    assert.equal(model.info.architecture, 'llama');
    assert.equal(model.info.quantization, 'F32');
    assert.equal(model.info.vocabSize, 32000);
    assert.equal(model.info.layers, 2);
    assert.equal(model.info.contextSize, 256);
    assert.equal(model.info.chatTemplate, null);
    assert.ok(model.info.parameters > 4_000_000);
  });

  test('tokenizes and detokenizes with the real llama tokenizer', () => {
    const tokens = model.tokenize('Hello world');
    assert.deepEqual(Array.from(tokens), [15043, 3186]); // ids of ggml-vocab-llama-spm
    assert.equal(model.tokenize('Hello', true)[0], 1); // BOS
    assert.equal(model.detokenize(tokens), 'Hello world');
  });

  test('generates exactly maxTokens and reports real usage', async () => {
    const { chunks, result } = await collect(model.generate({ prompt: 'Hello world', maxTokens: 12, temperature: 0 }));
    assert.equal(result.finishReason, 'length');
    assert.equal(result.usage.completionTokens, 12);
    assert.equal(result.usage.promptTokens, 3); // BOS + 2
    assert.equal(result.usage.totalTokens, 15);
    assert.equal(chunks.join(''), result.text);
    assert.ok(result.text.length > 0);
  });

  test('greedy decoding is deterministic and seeds make sampling repeatable', async () => {
    const a = await model.complete({ prompt: 'The cat', maxTokens: 16, temperature: 0 });
    const b = await model.complete({ prompt: 'The cat', maxTokens: 16, temperature: 0 });
    assert.equal(a.text, b.text);
    const s1 = await model.complete({ prompt: 'The cat', maxTokens: 16, temperature: 1.5, seed: 7, topK: 0, topP: 1, minP: 0 });
    const s2 = await model.complete({ prompt: 'The cat', maxTokens: 16, temperature: 1.5, seed: 7, topK: 0, topP: 1, minP: 0 });
    assert.equal(s1.text, s2.text);
  });

  test('a stop string ends generation and is not included', async () => {
    const full = await model.complete({ prompt: 'Hello', maxTokens: 20, temperature: 0 });
    const stop = full.text.slice(5, 9);
    const cut = await model.complete({ prompt: 'Hello', maxTokens: 20, temperature: 0, stop });
    assert.equal(cut.finishReason, 'stop');
    assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
  });

  test('a grammar constrains the output, and multi-byte characters are never split', async () => {
    const generation = model.generate({ prompt: 'Hi', maxTokens: 8, temperature: 0, grammar: 'root ::= "é"+' });
    const { chunks, result } = await collect(generation);
    assert.match(result.text, /^é+$/);
    for (const chunk of chunks) assert.match(chunk, /^é*$/);
  });

  test('penalties and logit bias change the output', async () => {
    const plain = await model.complete({ prompt: 'Hello', maxTokens: 10, temperature: 0 });
    const biased = await model.complete({ prompt: 'Hello', maxTokens: 3, temperature: 0, logitBias: { 3186: 100 } });
    assert.equal(biased.text, ' world world world');
    const penalised = await model.complete({ prompt: 'Hello', maxTokens: 10, temperature: 0, repeatPenalty: 2, presencePenalty: 1 });
    assert.equal(penalised.usage.completionTokens, 10);
    assert.ok(typeof plain.text === 'string');
  });

  test('invalid options are invalid_request before any work starts', async () => {
    const bad = [{ temperature: -1 }, { temperature: 'hot' }, { topP: 2 }, { maxTokens: 0 }, { maxTokens: 1.5 }, { stop: [1] }, { logitBias: { 5: Number.NaN } }, { logitBias: { 99999999: 1 } }];
    for (const options of bad) {
      assert.throws(() => model.generate({ prompt: 'Hi', ...options }), (e) => e.code === 'invalid_request', JSON.stringify(options));
    }
    // A grammar is parsed off the main thread: one that does not parse is refused through `started`.
    const unparsable = model.generate({ prompt: 'Hi', grammar: 'root ::= (' });
    await assert.rejects(unparsable.started, (e) => e.code === 'invalid_request');
    await assert.rejects(unparsable.result, (e) => e.code === 'invalid_request');
    assert.equal(model.stats().slotsBusy, 0);
  });

  test('a prompt that cannot fit is context_overflow, never truncated', () => {
    const long = 'word '.repeat(400);
    assert.throws(() => model.generate({ prompt: long, maxTokens: 10 }), (e) => e.code === 'context_overflow');
    assert.throws(() => model.generate({ prompt: 'Hi', maxTokens: 255 }), (e) => e.code === 'context_overflow');
  });

  test('identical prompts reuse the cached prefix', async () => {
    const prompt = 'Once upon a time in a land far away there lived';
    await model.complete({ prompt, maxTokens: 4, temperature: 0 });
    const second = await model.complete({ prompt, maxTokens: 4, temperature: 0 });
    assert.equal(second.usage.cachedTokens, second.usage.promptTokens - 1);
    const other = await model.complete({ prompt: 'Completely different words', maxTokens: 4, temperature: 0 });
    assert.ok(other.usage.cachedTokens <= 1);
  });

  // On a GPU backend this fixture's random weights leave near-tied logits that then differ.
  test('concurrent greedy requests return what a single request returns', { skip: batchingChangesResults }, async () => {
    const prompts = ['Hello', 'The cat sat', 'Once upon a time', 'A B C', 'Hello', 'Why', 'Numbers 1 2 3', 'The end'];
    const single = [];
    for (const prompt of prompts) single.push((await model.complete({ prompt, maxTokens: 24, temperature: 0 })).text);
    const together = await Promise.all(prompts.map((prompt) => model.complete({ prompt, maxTokens: 24, temperature: 0 })));
    assert.deepEqual(together.map((r) => r.text), single);
  });

  test('a full wait queue is queue_full, not an unbounded wait', async () => {
    const running = [];
    let refused;
    try {
      for (let i = 0; i < 20; i++) running.push(model.generate({ prompt: 'Hi', maxTokens: 200, temperature: 0 }));
    } catch (error) {
      refused = error;
    }
    assert.equal(refused?.code, 'queue_full');
    assert.equal(running.length, 8); // 4 slots + queueLimit 4
    for (const g of running) g.cancel();
    await Promise.all(running.map((g) => g.result));
  });
});

// llama.cpp's backend sampling (loadModel's backendSampling): the chain runs inside the decode
// graph. Under `npm run test:vulkan` the option is withheld (sampling stays on the CPU), which
// these tests then check instead.
describe('sampling inside the decode graph', () => {
  const inGraph = (tokens) => (backendSamplingWithheld() ? 0 : tokens);
  let model;
  let cpu;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 256, parallel: 4, backendSampling: true });
    cpu = await loadModel(fixtureModel(), { contextSize: 256, parallel: 4 });
  });
  after(async () => {
    await model.close();
    await cpu.close();
  });
  const sampledInGraph = async (run) => {
    const before = model.stats().backendSampledTokens;
    const result = await run();
    return { result, sampled: model.stats().backendSampledTokens - before };
  };

  const sameAsCpu = async (settings) => {
    for (const prompt of ['Hello', 'Once upon a time']) {
      for (const options of settings) {
        const request = { prompt, maxTokens: 16, ...options };
        const { result, sampled } = await sampledInGraph(() => model.complete(request));
        assert.equal(result.text, (await cpu.complete(request)).text, JSON.stringify(request));
        assert.equal(sampled, inGraph(result.usage.completionTokens));
      }
    }
  };
  const reproducible = async (settings) => {
    for (const options of settings) {
      const request = { prompt: 'The cat', maxTokens: 16, seed: 7, ...options };
      const { result, sampled } = await sampledInGraph(() => model.complete(request));
      assert.equal((await model.complete(request)).text, result.text);
      assert.equal(sampled, inGraph(result.usage.completionTokens));
    }
  };

  test('greedy text is the CPU sampler\'s, with logit bias and ignore_eos, every token sampled in the graph', async () => {
    await sameAsCpu([{ temperature: 0 }, { temperature: 0, ignoreEos: true, logitBias: { 3186: 3 } }]);
    const biased = await model.complete({ prompt: 'Hello', maxTokens: 3, temperature: 0, logitBias: { 3186: 100 } });
    assert.equal(biased.text, ' world world world');
  });

  test('a seed reproduces its text', () => reproducible([{ temperature: 1.5, topK: 0, topP: 1, minP: 0 }, { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 }]));

  test('repeat, presence and frequency penalties in the graph', async () => {
    await sameAsCpu([{ temperature: 0, repeatPenalty: 2, presencePenalty: 1, frequencyPenalty: 0.5 }]);
    await reproducible([{ temperature: 0.8, topK: 40, topP: 0.95, repeatPenalty: 1.1 }]);
  });

  test('a top_k or repeat_last_n past the vocabulary keeps every token instead of aborting in ggml', () =>
    reproducible([{ temperature: 0.8, topK: 1 << 20 }, { temperature: 0.8, topK: 32000, penaltyLastN: 1 << 20, repeatPenalty: 1.1 }]));

  test('requests with a grammar or logprobs sample on the CPU, in the same steps as graph-sampled ones', async () => {
    const { result: [plain, constrained, withLogprobs], sampled } = await sampledInGraph(() => Promise.all([
      model.complete({ prompt: 'Hello', maxTokens: 12, temperature: 0, ignoreEos: true }),
      model.complete({ prompt: 'Hi', maxTokens: 8, temperature: 0, grammar: 'root ::= "é"+' }),
      model.complete({ prompt: 'The cat', maxTokens: 6, temperature: 0, logprobs: 2 }),
    ]));
    assert.match(constrained.text, /^é+$/);
    assert.equal(withLogprobs.logprobs.length, withLogprobs.usage.completionTokens);
    for (const entry of withLogprobs.logprobs) assert.equal(entry.top.length, 2);
    assert.equal(sampled, inGraph(plain.usage.completionTokens));
  });

  test('slots pass from request to request, cancelled ones included, and none leaks', async () => {
    const runs = Array.from({ length: 24 }, (_, i) => {
      const generation = model.generate({ prompt: `Story ${i}`, maxTokens: 6 + (i % 5), temperature: 0.7, seed: i });
      if (i % 3 === 0) setImmediate(() => generation.cancel());
      return generation.result;
    });
    const results = await Promise.all(runs);
    for (const [i, r] of results.entries()) assert.ok(r.finishReason === 'length' || (i % 3 === 0 && r.finishReason === 'cancelled'), `${i}: ${r.finishReason}`);
    assert.equal(model.stats().slotsBusy, 0);
    const { result, sampled } = await sampledInGraph(() => model.complete({ prompt: 'Hello', maxTokens: 5, temperature: 0 }));
    assert.equal(sampled, inGraph(5));
    assert.equal(result.text, (await cpu.complete({ prompt: 'Hello', maxTokens: 5, temperature: 0 })).text);
  });
});

// A pause takes effect at the engine's next step, however late the engine's thread runs.
async function untilPaused(model, slots) {
  for (let i = 0; i < 1000 && model.stats().slotsPaused !== slots; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(model.stats().slotsPaused, slots, 'the engine honours the pause');
}

describe('pausing', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 2048, parallel: 2, batchSize: 64 });
  });
  after(() => model.close());

  test('a paused generation keeps its slot and produces nothing; resumed, it runs to the end while the other slot went on', async () => {
    const paused = model.generate({ prompt: 'Hello', maxTokens: 600, temperature: 0, ignoreEos: true });
    let text = '';
    paused.listen({ text: (t) => (text += t), done: () => {}, error: () => {} });
    await paused.started;
    paused.pause();
    try {
      await untilPaused(model, 1);
      const held = model.stats().tokensGenerated;
      const other = await model.complete({ prompt: 'Once', maxTokens: 40, temperature: 0, ignoreEos: true });
      assert.equal(other.usage.completionTokens, 40, 'the other slot generates meanwhile');
      assert.equal(model.stats().tokensGenerated, held + 40, 'the paused request produced nothing');
      assert.equal(model.stats().slotsBusy, 1, 'and kept its slot');
    } finally {
      paused.resume();
    }
    const result = await paused.result;
    assert.equal(result.usage.completionTokens, 600);
    assert.equal(result.text, text);
  });

  test('a paused request does not hold its slot against requests waiting for one: it runs on', async () => {
    const paused = model.generate({ prompt: 'Hello', maxTokens: 300, temperature: 0, ignoreEos: true });
    let pieces = 0;
    paused.listen({ text: () => pieces++, done: () => {}, error: () => {} });
    await paused.started;
    paused.pause();
    await new Promise((r) => setTimeout(r, 30));
    const before = pieces;
    // Both slots taken (the paused one and this), so the third waits: the pause is not honoured
    // until it has a slot.
    const busy = model.complete({ prompt: 'Once', maxTokens: 200, temperature: 0, ignoreEos: true });
    const waiting = model.complete({ prompt: 'Twice', maxTokens: 5, temperature: 0 });
    const results = await Promise.all([busy, waiting]);
    assert.deepEqual(results.map((r) => r.usage.completionTokens), [200, 5]);
    assert.ok(pieces > before, 'the paused request ran on while another waited for a slot');
    paused.resume();
    assert.equal((await paused.result).usage.completionTokens, 300);
  });

  test('a paused request can be cancelled, and one paused before it got a slot starts when resumed', async () => {
    const a = model.generate({ prompt: 'Hello', maxTokens: 2000, temperature: 0, ignoreEos: true });
    await a.started;
    a.pause();
    a.cancel();
    assert.equal((await a.result).finishReason, 'cancelled');
    // Both slots held, so b surely waits for one when its pause arrives (with a slot free, b could
    // finish its 5 tokens on a loaded host before the pause reached the engine).
    const holders = [0, 1].map(() => model.generate({ prompt: 'Hold', maxTokens: 2000, temperature: 0, ignoreEos: true }));
    await Promise.all(holders.map((h) => h.started));
    const b = model.generate({ prompt: 'word '.repeat(400), maxTokens: 5, temperature: 0 });
    b.pause();
    for (const h of holders) h.cancel();
    await Promise.all(holders.map((h) => h.result));
    await untilPaused(model, 1);
    const before = model.stats().tokensGenerated;
    await new Promise((r) => setTimeout(r, 50));
    const generated = model.stats().tokensGenerated;
    b.resume();
    assert.equal(generated, before, 'nothing was generated for the paused request');
    assert.equal((await b.result).usage.completionTokens, 5);
    assert.equal(model.stats().slotsBusy, 0);
  });
});

describe('cancellation', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 2048, parallel: 2, batchSize: 64 });
  });
  after(() => model.close());

  test('abort mid-stream stops within a step and says cancelled', async () => {
    const controller = new AbortController();
    const generation = model.generate({ prompt: 'Hello', maxTokens: 2000, temperature: 0, ignoreEos: true, signal: controller.signal });
    let seen = 0;
    for await (const _ of generation) {
      if (++seen === 5) controller.abort();
    }
    const result = await generation.result;
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.usage.completionTokens < 50, `${result.usage.completionTokens} tokens after abort`);
  });

  test('abort during prompt processing stops before generation', async () => {
    const prompt = 'word '.repeat(1500); // 24 chunks of 64 tokens
    const generation = model.generate({ prompt, maxTokens: 10, temperature: 0 });
    setImmediate(() => generation.cancel());
    const result = await generation.result;
    assert.equal(result.finishReason, 'cancelled');
    assert.equal(result.usage.completionTokens, 0);
    const next = await model.complete({ prompt: 'Hello', maxTokens: 3, temperature: 0 });
    assert.equal(next.usage.completionTokens, 3);
  });

  test('breaking out of the iterator cancels the request', async () => {
    const generation = model.generate({ prompt: 'Hello', maxTokens: 1000, temperature: 0, ignoreEos: true });
    for await (const _ of generation) break;
    assert.equal((await generation.result).finishReason, 'cancelled');
  });

  test('200 cancelled requests leak no slot', async () => {
    const results = [];
    for (let i = 0; i < 200; i++) {
      const controller = new AbortController();
      const generation = model.generate({ prompt: `Story number ${i}`, maxTokens: 500, temperature: 0.8, signal: controller.signal });
      if (i % 2) controller.abort();
      else setImmediate(() => controller.abort());
      results.push(generation.result);
      if (results.length === 2) await Promise.all(results.splice(0));
    }
    await Promise.all(results);
    const stats = model.stats();
    assert.equal(stats.slotsBusy, 0);
    assert.equal(stats.queued, 0);
    assert.equal(model.activeRequests, 0);
    const after = await model.complete({ prompt: 'Hello', maxTokens: 5, temperature: 0 });
    assert.equal(after.usage.completionTokens, 5);
  });

  test('close() cancels what is running and later calls fail with model_closed', async () => {
    const other = await loadModel(fixtureModel(), { contextSize: 512, parallel: 1 });
    const generation = other.generate({ prompt: 'Hello', maxTokens: 400, temperature: 0, ignoreEos: true });
    await other.close();
    assert.equal((await generation.result).finishReason, 'cancelled');
    assert.throws(() => other.generate({ prompt: 'Hi' }), (e) => e.code === 'model_closed');
  });
});

describe('quantized weights (AMX/AVX-512 kernels where the CPU has them)', () => {
  for (const type of ['q8_0', 'q4_0']) {
    test(`${type} loads, generates, and batches like a single request`, async () => {
      const model = await loadModel(fixtureModel(type), { contextSize: 256, parallel: 4 });
      assert.equal(model.info.quantization, type.toUpperCase());
      const single = await model.complete({ prompt: 'Hello world', maxTokens: 16, temperature: 0 });
      assert.equal(single.usage.completionTokens, 16);
      const four = await Promise.all([0, 1, 2, 3].map(() => model.complete({ prompt: 'Hello world', maxTokens: 16, temperature: 0 })));
      for (const r of four) assert.equal(r.text, single.text);
      await model.close();
    });
  }

  test('the vendored llama.cpp carries the AMX tile-config patch', () => {
    const source = join(root, 'vendor', 'llama.cpp', 'ggml', 'src', 'ggml-cpu', 'amx', 'mmq.cpp');
    const text = readFileSync(source, 'utf8');
    const at = text.indexOf('_tile_loadconfig(&tc);');
    assert.ok(at > 0);
    assert.match(text.slice(at - 200, at), /__asm__ __volatile__\(""\s*:::\s*"memory"\);\s*$/);
  });
});

describe('the native engine keeps no defaults of its own', () => {
  // lib/engine/defaults.ts and options.ts hold every default; C++ requires what they fill in, so a
  // field TypeScript forgot is an error here rather than a second, silent default.
  test('an option left out is invalid_argument, at load and at submit', async () => {
    const { native } = await import('../dist/native.js');
    const model = await loadModel(fixtureModel(), { contextSize: 64, parallel: 1 });
    try {
      const load = { contextSize: 64, parallel: 1, batchSize: 64, threads: 1, adaptThreads: false, backendSampling: false, queueLimit: 4,
        cacheTypeK: 'f16', cacheTypeV: 'f16', flashAttention: 'auto', kvUnified: false, kvSize: 64 };
      for (const field of Object.keys(load)) {
        const { [field]: _, ...partial } = load;
        assert.throws(() => new (native().Engine)(model.handle, partial, () => {}), { code: 'invalid_argument', message: new RegExp(field) });
      }
      const engine = new (native().Engine)(model.handle, load, () => {});
      try {
        const request = { maxTokens: 4, logprobs: -1, temperature: 0, topK: 40, topP: 1, minP: 0, repeatPenalty: 1, frequencyPenalty: 0,
          presencePenalty: 0, penaltyLastN: 64, seed: -1, stop: [], ignoreEos: false, grammar: '', logitBias: [], lora: [] };
        for (const field of ['maxTokens', 'logprobs', 'temperature', 'topK', 'topP', 'minP', 'repeatPenalty', 'frequencyPenalty', 'presencePenalty', 'penaltyLastN', 'seed', 'ignoreEos', 'lora']) {
          const { [field]: _, ...partial } = request;
          assert.throws(() => engine.submit(1, Int32Array.of(1, 2), partial), { code: 'invalid_argument', message: new RegExp(field) });
        }
      } finally {
        await engine.close();
      }
    } finally {
      await model.close();
    }
  });
});
