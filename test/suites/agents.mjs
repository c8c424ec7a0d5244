// The agents' dialects against a real server with the real clients, unmodified: Anthropic's SDK
// (create, stream → finalMessage, countTokens, a forced named tool and the tool_result turn) and
// the AI SDK's Anthropic provider; openai's responses (create, stream → finalResponse, a function
// call and its output, previous_response_id), the Agents SDK and the AI SDK's responses model; the
// same greedy text through chat completions, Messages and Responses; Claude Code's prefix reuse;
// llama-server's utility routes; and hostile values, each a 4xx with the server still serving.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { transportUnderTest } from '../helpers/transport.mjs';
import { loadModel } from '../../dist/index.js';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { fixtureModel, root, storiesModel, toolCallingModel } from '../helpers/fixtures.mjs';
import { scratchDir } from '../helpers/scratch.mjs';

const modelPath = storiesModel() ?? fixtureModel('f32', 'phi-3');
const toolModelDir = scratchDir('agents');
copyFileSync(toolCallingModel(), join(toolModelDir, 'qwen-tools.gguf'));

const { name: transport, skip } = transportUnderTest();
// openai 7 (under the Agents SDK) and the AI SDK 7 need Node 22.
const node22 = Number(process.versions.node.split('.')[0]) >= 22 ? false : `needs Node 22 (this is ${process.versions.node})`;

const weather = { name: 'get_weather', description: 'Current weather of a city', schema: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'London'] } }, required: ['city'] } };
const prompt = 'Once upon a time';

