// The agents' dialects without a model: Anthropic Messages and OpenAI Responses requests as the
// chat request they translate to, the reply-block sequencer both stream with, the Responses
// store's bounds and ownership, and --alias patterns.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCountTokensRequest, parseMessagesRequest } from '../../dist/server/anthropic/request.js';
import { ReplyBlocks, wholeBlocks } from '../../dist/server/completion/reply-blocks.js';
import { anthropicErrorBody } from '../../dist/server/errors.js';
import { ShimmyError } from '../../dist/engine/errors.js';
import { parseResponsesRequest, translateInput } from '../../dist/server/responses/request.js';
import { ResponseStore } from '../../dist/server/responses/store.js';
import { globMatches, parseAlias } from '../../dist/models/registry.js';

const invalid = (fn, pattern) => assert.throws(fn, (e) => e instanceof ShimmyError && e.code === 'invalid_request' && (!pattern || pattern.test(e.message)));

describe('Anthropic Messages requests', () => {
  const base = { model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] };

  test('system text, a system turn, tool_use and tool_result become chat messages in order', () => {
    const r = parseMessagesRequest({
      ...base,
      system: [{ type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1; cch=ab12f;\nYou are Claude Code.', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'look it up', signature: 'sig' }, { type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '21C' }] }, { type: 'text', text: 'And now?' }] },
        { role: 'system', content: 'Be brief.' },
      ],
      tools: [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }, { type: 'web_search_20250305', name: 'web_search' }],
      tool_choice: { type: 'tool', name: 'get_weather' },
      stop_sequences: ['END'],
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    assert.deepEqual(r.chat.messages, [
      { role: 'system', content: 'You are Claude Code.' },
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: 'Checking.', reasoning_content: 'look it up', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '21C' },
      { role: 'user', content: 'And now?' },
      { role: 'system', content: 'Be brief.' },
    ]);
    assert.equal(r.chat.tools.length, 1, "Anthropic's server tools are not offered");
    assert.deepEqual(r.chat.toolChoice, { type: 'function', function: { name: 'get_weather' } }, 'the named tool is forced, not just any');
    assert.deepEqual(r.chat.templateKwargs, { enable_thinking: true });
    assert.deepEqual(r.sampling.stop, ['END']);
    assert.equal(r.sampling.maxTokens, 10);
    assert.equal(r.sampling.temperature, 1);
  });

  test('several text blocks stay parts (llama.cpp joins them with newlines); a failed tool says so', () => {
    const r = parseMessagesRequest({
      ...base,
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', is_error: true, content: 'no such file' }, { type: 'text', text: '<system-reminder>x</system-reminder>' }, { type: 'text', text: 'Go on.' }] },
      ],
    });
    assert.deepEqual(r.chat.messages.slice(1), [
      { role: 'tool', tool_call_id: 't1', content: 'Error: no such file' },
      { role: 'user', content: [{ type: 'text', text: '<system-reminder>x</system-reminder>' }, { type: 'text', text: 'Go on.' }] },
    ]);
  });

  test('the billing stamp is the only difference between two Claude Code turns: it is removed', () => {
    const turn = (cch) => parseMessagesRequest({ ...base, system: `x-anthropic-billing-header: cc_version=2.1.154; cc_entrypoint=cli; cch=${cch};\nSystem prompt` }).chat.messages[0];
    assert.deepEqual(turn('aaaaa'), turn('bbbbb'));
    assert.equal(turn('c').content, 'System prompt');
  });

  test('wrong types, ranges and hostile blocks are invalid_request with the field named', () => {
    invalid(() => parseMessagesRequest({ ...base, max_tokens: undefined }), /max_tokens/);
    invalid(() => parseMessagesRequest({ ...base, max_tokens: 0 }), /max_tokens/);
    invalid(() => parseMessagesRequest({ ...base, temperature: 1.5 }), /temperature/);
    invalid(() => parseMessagesRequest({ ...base, messages: [{ role: 'bot', content: 'x' }] }), /role/);
    invalid(() => parseMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }), /image/);
    invalid(() => parseMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'video' }] }] }), /video/);
    invalid(() => parseMessagesRequest({ ...base, messages: [{ role: 'user', content: [null] }] }), /content\[0\]/);
    invalid(() => parseMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] }] }), /assistant/);
    invalid(() => parseMessagesRequest({ ...base, tool_choice: { type: 'tool' } }), /tool_choice/);
    invalid(() => parseMessagesRequest({ ...base, tools: [{ name: 'f', input_schema: 'x' }] }), /input_schema/);
    invalid(() => parseMessagesRequest({ ...base, stop_sequences: [1] }), /stop_sequences/);
    invalid(() => parseMessagesRequest({ ...base, thinking: { type: 'maybe' } }), /thinking/);
    invalid(() => parseMessagesRequest([]), /object/);
    assert.equal(parseCountTokensRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).chat.messages.length, 1, 'count_tokens needs no max_tokens');
  });

  test("errors in Anthropic's shape, typed by status", () => {
    assert.deepEqual(anthropicErrorBody(new ShimmyError('invalid_request', 'bad')), { type: 'error', error: { type: 'invalid_request_error', message: 'bad' } });
    assert.equal(anthropicErrorBody(new ShimmyError('model_not_found', 'x')).error.type, 'not_found_error');
    assert.equal(anthropicErrorBody(new ShimmyError('unauthorized', 'x')).error.type, 'authentication_error');
    assert.equal(anthropicErrorBody(new ShimmyError('queue_full', 'x')).error.type, 'overloaded_error');
    assert.equal(anthropicErrorBody(new ShimmyError('generation_failed', 'x')).error.type, 'api_error');
  });
});

