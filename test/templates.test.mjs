// A model's chat template is code from the internet: templates that recurse, loop, build huge
// values or nest without end are stopped by the Jinja engine's limits (vendor/patches/0005) with
// an invalid_model error naming the limit, and the model keeps rendering and generating after.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testLoad } from '../dist/engine/model-check.js';
import { loadModel } from '../dist/index.js';
import { templateModel } from './helpers/fixtures.mjs';

const hostile = {
  recursion: '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
  'billion-loop': '{% for i in range(1000000000) %}{% endfor %}',
  'nested-loops': '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}',
  'huge-repeat': "{{ 'x' * 100000000000 }}",
  'empty-repeat': "{{ '' * 1000000000000 }}",
  doubling: "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
  'deep-value': '{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}',
  cycle: '{% set a = [] %}{{ a.append(a) }}{{ a }}',
  'cycle-json': '{% set a = [] %}{{ a.append(a) }}{{ a|tojson }}',
  'huge-indent': "{{ 'a\nb'|indent(100000000000) }}",
  'huge-replace': "{{ ('x' * 1000000)|replace('', 'yyyyyyyyyy' * 1000) }}",
  'huge-join': "{{ range(1000000)|map('string')|join('z' * 100000) }}",
};

const messages = [{ role: 'user', content: 'Hello' }];

describe('hostile chat templates', () => {
  for (const [name, source] of Object.entries(hostile)) {
    test(`${name}: invalid_model naming the limit, and the model still works`, async () => {
      const model = await loadModel(templateModel(name, source), { contextSize: 256, check: false });
      try {
        const started = Date.now();
        await assert.rejects(model.renderChat({ messages }), (error) => {
          assert.equal(error.code, 'invalid_model', error.message);
          assert.match(error.message, /chat template exceeded its .* limit/);
          return true;
        });
        // The limits stop a render within seconds (5 s of wall clock at most per request).
        assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
        // The same model still generates from a raw prompt.
        const done = await model.complete({ prompt: 'Once upon', maxTokens: 2, temperature: 0 });
        assert.ok(done.tokens >= 1 || done.text !== undefined);
      } finally {
        await model.close();
      }
    });
  }

  test('templates nested deeper than the parser allows are invalid_model, not a crash', async () => {
    for (const [name, source] of [
      ['deep-parens', `{{ ${'('.repeat(100000)}1${')'.repeat(100000)} }}`],
      ['long-chain', `{{ 1${' + 1'.repeat(200000)} }}`],
      ['deep-not', `{{ ${'not '.repeat(100000)}true }}`],
      ['deep-blocks', `${'{% if true %}'.repeat(20000)}x${'{% endif %}'.repeat(20000)}`],
    ]) {
      const model = await loadModel(templateModel(name, source), { contextSize: 256, check: false });
      try {
        await assert.rejects(model.renderChat({ messages }), (error) => {
          assert.equal(error.code, 'invalid_model', `${name}: ${error.message}`);
          assert.match(error.message, /nesting depth/);
          return true;
        });
      } finally {
        await model.close();
      }
    }
  });

  test('an ordinary template over a long conversation stays within the limits', async () => {
    const source = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    const model = await loadModel(templateModel('ordinary', source), { contextSize: 256, check: false });
    try {
      const long = Array.from({ length: 10_000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}` }));
      const chat = await model.renderChat({ messages: long });
      assert.match(chat.prompt, /turn 9999/);
    } finally {
      await model.close();
    }
  });

  test('the model check renders the template: a runaway one makes the file invalid_model', async () => {
    await assert.rejects(testLoad(templateModel('recursion', hostile.recursion)), (error) => {
      assert.equal(error.code, 'invalid_model');
      assert.match(error.message, /recursion depth/);
      return true;
    });
  });

  test('more than 10,000 messages or oversized chat_template_kwargs are refused before rendering', async () => {
    const model = await loadModel(templateModel('ordinary', "{% for m in messages %}{{ m.content }}{% endfor %}"), { contextSize: 256, check: false });
    try {
      const many = Array.from({ length: 100_000 }, () => ({ role: 'user', content: 'x' }));
      await assert.rejects(model.renderChat({ messages: many }), /at most 10000 messages/);
      const kwargs = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]));
      await assert.rejects(model.renderChat({ messages, templateKwargs: kwargs }), /at most 64 keys/);
    } finally {
      await model.close();
    }
  });
});
