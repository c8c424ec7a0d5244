// The OpenAI-compatible API with the official `openai` client against a real server: the issue's
// snippet unmodified, embeddings, JSON-schema output, tool calls (streamed and not), multi-turn
// prefix reuse, abort, and the limits on schemas.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { transportUnderTest } from '../helpers/transport.mjs';
import OpenAI from 'openai';
import { loadModel } from '../../dist/index.js';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { fixtureModel, storiesModel, toolCallingModel } from '../helpers/fixtures.mjs';
import { scratchDir } from '../helpers/scratch.mjs';

const modelPath = storiesModel() ?? fixtureModel('f32', 'phi-3');
// A tiny Qwen2-vocab model carrying Qwen2.5's real chat template (Hermes-style <tool_call> blocks).
const toolModelDir = scratchDir('openai');
copyFileSync(toolCallingModel(), join(toolModelDir, 'qwen-tools.gguf'));

let server;
let registry;
let client;
let base;

const { name: transport, skip } = transportUnderTest();

describe(`openai over ${transport}`, { skip }, () => {
  before(async () => {
    registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [toolModelDir], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 4, contextSize: 1024 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, bodyLimit: 1024 * 1024 });
    base = `http://127.0.0.1:${server.port}`;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(() => server.close(100));

  const user = (content) => ({ role: 'user', content });

  describe('OpenAI API', () => {
    test('the issue snippet runs unmodified', async () => {
      await client.models.list();
      const chat = await client.chat.completions.create({ model: 'default', messages: [user('Hi')] });
      assert.equal(chat.object, 'chat.completion');
      assert.equal(chat.choices[0].message.role, 'assistant');
      assert.equal(typeof chat.choices[0].message.content, 'string');
      const messages = [user('Tell me a story')];
      const stream = await client.chat.completions.create({ model: 'default', messages, stream: true, stream_options: { include_usage: true }, max_tokens: 20 });
      let text = '';
      let usage;
      for await (const part of stream) {
        text += part.choices[0]?.delta?.content ?? '';
        usage ??= part.usage;
      }
      assert.equal(usage.completion_tokens, 20);
      assert.ok(text.length > 0);
      const completion = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 32 });
      assert.equal(completion.usage.completion_tokens <= 32, true);
      const embeddings = await client.embeddings.create({ model: 'default', input: ['a', 'b'] });
      assert.equal(embeddings.data.length, 2);
      const dims = (await registry.get('default')).info.embeddingLength;
      for (const [i, d] of embeddings.data.entries()) {
        assert.equal(d.index, i);
        assert.equal(d.embedding.length, dims);
      }
      assert.ok(embeddings.usage.prompt_tokens >= 2);
    });

    test('a small embeddings request is not stuck behind all of a big one', async () => {
      const embed = (input) => fetch(`${base}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'default', input }) }).then(async (r) => (assert.equal(r.status, 200), r.json()));
      const order = [];
      // Sent together: whichever the embedder meets first, the small one's single decode comes
      // before the big one's last of many.
      const big = embed(Array.from({ length: 48 }, (_, i) => `Once upon a time there was a girl called ${i}. `.repeat(30))).then(() => order.push('big'));
      await Promise.all([big, embed('hello').then(() => order.push('small'))]);
      assert.deepEqual(order, ['small', 'big'], 'the embedder is shared decode by decode, not request by request');
    });

    test('embeddings: float and base64 agree, vectors are normalized, bad input is a 400', async () => {
      const asFloat = await (await fetch(`${base}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'default', input: 'Once upon a time', encoding_format: 'float' }) })).json();
      const vector = asFloat.data[0].embedding;
      const norm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
      // The client asks for base64 by default and decodes it.
      const viaClient = await client.embeddings.create({ model: 'default', input: 'Once upon a time' });
      assert.deepEqual(viaClient.data[0].embedding, vector);
      const other = await client.embeddings.create({ model: 'default', input: ['Once upon a time', 'The dog ran to the park'] });
      // In a batch the sums run in another order: equal up to float rounding.
      const cosine = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
      assert.ok(cosine(other.data[0].embedding, vector) > 0.9999, 'the same text embeds the same in a batch');
      assert.ok(cosine(other.data[1].embedding, vector) < 0.999, 'a different text embeds differently');
      await assert.rejects(client.embeddings.create({ model: 'default', input: [] }), OpenAI.BadRequestError);
      await assert.rejects(client.embeddings.create({ model: 'default', input: [''] }), OpenAI.BadRequestError);
      await assert.rejects(client.embeddings.create({ model: 'missing', input: 'x' }), OpenAI.NotFoundError);
      await assert.rejects(client.embeddings.create({ model: 'default', input: 'x', dimensions: 3 }), OpenAI.BadRequestError);
      await assert.rejects(client.embeddings.create({ model: 'default', input: 'word '.repeat(3000) }), /more than the embedding context of 1024/);
    });

    test('json_schema output parses and validates', async () => {
      const schema = {
        type: 'object',
        properties: { name: { type: 'string', maxLength: 12 }, happy: { type: 'boolean' }, age: { type: 'integer', minimum: 1, maximum: 99 } },
        required: ['name', 'happy', 'age'],
        additionalProperties: false,
      };
      for (const stream of [false, true]) {
        const request = { model: 'default', messages: [user('Describe the hero as JSON')], max_tokens: 120, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'hero', schema } } };
        let content = '';
        let finish;
        if (stream) {
          for await (const part of await client.chat.completions.create({ ...request, stream: true })) {
            content += part.choices[0]?.delta?.content ?? '';
            finish = part.choices[0]?.finish_reason ?? finish;
          }
        } else {
          const r = await client.chat.completions.create(request);
          content = r.choices[0].message.content;
          finish = r.choices[0].finish_reason;
        }
        assert.equal(finish, 'stop', `the grammar completes the object: ${content}`);
        const value = JSON.parse(content);
        assert.deepEqual(Object.keys(value).sort(), ['age', 'happy', 'name']);
        assert.equal(typeof value.name, 'string');
        assert.ok(value.name.length <= 12);
        assert.equal(typeof value.happy, 'boolean');
        assert.ok(Number.isInteger(value.age) && value.age >= 1 && value.age <= 99);
      }
    });

    test('schemas past the documented limits are refused with a 400 before conversion', async () => {
      // 5,000 levels, the depth that took llama-server to 5.4 GB; written as text (JSON.stringify
      // recurses). Past 128 levels any body is refused as it is read; past 64 a chat request is.
      const deep = (levels) => '{"type":"object","properties":{"a":'.repeat(levels) + '{"type":"string"}' + '}}'.repeat(levels);
      const started = Date.now();
      const body = (levels) => `{"model":"default","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"deep","schema":${deep(levels)}}}}`;
      for (const [levels, message] of [[5000, /nested deeper than 128 levels/], [40, /nested deeper than 64 levels/]]) {
        const refused = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: body(levels) });
        assert.equal(refused.status, 400);
        assert.match((await refused.json()).error.message, message);
      }
      const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`field_${i}`, { type: 'string' }])) };
      await assert.rejects(client.chat.completions.create({ model: 'default', messages: [user('x')], response_format: { type: 'json_schema', json_schema: { name: 'wide', schema: wide } } }), /at most 65536 bytes/);
      await assert.rejects(client.chat.completions.create({ model: 'default', messages: [user('x')], response_format: { type: 'xml' } }), OpenAI.BadRequestError);
      assert.ok(Date.now() - started < 10_000);
      const health = await (await fetch(`${base}/api/health`)).json();
      assert.equal(health.status, 'healthy');
    });

    test('a multi-turn conversation reuses the first turn from the KV cache', async () => {
      const first = [user('Once upon a time there was a little girl. What was her name?')];
      const r1 = await client.chat.completions.create({ model: 'default', messages: first, max_tokens: 12, temperature: 0 });
      const second = [...first, { role: 'assistant', content: r1.choices[0].message.content }, user('And where did she live?')];
      const r2 = await client.chat.completions.create({ model: 'default', messages: second, max_tokens: 12, temperature: 0 });
      assert.ok(r2.usage.prompt_tokens_details.cached_tokens >= r1.usage.prompt_tokens,
        `cached ${r2.usage.prompt_tokens_details.cached_tokens} of the first turn's ${r1.usage.prompt_tokens} prompt tokens`);
      assert.ok(r2.usage.prompt_tokens > r1.usage.prompt_tokens);
    });

    test('logprobs: completions and chat, streamed and not, add up to the text', async () => {
      const completion = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 3 });
      const lp = completion.choices[0].logprobs;
      assert.equal(lp.tokens.join(''), completion.choices[0].text);
      assert.equal(lp.tokens.length, 8);
      assert.equal(lp.text_offset[0], 0);
      for (const [i, top] of lp.top_logprobs.entries()) {
        assert.ok(lp.token_logprobs[i] <= 0);
        assert.equal(Object.keys(top).length, 3);
        // Greedy: the chosen token is the likeliest.
        assert.equal(Math.max(...Object.values(top)), lp.token_logprobs[i]);
      }
      let streamed = '';
      let tokens = 0;
      for await (const part of await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 0, stream: true })) {
        const l = part.choices[0]?.logprobs;
        if (l) {
          streamed += l.tokens.join('');
          tokens += l.tokens.length;
        }
      }
      assert.equal(streamed, completion.choices[0].text);
      assert.equal(tokens, 8);

      const chat = await client.chat.completions.create({ model: 'default', messages: [user('Hi')], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2 });
      const content = chat.choices[0].logprobs.content;
      assert.equal(content.map((t) => t.token).join(''), chat.choices[0].message.content);
      assert.deepEqual(content[0].bytes, [...Buffer.from(content[0].token)]);
      assert.equal(content[0].top_logprobs.length, 2);
      let chatStreamed = '';
      for await (const part of await client.chat.completions.create({ model: 'default', messages: [user('Hi')], max_tokens: 6, temperature: 0, logprobs: true, stream: true })) {
        for (const t of part.choices[0]?.logprobs?.content ?? []) chatStreamed += t.token;
      }
      assert.equal(chatStreamed, chat.choices[0].message.content);
      await assert.rejects(client.chat.completions.create({ model: 'default', messages: [user('Hi')], top_logprobs: 2 }), OpenAI.BadRequestError);
      await assert.rejects(client.completions.create({ model: 'default', prompt: 'x', logprobs: 21 }), OpenAI.BadRequestError);
    });

    test('aborting a stream frees its slot; a prompt longer than the context is a 400', async () => {
      const controller = new AbortController();
      const stream = await client.chat.completions.create({ model: 'default', messages: [user('Tell me a long story')], stream: true, max_tokens: 500 }, { signal: controller.signal });
      for await (const part of stream) {
        if (part.choices[0]?.delta?.content) controller.abort(); // the client ends the iteration quietly
      }
      const model = await registry.get('default');
      for (let i = 0; i < 100 && model.stats().slotsBusy > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(model.stats().slotsBusy, 0);
      await assert.rejects(client.chat.completions.create({ model: 'default', messages: [user('word '.repeat(3000))] }), OpenAI.BadRequestError);
      const ok = await client.chat.completions.create({ model: 'default', messages: [user('Hi')], max_tokens: 4 });
      assert.equal(ok.choices.length, 1);
    });
  });

  describe('tool calls (Qwen2.5 template)', () => {
    const tools = [{
      type: 'function',
      function: { name: 'get_weather', description: 'Current weather of a city', parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'London'] } }, required: ['city'] } },
    }];
    // The fixture's weights are random, so biases steer it: open a tool call ("<tool_call>", then a
    // newline once the penalty has made a second marker unlikely) and end the turn as soon as the
    // grammar allows. Everything in between is the tool-call grammar's doing.
    let steer;
    before(async () => {
      const m = await loadModel(join(toolModelDir, 'qwen-tools.gguf'), { contextSize: 256, parallel: 1 });
      const id = (text) => m.tokenize(text, false, true)[0];
      steer = { logit_bias: { [id('<tool_call>')]: 50, [id('\n')]: 40, [id('<|im_end|>')]: 100 }, repeat_penalty: 10, max_tokens: 150, temperature: 0 };
      await m.close();
    });

    test('tool_choice required: the call is parsed into tool_calls', async () => {
      const r = await client.chat.completions.create({ model: 'qwen-tools', messages: [user('Weather in Paris?')], tools, tool_choice: 'required', ...steer });
      const choice = r.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.tool_calls.length, 1);
      const call = choice.message.tool_calls[0];
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.match(call.id, /^call_\w{24}$/);
      assert.ok(['Paris', 'London'].includes(JSON.parse(call.function.arguments).city));
    });

    test('streamed tool calls arrive as deltas that add up to the same call', async () => {
      const stream = await client.chat.completions.create({ model: 'qwen-tools', messages: [user('Weather in London?')], tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, ...steer, stream: true });
      let id;
      let name = '';
      let args = '';
      let finish;
      for await (const part of stream) {
        for (const call of part.choices[0]?.delta?.tool_calls ?? []) {
          assert.equal(call.index, 0);
          id ??= call.id;
          name += call.function?.name ?? '';
          args += call.function?.arguments ?? '';
        }
        finish = part.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(finish, 'tool_calls');
      assert.match(id, /^call_/);
      assert.equal(name, 'get_weather');
      assert.ok(['Paris', 'London'].includes(JSON.parse(args).city));
    });

    test('a tool result goes back through the template; unknown tool_choice names are a 400', async () => {
      const messages = [
        user('Weather in Paris?'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
      ];
      const r = await client.chat.completions.create({ model: 'qwen-tools', messages, tools, max_tokens: 4 });
      assert.ok(r.usage.prompt_tokens > 0);
      await assert.rejects(client.chat.completions.create({ model: 'qwen-tools', messages: [user('x')], tools, tool_choice: { type: 'function', function: { name: 'nope' } } }), OpenAI.BadRequestError);
      await assert.rejects(client.chat.completions.create({ model: 'qwen-tools', messages: [user('x')], tools: [{ type: 'function' }] }), OpenAI.BadRequestError);
    });
  });
});