describe('OpenAI Responses requests', () => {
  test('items: function calls join the assistant turn before them, reasoning the one after, outputs become tool turns', () => {
    const messages = translateInput([
      { role: 'developer', content: 'Be terse.' },
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Weather?' }] },
      { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'need a tool' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '21C' },
      { type: 'web_search_call', id: 'ws_1' },
    ]);
    assert.deepEqual(messages, [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: 'Checking.', reasoning_content: 'need a tool', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '21C' },
    ]);
  });

  test('instructions come first, history next; hosted tools are set aside; text.format constrains', () => {
    const r = parseResponsesRequest({
      model: 'm', input: 'Hi', instructions: 'Sys', max_output_tokens: 5,
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }, { type: 'web_search' }, { type: 'custom', name: 'apply_patch' }],
      tool_choice: { type: 'function', name: 'f' },
      text: { format: { type: 'json_schema', name: 'x', schema: { type: 'object', properties: { a: { type: 'number' } } } } },
      reasoning: { effort: 'minimal' },
    });
    const chat = r.chat([{ role: 'user', content: 'before' }, { role: 'assistant', content: 'ok' }]);
    assert.deepEqual(chat.messages.map((m) => m.content), ['Sys', 'before', 'ok', 'Hi']);
    assert.equal(chat.tools.length, 1);
    assert.deepEqual(r.ignoredTools, ['web_search', 'custom']);
    assert.deepEqual(chat.toolChoice, { type: 'function', function: { name: 'f' } });
    assert.deepEqual(chat.jsonSchema, { type: 'object', properties: { a: { type: 'number' } } });
    assert.deepEqual(chat.templateKwargs, { reasoning_effort: 'minimal', enable_thinking: false });
    assert.equal(r.sampling.maxTokens, 5);
    assert.equal(r.store, true, 'store defaults to true, as OpenAI');
    assert.equal(r.echo.parallel_tool_calls, true);
  });

  test('reasoning belongs to the assistant turn right after it, or to none', () => {
    const messages = translateInput([
      { type: 'reasoning', summary: [{ type: 'summary_text', text: 'stray' }] },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ]);
    assert.deepEqual(messages, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }]);
  });

  test("Codex's empty probe still renders a turn", () => {
    const r = parseResponsesRequest({ model: 'm', input: [], max_output_tokens: 1 });
    assert.deepEqual(r.chat([]).messages, [{ role: 'user', content: '' }]);
  });

  test('wrong types, ranges and hostile items are invalid_request with the field named', () => {
    invalid(() => parseResponsesRequest({ input: 'x' }), /model/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 5 }), /input/);
    invalid(() => parseResponsesRequest({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }), /content\[0\]\.image_url' must be a base64 data URL/);
    invalid(() => parseResponsesRequest({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }), /input_file/);
    invalid(() => parseResponsesRequest({ model: 'm', input: [{ type: 'function_call', name: 'f' }] }), /call_id/);
    invalid(() => parseResponsesRequest({ model: 'm', input: [{ type: 'item_reference', id: 'x' }] }), /item_reference/);
    invalid(() => parseResponsesRequest({ model: 'm', input: [{ type: 'nonsense' }] }), /nonsense/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', max_output_tokens: -1 }), /max_output_tokens/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', temperature: 3 }), /temperature/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', text: { format: { type: 'yaml' } } }), /format/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', reasoning: { effort: 'max' } }), /effort/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', metadata: { a: 1 } }), /metadata/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', background: true }), /background/);
    invalid(() => parseResponsesRequest({ model: 'm', input: 'x', tools: [{ type: 'function' }] }), /name/);
  });
});

