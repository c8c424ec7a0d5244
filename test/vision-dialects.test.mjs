// Images through every dialect's translator, against `shimmy serve --mmproj`: the same image and
// text give the same greedy text on chat completions, Anthropic's Messages, Responses and
// Ollama's chat and generate, and another image another text; images inside Messages'
// tool_result, Responses' function_call_output and a stored Responses conversation reach the model;
// and what cannot be an image is a 400 on every dialect with the server still answering: invalid
// base64, a data URL of another type, bytes that are no image, a PNG that claims 100,000 ×
// 100,000 pixels, a URL, a file id, an image for a model loaded without a projector. Where serve
// can fetch image URLs, an http URL on Messages and Responses is fetched as on chat completions.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readGgufHeader } from '../dist/engine/gguf-header.js';
import { gifImage, jpegImage, patterns, pngImage } from '../scripts/make-fixture-image.mjs';
import { projectorTokens } from '../scripts/make-fixture-projector.mjs';
import { fixtureModel, projectorFixture, root, storiesModel, toolCallingModel } from './helpers/fixtures.mjs';
import { scratchDir } from './helpers/scratch.mjs';

const modelPath = storiesModel() ?? fixtureModel('f32', 'phi-3');
// mtmd refuses a projector whose output is not as wide as the text model's embeddings.
const header = readGgufHeader(modelPath);
const projector = projectorFixture(Number(header.get(`${header.get('general.architecture')}.embedding_length`)));
// A model without a projector, alone in its folder (a projector beside it would be paired with it).
const plainDir = scratchDir('vision-plain');
copyFileSync(fixtureModel('f32'), join(plainDir, 'plain.gguf'));
// Tool results need a template that renders tool turns (Qwen2.5's; Phi-3's leaves them out, and
// their images with them): that model, with a projector beside it that pairs with it.
const toolsDir = scratchDir('vision-tools');
copyFileSync(toolCallingModel(), join(toolsDir, 'qwen-tools.gguf'));
copyFileSync(projectorFixture(64), join(toolsDir, 'mmproj-qwen-tools.gguf'));

const prompt = 'Once upon a time';
const maxTokens = 12;
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const gradient = b64(pngImage(32, 32, patterns.gradient(32, 32)));
const checker = b64(pngImage(32, 32, patterns.checker()));
/** A valid PNG whose header claims 100,000 × 100,000 pixels. */
function hugePng() {
  const bytes = Buffer.from(pngImage(2, 2, patterns.red()));
  bytes.writeUInt32BE(100_000, 16);
  bytes.writeUInt32BE(100_000, 20);
  return b64(bytes);
}

/**
 * Each dialect: where it answers, its image part for base64 bytes of a type (`url` for a URL), a
 * one-turn request of parts and the prompt, greedy, and the reply's text. Ollama's repeat penalty
 * is on by default: off here, so that its greedy text is everyone's.
 */
