// OpenAI's reply shapes from the library's results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assistantMessage, completionLogprobs, delta, finishReason, usage } from '../../dist/server/openai/shapes.js';
import { usageOf } from '../../dist/server/seed/routes.js';

const result = { text: 'hi', finishReason: 'length', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedTokens: 1 } };

test('usage: the seed shape and OpenAI\'s with cached tokens', () => {
  assert.deepEqual(usageOf(result), { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  assert.deepEqual(usage(result).prompt_tokens_details, { cached_tokens: 1 });
});

test('deltas, messages and finish reasons, tool calls included', () => {
  assert.deepEqual(delta({ content: 'a' }), { content: 'a' });
  assert.deepEqual(delta({ reasoning: 'r' }), { reasoning_content: 'r' });
  const call = delta({ toolCall: { id: 'c1', name: 'f', arguments: '{' }, toolCallIndex: 0 });
  assert.deepEqual(call, { tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{' } }] });
  const reply = { content: '', reasoning: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] };
  assert.equal(assistantMessage(reply).content, null);
  assert.equal(finishReason(result, reply), 'tool_calls');
  assert.equal(finishReason(result), 'length');
  assert.equal(finishReason({ ...result, finishReason: 'stop' }), 'stop');
});

test('completion logprobs carry text offsets from where the chunk starts', () => {
  const lp = completionLogprobs([{ text: 'ab', logprob: -1, top: [] }, { text: 'c', logprob: -2, top: [{ text: 'd', logprob: -3 }] }], 5);
  assert.deepEqual(lp.text_offset, [5, 7]);
  assert.deepEqual(lp.top_logprobs[1], { d: -3 });
});
