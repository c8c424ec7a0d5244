// Ollama's API with the `ollama` npm client, unmodified, against the --ollama-bind listener (every
// path Ollama's) and shimmy's own port (the calls whose paths the seed does not use): version,
// list, show, ps, chat (streamed and whole, the same text), generate with its context, embed,
// embeddings, tools on the tool-calling fixture, keep_alive, errors in Ollama's shape; and
// LangChain's ChatOllama.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ollama } from 'ollama';
import { transportUnderTest } from '../helpers/transport.mjs';
import { loadModel } from '../../dist/index.js';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { fixtureModel, storiesModel, toolCallingModel } from '../helpers/fixtures.mjs';
import { scratchDir } from '../helpers/scratch.mjs';

const modelPath = storiesModel() ?? fixtureModel('f32', 'phi-3');
const toolModelDir = scratchDir('ollama');
copyFileSync(toolCallingModel(), join(toolModelDir, 'qwen-tools.gguf'));
const { name: transport, skip } = transportUnderTest();

describe(`Ollama's API over ${transport}`, { skip }, () => {
  let server;
  let ollama; // the --ollama-bind listener
  let shimmyPort; // the same client against shimmy's own port
  let base;
  let name;

  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [toolModelDir], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 2, contextSize: 2048 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, ollamaBind: { host: '127.0.0.1', port: 0 } });
    base = `http://127.0.0.1:${server.ollamaPort}`;
    ollama = new Ollama({ host: base });
    shimmyPort = new Ollama({ host: `http://127.0.0.1:${server.port}` });
    name = registry.base.id;
  });
  after(() => server.close(100));

  const ask = (content) => [{ role: 'user', content }];

  test('version, list, show, ps and the root answer as Ollama does, on both ports', async () => {
    for (const client of [ollama, shimmyPort]) {
      assert.match((await client.version()).version, /^\d+\.\d+\.\d+$/);
      const { models } = await client.list();
      const listed = models.find((m) => m.name === name);
      assert.equal(listed.details.format, 'gguf');
      assert.match(listed.digest, /^[0-9a-f]{64}$/);
      assert.ok(!Number.isNaN(Date.parse(listed.modified_at)));
      const shown = await client.show({ model: `${name}:latest` });
      assert.ok(shown.capabilities.includes('completion'));
      assert.equal(typeof shown.model_info['general.architecture'], 'string');
      assert.ok(shown.model_info[`${shown.model_info['general.architecture']}.context_length`] > 0);
      assert.ok((await client.ps()).models.some((m) => m.name === name && m.context_length === 2048), 'loaded by show');
    }
    const tools = await ollama.show({ model: 'qwen-tools' });
    assert.ok(tools.capabilities.includes('tools'), "Qwen2.5's template renders tools");
    assert.equal(await (await fetch(`${base}/`)).text(), 'Ollama is running');
    assert.equal((await fetch(`${base}/`, { method: 'HEAD' })).status, 200);
  });

  test('chat: streamed and whole replies carry the same text; options reach the sampler', async () => {
    const request = { model: name, messages: ask('Once upon a time'), options: { num_predict: 16, temperature: 0 } };
    const whole = await ollama.chat({ ...request, stream: false });
    assert.equal(whole.done, true);
    assert.equal(whole.done_reason, 'length');
    assert.equal(whole.eval_count, 16);
    assert.ok(whole.prompt_eval_count > 0 && whole.total_duration > 0 && whole.eval_duration > 0);
    let text = '';
    let last;
    for await (const part of await shimmyPort.chat({ ...request, stream: true })) {
      text += part.message.content;
      last = part;
    }
    assert.equal(text, whole.message.content);
    assert.equal(last.done, true);
    const word = text.split(/\s+/).filter((w) => w.length >= 3).at(1);
    const stopped = await ollama.chat({ ...request, options: { ...request.options, stop: [word] }, stream: false });
    assert.equal(stopped.message.content, text.slice(0, text.indexOf(word)));
    assert.equal(stopped.done_reason, 'stop');
    const json = await ollama.chat({ model: name, messages: ask('A number:'), format: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }, options: { num_predict: 40, temperature: 0 }, stream: false });
    assert.equal(typeof JSON.parse(json.message.content).n, 'number');
  });

  test('generate on the Ollama listener: response, done_reason and a context to go on from; the seed keeps /api/generate on shimmy\'s port', async () => {
    const first = await ollama.generate({ model: name, prompt: 'Once upon a time', options: { num_predict: 8, temperature: 0 }, stream: false });
    assert.equal(typeof first.response, 'string');
    assert.equal(first.done_reason, 'length');
    assert.ok(first.context.length > first.prompt_eval_count);
    const next = await ollama.generate({ model: name, prompt: ' and then', context: first.context, raw: true, options: { num_predict: 4, temperature: 0 }, stream: false });
    assert.ok(next.prompt_eval_count > first.context.length, 'the context went in before the prompt');
    let streamed = '';
    for await (const part of await ollama.generate({ model: name, prompt: 'Once upon a time', options: { num_predict: 8, temperature: 0 }, stream: true })) streamed += part.response;
    assert.equal(streamed, first.response);
    const seed = await (await fetch(`http://127.0.0.1:${server.port}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'default', prompt: 'x', max_tokens: 2 }) })).json();
    assert.ok(Array.isArray(seed.choices), "the seed's shape");
  });

  test("LangChain's ChatOllama invokes and streams the same text", async () => {
    const { ChatOllama } = await import('@langchain/ollama');
    const chat = new ChatOllama({ baseUrl: base, model: name, temperature: 0, numPredict: 12 });
    const reply = await chat.invoke('Once upon a time');
    assert.ok(reply.content.length > 0);
    let streamed = '';
    for await (const chunk of await chat.stream('Once upon a time')) streamed += chunk.content;
    assert.equal(streamed, reply.content);
  });

  test('embed and embeddings', async () => {
    const { embeddings } = await shimmyPort.embed({ model: name, input: ['a', 'b'] });
    assert.equal(embeddings.length, 2);
    const { embedding } = await ollama.embeddings({ model: name, prompt: 'a' });
    assert.deepEqual(embedding.length, embeddings[0].length);
  });

  test('tools: a tool call comes back as tool_calls with an arguments object, and the tool turn renders', async () => {
    const m = await loadModel(join(toolModelDir, 'qwen-tools.gguf'), { contextSize: 256, parallel: 1 });
    const id = (text) => m.tokenize(text, false, true)[0];
    // Steered as in the openai suite, but Ollama has no tool_choice: the call must outbid the end of the turn.
    const steer = { logit_bias: { [id('<tool_call>')]: 100, [id('\n')]: 60, [id('<|im_end|>')]: 50 } };
    await m.close();
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris', 'London'] } }, required: ['city'] } } }];
    const request = { model: 'qwen-tools', messages: ask('Weather in Paris?'), tools, options: { num_predict: 150, temperature: 0, repeat_penalty: 10 }, ...steer };
    const whole = await ollama.chat({ ...request, stream: false });
    const call = whole.message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.ok(['Paris', 'London'].includes(call.function.arguments.city));
    let streamedCalls = [];
    for await (const part of await ollama.chat({ ...request, stream: true })) streamedCalls = part.message.tool_calls ?? streamedCalls;
    // The first call is whole in both (num_predict may cut a later one off mid-arguments).
    assert.deepEqual(streamedCalls[0].function, whole.message.tool_calls[0].function);
    const next = await ollama.chat({ model: 'qwen-tools', tools, stream: false, options: { num_predict: 3 }, messages: [...ask('Weather in Paris?'), whole.message, { role: 'tool', content: '21 degrees', tool_name: 'get_weather' }] });
    assert.ok(next.prompt_eval_count > whole.prompt_eval_count);
  });

  test('keep_alive: 0 unloads a model, /api/ps shows when one expires, and the next request loads it again with the same greedy text', async () => {
    const request = { model: 'qwen-tools', messages: ask('Hello'), options: { num_predict: 6, temperature: 0 }, stream: false };
    const first = await ollama.chat({ ...request, keep_alive: '10m' });
    const listed = (await ollama.ps()).models.find((m) => m.name === 'qwen-tools');
    const expires = Date.parse(listed.expires_at) - Date.now();
    assert.ok(expires > 9 * 60_000 && expires <= 10 * 60_000, `expires in ${expires} ms`);
    const unloaded = await ollama.chat({ model: 'qwen-tools', messages: [], keep_alive: 0, stream: false });
    assert.equal(unloaded.done_reason, 'unload');
    for (let i = 0; i < 100 && (await ollama.ps()).models.some((m) => m.name === 'qwen-tools'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!(await ollama.ps()).models.some((m) => m.name === 'qwen-tools'), 'unloaded');
    const again = await ollama.chat(request);
    assert.equal(again.message.content, first.message.content);
  });

  test("errors are Ollama's {error} with its statuses; hostile values are 4xx and the server serves on", async () => {
    await assert.rejects(ollama.chat({ model: 'nope', messages: ask('x'), stream: false }), (e) => e.status_code === 404 && /nope/.test(e.message));
    await assert.rejects(ollama.chat({ model: name, messages: [{ role: 'user', content: 'x', images: ['AAAA'] }], stream: false }), (e) => e.status_code === 400 && /images/.test(e.message));
    const bodies = [
      ['/api/chat', { model: name, messages: ask('x'), options: { num_predict: 'many' } }],
      ['/api/chat', { model: name, messages: ask('x'), options: { temperature: 9 } }],
      ['/api/chat', { model: name, messages: [{ role: 'robot', content: 'x' }] }],
      ['/api/chat', { model: name, messages: ask('x'), format: 'yaml' }],
      ['/api/chat', { model: name, messages: ask('x'), keep_alive: 'forever' }],
      ['/api/chat', { model: name, messages: ask('x'), think: 'maybe' }],
      ['/api/chat', { model: name, messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: '{}' } }] }] }],
      ['/api/generate', { model: name, prompt: 'x', context: [-1] }],
      ['/api/generate', { model: name, prompt: 'x', suffix: 'y' }],
      ['/api/embed', { model: name, input: [] }],
      ['/api/show', { model: '../../etc/passwd' }],
      ['/api/chat', '{"model":'],
    ];
    for (const [path, body] of bodies) {
      const r = await fetch(`${base}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      assert.ok(r.status >= 400 && r.status < 500, `${path} ${JSON.stringify(body)} → ${r.status}`);
      assert.equal(typeof (await r.json()).error, 'string');
    }
    const loaded = await ollama.chat({ model: name, messages: [], keep_alive: '5m', stream: false });
    assert.equal(loaded.done_reason, 'load', 'no messages: the model is loaded, nothing generated');
    assert.equal((await ollama.chat({ model: name, messages: ask('x'), options: { num_predict: 1 }, stream: false })).eval_count, 1);
  });
});