const greedyOllama = { stream: false, ignore_eos: true, options: { temperature: 0, num_predict: maxTokens, repeat_penalty: 1 } };
const dialects = [
  {
    name: 'chat completions', path: '/v1/chat/completions',
    image: (data, type = 'image/png') => ({ type: 'image_url', image_url: { url: `data:${type};base64,${data}` } }),
    url: (url) => ({ type: 'image_url', image_url: { url } }),
    body: (parts, model = 'default') => ({ model, max_tokens: maxTokens, temperature: 0, ignore_eos: true, messages: [{ role: 'user', content: [...parts, { type: 'text', text: prompt }] }] }),
    text: (b) => b.choices[0].message.content,
  },
  {
    name: 'Messages', path: '/v1/messages',
    image: (data, type = 'image/png') => ({ type: 'image', source: { type: 'base64', media_type: type, data } }),
    url: (url) => ({ type: 'image', source: { type: 'url', url } }),
    body: (parts, model = 'default') => ({ model, max_tokens: maxTokens, temperature: 0, ignore_eos: true, messages: [{ role: 'user', content: [...parts, { type: 'text', text: prompt }] }] }),
    text: (b) => b.content[0].text,
  },
  {
    name: 'Responses', path: '/v1/responses',
    image: (data, type = 'image/png') => ({ type: 'input_image', image_url: `data:${type};base64,${data}`, detail: 'auto' }),
    url: (url) => ({ type: 'input_image', image_url: url }),
    body: (parts, model = 'default') => ({ model, max_output_tokens: maxTokens, temperature: 0, ignore_eos: true, store: false, input: [{ role: 'user', content: [...parts, { type: 'input_text', text: prompt }] }] }),
    text: (b) => b.output.find((o) => o.type === 'message').content[0].text,
  },
  {
    // Ollama's images are bare base64; a data URL (of another type here) is taken too.
    name: "Ollama's chat", path: '/api/chat',
    image: (data, type = 'image/png') => (type === 'image/png' ? data : `data:${type};base64,${data}`),
    url: (url) => url,
    body: (images, model = 'default') => ({ model, ...greedyOllama, messages: [{ role: 'user', content: prompt, images }] }),
    text: (b) => b.message.content,
  },
  {
    name: "Ollama's generate", path: '/api/generate', ollama: true,
    image: (data, type = 'image/png') => (type === 'image/png' ? data : `data:${type};base64,${data}`),
    url: (url) => url,
    body: (images, model = 'default') => ({ model, ...greedyOllama, prompt, images }),
    text: (b) => b.response,
  },
];

async function serve(args) {
  const child = spawn(process.execPath, [join(root, 'bin', 'shimmy.js'), 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  const ports = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      log += d;
      const main = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      const ollama = /Ollama's API on every path at http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (main && (ollama || !args.includes('--ollama-bind'))) resolve({ main: Number(main[1]), ollama: ollama && Number(ollama[1]) });
    });
    child.once('exit', () => reject(new Error(`serve exited: ${log}`)));
  });
  return { child, ...ports };
}

