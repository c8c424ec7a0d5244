// Images in (issue 22): a model loaded with a vision projector (mmproj) answers about images in
// chat messages, with llama-mtmd-cli's text; images are encoded and decoded inside continuous
// batching, a second turn about the same image reuses its cells, and every bad image is a clear
// invalid_request with the model still serving.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { loadModel } from '../dist/index.js';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { startServer } from '../dist/server/app.js';
import { gifImage, jpegImage, patterns, pngImage } from '../scripts/make-fixture-image.mjs';
import { STORIES_GREEDY_40, STORIES_IMAGE_GREEDY_40 } from '../scripts/stories-reference.mjs';
import { deflateSync } from 'node:zlib';
import { crc32 } from '../scripts/make-fixture-image.mjs';
import { fixtureModel, projectorFixture, root, storiesModel, storiesSkip, templateModel } from './helpers/fixtures.mjs';

const run = promisify(execFile);
const cli = join(root, 'bin', 'shimmy.js');

const image = (pattern, make = pngImage, size = 32) => make(size, size, patterns[pattern](size, size));
const ask = (data, text = 'Once upon a time') => ({ messages: [{ role: 'user', content: [{ type: 'image', data }, { type: 'text', text }] }] });
const greedy = { maxTokens: 40, temperature: 0 };
const dataUrl = (bytes, type = 'image/png') => `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;

async function refused(promise, pattern) {
  await assert.rejects(promise, (e) => e.code === 'invalid_request' && pattern.test(e.message));
}

describe('vision on stories260K with a fixture projector', { skip: storiesSkip }, () => {
  let model;
  before(async () => {
    model = await loadModel(storiesModel(), { contextSize: 512, parallel: 4, mmproj: projectorFixture(64) });
  });
  after(() => model?.close());

  test("an image's greedy text is llama-mtmd-cli's, and the image decides it", async () => {
    assert.deepEqual(model.info.modalities, ['vision']);
    for (const pattern of ['gradient', 'checker']) {
      const chat = await model.renderChat(ask(image(pattern)));
      assert.equal(chat.imageTokens, 16);
      assert.equal((await model.complete({ chat, ...greedy })).text, STORIES_IMAGE_GREEDY_40[pattern]);
    }
  });

  test('PNG, GIF and JPEG of the same flat-block picture give the same text', async () => {
    const texts = [];
    for (const make of [pngImage, gifImage, jpegImage]) {
      texts.push((await model.complete({ chat: await model.renderChat(ask(image('checker', make))), ...greedy })).text);
    }
    assert.deepEqual(texts, [STORIES_IMAGE_GREEDY_40.checker, STORIES_IMAGE_GREEDY_40.checker, STORIES_IMAGE_GREEDY_40.checker]);
  });

  test('a second turn about the same image reuses its cells; another image with the same text does not', async () => {
    const first = await model.complete({ chat: await model.renderChat(ask(image('gradient'), 'A second turn')), ...greedy });
    const again = await model.complete({ chat: await model.renderChat(ask(image('gradient'), 'A second turn')), ...greedy });
    assert.equal(again.text, first.text);
    assert.equal(again.usage.cachedTokens, again.usage.promptTokens - 1);
    const other = await model.complete({ chat: await model.renderChat(ask(image('checker'), 'A second turn')), ...greedy });
    const textBefore = (await model.renderChat({ messages: [{ role: 'user', content: '' }] })).promptTokens;
    assert.ok(other.usage.cachedTokens < textBefore, `cached ${other.usage.cachedTokens} tokens, the image's among them`);
    assert.notEqual(other.text, first.text);
  });

  test('4 image requests at once and a text stream beside them each give their text alone', async () => {
    const pictures = ['gradient', 'checker', 'red', 'blue'];
    const alone = [];
    for (const p of pictures) alone.push((await model.complete({ chat: await model.renderChat(ask(image(p), 'Alone or not')), ...greedy })).text);
    // Different prefixes, so no request finds another's cells.
    const chats = await Promise.all(pictures.map((p) => model.renderChat(ask(image(p), 'Alone or not'))));
    const [text, ...together] = await Promise.all([
      model.complete({ prompt: 'Once upon a time', ...greedy }),
      ...chats.map((chat) => model.complete({ chat, ...greedy })),
    ]);
    assert.equal(text.text, STORIES_GREEDY_40);
    assert.deepEqual(together.map((r) => r.text), alone);
  });

  test('in a shared KV pool too small for all, 4 image requests each give their text alone', async () => {
    const pictures = ['gradient', 'checker', 'red', 'blue'];
    const alone = [];
    for (const p of pictures) alone.push((await model.complete({ chat: await model.renderChat(ask(image(p), 'In a small pool')), ...greedy })).text);
    // Each needs about 100 cells (60 of prompt, 16 of them the image's, and 40 generated): 4 need 400 of the 256.
    const pooled = await loadModel(storiesModel(), { contextSize: 128, parallel: 4, kvUnified: true, kvSize: 256, mmproj: projectorFixture(64) });
    try {
      const chats = await Promise.all(pictures.map((p) => pooled.renderChat(ask(image(p), 'In a small pool'))));
      const together = await Promise.all(chats.map((chat) => pooled.complete({ chat, ...greedy })));
      assert.deepEqual(together.map((r) => r.text), alone);
    } finally {
      await pooled.close();
    }
  });

  test('shimmy generate --image prints llama-mtmd-cli\'s text; a missing projector or file is one line and exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shimmy-vision-cli-'));
    const picture = join(dir, 'gradient.png');
    writeFileSync(picture, image('gradient'));
    const args = ['generate', '--model', storiesModel(), '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '0'];
    const { stdout } = await run(process.execPath, [cli, ...args, '--mmproj', projectorFixture(64), '--image', picture]);
    assert.equal(stdout, `${STORIES_IMAGE_GREEDY_40.gradient}\n`);
    for (const extra of [['--image', picture], ['--mmproj', projectorFixture(64), '--image', join(dir, 'none.png')]]) {
      const error = await run(process.execPath, [cli, ...args, ...extra]).then(() => null, (e) => e);
      assert.equal(error?.code, 1);
      assert.equal(error.stderr.trim().split('\n').length, 1, error.stderr);
      assert.match(error.stderr, /^shimmy: --image /);
    }
  });

  test('a request cancelled while its image is prefilled ends cancelled, and the model serves on', async () => {
    const controller = new AbortController();
    const chat = await model.renderChat(ask(image('red'), 'Cancelled'));
    const pending = model.complete({ chat, ...greedy, signal: controller.signal });
    controller.abort();
    const result = await pending;
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.usage.completionTokens < greedy.maxTokens);
    assert.equal((await model.complete({ chat: await model.renderChat(ask(image('checker'))), ...greedy })).text, STORIES_IMAGE_GREEDY_40.checker);
  });
});

