// LoRA adapters (issue 23): loaded with a model and checked like one, applied per request by id
// and scale on every route, stepped one adapter set at a time, never reusing a prefix computed
// under another set; found beside a model and listed with it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { loadModel } from '../dist/index.js';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { startServer } from '../dist/server/app.js';
import { STORIES_GREEDY_40, STORIES_LORA_GREEDY_40 } from '../scripts/stories-reference.mjs';
import { makeFixtureLora } from '../scripts/make-fixture-model.mjs';
import { batchingChangesResults } from './helpers/backend.mjs';
import { fixtureModel, loraFixture, root, storiesModel, storiesSkip } from './helpers/fixtures.mjs';

const run = promisify(execFile);
const cli = join(root, 'bin', 'shimmy.js');
const greedy = { prompt: 'Once upon a time', maxTokens: 40, temperature: 0 };

describe('LoRA adapters on stories260K', { skip: storiesSkip }, () => {
  let model;
  let adapter;
  before(async () => {
    adapter = loraFixture(storiesModel(), 'stories-lora');
    model = await loadModel(storiesModel(), { contextSize: 512, parallel: 4, lora: [{ path: adapter }] });
  });
  after(() => model?.close());

  test('scale 0 gives the base text byte for byte, 1 and 0.5 give llama-completion --lora-scaled text', async () => {
    assert.deepEqual(model.info.lora, [{ id: 0, path: adapter, scale: 1 }]);
    assert.equal((await model.complete({ ...greedy, lora: [{ id: 0, scale: 0 }] })).text, STORIES_GREEDY_40);
    assert.equal((await model.complete({ ...greedy, lora: [] })).text, STORIES_GREEDY_40);
    assert.equal((await model.complete(greedy)).text, STORIES_LORA_GREEDY_40[1]); // the default scale
    assert.equal((await model.complete({ ...greedy, lora: [{ id: 0, scale: 0.5 }] })).text, STORIES_LORA_GREEDY_40[0.5]);
  });

  test('4 concurrent requests with scales 0, 1, 0.5 and 1 each give their text alone', { skip: batchingChangesResults }, async () => {
    const scales = [0, 1, 0.5, 1];
    const results = await Promise.all(scales.map((scale) => model.complete({ ...greedy, lora: [{ id: 0, scale }] })));
    results.forEach((r, i) => assert.equal(r.text, scales[i] === 0 ? STORIES_GREEDY_40 : STORIES_LORA_GREEDY_40[scales[i]], `scale ${scales[i]}`));
  });

  test('a prefix cached under one adapter set is not reused under another (llama-server reuses it)', async () => {
    const prompt = { ...greedy, prompt: 'The dog and the cat played in the garden' }; // a prefix no other test caches
    const withAdapter = await model.complete({ ...prompt, lora: [{ id: 0, scale: 1 }] });
    const without = await model.complete({ ...prompt, lora: [] });
    // At most the BOS token, which earlier requests without the adapter left cached.
    assert.ok(without.usage.cachedTokens <= 1, `cached: ${without.usage.cachedTokens}`);
    const base = await loadModel(storiesModel(), { contextSize: 512, parallel: 1 });
    try {
      assert.equal(without.text, (await base.complete(prompt)).text);
    } finally {
      await base.close();
    }
    const again = await model.complete({ ...prompt, lora: [{ id: 0, scale: 1 }] });
    assert.ok(again.usage.cachedTokens > 0, 'the same set reuses its prefix');
    assert.equal(again.text, withAdapter.text);
  });

  test('setLoraScales sets the defaults (the adapters not named off); an unknown id or a wild scale is invalid_request', async () => {
    try {
      assert.deepEqual(model.setLoraScales([]), [{ id: 0, path: adapter, scale: 0 }]);
      assert.equal((await model.complete(greedy)).text, STORIES_GREEDY_40);
    } finally {
      model.setLoraScales([{ id: 0, scale: 1 }]);
    }
    await assert.rejects(async () => model.complete({ ...greedy, lora: [{ id: 1, scale: 1 }] }), { code: 'invalid_request', message: /one adapter, id 0/ });
    await assert.rejects(async () => model.complete({ ...greedy, lora: [{ id: 0, scale: Infinity }] }), { code: 'invalid_request' });
    assert.throws(() => model.setLoraScales([{ id: 5, scale: 1 }]), { code: 'invalid_request' });
  });
});