describe('reply blocks', () => {
  test('streamed diffs open and close one block at a time, tool calls each their own', () => {
    const events = [];
    const blocks = new ReplyBlocks({
      start: (b) => events.push(['start', b.index, b.kind, b.call?.name]),
      delta: (b, piece) => events.push(['delta', b.index, piece]),
      stop: (b) => events.push(['stop', b.index]),
    });
    blocks.push([{ reasoning: 'think', content: '' }, { reasoning: 'ing', content: '' }, { content: 'Hi', reasoning: '' }]);
    blocks.push([{ content: '', reasoning: '', toolCallIndex: 0, toolCall: { id: 'c1', name: 'f', arguments: '{"a"' } }, { content: '', reasoning: '', toolCallIndex: 0, toolCall: { id: '', name: '', arguments: ':1}' } }]);
    blocks.push([{ content: '', reasoning: '', toolCallIndex: 1, toolCall: { id: 'c2', name: 'g', arguments: '{}' } }]);
    assert.equal(blocks.finish(), 4);
    assert.deepEqual(events, [
      ['start', 0, 'reasoning', undefined], ['delta', 0, 'think'], ['delta', 0, 'ing'], ['stop', 0],
      ['start', 1, 'text', undefined], ['delta', 1, 'Hi'], ['stop', 1],
      ['start', 2, 'tool', 'f'], ['delta', 2, '{"a"'], ['delta', 2, ':1}'], ['stop', 2],
      ['start', 3, 'tool', 'g'], ['delta', 3, '{}'], ['stop', 3],
    ]);
    assert.deepEqual(wholeBlocks({ content: 'Hi', reasoning: 'r', toolCalls: [{ id: 'c', name: 'f', arguments: '{}' }] }).map((b) => [b.kind, b.text]), [['reasoning', 'r'], ['text', 'Hi'], ['tool', '{}']]);
  });
});

describe('the Responses store', () => {
  const entry = (owner, size = 10) => ({ owner, response: { pad: 'x'.repeat(size) }, conversation: [] });

  test('bounded by count and bytes, least recently used dropped first', () => {
    const store = new ResponseStore({ maxBytes: 1 << 20, maxCount: 2 });
    store.put('a', entry(''));
    store.put('b', entry(''));
    assert.ok(store.get('a', ''), 'a is now the most recently used');
    store.put('c', entry(''));
    assert.equal(store.get('b', ''), undefined, 'b went first');
    assert.ok(store.get('a', '') && store.get('c', ''));
    const small = new ResponseStore({ maxBytes: 100, maxCount: 10 });
    small.put('big', entry('', 200));
    assert.equal(small.size, 0, 'an entry larger than the store is not kept');
    small.put('x', entry('', 40));
    small.put('y', entry('', 40));
    assert.equal(small.size, 1, 'bytes bound it too');
    assert.equal(new ResponseStore({ maxBytes: 100, maxCount: 0 }).size, 0);
  });

  test('only the owner sees or deletes an entry', () => {
    const store = new ResponseStore();
    store.put('a', entry('alice'));
    assert.equal(store.get('a', 'bob'), undefined);
    assert.equal(store.delete('a', 'bob'), false);
    assert.ok(store.get('a', 'alice'));
    assert.equal(store.delete('a', 'alice'), true);
    assert.equal(store.get('a', 'alice'), undefined);
  });
});

describe('--alias', () => {
  test('globs match whole names; a hostile name cannot make matching slow', () => {
    assert.ok(globMatches('claude-*', 'claude-sonnet-4-5'));
    assert.ok(globMatches('*haiku*', 'claude-3-5-haiku-latest'));
    assert.ok(!globMatches('claude-*', 'gpt-4o'));
    assert.ok(globMatches('gpt-4o', 'gpt-4o') && !globMatches('gpt-4o', 'gpt-4o-mini'));
    assert.ok(globMatches('*', ''));
    // A backtracking regex would not return from this one.
    assert.ok(!globMatches('*a*a*a*a*a*a*b', 'a'.repeat(20_000)));
    assert.deepEqual(parseAlias('claude-*=default'), { pattern: 'claude-*', target: 'default' });
    assert.throws(() => parseAlias('claude-*'), /PATTERN=MODEL/);
    assert.throws(() => parseAlias('=x'), /PATTERN=MODEL/);
  });
});
