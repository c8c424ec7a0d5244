// What hostile input must not do to the engine: grammars that overflow llama.cpp's recursive
// parser, loop it for ever or match nothing; damaged model files that make llama.cpp abort;
// prompts big enough to stall the event loop. Each must end in a typed error, never a crash.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testLoad } from '../dist/engine/model-check.js';
import { loadModel, ShimmyError } from '../dist/index.js';
import { corruptedCorpus, fixtureModel } from './helpers/fixtures.mjs';
import { scratchDir } from './helpers/scratch.mjs';

process.env.SHIMMY_CACHE_DIR = scratchDir('cache');

const isCode = (code) => (error) => {
  assert.ok(error instanceof ShimmyError, `expected a ShimmyError, got ${error}`);
  assert.equal(error.code, code, error.message);
  return true;
};

describe('grammars', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 256, parallel: 2 });
  });
  after(() => model.close());

  test('nesting, repetitions with max < min and empty ranges are refused before llama.cpp parses them', () => {
    const refused = [
      `root ::= ${'('.repeat(24_000)}"a"${')'.repeat(24_000)}`, // SIGSEGV in the recursive parser
      'root ::= "a"{5,2}', // n - m wraps around: the parser loops, allocating, for ever
      'root ::= "a"{ 5 , 2 }',
      'root ::= [z-a]', // matches nothing: the sampler throws mid-generation
      'root ::= [\\u0100-\\x41]',
      `root ::= ${'"a"{0,1999} '.repeat(100)}`, // 200,000 generated rules: 0.3 s and 40 MB; 64 KiB of them about 20 s
    ];
    for (const grammar of refused) {
      assert.throws(() => model.generate({ prompt: 'Hi', maxTokens: 2, grammar }), isCode('invalid_request'), grammar.slice(0, 40));
    }
    // Near misses are fine: the same constructs the right way round, in strings and comments.
    const fine = ['root ::= "a"{2,5}', 'root ::= [a-z]+', 'root ::= "{5,2}" | "[z-a]" # (((( {9,1}', `root ::= ${'('.repeat(40)}"a"${')'.repeat(40)}`];
    for (const grammar of fine) model.generate({ prompt: 'Hi', maxTokens: 1, grammar }).cancel();
  });

  test('a grammar is parsed off the event loop, and a request cancelled meanwhile never runs', async () => {
    const grammar = `root ::= ${'[a-z]{0,1999} '.repeat(4)}`; // 8,000 generated rules
    const generation = model.generate({ prompt: 'Hi', maxTokens: 50, ignoreEos: true, grammar });
    generation.cancel();
    const result = await generation.result;
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.usage.completionTokens < 50);
    assert.equal(model.stats().slotsBusy, 0);
  });

  test('a grammar no token can satisfy fails its request alone; the engine keeps serving', async () => {
    const others = Array.from({ length: 3 }, () => model.complete({ prompt: 'Once', maxTokens: 30, ignoreEos: true, temperature: 0 }));
    await assert.rejects(model.complete({ prompt: 'Hi', maxTokens: 4, grammar: 'root ::= "\\x00"' }), isCode('generation_failed'));
    for (const r of await Promise.all(others)) assert.equal(r.usage.completionTokens, 30);
    assert.equal(model.stats().slotsBusy, 0);
    const after = await model.complete({ prompt: 'Hi', maxTokens: 3, temperature: 0 });
    assert.equal(after.usage.completionTokens, 3);
  });
});

describe('large prompts', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel(), { contextSize: 8192, parallel: 1 });
  });
  after(() => model.close());

  test('are tokenized off the event loop; a refusal still arrives as the error', async () => {
    const big = 'word '.repeat(200_000); // 1 MB
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const generation = model.generate({ prompt: big, maxTokens: 4 });
    await assert.rejects(generation.started, isCode('context_overflow'));
    await assert.rejects(generation.result, isCode('context_overflow'));
    clearInterval(timer);
    assert.ok(ticks > 0, 'the event loop ran while the prompt was tokenized');
  });

  test('a big prompt that fits generates, and one cancelled while tokenizing ends as cancelled', async () => {
    const fits = 'word '.repeat(4_000); // 20,000 characters: past the synchronous limit
    const r = await model.complete({ prompt: fits, maxTokens: 2, temperature: 0 });
    assert.equal(r.usage.completionTokens, 2);
    const generation = model.generate({ prompt: 'word '.repeat(100_000), maxTokens: 4 });
    generation.cancel();
    assert.equal((await generation.result).finishReason, 'cancelled');
    assert.equal(model.stats().slotsBusy, 0);
  });
});

describe('damaged model files', () => {
  test('each copy loads and generates, or is invalid_model: none takes the process down', async () => {
    const dir = scratchDir('corpus');
    let refused = 0;
    for (const { name, path, known } of corruptedCorpus(dir)) {
      let model;
      try {
        model = await loadModel(path, { contextSize: 64, parallel: 1 });
      } catch (error) {
        isCode('invalid_model')(error);
        refused++;
        continue;
      }
      assert.ok(!known, `${name} loaded, but llama.cpp aborts on it`);
      await model.complete({ prompt: 'Hi', maxTokens: 2 }).catch(isCode('generation_failed'));
      await model.close();
    }
    assert.ok(refused >= 4, `${refused} refused`);
  });

  test('the child-process test load alone turns llama.cpp aborts into invalid_model', async () => {
    // The header check refuses these first; here the second line of defence is tried on its own.
    for (const { name, path, known } of corruptedCorpus(scratchDir('corpus'), 0)) {
      assert.ok(known);
      await assert.rejects(testLoad(path), (error) => isCode('invalid_model')(error) && /crashed loading it \(SIG[A-Z]+\)/.test(error.message), name);
    }
    await testLoad(fixtureModel()); // and a sound file passes
  });

  test('a file that passed is remembered by path, size and mtime, not test-loaded again', async () => {
    const path = fixtureModel('q8_0');
    await (await loadModel(path, { contextSize: 64, parallel: 1 })).close();
    const cache = JSON.parse(readFileSync(join(process.env.SHIMMY_CACHE_DIR, 'checked-models.json'), 'utf8'));
    const { size, mtimeMs } = statSync(path);
    assert.deepEqual(cache[path], { size, mtimeMs });
  });
});