describe('adapters that do not fit', () => {
  const base = fixtureModel();
  test('another width, a model file, another architecture: invalid_model at load; a missing file: model_not_found', async () => {
    const wrongWidth = loraFixture(base, 'lora-wrong-width', { widthOverride: 128 });
    await assert.rejects(loadModel(base, { lora: [{ path: wrongWidth }] }), { code: 'invalid_model', message: /has incorrect shape/ });
    await assert.rejects(loadModel(base, { lora: [{ path: base }] }), { code: 'invalid_model', message: /it is not an adapter/ });
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-lora-'));
    const otherArch = join(dir, 'qwen-lora.gguf');
    makeFixtureLora(otherArch, base);
    const bytes = readFileSync(otherArch);
    bytes.write('qwen2', bytes.indexOf('llama'), 'latin1'); // general.architecture, same length
    writeFileSync(otherArch, bytes);
    await assert.rejects(loadModel(base, { lora: [{ path: otherArch }] }), { code: 'invalid_model', message: /architecture "qwen2"/ });
    await assert.rejects(loadModel(base, { lora: [{ path: join(dir, 'none.gguf') }] }), { code: 'model_not_found' });
    await assert.rejects(loadModel(base, { lora: [{ path: wrongWidth, scale: NaN }] }), { code: 'invalid_request' });
  });
});

describe('LoRA over the server', () => {
  const modelPath = storiesModel() ?? fixtureModel();
  let server;
  let url;
  before(async () => {
    const adapter = loraFixture(modelPath, storiesModel() ? 'stories-lora' : 'tiny-lora');
    const discovery = discoverModels({ modelPath, lora: [{ path: adapter, scale: 1 }], env: {}, cwd: '/nonexistent', home: '/nonexistent' });
    server = await startServer({ host: '127.0.0.1', port: 0, registry: new ModelRegistry(discovery, { parallel: 4, contextSize: 512 }), transport: 'node' });
    url = `http://127.0.0.1:${server.port}`;
  });
  after(() => server?.close(100));
  const post = async (path, body) => {
    const r = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };

  test('GET /lora-adapters lists them, POST sets the defaults, a request\'s lora overrides them on every dialect', async () => {
    const listed = await (await fetch(`${url}/lora-adapters`)).json();
    assert.equal(listed.length, 1);
    assert.deepEqual({ id: listed[0].id, scale: listed[0].scale }, { id: 0, scale: 1 });
    const generate = (extra) => post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 24, temperature: 0, ...extra });
    const withDefault = (await generate({})).body.choices[0].text;
    const off = (await generate({ lora: [] })).body.choices[0].text;
    assert.notEqual(withDefault, off);
    if (storiesModel()) assert.equal(off, STORIES_GREEDY_40.slice(0, off.length));
    const completions = (extra) => post('/v1/completions', { model: 'default', prompt: 'Once upon a time', max_tokens: 24, temperature: 0, ...extra });
    assert.equal((await completions({})).body.choices[0].text, withDefault);
    assert.equal((await completions({ lora: [{ id: 0, scale: 0 }] })).body.choices[0].text, off);
    // POST turns the adapter off for requests that name none.
    const set = await post('/lora-adapters', [{ id: 0, scale: 0 }]);
    assert.equal(set.status, 200);
    assert.equal(set.body[0].scale, 0);
    try {
      assert.equal((await generate({})).body.choices[0].text, off);
      assert.equal((await generate({ lora: [{ id: 0, scale: 1 }] })).body.choices[0].text, withDefault);
      // The chat dialects take it too: the adapter changes their replies.
      const messages = [{ role: 'user', content: 'Tell me a story' }];
      const chats = [
        ['/v1/chat/completions', { model: 'default', messages, max_tokens: 16, temperature: 0 }, (b) => b.choices[0].message.content],
        ['/v1/messages', { model: 'default', messages, max_tokens: 16, temperature: 0 }, (b) => b.content[0].text],
        ['/v1/responses', { model: 'default', input: 'Tell me a story', max_output_tokens: 16, temperature: 0 }, (b) => b.output.at(-1).content[0].text],
        ['/api/chat', { model: 'default', messages, stream: false, options: { num_predict: 16, temperature: 0 } }, (b) => b.message.content],
      ];
      for (const [path, body, text] of chats) {
        const plain = await post(path, body);
        const adapted = await post(path, { ...body, lora: [{ id: 0, scale: 1 }] });
        assert.equal(plain.status, 200, `${path} ${JSON.stringify(plain.body)}`);
        assert.equal(adapted.status, 200, `${path} ${JSON.stringify(adapted.body)}`);
        assert.notEqual(text(adapted.body), text(plain.body), path);
      }
    } finally {
      await post('/lora-adapters', [{ id: 0, scale: 1 }]);
    }
  });

  test('a bad lora is a 400 that names the field, and the server goes on', async () => {
    for (const lora of [[{ id: 7, scale: 1 }], [{ id: 0, scale: 'x' }], [{ id: 0, scale: 1 }, { id: 0, scale: 2 }], 'all', [null], [{ id: -1, scale: 1 }]]) {
      const r = await post('/api/generate', { model: 'default', prompt: 'Hi', max_tokens: 2, lora });
      assert.equal(r.status, 400, JSON.stringify(lora));
      assert.match(r.body.error.details, /lora/);
    }
    assert.equal((await post('/lora-adapters', { id: 0 })).status, 400);
    assert.equal((await post('/api/generate', { model: 'default', prompt: 'Hi', max_tokens: 2 })).status, 200);
  });
});