describe(`agents' dialects over ${transport}`, { skip }, () => {
  let server;
  let base;
  let anthropic;
  let openai;
  // The fixture's weights are random, so llama-server's extension fields steer it (as in the
  // openai suite): open a tool call, then end the turn as soon as the tool-call grammar allows.
  let steer;

  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [toolModelDir], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 4, contextSize: 2048 });
    registry.aliases = [{ pattern: 'claude-*', target: 'default' }, { pattern: 'gpt-*', target: 'default' }];
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport });
    base = `http://127.0.0.1:${server.port}`;
    anthropic = new Anthropic({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
    openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
    const m = await loadModel(join(toolModelDir, 'qwen-tools.gguf'), { contextSize: 256, parallel: 1 });
    const id = (text) => m.tokenize(text, false, true)[0];
    steer = { logit_bias: { [id('<tool_call>')]: 50, [id('\n')]: 40, [id('<|im_end|>')]: 100 }, repeat_penalty: 10 };
    await m.close();
  });
  after(() => server.close(100));

  describe("Anthropic's Messages with @anthropic-ai/sdk", () => {
    test('create, stream → finalMessage() and countTokens agree, with an alias for the model name', async () => {
      const params = { model: 'claude-sonnet-4-5', max_tokens: 24, temperature: 0, messages: [{ role: 'user', content: prompt }] };
      const whole = await anthropic.messages.create(params);
      assert.equal(whole.type, 'message');
      assert.equal(whole.role, 'assistant');
      assert.equal(whole.model, 'claude-sonnet-4-5');
      assert.equal(whole.content[0].type, 'text');
      assert.ok(whole.content[0].text.length > 0);
      assert.equal(whole.stop_reason, 'max_tokens');
      assert.equal(whole.usage.output_tokens, 24);
      const events = [];
      const stream = anthropic.messages.stream(params);
      stream.on('streamEvent', (e) => events.push(e.type));
      const streamed = await stream.finalMessage();
      assert.deepEqual(streamed.content, whole.content, 'streamed and whole replies carry the same text');
      assert.equal(streamed.stop_reason, 'max_tokens');
      assert.equal(streamed.usage.output_tokens, 24);
      assert.deepEqual([events[0], events.at(-2), events.at(-1)], ['message_start', 'message_delta', 'message_stop']);
      assert.ok(events.includes('content_block_start') && events.includes('content_block_stop'));
      const counted = await anthropic.messages.countTokens({ model: 'claude-haiku-4-5', messages: params.messages });
      assert.equal(counted.input_tokens, whole.usage.input_tokens + whole.usage.cache_read_input_tokens);
    });

    test('a stop sequence ends the reply and is reported as the one that matched', async () => {
      const params = { model: 'claude-x', max_tokens: 40, temperature: 0, messages: [{ role: 'user', content: prompt }] };
      const free = (await anthropic.messages.create(params)).content[0].text;
      const word = free.split(/\s+/).filter((w) => w.length >= 3).at(2);
      assert.ok(word, `a word to stop at in ${JSON.stringify(free)}`);
      const stopped = await anthropic.messages.create({ ...params, stop_sequences: ['zzz-never', word] });
      assert.equal(stopped.stop_reason, 'stop_sequence');
      assert.equal(stopped.stop_sequence, word);
      assert.equal(stopped.content[0].text, free.slice(0, free.indexOf(word)));
      const streamed = await anthropic.messages.stream({ ...params, stop_sequences: [word] }).finalMessage();
      assert.equal(streamed.stop_reason, 'stop_sequence');
      assert.equal(streamed.stop_sequence, word);
    });

    test("Claude Code's second turn reuses the cached system prompt despite its billing stamp", async () => {
      const system = [{ type: 'text', text: 'You are Claude Code, a coding agent. '.repeat(20) }];
      const turn = (cch, messages) => anthropic.messages.create({
        model: 'claude-opus-4-1', max_tokens: 4, temperature: 0, stream: false,
        system: [{ type: 'text', text: `x-anthropic-billing-header: cc_version=2.1.154; cc_entrypoint=cli; cch=${cch};` }, ...system],
        messages,
      });
      const first = await turn('a1b2c', [{ role: 'user', content: 'List the files.' }]);
      const second = await turn('f9e8d', [{ role: 'user', content: 'List the files.' }, { role: 'assistant', content: first.content }, { role: 'user', content: 'Now the tests.' }]);
      assert.ok(second.usage.cache_read_input_tokens > 100, `cached ${second.usage.cache_read_input_tokens} of ${second.usage.input_tokens + second.usage.cache_read_input_tokens}`);
    });

    test('a forced named tool call, then the tool_result turn (the Qwen2.5 template)', async () => {
      const tools = [{ name: weather.name, description: weather.description, input_schema: weather.schema }, { name: 'other_tool', input_schema: { type: 'object' } }];
      const messages = [{ role: 'user', content: 'Weather in Paris?' }];
      const params = { model: 'qwen-tools', max_tokens: 150, temperature: 0, tools, tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true }, messages, ...steer };
      const whole = await anthropic.messages.create(params);
      assert.equal(whole.stop_reason, 'tool_use');
      const call = whole.content.find((b) => b.type === 'tool_use');
      assert.equal(call.name, 'get_weather', 'the named tool, not just any');
      assert.ok(['Paris', 'London'].includes(call.input.city));
      assert.ok(call.id.length > 0);
      const streamed = await anthropic.messages.stream(params).finalMessage();
      const streamedCall = streamed.content.find((b) => b.type === 'tool_use');
      assert.equal(streamed.stop_reason, 'tool_use');
      assert.deepEqual(streamedCall.input, call.input, 'input_json_delta pieces add up to the same input');
      const next = await anthropic.messages.create({
        model: 'qwen-tools', max_tokens: 4, tools,
        messages: [...messages, { role: 'assistant', content: whole.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '21 degrees' }] }],
      });
      assert.ok(next.usage.input_tokens + next.usage.cache_read_input_tokens > whole.usage.input_tokens + whole.usage.cache_read_input_tokens);
    });

    test("errors are Anthropic's typed errors; an unknown model without an alias is a 404", async () => {
      await assert.rejects(anthropic.messages.create({ model: 'llama-nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }), Anthropic.NotFoundError);
      await assert.rejects(anthropic.messages.create({ model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] }), (e) => e instanceof Anthropic.BadRequestError && /image/.test(e.message));
      await assert.rejects(anthropic.messages.create({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] }), Anthropic.BadRequestError);
      const r = await fetch(`${base}/v1/messages?beta=true`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'x' }, body: '{"model":' });
      assert.equal(r.status, 400);
      assert.deepEqual(Object.keys(await r.json()), ['type', 'error']);
    });

    test('the AI SDK Anthropic provider generates text', { skip: node22 }, async () => {
      const { generateText } = await import('ai');
      const { createAnthropic } = await import('@ai-sdk/anthropic');
      const provider = createAnthropic({ baseURL: `${base}/v1`, apiKey: 'unused' });
      const { text, finishReason } = await generateText({ model: provider('claude-3-5-haiku-latest'), prompt, maxOutputTokens: 12, temperature: 0, maxRetries: 0 });
      assert.ok(text.length > 0);
      assert.equal(finishReason, 'length');
    });
  });

  describe("OpenAI's Responses with openai", () => {
    test('create and stream → finalResponse() carry the same text, with every index the accumulator reads', async () => {
      const params = { model: 'default', input: prompt, max_output_tokens: 24, temperature: 0 };
      const whole = await openai.responses.create(params);
      assert.equal(whole.object, 'response');
      assert.equal(whole.status, 'incomplete');
      assert.equal(whole.incomplete_details.reason, 'max_output_tokens');
      assert.ok(whole.output_text.length > 0);
      assert.equal(whole.usage.output_tokens, 24);
      const stream = openai.responses.stream(params);
      const sequence = [];
      stream.on('event', (e) => sequence.push(e.sequence_number));
      const final = await stream.finalResponse();
      // output_text is the client's own sum of create()'s reply: the stream's is summed here.
      const textOf = (r) => r.output.filter((o) => o.type === 'message').flatMap((o) => o.content.map((c) => c.text)).join('');
      assert.equal(textOf(final), whole.output_text);
      assert.deepEqual(sequence, sequence.map((_, i) => i), 'sequence_number counts every event from 0');
    });

    test('previous_response_id continues a stored conversation and reuses its prefix; GET and DELETE', async () => {
      const first = await openai.responses.create({ model: 'default', input: prompt, instructions: 'Tell a story.', max_output_tokens: 8, temperature: 0 });
      const second = await openai.responses.create({ model: 'default', input: 'What happened next?', previous_response_id: first.id, instructions: 'Tell a story.', max_output_tokens: 8, temperature: 0 });
      assert.equal(second.previous_response_id, first.id);
      assert.ok(second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens, 'the first turn went in again');
      assert.ok(second.usage.input_tokens_details.cached_tokens >= first.usage.input_tokens, 'and its prefix was reused');
      const got = await openai.responses.retrieve(first.id);
      assert.equal(got.output_text, first.output_text);
      await openai.responses.delete(first.id);
      await assert.rejects(openai.responses.retrieve(first.id), OpenAI.NotFoundError);
      await assert.rejects(openai.responses.create({ model: 'default', input: 'x', previous_response_id: first.id }), OpenAI.NotFoundError);
      const unstored = await openai.responses.create({ model: 'default', input: 'x', store: false, max_output_tokens: 2 });
      await assert.rejects(openai.responses.retrieve(unstored.id), OpenAI.NotFoundError);
      const counted = await (await fetch(`${base}/v1/responses/input_tokens`, { method: 'POST', body: JSON.stringify({ model: 'default', input: prompt, instructions: 'Tell a story.' }) })).json();
      assert.deepEqual(counted, { object: 'response.input_tokens', input_tokens: first.usage.input_tokens });
    });

    test('a function call, streamed and whole, then its function_call_output turn; hosted tools are tolerated', async () => {
      const tools = [{ type: 'function', name: weather.name, description: weather.description, parameters: weather.schema, strict: true }, { type: 'web_search' }, { type: 'custom', name: 'apply_patch' }];
      const params = { model: 'qwen-tools', input: 'Weather in Paris?', tools, tool_choice: { type: 'function', name: 'get_weather' }, parallel_tool_calls: false, max_output_tokens: 150, temperature: 0, ...steer };
      const whole = await openai.responses.create(params);
      assert.equal(whole.status, 'completed');
      const call = whole.output.find((o) => o.type === 'function_call');
      assert.equal(call.name, 'get_weather');
      assert.ok(['Paris', 'London'].includes(JSON.parse(call.arguments).city));
      assert.match(call.call_id, /\w/);
      const final = await openai.responses.stream(params).finalResponse();
      const streamedCall = final.output.find((o) => o.type === 'function_call');
      assert.equal(streamedCall.arguments, call.arguments);
      const next = await openai.responses.create({
        model: 'qwen-tools', tools, max_output_tokens: 4,
        input: [{ role: 'user', content: 'Weather in Paris?' }, call, { type: 'function_call_output', call_id: call.call_id, output: '21 degrees' }],
      });
      assert.ok(next.usage.input_tokens > whole.usage.input_tokens);
      // The same turn continued from the store instead of resent.
      const continued = await openai.responses.create({ model: 'qwen-tools', tools, max_output_tokens: 4, previous_response_id: whole.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: '21 degrees' }] });
      assert.equal(continued.usage.input_tokens, next.usage.input_tokens);
    });

    test('json_schema text.format constrains the reply', async () => {
      const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false };
      const r = await openai.responses.create({ model: 'default', input: 'A number:', text: { format: { type: 'json_schema', name: 'num', schema } }, max_output_tokens: 40, temperature: 0 });
      assert.equal(typeof JSON.parse(r.output_text).n, 'number');
    });

    test('an agent with one function tool runs to its final output (@openai/agents, tracing off)', { skip: node22 }, async () => {
      const { Agent, OpenAIProvider, Runner, tool } = await import('@openai/agents');
      const getWeather = tool({ name: 'get_weather', description: weather.description, parameters: weather.schema, strict: false, execute: async ({ city }) => `sunny in ${city}` });
      const agent = new Agent({ name: 'forecaster', instructions: 'Answer with the weather.', model: 'qwen-tools', tools: [getWeather], toolUseBehavior: 'stop_on_first_tool', modelSettings: { toolChoice: 'get_weather', parallelToolCalls: false, maxTokens: 150, temperature: 0, providerData: steer } });
      const runner = new Runner({ modelProvider: new OpenAIProvider({ baseURL: `${base}/v1`, apiKey: 'unused', useResponses: true }), tracingDisabled: true });
      const result = await runner.run(agent, 'Weather in Paris?');
      assert.match(result.finalOutput, /^sunny in (Paris|London)$/);
    });

    test('the AI SDK OpenAI provider generates text through .responses()', { skip: node22 }, async () => {
      const { generateText } = await import('ai');
      const { createOpenAI } = await import('@ai-sdk/openai');
      const provider = createOpenAI({ baseURL: `${base}/v1`, apiKey: 'unused' });
      const { text } = await generateText({ model: provider.responses('gpt-4o-mini'), prompt, maxOutputTokens: 12, temperature: 0, maxRetries: 0 });
      assert.ok(text.length > 0);
    });
  });

  test('the same greedy text through chat completions, Messages and Responses', async () => {
    const messages = [{ role: 'user', content: prompt }];
    const chat = await openai.chat.completions.create({ model: 'default', messages, max_tokens: 30, temperature: 0 });
    const message = await anthropic.messages.create({ model: 'default', messages, max_tokens: 30, temperature: 0 });
    const response = await openai.responses.create({ model: 'default', input: messages, max_output_tokens: 30, temperature: 0 });
    assert.equal(message.content[0].text, chat.choices[0].message.content);
    assert.equal(response.output_text, chat.choices[0].message.content);
  });

  test("llama-server's /tokenize, /detokenize, /apply-template and /props", async () => {
    const post = async (path, body) => {
      const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
      return { status: r.status, body: await r.json() };
    };
    const { body: plain } = await post('/tokenize', { content: prompt });
    assert.ok(plain.tokens.length > 0 && plain.tokens.every(Number.isInteger));
    const { body: pieces } = await post('/tokenize', { content: prompt, with_pieces: true });
    assert.deepEqual(pieces.tokens.map((t) => t.id), plain.tokens);
    assert.equal(pieces.tokens.map((t) => t.piece).join('').trim(), prompt, 'the pieces spell the text, spaces included');
    const { body: special } = await post('/tokenize', { content: prompt, add_special: true });
    assert.equal(special.tokens.length, plain.tokens.length + 1, 'add_special adds BOS');
    const { body: text } = await post('/detokenize', { tokens: plain.tokens });
    assert.equal(text.content.trim(), prompt);
    assert.equal((await post('/detokenize', { tokens: [1e9] })).status, 400);
    assert.equal((await post('/detokenize', { tokens: ['a'] })).status, 400);
    assert.equal((await post('/tokenize', { content: 5 })).status, 400);
    const { body: applied } = await post('/apply-template', { messages: [{ role: 'user', content: 'hi' }] });
    assert.match(applied.prompt, /hi/);
    const props = await (await fetch(`${base}/props`)).json();
    assert.equal(props.total_slots, 4);
    assert.equal(props.default_generation_settings.n_ctx, 2048);
    assert.deepEqual(props.modalities, { vision: false, audio: false });
    assert.equal((await fetch(`${base}/props?model=nope`)).status, 404);
  });

  test("the README's curl examples for these routes work as written", async () => {
    const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n')
      .map((line) => /^curl -s localhost:11435(\/v1\/messages|\/v1\/responses|\/tokenize|\/detokenize|\/apply-template|\/props|\/api\/chat)( -d '(.*)')?$/.exec(line))
      .filter(Boolean);
    assert.ok(lines.length >= 6, `${lines.length} examples found`);
    for (const [line, path, , body] of lines) {
      const args = ['-s', '-w', '\n%{http_code}', `localhost:${server.port}${path}`, ...(body ? ['-d', body] : [])];
      const out = await new Promise((resolve, reject) => execFile('curl', args, (error, stdout) => (error ? reject(error) : resolve(stdout))));
      const status = out.slice(out.lastIndexOf('\n') + 1);
      assert.equal(status, '200', `${line} → ${out}`);
      JSON.parse(out.slice(0, out.lastIndexOf('\n')));
    }
  });

  test('hostile values on the new routes are 4xx and the server serves on', async () => {
    const deep = (n) => (n === 0 ? 'x' : { a: deep(n - 1) });
    const bodies = [
      ['/v1/messages', { model: 'claude-x', max_tokens: 1e12, messages: [{ role: 'user', content: 'x' }] }],
      ['/v1/messages', { model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'f', input_schema: deep(100) }] }],
      ['/v1/messages', { model: 'claude-x', max_tokens: 2, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: deep(3000) }] }, { role: 'user', content: 'x' }] }],
      // Deeper than JSON.stringify can go (so written by hand): refused before any code recurses.
      ['/v1/responses', `{"model":"default","input":"x","tools":[{"type":"web_search","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}]}`],
      ['/v1/messages', { model: 'claude-x', max_tokens: 5, messages: 'x' }],
      ['/v1/messages', { model: 'claude-x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'tool', name: 'nope' }, tools: [{ name: 'f', input_schema: {} }] }],
      ['/v1/messages', { model: ['claude-x'], max_tokens: 5, messages: [] }],
      ['/v1/messages/count_tokens', { model: 'claude-x', messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 1 }] }] }],
      ['/v1/responses', { model: 'default', input: [{ type: 'function_call_output', call_id: 'c', output: { evil: true } }] }],
      ['/v1/responses', { model: 'default', input: 'x', previous_response_id: 'resp_' + 'a'.repeat(500) }],
      ['/v1/responses', { model: 'default', input: 'x', tools: 'all' }],
      ['/v1/responses', { model: 'default', input: 'x', text: { format: { type: 'json_schema', schema: [] } } }],
      ['/v1/responses', { model: 'default', input: 'x', tool_choice: 7 }],
    ];
    for (const [path, body] of bodies) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const r = await fetch(`${base}${path}`, { method: 'POST', body: text });
      assert.ok(r.status >= 400 && r.status < 500, `${path} ${text.slice(0, 120)} → ${r.status}`);
      await r.body?.cancel();
    }
    // Valid, if strange: answered, not a crash.
    const strange = [
      ['/v1/responses', { model: 'default', max_output_tokens: 2, input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '['.repeat(100_000) }, { role: 'user', content: 'x' }] }],
    ];
    for (const [path, body] of strange) {
      const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
      assert.ok(r.status < 500, `${path} → ${r.status}`);
      await r.body?.cancel();
    }
    assert.equal((await fetch(`${base}/v1/responses/resp_unknown`)).status, 404);
    assert.equal((await fetch(`${base}/v1/responses/resp_unknown`, { method: 'DELETE' })).status, 404);
    const alive = await anthropic.messages.create({ model: 'claude-x', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(alive.usage.output_tokens <= 2, true);
  });
});

