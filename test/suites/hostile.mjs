// What a hostile client, web page or model file must not do to the server: each case gets a
// clear 4xx (or a clean error) and the server stays up with its slots free. Runs on each
// transport (test/hostile.<transport>.test.mjs).
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { corruptedCorpus, fixtureModel, mulberry32, storiesModel } from '../helpers/fixtures.mjs';
import { transportUnderTest } from '../helpers/transport.mjs';
import { scratchDir } from '../helpers/scratch.mjs';

process.env.SHIMMY_CACHE_DIR = scratchDir('cache');
const modelPath = storiesModel() ?? fixtureModel();
const { name: transport, skip } = transportUnderTest();

// A socket that reads nothing still takes tcp_rmem's default into its receive buffer. Past a few
// MiB, loopback TCP stalls once that buffer is full: segments that carry the server's ACKs are
// dropped too, and the client's own sends wait in retransmission backoff for minutes. Such a
// host cannot show a client falling behind within a test's time.
function hugeReceiveBuffers() {
  let initial;
  try {
    initial = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').split(/\s+/)[1]);
  } catch {
    return false;
  }
  return initial > 8 << 20 ? `tcp_rmem's default receive buffer here is ${initial} bytes` : false;
}

describe(`hostile clients over ${transport}`, { skip, timeout: 120_000 }, () => {
  let server;
  let base;
  const modelDir = scratchDir('hostile');

  before(async () => {
    const bad = corruptedCorpus(scratchDir('bad'), 0).find((v) => v.name === 'rms-eps-nan');
    copyFileSync(bad.path, join(modelDir, 'broken.gguf'));
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [modelDir], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 4, contextSize: 512 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, bodyLimit: 256 * 1024, bufferLimit: 16 * 1024, allowOrigins: ['https://app.example'] });
    base = `http://127.0.0.1:${server.port}`;
    for (let i = 0; i < 200 && (await fetch(`${base}/api/health`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
  });
  after(() => server.close(100));

  const post = (path, body, headers = {}) => fetch(`${base}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers });
  const code = async (response) => (await response.json()).error.code;
  async function settled() {
    const model = await server.context.registry.get('default');
    for (let i = 0; i < 200 && (model.stats().slotsBusy > 0 || server.context.inFlight.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(model.stats().slotsBusy, 0, 'slots left busy');
    assert.equal(server.context.inFlight.size, 0, 'requests left in flight');
    assert.equal((await fetch(`${base}/api/health`)).status, 200);
  }

  test('paths that do not percent-decode are a 400', async () => {
    for (const path of ['/v1/models/%ff', '/v1/models/%', '/v1/models/%E0%A4%A']) {
      const r = await fetch(`${base}${path}`);
      assert.equal(r.status, 400, path);
      assert.equal((await r.json()).error.code, 'invalid_request');
    }
    assert.equal((await fetch(`${base}/v1/models/default`)).status, 200);
    assert.equal((await fetch(`${base}/api/generate`)).status, 405);
    await settled();
  });

  test('pages on other origins and rebinding host names are refused; loopback and allowed origins get CORS', async () => {
    const body = JSON.stringify({ model: 'default', prompt: 'Hi', max_tokens: 2 });
    // A no-CORS text/plain POST, as any web page can send.
    const evil = await post('/api/generate', body, { origin: 'https://evil.example', 'content-type': 'text/plain' });
    assert.equal(evil.status, 403);
    assert.equal(await code(evil), 'forbidden');
    assert.equal((await fetch(`${base}/v1/models`, { headers: { origin: 'null' } })).status, 403);
    // fetch() will not send a Host of its choosing; node:http will.
    const rebound = await new Promise((resolve, reject) => get({ port: server.port, host: '127.0.0.1', path: '/api/health', headers: { host: 'attacker.example:11435' } }, resolve).on('error', reject));
    assert.equal(rebound.statusCode, 403);
    rebound.resume();
    const local = await post('/api/generate', body, { origin: 'http://localhost:5173' });
    assert.equal(local.status, 200);
    assert.equal(local.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    const allowed = await post('/api/generate', body, { origin: 'https://app.example' });
    assert.equal(allowed.status, 200);
    const preflight = await fetch(`${base}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
    assert.equal((await fetch(`${base}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })).status, 403);
    // WebSockets have no preflight: the upgrade itself is refused.
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`, { origin: 'https://evil.example' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('open', () => resolve('opened'));
      ws.on('error', () => {});
    });
    assert.equal(status, 403);
    await settled();
  });

  test('grammars and schemas that would crash, hang or exhaust llama.cpp are a 400', async () => {
    const deep = `root ::= ${'('.repeat(24_000)}"a"${')'.repeat(24_000)}`;
    const nested = 'root ::= (("a"{0,30}){0,30}){0,30}'; // hung the model for good: its parse stacks explode
    // Comments are blanks to llama.cpp's parser, so they must not hide a repetition from the check.
    const commented = ['root ::= ( ( "a"{0,30} ) #c\n {0,30} ) {0,30}', `root ::= ${'("a"{#\n0,1999}) '.repeat(30)}`];
    for (const grammar of [deep, 'root ::= "a"{5,2}', 'root ::= [z-a]', nested, 'root ::= ( ( "a" {0,100} ) {0,10} ) {0,11}', ...commented]) {
      const r = await post('/api/generate', { model: 'default', prompt: 'Hi', grammar });
      assert.equal(r.status, 400, grammar.slice(0, 30));
      const stream = await post('/api/generate', { model: 'default', prompt: 'Hi', grammar, stream: true });
      assert.equal(stream.status, 400);
      await stream.body?.cancel();
    }
    const schemas = [{ type: 'string', pattern: '^[z-a]$' }, { type: 'string', minLength: 5, maxLength: 2 }, { type: 'string', pattern: '^((a{0,100}){0,100}){0,100}$' }, { type: 'object', properties: { x: { type: 'string', pattern: '^(?:(?:x{0,30}){0,30}){0,30}$' } } }];
    for (const schema of schemas) {
      const r = await post('/v1/chat/completions', { model: 'default', messages: [{ role: 'user', content: 'Hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
      assert.equal(r.status, 400, JSON.stringify(schema));
      assert.equal((await r.json()).error.type, 'invalid_request_error');
    }
    await settled();
  });

  test('grammars that explode only while sampling fail their request within a step, and the model keeps serving', async () => {
    // Under the static limit, or split over rules where it does not look: llama.cpp's own work
    // limit (vendor/patches/0006) stops them on the first token whose parse blows up (a 500), or
    // while llama.cpp builds the grammar (a 400; how far one gets depends on the vocabulary).
    const grammars = ['root ::= (("a"{0,8}){0,8}){0,8}', 'root ::= x{0,30}\nx ::= y{0,30}\ny ::= "a"{0,30}'];
    const schema = { type: 'string', pattern: '^((a{0,16}){0,16}){0,16}$' };
    const started = Date.now();
    const replies = await Promise.all([
      ...grammars.map((grammar) => post('/api/generate', { model: 'default', prompt: 'Hi', grammar, max_tokens: 50 })),
      post('/v1/chat/completions', { model: 'default', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
    ]);
    // The sampler tries the likeliest tokens against the grammar first (vendor/patches/0008): a
    // sampled token the grammar takes cheaply (the schema's closing quote: the empty string
    // matches) never reaches the explosion, and that request completes. Sampling is unseeded, so
    // that happens now and then; the others explode on their first token.
    for (const r of replies) {
      const body = await r.json();
      assert.ok(r.status === 500 || r.status === 400 || r.status === 200, JSON.stringify(body));
      if (r.status !== 200) assert.match(JSON.stringify(body), /the grammar is too ambiguous/);
    }
    assert.ok(replies.some((r) => r.status !== 200), 'no grammar reached the work limit');
    assert.ok(Date.now() - started < 30_000, 'they failed instead of hanging'); // unpatched, each ran for minutes
    const r = await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal((await r.json()).usage.completion_tokens, 5);
    await settled();
  });

  test('a grammar no token satisfies fails its request cleanly on every route', async () => {
    const grammar = 'root ::= "\\x00"';
    const json = await post('/api/generate', { model: 'default', prompt: 'Hi', grammar, max_tokens: 4 });
    assert.equal(json.status, 500);
    assert.equal(await code(json), 'generation_failed');
    const sse = await (await post('/api/generate', { model: 'default', prompt: 'Hi', grammar, stream: true })).text();
    assert.match(sse, /"code":"generation_failed"[\s\S]*data: \[DONE\]\n\n$/);
    const chat = await post('/v1/completions', { model: 'default', prompt: 'Hi', grammar, stream: true });
    assert.match(await chat.text(), /"error"[\s\S]*data: \[DONE\]\n\n$/);
    const frame = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`);
      ws.on('open', () => ws.send(JSON.stringify({ model: 'default', prompt: 'Hi', grammar })));
      ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (f.error || f.done) (ws.close(), resolve(f));
      });
      ws.on('error', reject);
    });
    assert.equal(frame.error.code, 'generation_failed');
    await settled();
  });

  test('a WebSocket client that never reads is cut off at the buffer limit, its requests cancelled', { skip: hugeReceiveBuffers() }, async () => {
    // A server of its own, with room for generations long enough to outlast the flood below.
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 2, contextSize: 16_384 });
    const slow = await startServer({ host: '127.0.0.1', port: 0, registry, transport, bufferLimit: 16 * 1024 });
    const model = await registry.get('default');
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${slow.port}/ws/generate`);
      await new Promise((r) => ws.on('open', r));
      ws._socket.pause(); // reads nothing from here on
      const closed = new Promise((r) => ws.on('close', (code) => r(code)));
      const maxTokens = 16_000;
      const long = { model: 'default', prompt: 'Once', max_tokens: maxTokens, ignore_eos: true };
      ws.send(JSON.stringify(long));
      ws.send(JSON.stringify({ id: 'second', ...long }));
      while (model.stats().tokensGenerated === 0) await new Promise((r) => setTimeout(r, 5));
      // While the request without an id runs, each '{}' is refused with a long error frame: about
      // 20 bytes back per byte sent. How much the kernel's socket buffers hold before the server
      // sees the client fall behind differs between machines (tcp_rmem), so the flood goes on
      // until the server says it cut the client off, or until the server stops taking the flood
      // in: with the client's receive buffer full, TCP holds back what the client sends too, and
      // the generations' own frames then fill the server's buffer.
      const cutOff = () => slow.context.metrics.slowClientsCutOff.websocket > 0;
      const refused = () => slow.context.metrics.requests.get('WS /ws/generate 400') ?? 0;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      for (let sent = 1000; !cutOff() && sent <= 500_000; sent += 1000) {
        for (let i = 0; i < 1000; i++) ws.send('{}');
        for (let t = 0; t < 1000 && refused() < sent && !cutOff(); t++) await sleep(1);
        if (refused() < sent) break;
      }
      for (let t = 0; t < 6000 && !cutOff(); t++) await sleep(10);
      assert.ok(cutOff(), 'the server cut the client off');
      for (let i = 0; i < 200 && (model.stats().slotsBusy > 0 || slow.context.inFlight.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(model.stats().slotsBusy, 0, 'the generations were cancelled, not left running for a client that is gone');
      assert.ok(model.stats().tokensGenerated < 2 * maxTokens, 'generation stopped early');
      ws._socket.resume();
      // Closed with 1008, or dropped (1006) when the close frame sits behind what the client never
      // read (ws's own close timeout bounds that at 30 s); bounded, so a connection left open fails
      // the test instead of hanging the run.
      const timeout = new Promise((r) => setTimeout(() => r('no close within 45 s'), 45_000).unref());
      assert.ok([1008, 1006].includes(await Promise.race([closed, timeout])));
      const metrics = await (await fetch(`http://127.0.0.1:${slow.port}/metrics`)).text();
      assert.match(metrics, /^shimmy_slow_clients_cut_off_total\{kind="websocket"\} 1$/m);
    } finally {
      await slow.close(100);
    }
  });

  test('WebSocket ids are at most 256 characters', async () => {
    const frame = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`);
      ws.on('open', () => ws.send(JSON.stringify({ id: 'x'.repeat(257), model: 'default', prompt: 'Hi' })));
      ws.on('message', (data) => (ws.close(), resolve(JSON.parse(String(data)))));
      ws.on('error', reject);
    });
    assert.equal(frame.error.code, 'invalid_request');
  });

  test('a damaged model file named by a client is an error, not a dead server', async () => {
    const r = await post('/api/generate', { model: 'broken', prompt: 'Hi', max_tokens: 2 });
    assert.equal(r.status, 500);
    assert.equal(await code(r), 'generation_failed');
    assert.match((await (await post('/api/generate', { model: 'broken', prompt: 'Hi' })).json()).error.details, /cannot be loaded/);
    await settled();
  });

  test('a big prompt is tokenized off the event loop and still refused with a status', async () => {
    const prompt = 'word '.repeat(40_000); // 200 KB: past the context, found only after tokenizing
    const r = await post('/api/generate', { model: 'default', prompt, stream: true });
    assert.equal(r.status, 400);
    assert.equal(await code(r), 'invalid_request');
    await settled();
  });

  test('seeded fuzz of every route and the WebSocket protocol: no 5xx, no crash, no slot left busy', async () => {
    const rand = mulberry32(20261128);
    const pick = (list) => list[Math.floor(rand() * list.length)];
    const values = [null, true, -1, 0, 1e308, -1e308, 3.5, 2 ** 53, '', 'x', '%ff', '\u0000', '\ud800', 'default', [], [1, 'a'], {}, { a: { b: [] } }, 'a'.repeat(5000)];
    const fields = ['model', 'prompt', 'max_tokens', 'temperature', 'stream', 'top_k', 'top_p', 'min_p', 'seed', 'stop', 'grammar', 'messages', 'tools', 'tool_choice', 'response_format', 'logit_bias', 'logprobs', 'top_logprobs', 'input', 'encoding_format', 'n', 'stream_options', 'id', 'cancel'];
    const body = () => {
      const b = { model: 'default', prompt: 'Hi', max_tokens: 3, messages: [{ role: 'user', content: 'Hi' }], input: 'x' };
      for (let k = Math.floor(rand() * 4); k >= 0; k--) b[pick(fields)] = pick(values);
      return b;
    };
    const raw = ['', '{', '[]', 'null', '"x"', '{"model":', '\xff\xfe', '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}'];
    const paths = ['/api/generate', '/v1/completions', '/v1/chat/completions', '/v1/embeddings', '/api/models', '/v1/models', '/v1/models/%zz', '/api/health', '/metrics', '/nope', '//', '/api/generate/../x', '/v1/models/' + '%41'.repeat(300)];
    const statuses = new Map();
    for (let i = 0; i < 300; i++) {
      const path = pick(paths);
      const method = pick(['GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE']);
      const payload = method === 'GET' || method === 'DELETE' ? undefined : rand() < 0.2 ? pick(raw) : JSON.stringify(body());
      const r = await fetch(`${base}${path}`, { method, body: payload });
      const text = await r.text();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status < 500, `${method} ${path} ${payload?.slice(0, 200)} → ${r.status} ${text.slice(0, 300)}`);
      if (r.status >= 400) assert.ok(JSON.parse(text).error, text);
    }
    assert.ok(statuses.get(200) > 0 && statuses.get(400) > 0, JSON.stringify([...statuses]));
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`);
      ws.on('open', () => {
        for (let i = 0; i < 150; i++) ws.send(rand() < 0.2 ? pick(raw) : JSON.stringify({ ...body(), id: i }));
        ws.send(JSON.stringify({ model: 'default', prompt: 'Hi', max_tokens: 2, id: 'last' }));
      });
      ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (f.error) assert.ok(!['server_error'].includes(f.error.code), JSON.stringify(f));
        if (f.id === 'last' && (f.done || f.error)) (ws.close(), resolve());
      });
      ws.on('error', reject);
    });
    await settled();
  });

  test('a generation the server cancels at shutdown is an error on the OpenAI routes, not finish_reason "stop"', async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 2, contextSize: 512 });
    const second = await startServer({ host: '127.0.0.1', port: 0, registry, transport });
    await registry.get('default');
    const r = await fetch(`http://127.0.0.1:${second.port}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'default', prompt: 'Once', max_tokens: 450, ignore_eos: true, stream: true }) });
    const reader = r.body.getReader();
    await reader.read();
    const closing = second.close(0);
    let text = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    await closing;
    assert.doesNotMatch(text, /"finish_reason":"stop"/);
    assert.match(text, /"error":\{"message":"the generation was cancelled/);
  });
});
