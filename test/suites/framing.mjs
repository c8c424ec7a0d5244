// HTTP framing and deadlines over raw sockets, the same on each transport (test/framing.<transport>
// .test.mjs): ambiguous framing is refused and closes the connection, nothing smuggled behind it
// runs, pipelined requests are answered in order, and headers and bodies that trickle are cut off.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { fixtureModel, storiesModel } from '../helpers/fixtures.mjs';
import { transportUnderTest } from '../helpers/transport.mjs';

const modelPath = storiesModel() ?? fixtureModel();
const { name: transport, skip } = transportUnderTest();

/**
 * Sends `chunks` on a new connection, one every `gapMs`, and reads until the server closes it (or
 * `giveUpMs` passes): what came back, how long the connection lived, and the status lines.
 */
function exchange(port, chunks, { gapMs = 0, giveUpMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let sent = 0;
    const send = () => {
      if (sent < chunks.length && !socket.destroyed) socket.write(chunks[sent++]);
      if (sent < chunks.length) pacer = setTimeout(send, gapMs);
    };
    let pacer;
    socket.on('connect', send);
    socket.on('data', (d) => (text += d));
    socket.on('error', () => {}); // a reset is a close, as far as these tests go
    const giveUp = setTimeout(() => reject(new Error(`the server held the connection for ${giveUpMs} ms; it sent ${JSON.stringify(text.slice(0, 200))}`)), giveUpMs);
    socket.on('close', () => {
      clearTimeout(pacer);
      clearTimeout(giveUp);
      resolve({ text, livedMs: Date.now() - started, sent, statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])) });
    });
  });
}

