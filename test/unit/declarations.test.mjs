// The request declarations (lib/engine/schema.ts) parse each route's body once, into the library's
// request with its defaults: no model, no addon.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseFields } from '../../dist/engine/schema.js';
import { generationFields } from '../../dist/engine/options.js';
import { parseGenerateRequest, parseWebSocketRequest } from '../../dist/server/seed/request.js';
import { parseChatRequest, parseCompletionRequest } from '../../dist/server/openai/request.js';

const invalid = (fn, pattern) => assert.throws(fn, (e) => e.code === 'invalid_request' && pattern.test(e.message));

describe('declarations', () => {
  test('/api/generate: the seed defaults, library names, the prompt in the request', () => {
    const { model, stream, request } = parseGenerateRequest({ model: 'default', prompt: 'hi', top_k: 5, unknown: 1 });
    assert.equal(model, 'default');
    assert.equal(stream, false);
    assert.equal(request.prompt, 'hi');
    assert.equal(request.maxTokens, 100);
    assert.equal(request.temperature, 0.7);
    assert.equal(request.topK, 5);
    assert.deepEqual(request.stop, []);
    assert.equal('unknown' in request, false);
  });

  test('the WebSocket takes an id and always streams', () => {
    const r = parseWebSocketRequest({ id: 7, model: 'm', prompt: 'p' });
    assert.equal(r.id, 7);
    assert.equal(r.stream, true);
    invalid(() => parseWebSocketRequest({ id: 'x'.repeat(257), model: 'm', prompt: 'p' }), /id/);
  });

  test("OpenAI's defaults and spellings", () => {
    const c = parseCompletionRequest({ model: 'm', prompt: ['one'], max_completion_tokens: 3, stream_options: { include_usage: true } });
    assert.equal(c.prompt, 'one');
    assert.equal(c.maxTokens, 3);
    assert.equal(c.temperature, 1);
    assert.equal(c.includeUsage, true);
    const { options, chat } = parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 2 });
    assert.equal(options.logprobs, 2);
    assert.equal(chat.messages.length, 1);
    invalid(() => parseChatRequest({ model: 'm', messages: [], top_logprobs: 2 }), /top_logprobs/);
    invalid(() => parseCompletionRequest({ model: 'm', prompt: 'p', n: 2 }), /'n'/);
  });

  test('wrong types, ranges and hostile values are invalid_request naming the field', () => {
    invalid(() => parseGenerateRequest({ model: 'm', prompt: 1 }), /'prompt' must be a string/);
    invalid(() => parseGenerateRequest({ model: 'm' }), /'prompt' is required/);
    invalid(() => parseGenerateRequest({ model: 'm', prompt: 'p', temperature: 3 }), /temperature/);
    invalid(() => parseGenerateRequest({ model: 'm', prompt: 'p', max_tokens: 1.5 }), /integer/);
    invalid(() => parseGenerateRequest({ model: 'm', prompt: 'p', top_p: Number.NaN }), /top_p/);
    invalid(() => parseGenerateRequest({ model: 'm', prompt: 'p', stop: Array(17).fill('x') }), /stop/);
    invalid(() => parseGenerateRequest({ model: 'm'.repeat(1025), prompt: 'p' }), /model/);
    invalid(() => parseGenerateRequest([]), /JSON object/);
    invalid(() => parseCompletionRequest({ model: 'm', prompt: 'p', logit_bias: { x: 1 } }), /logit_bias/);
  });

  test('aliases given together are all checked; the first declared wins', () => {
    const f = parseFields(generationFields, { max_tokens: 5, n_predict: 9 }, { wire: true });
    assert.equal(f.maxTokens, 5);
    invalid(() => parseFields(generationFields, { max_tokens: 5, n_predict: -1 }, { wire: true }), /n_predict/);
  });
});
