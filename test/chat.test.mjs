// Chat in the library: the model's own Jinja template (and the ChatML fallback), the reply
// parser, the request limits, and embeddings.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chatLimits, loadModel, native, ReplyParser } from '../dist/index.js';
import { brokenTemplateModel, fixtureModel, toolCallingModel } from './helpers/fixtures.mjs';

const hi = [{ role: 'user', content: 'Hi' }];

describe('chat templates', () => {
  test("a model's own template renders the conversation", async () => {
    const model = await loadModel(fixtureModel('f32', 'phi-3'), { contextSize: 256, parallel: 1 });
    try {
      // Phi-3's template has no system role: common/ folds the system message into the user turn.
      const prompt = await model.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, ...hi]);
      assert.equal(prompt, '<|user|>\nBe brief.\nHi<|end|>\n<|assistant|>\n');
      const turns = await model.applyChatTemplate([...hi, { role: 'assistant', content: 'Hello' }], false);
      assert.equal(turns, '<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n');
    } finally {
      await model.close();
    }
  });

  test('no template, or one that does not parse, falls back to ChatML', async () => {
    for (const path of [fixtureModel('f32', 'llama-spm'), brokenTemplateModel()]) {
      const model = await loadModel(path, { contextSize: 256, parallel: 1 });
      try {
        const chat = await model.renderChat({ messages: hi });
        assert.equal(chat.prompt, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
        assert.equal(chat.templateFallback, path === brokenTemplateModel());
        const parser = new ReplyParser(chat);
        assert.deepEqual(parser.push('Hello').map((d) => d.content), ['Hello']);
        assert.equal(parser.finish().content, 'Hello');
      } finally {
        await model.close();
      }
    }
  });
});

describe('rendered chats are native handles', () => {
  const weather = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

  test('a format without markers reads the reply verbatim, exactly as its native parser does', async () => {
    const model = await loadModel(fixtureModel('f32', 'llama-spm'), { contextSize: 256, parallel: 1 });
    try {
      const chat = await model.renderChat({ messages: hi });
      assert.equal(chat.format, 'peg-native');
      assert.equal(chat.contentOnly, true);
      assert.equal(chat.constrained, false);
      // The shortcut must agree with what llama.cpp's parser makes of the same pieces.
      const pieces = ['Hel', 'lo <tool', '_call> {"a": 1}', ' <think>x</think>', '\n'];
      const fast = new ReplyParser(chat);
      const parser = new (native().ChatParser)(chat);
      const slow = pieces.map((p) => JSON.parse(parser.update(p, true)).diffs.map((d) => d.content).join(''));
      assert.deepEqual(pieces.map((p) => fast.push(p).map((d) => d.content).join('')), slow);
      assert.equal(fast.finish().content, JSON.parse(parser.update('', false)).content);
    } finally {
      await model.close();
    }
  });

  test('tools make the format parse tool calls; a chat rendered by one model is refused by another', async () => {
    const qwen = await loadModel(toolCallingModel(), { contextSize: 256, parallel: 1 });
    const other = await loadModel(fixtureModel('f32', 'llama-spm'), { contextSize: 256, parallel: 1 });
    try {
      const chat = await qwen.renderChat({ messages: hi, tools: weather, toolChoice: 'required' });
      assert.equal(chat.contentOnly, false);
      assert.equal(chat.parseToolCalls, true);
      assert.equal(chat.constrained, true);
      assert.match(chat.prompt, /get_weather/);
      assert.ok(chat.promptTokens > 0);
      const parser = new ReplyParser(chat);
      parser.push('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
      assert.deepEqual(parser.finish().toolCalls.map((c) => [c.name, JSON.parse(c.arguments)]), [['get_weather', { city: 'Paris' }]]);
      assert.throws(() => other.generate({ chat, maxTokens: 1 }), { code: 'invalid_request', message: /another model/ });
      assert.throws(() => qwen.generate({ chat, grammar: 'root ::= "a"', maxTokens: 1 }), { code: 'invalid_request', message: /grammar/ });
      assert.throws(() => qwen.generate({ maxTokens: 1 }), { code: 'invalid_request' });
      assert.throws(() => new (native().ChatParser)({ prompt: 'x', contentOnly: false }), { code: 'invalid_argument' });
    } finally {
      await Promise.all([qwen.close(), other.close()]);
    }
  });
});

describe('chat requests and embeddings', () => {
  let model;
  before(async () => {
    model = await loadModel(fixtureModel('q8_0', 'llama-spm'), { contextSize: 128, parallel: 1 });
  });
  after(() => model.close());

  test('requests past the documented limits are invalid_request before any native code', async () => {
    let deep = { type: 'string' };
    for (let i = 0; i < chatLimits.depth; i++) deep = { type: 'array', items: deep };
    await assert.rejects(model.renderChat({ messages: hi, jsonSchema: deep }), { code: 'invalid_request', message: /nested deeper than 64/ });
    await assert.rejects(model.renderChat({ messages: [] }), { code: 'invalid_request' });
    await assert.rejects(model.renderChat({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }), { code: 'invalid_request' });
    await assert.rejects(model.renderChat({ messages: hi, tools: [{ type: 'function', function: { name: 'f' } }], toolChoice: 'sometimes' }), { code: 'invalid_request' });
  });

  test('a JSON schema becomes a grammar the reply follows, also with ChatML on a vocab without its tokens', async () => {
    // This fixture's SentencePiece vocab has no ChatML tokens: common_sampler's prefill of the
    // generation prompt fails there, and the engine falls back to an equivalent grammar without it.
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const chat = await model.renderChat({ messages: hi, jsonSchema: schema });
    assert.equal(chat.constrained, true);
    const r = await model.complete({ chat, maxTokens: 60, temperature: 0 });
    assert.equal(r.finishReason, 'stop', r.text);
    const parser = new ReplyParser(chat);
    parser.push(r.text);
    assert.equal(typeof JSON.parse(parser.finish().content).ok, 'boolean');
  });

  test('embeddings: one normalized vector per input; an input past the context is context_overflow', async () => {
    const { embeddings, promptTokens } = await model.embed(['Once upon a time', 'The end']);
    assert.equal(embeddings.length, 2);
    for (const e of embeddings) {
      assert.equal(e.length, model.info.embeddingLength);
      assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-4);
    }
    assert.ok(promptTokens >= 4);
    const raw = await model.embed(['Once upon a time'], { normalize: false });
    assert.ok(Math.abs(Math.hypot(...raw.embeddings[0]) - 1) > 1e-3);
    await assert.rejects(model.embed(['word '.repeat(300)]), { code: 'context_overflow' });
    const again = await model.complete({ prompt: 'Once', maxTokens: 3, temperature: 0 });
    assert.equal(again.usage.completionTokens, 3);
  });
});