describe(`HTTP framing and deadlines over ${transport}`, { skip, timeout: 120_000 }, () => {
  let server;
  let port;

  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 2, contextSize: 512 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, bodyLimit: 1 << 20 });
    port = server.port;
    for (let i = 0; i < 200 && (await fetch(`http://127.0.0.1:${port}/api/health`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 20));
  });
  after(() => server.close(100));

  async function settled() {
    const model = await server.context.registry.get('default');
    for (let i = 0; i < 300 && (model.stats().slotsBusy > 0 || server.context.inFlight.size > 0); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(model.stats().slotsBusy, 0, 'slots left busy');
    assert.equal(server.context.inFlight.size, 0, 'requests left in flight');
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/health`)).status, 200);
  }

  const body = JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 2 });
  const post = (headers, payload = body) => `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n${payload}`;
  const chunked = (payload) => `${payload.length.toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
  // Read as one request with the first framing, this carries a second one: it must never run.
  const smuggled = `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const tokensGenerated = async () => (await server.context.registry.get('default')).stats().tokensGenerated;

  test('ambiguous framing is a 400 that closes the connection, and nothing behind it runs', async () => {
    const before = await tokensGenerated();
    // Each is sent alone, then with a second request behind it, framed so that a proxy reading
    // the first one another way would pass it on as part of the first.
    const refusedByShimmy = {
      'two different Content-Lengths': post(`Content-Length: ${body.length}\r\nContent-Length: ${body.length + smuggled.length}\r\n`),
      'two equal Content-Lengths': post(`Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\n`),
      'Transfer-Encoding: chunked, identity': post('Transfer-Encoding: chunked, identity\r\n', chunked(body)),
      'Transfer-Encoding: gzip, chunked': post('Transfer-Encoding: gzip, chunked\r\n', chunked(body)),
      'two Transfer-Encodings': post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', chunked(body)),
      'two Hosts': 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n',
      'two Hosts, the allowed one last': 'GET /api/health HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n\r\n',
      'a Host with a path': 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1/admin\r\n\r\n',
      'a Host with a space': 'GET /api/health HTTP/1.1\r\nHost: a b\r\n\r\n',
      'a Host with a port that is not one': 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:80x\r\n\r\n',
    };
    const isRefusal = (text) => /"code":"invalid_request"/.test(text) || /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/.test(text); // node's own parser answers some itself
    for (const [name, payload] of Object.entries(refusedByShimmy)) {
      const alone = await exchange(port, [payload]).catch((e) => assert.fail(`${name}: ${e.message}`));
      assert.deepEqual(alone.statuses, [400], `${name}: ${alone.text.slice(0, 300)}`);
      assert.ok(isRefusal(alone.text), name);
      // With a request behind it, node:http answers the first and drops the rest; uWS closes the
      // connection without a word (see refuseLater in lib/server/transport/uws.ts).
      const behind = await exchange(port, [payload + smuggled]).catch((e) => assert.fail(`${name} + a second request: ${e.message}`));
      assert.deepEqual(behind.statuses, transport === 'uws' ? [] : [400], `${name} + a second request: ${behind.text.slice(0, 300)}`);
      await settled();
      assert.equal(await tokensGenerated(), before, `${name}: a smuggled generation ran`);
    }
    // Refused by the parsers themselves: node:http answers 400; uWebSockets.js 20.30 closes the
    // connection without a word. Either way nothing runs.
    const refusedByParsers = {
      'Transfer-Encoding: identity': post('Transfer-Encoding: identity\r\n'),
      'Content-Length and Transfer-Encoding': post(`Transfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n`, chunked(body)),
    };
    for (const [name, payload] of Object.entries(refusedByParsers)) {
      const { statuses } = await exchange(port, [payload + smuggled], { giveUpMs: 15_000 });
      assert.deepEqual(statuses, transport === 'uws' ? [] : [400], name);
      await settled();
      assert.equal(await tokensGenerated(), before, `${name}: a smuggled generation ran`);
    }
    // No Host is refused too, but its framing is plain: what follows it is a request of its own.
    const { statuses } = await exchange(port, ['GET /api/health HTTP/1.1\r\n\r\n'], { giveUpMs: 15_000 });
    assert.deepEqual(statuses, transport === 'uws' ? [] : [400], 'no Host in HTTP/1.1');
  });

  test('a WebSocket upgrade with two Hosts is refused', async () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const upgrade = `GET /ws/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const { statuses, text } = await exchange(port, [upgrade]);
    assert.deepEqual(statuses, [400], text.slice(0, 300));
    assert.match(text, /more than one Host/);
    // One Host still upgrades.
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/generate`);
      ws.on('open', () => (ws.close(), resolve()));
      ws.on('error', reject);
    });
  });

  test('a WebSocket takes the API key as HTTP routes do, and a frame header announcing 2^63 bytes closes it at once', async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, modelDirs: [], env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 1, contextSize: 512 });
    const keyed = await startServer({ host: '127.0.0.1', port: 0, registry, transport, apiKey: 'sekrit' });
    try {
      const generate = (headers, query = '') => new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${keyed.port}/ws/generate${query}`, { headers });
        ws.on('open', () => ws.send(JSON.stringify({ model: 'default', prompt: 'Once', max_tokens: 2 })));
        ws.on('message', (data) => {
          const frame = JSON.parse(String(data));
          if (frame.error || frame.done) (ws.close(), resolve(frame.error?.code ?? 'done'));
        });
        ws.on('error', reject);
      });
      assert.equal(await generate({ 'X-Api-Key': 'sekrit' }), 'done');
      assert.equal(await generate({ Authorization: 'Bearer sekrit' }), 'done');
      assert.equal(await generate({}, '?api_key=sekrit'), 'done');
      assert.equal(await generate({ 'X-Api-Key': 'wrong' }), 'unauthorized');
      assert.equal(await generate({}), 'unauthorized');
      const header = Buffer.alloc(14);
      header[0] = 0x81; // a final text frame
      header[1] = 0x80 | 127; // masked, with a 64-bit length
      header.writeBigUInt64BE(1n << 63n, 2);
      const upgrade = `GET /ws/generate?api_key=sekrit HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      const { statuses } = await exchange(keyed.port, [upgrade, header], { gapMs: 200, giveUpMs: 3000 });
      assert.deepEqual(statuses, [101]);
    } finally {
      await keyed.close(100);
    }
  });

  test('pipelined requests with bodies', async () => {
    const pipelined = [1, 2, 3].map((n) => post(`Content-Length: ${JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: n }).length}\r\n`, JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: n }))).join('') + 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const { statuses, text } = await exchange(port, [pipelined], { giveUpMs: 15_000 });
    if (transport === 'uws') {
      // uWebSockets.js closes a connection on which a request arrives before the one ahead of it
      // is answered ("denying async pipelining", HttpContext.h, in every release to date): the
      // connection ends at once and the first request is cancelled, not left holding a slot.
      assert.ok(statuses.length <= 1 && statuses.every((s) => s === 200), text.slice(0, 300));
    } else {
      assert.deepEqual(statuses, [200, 200, 200, 200], text.slice(0, 300));
      const tokens = [...text.matchAll(/"completion_tokens":(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(tokens, [1, 2, 3], 'answered in the order they were sent');
    }
    await settled();
  });

  test('headers and bodies that trickle are cut off; a slow body that keeps coming is read whole', async () => {
    const trickle = (text) => [...text];
    const health = 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ' + 'a'.repeat(60) + '\r\n\r\n';
    // 480 KiB in 100 ms steps over about 12 s: longer than 10 s in all, at 40 KiB/s, well over 16.
    const steady = JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 1, stop: ['x'.repeat(480 * 1024)] });
    const steps = Array.from({ length: 120 }, (_, i) => steady.slice(Math.floor((i * steady.length) / 120), Math.floor(((i + 1) * steady.length) / 120)));
    const [headers, afterOneRequest, slowBody, steadyBody] = await Promise.all([
      exchange(port, trickle(health), { gapMs: 1000, giveUpMs: 25_000 }),
      exchange(port, [`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, ...trickle(health)], { gapMs: 1000, giveUpMs: 25_000 }),
      exchange(port, [`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`, ...trickle(body)], { gapMs: 1000, giveUpMs: 25_000 }),
      exchange(port, [`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${steady.length}\r\nConnection: close\r\n\r\n`, ...steps], { gapMs: 100, giveUpMs: 40_000 }),
    ]);
    assert.ok(headers.sent < health.length, 'the headers were cut off');
    assert.ok(headers.statuses.every((s) => s === 408), `headers: ${headers.statuses}`); // node:http says why, uWS closes
    assert.ok(afterOneRequest.sent < health.length + 1, 'the second request was cut off');
    assert.deepEqual(afterOneRequest.statuses.slice(0, 1), [200]);
    assert.ok(slowBody.sent < body.length + 1 && slowBody.statuses.length === 0, `body: ${slowBody.statuses}`);
    assert.equal(steadyBody.sent, steps.length + 1);
    assert.ok(steadyBody.livedMs > 10_000, `the steady body took ${steadyBody.livedMs} ms; it must outlast one window to test the rate rule`);
    assert.deepEqual(steadyBody.statuses, [200], steadyBody.text.slice(0, 300));
    await settled();
  });
});