describe('images refused', () => {
  let vision;
  let plain;
  before(async () => {
    vision = await loadModel(fixtureModel(), { contextSize: 512, parallel: 2, mmproj: projectorFixture(64) });
    plain = await loadModel(fixtureModel(), { contextSize: 512, parallel: 1 });
  });
  after(async () => {
    await vision?.close();
    await plain?.close();
  });

  test('bytes that are not an image, a truncated PNG, a huge header, WebP, bad base64, other data URLs, too many images', async () => {
    const png = image('gradient');
    const huge = Buffer.from(png);
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    const webp = Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 '), Buffer.alloc(16)]);
    const url = (u) => ({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: u } }, { type: 'text', text: 'hi' }] }] });
    await refused(vision.renderChat(ask(Buffer.from('just some text, not an image'))), /not a PNG, JPEG or GIF/);
    await refused(vision.renderChat(ask(png.subarray(0, png.length - 30))), /could not be decoded/);
    await refused(vision.renderChat(ask(huge)), /100000 × 100000 pixels/);
    await refused(vision.renderChat(ask(webp)), /WebP/);
    await refused(vision.renderChat(url('data:image/png;base64,%%%not base64%%%')), /not valid base64/);
    await refused(vision.renderChat(url(`data:text/plain;base64,${Buffer.from('hello').toString('base64')}`)), /type 'text\/plain', not an image/);
    await refused(vision.renderChat(url('http://169.254.169.254/latest/meta-data')), /does not fetch images/);
    const many = { messages: [{ role: 'user', content: Array.from({ length: 17 }, () => ({ type: 'image', data: png })) }] };
    await refused(vision.renderChat(many), /at most 16 images/);
    // Counted before any fetch starts: a refused URL first must not leave its rejection unhandled (that ended the process).
    const urls = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://192.0.2.1/x.png' } }, ...many.messages[0].content] }] };
    await refused(vision.renderChat(urls), /at most 16 images/);
    await new Promise((r) => setTimeout(r, 50));
    await refused(plain.renderChat(ask(png)), /takes no images/);
    // The model still answers about a good image.
    const chat = await vision.renderChat(url(dataUrl(png)));
    assert.equal(chat.imageTokens, 16);
    assert.equal((await vision.complete({ chat, maxTokens: 4, temperature: 0 })).usage.completionTokens, 4);
  });

  test('http(s) image URLs: refused by default, never inside this network under public, fetched under any', async () => {
    const png = image('checker');
    const files = createServer((req, res) => {
      if (req.url === '/loop') return res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/big') return res.writeHead(200, { 'content-length': String(64 << 20) }).end();
      if (req.url === '/image.png') return res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      res.writeHead(404).end();
    });
    await new Promise((done) => files.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${files.address().port}`;
    const url = (u) => ({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: u } }, { type: 'text', text: 'hi' }] }] });
    const open = await loadModel(fixtureModel(), { contextSize: 256, parallel: 1, mmproj: projectorFixture(64), imageUrls: 'any' });
    const guarded = await loadModel(fixtureModel(), { contextSize: 256, parallel: 1, mmproj: projectorFixture(64), imageUrls: 'public' });
    try {
      await refused(vision.renderChat(url(`${base}/image.png`)), /does not fetch images \(serve --allow-image-urls/);
      await refused(guarded.renderChat(url(`${base}/image.png`)), /127\.0\.0\.1 is inside this network/);
      await refused(guarded.renderChat(url(`http://localhost:${files.address().port}/image.png`)), /resolves to (127\.0\.0\.1|::1), inside this network/);
      await refused(guarded.renderChat(url('http://[::ffff:169.254.169.254]/latest')), /inside this network/);
      assert.equal((await open.renderChat(url(`${base}/image.png`))).imageTokens, 16);
      await refused(open.renderChat(url(`${base}/loop`)), /more than 3 redirects/);
      await refused(open.renderChat(url(`${base}/big`)), /larger than/);
      await refused(open.renderChat(url(`${base}/missing.png`)), /answered 404/);
      await refused(open.renderChat(url('ftp://example.com/x.png')), /data URL/);
    } finally {
      await open.close();
      await guarded.close();
      files.close();
    }
  });

  test('bombs and odd shapes: a zlib bomb behind a 1 × 1 header, a JPEG of endless scans, 2000 × 1 pixels, too many pixels together', async () => {
    const chunk = (type, data) => {
      const out = Buffer.alloc(12 + data.length);
      out.writeUInt32BE(data.length, 0);
      out.write(type, 4, 'latin1');
      data.copy(out, 8);
      out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
      return out;
    };
    const ihdr = (w, h) => { const d = Buffer.alloc(13); d.writeUInt32BE(w, 0); d.writeUInt32BE(h, 4); d[8] = 8; d[9] = 2; return chunk('IHDR', d); };
    const png = (w, h, idat) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr(w, h), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
    // 256 MiB of zeros deflate to about 256 KiB; stb_image would inflate them all for a 1 × 1 image.
    const bomb = png(1, 1, deflateSync(Buffer.alloc(256 << 20)));
    const before = process.memoryUsage().rss;
    await refused(vision.renderChat(ask(bomb)), /could not be decoded/);
    assert.ok(process.memoryUsage().rss - before < 200 << 20, 'the bomb was not inflated');
    const jpeg = Buffer.from(image('checker', jpegImage));
    const sos = Buffer.from([0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00]);
    const endless = Buffer.concat([jpeg.subarray(0, jpeg.length - 2), ...Array.from({ length: 100 }, () => sos), Buffer.from([0xff, 0xd9])]);
    await refused(vision.renderChat(ask(endless)), /more than 64 scans/);
    await refused(vision.renderChat(ask(pngImage(2000, 1, () => [1, 2, 3]))), /at most 50 times the other/);
    const claims = png(4096, 3000, deflateSync(Buffer.alloc(16)));
    const three = { messages: [{ role: 'user', content: [claims, claims, claims].map((data) => ({ type: 'image', data })) }] };
    await refused(vision.renderChat(three), /pixels together/);
  });

  test('images follow their messages wherever the template puts them; a template that drops or repeats one is refused', async () => {
    const turns = (a, b) => ({ messages: [{ role: 'user', content: [{ type: 'image', data: a }, { type: 'text', text: 'first' }] }, { role: 'user', content: [{ type: 'image', data: b }, { type: 'text', text: 'second' }] }] });
    const reversed = await loadModel(templateModel('reversed', '{% for m in messages|reverse %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:'), { contextSize: 256, parallel: 1, mmproj: projectorFixture(64) });
    const dropping = await loadModel(templateModel('last-only', '{{ messages[-1].role }}: {{ messages[-1].content }}\nassistant:'), { contextSize: 256, parallel: 1, mmproj: projectorFixture(64) });
    const twice = await loadModel(templateModel('twice', '{% for m in messages %}{{ m.content }}{{ m.content }}{% endfor %}assistant:'), { contextSize: 512, parallel: 1, mmproj: projectorFixture(64) });
    try {
      const a = image('red');
      const b = image('blue');
      const chat = await reversed.renderChat(turns(a, b));
      assert.equal(chat.imageTokens, 32);
      assert.ok(chat.prompt.indexOf('second') < chat.prompt.indexOf('first'));
      // The image of the message rendered first is the request's second: the same text as the two sent the other way round to the plain template.
      const swapped = await vision.renderChat({ messages: [{ role: 'user', content: [{ type: 'image', data: b }, { type: 'text', text: 'second' }] }] });
      assert.match(chat.prompt, /_1__>second[\s\S]*_0__>first/);
      assert.equal(swapped.imageTokens, 16);
      await refused(dropping.renderChat(turns(a, b)), /placed 1 of the request's 2 images/);
      await refused(twice.renderChat(turns(a, b)), /more than once/);
    } finally {
      await reversed.close();
      await dropping.close();
      await twice.close();
    }
  });

  test("mtmd's media marker typed into a message stays text", async () => {
    const typed = await vision.renderChat(ask(image('red'), '<__media__> and <__media__> again'));
    assert.equal(typed.imageTokens, 16);
    assert.match(typed.prompt, /<__media__> and <__media__> again/);
    const noImage = await vision.renderChat({ messages: [{ role: 'user', content: '<__media__>' }] });
    assert.equal(noImage.imageTokens, 0);
    assert.equal((await vision.complete({ chat: noImage, maxTokens: 2, temperature: 0 })).usage.completionTokens, 2);
  });

  test('a projector of another width, or a file that is no projector, is invalid_model at load', async () => {
    await assert.rejects(loadModel(fixtureModel(), { mmproj: projectorFixture(48) }), (e) => e.code === 'invalid_model' && /n_embd = 64\) and mmproj \(n_embd = 48/.test(e.message));
    await assert.rejects(loadModel(fixtureModel(), { mmproj: fixtureModel('q8_0') }), (e) => e.code === 'invalid_model' && /no projector/.test(e.message));
    await assert.rejects(loadModel(fixtureModel(), { mmproj: '/nonexistent/mmproj.gguf' }), (e) => e.code === 'model_not_found');
  });
});