describe(`the agents' dialects under --api-key over ${transport}`, { skip }, () => {
  let server;
  let base;
  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 1, contextSize: 512 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, apiKey: 'sekrit' });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close(100));

  test("Anthropic's x-api-key (and Bearer) open the routes; a wrong key is Anthropic's authentication_error", async () => {
    const params = { model: 'default', max_tokens: 2, messages: [{ role: 'user', content: 'x' }] };
    assert.equal((await new Anthropic({ baseURL: base, apiKey: 'sekrit', maxRetries: 0 }).messages.create(params)).type, 'message');
    assert.equal((await new Anthropic({ baseURL: base, authToken: 'sekrit', apiKey: null, maxRetries: 0 }).messages.create(params)).type, 'message');
    await assert.rejects(new Anthropic({ baseURL: base, apiKey: 'wrong', maxRetries: 0 }).messages.create(params), (e) => e instanceof Anthropic.AuthenticationError && e.error?.error?.type === 'authentication_error');
  });

  test('a stored response is retrieved with the key that made it, and not without it', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sekrit', maxRetries: 0 });
    const r = await client.responses.create({ model: 'default', input: 'x', max_output_tokens: 2 });
    assert.equal((await client.responses.retrieve(r.id)).id, r.id);
    await assert.rejects(new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 }).responses.retrieve(r.id), OpenAI.AuthenticationError);
  });
});