describe('adapters found beside their model', () => {
  test('an adapter file named for its model is paired, listed as + LoRA and applied; --no-auto-lora leaves it out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-pair-'));
    const model = join(dir, 'tiny.gguf');
    copyFileSync(fixtureModel(), model);
    const adapter = makeFixtureLora(join(dir, 'tiny-lora-stories.gguf'), model);
    // One named for the model but made for another architecture goes with no model (the model still loads).
    const foreign = makeFixtureLora(join(dir, 'tiny-qwen-lora.gguf'), model);
    const bytes = readFileSync(foreign);
    bytes.write('qwen2', bytes.indexOf('llama'), 'latin1');
    writeFileSync(foreign, bytes);
    const found = discoverModels({ modelDirs: [dir], env: {}, cwd: '/nonexistent', home: '/nonexistent' });
    assert.deepEqual(found.models.map((m) => [m.id, m.lora]), [['tiny', [{ path: adapter, scale: 1 }]]]);
    assert.deepEqual(found.unpairedAdapters, [foreign]);
    assert.deepEqual(discoverModels({ modelDirs: [dir], autoLora: false, env: {}, cwd: '/nonexistent', home: '/nonexistent' }).models[0].lora, undefined);
    const env = { ...process.env, SHIMMY_MODEL_PATHS: '', SHIMMY_BASE_GGUF: '' };
    const { stdout } = await run(process.execPath, [cli, 'list', '--model-dirs', dir], { env, cwd: dir });
    assert.match(stdout, /^tiny \(default\) \+ LoRA /m);
    const unpaired = (await run(process.execPath, [cli, 'list', '--model-dirs', dir, '--no-auto-lora'], { env, cwd: dir })).stdout;
    assert.doesNotMatch(unpaired, /\+ LoRA/);
    assert.match(unpaired, /LoRA adapter paired with no model: .*tiny-lora-stories\.gguf/);
    const text = async (...flags) => (await run(process.execPath, [cli, 'generate', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '12', '--temperature', '0', ...flags], { env, cwd: dir })).stdout;
    const plain = await text('--no-auto-lora');
    assert.notEqual(await text('--no-auto-lora', '--lora', `${adapter}:1`), plain);
    assert.equal(await text('--no-auto-lora', '--lora', `${adapter}:0`), plain);
  });
});