describe('images through every dialect (shimmy serve --mmproj)', () => {
  let server;
  const post = async (dialect, body) => {
    const port = dialect.ollama ? server.ollama : server.main;
    const r = await fetch(`http://127.0.0.1:${port}${dialect.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const reply = async (dialect, body) => {
    const r = await post(dialect, body);
    assert.equal(r.status, 200, `${dialect.name}: ${JSON.stringify(r.body)}`);
    return dialect.text(r.body);
  };
  const refused = async (dialect, body, pattern) => {
    const r = await post(dialect, body);
    assert.equal(r.status, 400, `${dialect.name}: ${JSON.stringify(r.body)}`);
    const message = typeof r.body.error === 'string' ? r.body.error : r.body.error.message;
    assert.match(message, pattern, dialect.name);
  };

  before(async () => {
    server = await serve(['--port', '0', '--transport', 'node', '--model', modelPath, '--mmproj', projector, '--model-dirs', `${plainDir},${toolsDir}`,
      '--ollama-bind', '127.0.0.1:0', '--ctx-size', '1024', '--parallel', '2']);
  });
  after(async () => {
    server?.child.kill('SIGTERM');
    if (server && server.child.exitCode === null) await once(server.child, 'exit');
  });

  test('the same image and text give the same greedy text on every dialect; another image, another text', async () => {
    const texts = async (image) => Promise.all(dialects.map((d) => reply(d, d.body([d.image(image)]))));
    const [first, ...rest] = await texts(gradient);
    assert.ok(first.length > 0);
    rest.forEach((text, i) => assert.equal(text, first, `${dialects[i + 1].name} and ${dialects[0].name}`));
    const other = await texts(checker);
    assert.ok(other.some((text, i) => text !== [first, ...rest][i]), `the checkerboard changed no reply: ${JSON.stringify(other)}`);
    const none = await reply(dialects[0], dialects[0].body([]));
    assert.notEqual(none, first, 'the image reached the model');
  });

  test('GIF and JPEG files are taken as PNG files are', async () => {
    for (const bytes of [gifImage(32, 32, patterns.blue()), jpegImage(32, 32, patterns.gradient(32, 32))]) {
      const type = bytes[0] === 0x47 ? 'image/gif' : 'image/jpeg';
      const [a, b] = await Promise.all(dialects.slice(0, 2).map((d) => reply(d, d.body([d.image(b64(bytes), type)]))));
      assert.equal(b, a, type);
    }
  });

  test("count_tokens and input_tokens count an image's tokens", async () => {
    const count = async (path, body) => (await post({ path }, body)).body.input_tokens;
    const [messages, responses] = [dialects[1], dialects[2]];
    // Two images against one: the text around them is tokenized the same (against none it is not).
    const one = await count('/v1/messages/count_tokens', messages.body([messages.image(gradient)]));
    const two = await count('/v1/messages/count_tokens', messages.body([messages.image(gradient), messages.image(checker)]));
    assert.ok(two - one >= projectorTokens(), `${two} tokens with two images, ${one} with one`);
    assert.equal(await count('/v1/responses/input_tokens', responses.body([responses.image(gradient)])), one);
  });

  test("an image in Messages' tool_result and Responses' function_call_output reaches the model", async () => {
    const call = { id: 'toolu_1', name: 'camera', input: {} };
    const anthropic = (image) => ({
      model: 'qwen-tools', max_tokens: maxTokens, temperature: 0, ignore_eos: true,
      messages: [
        { role: 'user', content: 'Take a picture.' },
        { role: 'assistant', content: [{ type: 'tool_use', ...call }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: [{ type: 'text', text: 'The picture:' }, dialects[1].image(image)] }] },
      ],
    });
    const openai = (image) => ({
      model: 'qwen-tools', max_output_tokens: maxTokens, temperature: 0, ignore_eos: true, store: false,
      input: [
        { role: 'user', content: 'Take a picture.' },
        { type: 'function_call', call_id: call.id, name: call.name, arguments: '{}' },
        { type: 'function_call_output', call_id: call.id, output: [{ type: 'input_text', text: 'The picture:' }, dialects[2].image(image)] },
      ],
    });
    const [a, b] = [await reply(dialects[1], anthropic(gradient)), await reply(dialects[2], openai(gradient))];
    assert.equal(b, a, 'the same tool turn through both');
    const [c, d] = [await reply(dialects[1], anthropic(checker)), await reply(dialects[2], openai(checker))];
    assert.equal(d, c);
    assert.ok(a !== c, 'the image in the tool result changed the reply');
  });

  test('an image in a stored Responses turn is in the conversation previous_response_id continues', async () => {
    const responses = dialects[2];
    const first = await post(responses, { ...responses.body([responses.image(gradient)]), store: true });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const said = responses.text(first.body);
    const next = { model: 'default', max_output_tokens: maxTokens, temperature: 0, ignore_eos: true, store: false };
    const continued = await post(responses, { ...next, previous_response_id: first.body.id, input: 'And then?' });
    assert.equal(continued.status, 200, JSON.stringify(continued.body));
    // The same conversation sent whole renders the same prompt and the same text.
    const whole = await post(responses, {
      ...next,
      input: [...responses.body([responses.image(gradient)]).input, { role: 'assistant', content: [{ type: 'output_text', text: said }] }, { role: 'user', content: 'And then?' }],
    });
    assert.equal(continued.body.usage.input_tokens, whole.body.usage.input_tokens);
    assert.equal(responses.text(continued.body), responses.text(whole.body));
  });

  describe('what is no image is a 400 on every dialect, and the server goes on', () => {
    const notBase64 = 'this is not base64!';
    const cases = [
      ['invalid base64', (d) => d.image(notBase64), /base64/],
      ['a data URL of type text/plain', (d) => d.image(b64(Buffer.from('hello')), 'text/plain'), /text\/plain|image type|not an image/],
      ['bytes that are no image', (d) => d.image(b64(Buffer.from('hello, world: no image here'))), /not a PNG, JPEG or GIF/],
      ['a PNG that claims 100,000 × 100,000 pixels', (d) => d.image(hugePng()), /100000 × 100000 pixels/],
      ['an http URL', (d) => d.url('https://example.com/cat.png'), /fetch|base64/],
    ];
    for (const [what, part, pattern] of cases) {
      test(what, async () => {
        for (const d of dialects) await refused(d, d.body([part(d)]), pattern);
      });
    }

    test('an image for a model loaded without a projector', async () => {
      for (const d of dialects) await refused(d, d.body([d.image(gradient)], 'plain'), /no images|without a (vision )?projector/);
    });

    test("each dialect's own refusals: a file, an image where none can go", async () => {
      const [, messages, responses, , generate] = dialects;
      await refused(messages, messages.body([{ type: 'image', source: { type: 'file', file_id: 'file_1' } }]), /Files API/);
      await refused(messages, { model: 'default', max_tokens: 4, messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: [messages.image(gradient)] }] }, /user turn/);
      await refused(messages, { model: 'default', max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'application/pdf', data: gradient } }] }] }, /media_type/);
      await refused(responses, responses.body([{ type: 'input_image', file_id: 'file_1' }]), /Files API/);
      await refused(responses, { model: 'default', input: [{ role: 'assistant', content: [responses.image(gradient)] }] }, /input_image/);
      await refused(generate, { ...generate.body([gradient]), raw: true }, /raw/);
      await refused(generate, { ...generate.body([gradient]), context: [1, 2, 3] }, /context/);
      await refused(dialects[3], { model: 'default', stream: false, messages: [{ role: 'user', content: 'x', images: 'not a list' }] }, /images/);
    });

    test('the server still answers, with images (and generate then returns no context, which cannot hold them)', async () => {
      const d = dialects[4];
      const r = await post(d, d.body([d.image(gradient)]));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.response.length > 0);
      assert.equal(r.body.context, undefined);
      assert.ok((await post(d, d.body([]))).body.context.length > 0, 'without images it does');
    });
  });
});

// serve's --allow-image-urls came with the engine's image fetcher; a build without it fetches nothing.
const fetches = execFileSync(process.execPath, [join(root, 'bin', 'shimmy.js'), 'serve', '--help'], { encoding: 'utf8' }).includes('--allow-image-urls');

describe('an http image URL on every dialect that takes URLs (serve --allow-image-urls=any)', { skip: !fetches && 'this build of serve fetches no image URLs' }, () => {
  let server;
  let images;
  before(async () => {
    const png = pngImage(32, 32, patterns.gradient(32, 32));
    images = createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png)).listen(0, '127.0.0.1');
    await once(images, 'listening');
    server = await serve(['--port', '0', '--transport', 'node', '--model', modelPath, '--mmproj', projector, '--ctx-size', '1024', '--allow-image-urls=any']);
  });
  after(async () => {
    images?.close();
    server?.child.kill('SIGTERM');
    if (server && server.child.exitCode === null) await once(server.child, 'exit');
  });

  test('the same text as the image sent as base64', async () => {
    const url = `http://127.0.0.1:${images.address().port}/gradient.png`;
    const text = async (d, part) => {
      const r = await fetch(`http://127.0.0.1:${server.main}${d.path}`, { method: 'POST', body: JSON.stringify(d.body([part])) });
      const body = await r.json();
      assert.equal(r.status, 200, `${d.name}: ${JSON.stringify(body)}`);
      return d.text(body);
    };
    const sent = await text(dialects[0], dialects[0].image(gradient));
    for (const d of dialects.slice(0, 3)) assert.equal(await text(d, d.url(url)), sent, d.name);
  });
});