describe('projectors found beside models and served over HTTP', () => {
  let dir;
  let server;
  let url;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shimmy-vision-'));
    copyFileSync(fixtureModel(), join(dir, 'tiny.gguf'));
    copyFileSync(projectorFixture(64), join(dir, 'mmproj-tiny-f32.gguf'));
    const discovery = discoverModels({ modelDirs: [dir], env: {}, home: dir, cwd: dir });
    server = await startServer({ host: '127.0.0.1', port: 0, registry: new ModelRegistry(discovery, { parallel: 2, contextSize: 512 }), transport: 'node' });
    url = `http://127.0.0.1:${server.port}`;
  });
  after(() => server?.close(100));

  test('the projector is paired, not listed as a model, and listings say vision', async () => {
    const discovery = discoverModels({ modelDirs: [dir], env: {}, home: dir, cwd: dir });
    assert.deepEqual(discovery.models.map((m) => [m.id, m.mmproj]), [['tiny', join(dir, 'mmproj-tiny-f32.gguf')]]);
    const listed = await (await fetch(`${url}/v1/models`)).json();
    assert.ok(listed.data.every((m) => m.capabilities?.includes('vision')));
    const api = await (await fetch(`${url}/api/models`)).json();
    assert.ok(api.models[0].capabilities.includes('vision'));
  });

  test("a projector found beside a model that does not fit it leaves the model serving text", async () => {
    const other = mkdtempSync(join(tmpdir(), 'shimmy-vision-misfit-'));
    copyFileSync(fixtureModel(), join(other, 'tiny.gguf'));
    copyFileSync(projectorFixture(48), join(other, 'mmproj-other-model.gguf'));
    const registry = new ModelRegistry(discoverModels({ modelDirs: [other], env: {}, home: other, cwd: other }), { parallel: 1, contextSize: 256 });
    const warnings = [];
    const onWarning = (w) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const reply = await registry.use('tiny', (model) => model.complete({ prompt: 'Hello', maxTokens: 2, temperature: 0 }));
      assert.equal(reply.usage.completionTokens, 2);
      await registry.use('tiny', (model) => refused(model.renderChat(ask(image('red'))), /takes no images/));
      await new Promise((r) => setImmediate(r));
      assert.ok(warnings.some((w) => /projector found beside it was not loaded/.test(w)), warnings.join('\n'));
    } finally {
      process.off('warning', onWarning);
      await registry.closeAll();
    }
  });

  test('the openai client sends a data-URL image; a bad one is a 400 and the server answers on', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none' });
    const content = (u) => [{ type: 'text', text: 'What is in it?' }, { type: 'image_url', image_url: { url: u } }];
    const reply = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: content(dataUrl(image('gradient'))) }], max_tokens: 6, temperature: 0 });
    assert.equal(reply.usage.completion_tokens, 6);
    assert.ok(reply.usage.prompt_tokens > 16);
    await assert.rejects(
      client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: content('data:image/png;base64,AAAA') }], max_tokens: 2 }),
      (e) => e.status === 400,
    );
    const again = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: content(dataUrl(image('gradient'))) }], max_tokens: 6, temperature: 0 });
    assert.equal(again.choices[0].message.content, reply.choices[0].message.content);
  });
});
