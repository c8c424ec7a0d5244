// The server with real clients (fetch, ws, raw sockets, the openai package) against a server
// started on 127.0.0.1 with an OS-assigned port.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { transportUnderTest } from '../helpers/transport.mjs';
import OpenAI from 'openai';
import WebSocket from 'ws';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { fixtureModel, storiesModel } from '../helpers/fixtures.mjs';

const modelPath = storiesModel() ?? fixtureModel();
let server;
let base;

async function waitHealthy() {
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${base}/api/health`);
    if (r.status === 200) return r.json();
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error('server never became healthy');
}

const post = (path, body, headers = {}) =>
  fetch(`${base}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers });

/** Parses an SSE body byte-exactly: every event is `data: …\n\n`. */
function parseSse(text) {
  assert.ok(text.endsWith('\n\n'), 'the stream ends with a blank line');
  const events = text.slice(0, -2).split('\n\n');
  for (const e of events) {
    assert.ok(e.startsWith('data: ') && !e.startsWith('data: data:'), `bad event ${JSON.stringify(e)}`);
    assert.ok(!e.includes('\n'), 'one line per event');
  }
  return events.map((e) => e.slice(6));
}

async function expectError(response, status, code) {
  assert.equal(response.status, status);
  const body = await response.json();
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.details, 'string');
}

const { name: transport, skip } = transportUnderTest();

describe(`server over ${transport}`, { skip }, () => {
  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath, env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 4, contextSize: 512 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport, bodyLimit: 64 * 1024 });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close(100));

  describe('shimmy API', () => {
    test('health reports loading, then healthy with real memory use', async () => {
      const body = await waitHealthy();
      assert.equal(body.status, 'healthy');
      assert.equal(body.models_loaded, 1);
      assert.match(body.memory_usage, /^\d+\.\dMB$|^\d+\.\dGB$/);
    });

    test('/metrics counts requests by route and names the transport', async () => {
      await fetch(`${base}/api/models`);
      await fetch(`${base}/no/such/route/${Math.random()}`);
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /shimmy_requests_total\{method="GET",route="\/api\/models",status="200"\} \d+/);
      assert.match(text, /route="unmatched",status="404"/);
      assert.doesNotMatch(text, /no\/such\/route/);
      const expected = transport === 'node' ? 'node' : 'uws';
      assert.match(text, new RegExp(`shimmy_transport_info\\{transport="${expected}",description="[^"]+"\\} 1`));
    });

    test('/metrics has a histogram of the engine thread\'s time per step phase', async () => {
      // 8 tokens whatever the model says: a prompt step and 7 more, each decoded, sampled, delivered.
      await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'default', prompt: 'Hello', max_tokens: 8, temperature: 0, ignore_eos: true }) });
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /# TYPE shimmy_step_phase_seconds histogram/);
      for (const phase of ['decode', 'sample', 'deliver', 'idle']) {
        const buckets = [...text.matchAll(new RegExp(`shimmy_step_phase_seconds_bucket\\{model="[^"]*",phase="${phase}",le="([^"]+)"\\} (\\d+)`, 'g'))];
        assert.equal(buckets.at(-1)?.[1], '+Inf', phase);
        const counts = buckets.map((m) => Number(m[2]));
        assert.deepEqual(counts, [...counts].sort((a, b) => a - b), `${phase} buckets are cumulative`);
        const count = Number(new RegExp(`shimmy_step_phase_seconds_count\\{model="[^"]*",phase="${phase}"\\} (\\d+)`).exec(text)?.[1]);
        assert.equal(count, counts.at(-1));
        // The last step's delivery is recorded just after it woke JavaScript, so it may still be on its way.
        if (phase !== 'idle') assert.ok(count >= 7, `${phase}: ${count} steps recorded`);
      }
      assert.match(text, /shimmy_step_phase_seconds_sum\{model="[^"]*",phase="decode"\} [\d.e-]+/);
      // 4 slots of 512 cells; the request's tokens stay cached in its slot.
      assert.equal(/shimmy_kv_cells\{model="[^"]*"\} (\d+)/.exec(text)?.[1], '2048');
      assert.ok(Number(/shimmy_kv_cells_used\{model="[^"]*"\} (\d+)/.exec(text)?.[1]) >= 8);
      assert.ok(Number(/shimmy_kv_cache_bytes\{model="[^"]*"\} (\d+)/.exec(text)?.[1]) > 0);
    });

    test('models lists the default model first', async () => {
      const body = await (await fetch(`${base}/api/models`)).json();
      assert.equal(body.models[0].id, 'default');
      assert.equal(body.models[0].description, 'Base GGUF model');
      assert.equal(body.models[0].architecture, 'llama');
    });

    test('generate: JSON with the seed shape, defaults and real usage (form-encoded Content-Type too)', async () => {
      const r = await post('/api/generate', '{"model":"default","prompt":"Once upon a time","max_tokens":12,"temperature":0}', { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.deepEqual(Object.keys(body), ['choices', 'usage']);
      assert.equal(body.choices[0].index, 0);
      assert.equal(body.choices[0].finish_reason, 'length');
      assert.equal(body.usage.completion_tokens, 12);
      assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + 12);
      const byName = await (await post('/api/generate', { model: modelPath.split('/').pop().replace('.gguf', ''), prompt: 'Once upon a time', max_tokens: 12, temperature: 0 })).json();
      assert.equal(byName.choices[0].text, body.choices[0].text);
      const defaults = await (await post('/api/generate', { model: 'default', prompt: 'Hi', ignore_eos: true })).json();
      assert.equal(defaults.usage.completion_tokens, 100); // max_tokens defaults to 100
    });

    test('generate: SSE events byte-exact, closing chunk with reason and usage, then [DONE]', async () => {
      const r = await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true });
      assert.equal(r.headers.get('content-type'), 'text/event-stream');
      const events = parseSse(await r.text());
      assert.equal(events.at(-1), '[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
      const closing = chunks.pop();
      assert.equal(closing.choices[0].finish_reason, 'length');
      assert.equal(closing.choices[0].text, '');
      assert.equal(closing.usage.completion_tokens, 8);
      for (const c of chunks) assert.deepEqual(Object.keys(c.choices[0]), ['text', 'index']);
      const json = await (await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 })).json();
      assert.equal(chunks.map((c) => c.choices[0].text).join(''), json.choices[0].text);
    });

    test('every bad request is the seed error object with the right status', async () => {
      await expectError(await post('/api/generate', { model: 'invalid-model', prompt: 'x' }), 404, 'model_not_found');
      await expectError(await post('/api/generate', '{"model": "default", "prompt": '), 400, 'invalid_request');
      await expectError(await post('/api/generate', ''), 400, 'invalid_request');
      await expectError(await post('/api/generate', '[1,2]'), 400, 'invalid_request');
      await expectError(await post('/api/generate', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 400, 'invalid_request');
      await expectError(await post('/api/generate', { prompt: 'x' }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default' }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default', prompt: 'x', max_tokens: 'ten' }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default', prompt: 'x', temperature: 9 }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default', prompt: 'x', stream: 'yes' }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default', prompt: 'word '.repeat(600) }), 400, 'invalid_request');
      await expectError(await post('/api/generate', { model: 'default', prompt: 'x'.repeat(100_000) }), 413, 'payload_too_large');
      await expectError(await fetch(`${base}/nope`), 404, 'not_found');
      const unknownFields = await post('/api/generate', { model: 'default', prompt: 'Hi', max_tokens: 2, whatever: [1] });
      assert.equal(unknownFields.status, 200);
    });

    test('16 concurrent streaming clients all complete', async () => {
      const runs = Array.from({ length: 16 }, (_, i) =>
        post('/api/generate', { model: 'default', prompt: `Story ${i}`, max_tokens: 20, temperature: 0.5, stream: true }).then((r) => r.text()),
      );
      for (const text of await Promise.all(runs)) {
        const events = parseSse(text);
        assert.equal(events.at(-1), '[DONE]');
        assert.equal(JSON.parse(events.at(-2)).usage.completion_tokens, 20);
      }
    });

    test('100 clients that leave mid-stream leave every slot free', async () => {
      for (let i = 0; i < 100; i++) {
        const controller = new AbortController();
        const r = await post('/api/generate', { model: 'default', prompt: 'Once', max_tokens: 400, ignore_eos: true, stream: true }, {});
        const reader = r.body.getReader();
        await reader.read();
        controller.abort();
        await reader.cancel();
      }
      const model = server.context.registry.peek('default');
      for (let i = 0; i < 100 && model.stats().slotsBusy > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(model.stats().slotsBusy, 0);
      assert.equal(server.context.inFlight.size, 0);
      assert.equal((await waitHealthy()).status, 'healthy');
    });

    test('a non-streaming request whose client leaves is cancelled', async () => {
      const model = server.context.registry.peek('default');
      const before = model.stats().tokensGenerated;
      await new Promise((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          const body = JSON.stringify({ model: 'default', prompt: 'Once', max_tokens: 450, ignore_eos: true });
          socket.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
          setTimeout(() => socket.destroy(), 20);
          socket.on('close', resolve);
        });
      });
      for (let i = 0; i < 100 && model.stats().slotsBusy > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(model.stats().slotsBusy, 0);
      assert.ok(model.stats().tokensGenerated - before < 450, 'generation stopped when the client left');
    });

    test('5,000 half-open connections neither block requests nor stay open', async () => {
      // llama-server stopped answering, /health included, at ~1,030 such connections.
      const sockets = [];
      const closed = [];
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(Array.from({ length: 500 }, () => new Promise((resolve, reject) => {
          const socket = connect(server.port, '127.0.0.1', () => {
            socket.write('POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"mod'); // and never more
            resolve();
          });
          socket.on('error', reject);
          closed.push(new Promise((r) => socket.on('close', r)));
          sockets.push(socket);
        })));
      }
      assert.equal(sockets.length, 5000);
      const health = await fetch(`${base}/api/health`);
      assert.equal(health.status, 200);
      const r = await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 5 });
      assert.equal((await r.json()).usage.completion_tokens, 5);
      // The server's idle timeout (uWebSockets.js: 10 s without progress) closes every one of them.
      await Promise.all(closed);
      assert.ok(sockets.every((s) => s.destroyed));
      assert.equal((await fetch(`${base}/api/health`)).status, 200);
    });

    test("the README's curl examples work as written", async () => {
      const curl = (...args) => new Promise((resolve, reject) => execFile('curl', ['-s', ...args], (error, stdout) => (error ? reject(error) : resolve(stdout))));
      const host = `localhost:${server.port}`;
      await waitHealthy();
      assert.equal(JSON.parse(await curl(`${host}/api/health`)).status, 'healthy');
      assert.equal(JSON.parse(await curl(`${host}/api/models`)).models[0].id, 'default');
      // curl -d sends application/x-www-form-urlencoded, and its body often in a second packet.
      const json = JSON.parse(await curl(`${host}/api/generate`, '-d', '{"model":"default","prompt":"Once upon a time","max_tokens":40}'));
      assert.equal(json.usage.completion_tokens <= 40, true);
      assert.equal(typeof json.choices[0].text, 'string');
      const sse = await curl('-N', `${host}/api/generate`, '-d', '{"model":"default","prompt":"Once upon a time","max_tokens":8,"stream":true}');
      assert.match(sse, /^data: \{"choices"[\s\S]*data: \[DONE\]\n\n$/);
    });

    test('a body that arrives seconds after its headers, and one in the same packet, are both read', async () => {
      const exchange = (delayMs) => new Promise((resolve, reject) => {
        const body = JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 3, temperature: 0 });
        const head = `POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
        let received = '';
        const socket = connect(server.port, '127.0.0.1', () => {
          if (delayMs === 0) socket.write(head + body);
          else {
            socket.write(head);
            setTimeout(() => socket.write(body), delayMs);
          }
        });
        socket.on('data', (d) => (received += d));
        socket.on('end', () => resolve(received));
        socket.on('error', reject);
      });
      for (const delay of [0, 2500]) {
        const reply = await exchange(delay);
        assert.match(reply, /^HTTP\/1\.1 200 /, `delay ${delay}`);
        assert.equal(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')).usage.completion_tokens, 3);
      }
    });

    test('keep-alive survives a streamed response', async () => {
      const socket = connect(server.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      let received = '';
      socket.on('data', (d) => (received += d));
      const body = JSON.stringify({ model: 'default', prompt: 'Hi', max_tokens: 3, stream: true });
      socket.write(`POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      while (!received.includes('[DONE]')) await new Promise((r) => setTimeout(r, 5));
      socket.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      while (!received.includes('"status"')) await new Promise((r) => setTimeout(r, 5));
      assert.ok(!socket.destroyed);
      socket.destroy();
    });
  });

  test('each request crosses into the engine once: one submit, no separate tokenize', async () => {
    const model = await server.context.registry.get('default');
    // Counts the calls into the addon that carry a request (the engine's and the model handle's).
    const calls = { submit: 0, tokenize: 0 };
    const engine = model.engine;
    const handle = model.handle;
    const originals = { submit: engine.submit, tokenize: handle.tokenize, tokenizeAsync: handle.tokenizeAsync };
    // The addon's methods are read-only on its prototype: the counters shadow them on the instances.
    const count = (target, name, counter) => Object.defineProperty(target, name, {
      configurable: true,
      value(...args) {
        calls[counter]++;
        return originals[name].apply(this, args);
      },
    });
    count(engine, 'submit', 'submit');
    count(handle, 'tokenize', 'tokenize');
    count(handle, 'tokenizeAsync', 'tokenize');
    try {
      await (await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 3 })).json();
      await (await post('/api/generate', { model: 'default', prompt: 'Once upon a time '.repeat(1200), max_tokens: 3 })).text(); // tokenized off the main thread
      await (await post('/v1/completions', { model: 'default', prompt: 'Once', max_tokens: 3, stream: true })).text();
      await (await post('/v1/chat/completions', { model: 'default', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 })).json();
      assert.deepEqual(calls, { submit: 4, tokenize: 0 });
    } finally {
      delete engine.submit;
      delete handle.tokenize;
      delete handle.tokenizeAsync;
    }
  });

  describe('WebSocket /ws/generate', () => {
    function open() {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`);
      const frames = [];
      const waiters = [];
      ws.on('message', (data) => {
        frames.push(JSON.parse(data.toString()));
        for (const w of waiters.splice(0)) w();
      });
      const until = async (pred) => {
        while (!pred(frames)) await new Promise((r) => waiters.push(r));
      };
      return new Promise((resolve) => ws.on('open', () => resolve({ ws, frames, until })));
    }

    test('token frames then done, and the socket stays open for more', async () => {
      const { ws, frames, until } = await open();
      ws.send(JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 }));
      await until((f) => f.some((x) => x.done));
      const tokens = frames.filter((f) => 'token' in f);
      assert.ok(tokens.length >= 1 && tokens.length <= 6);
      assert.deepEqual(Object.keys(tokens[0]), ['token']);
      assert.equal(frames.at(-1).done, true);
      const json = await (await post('/api/generate', { model: 'default', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 })).json();
      assert.equal(tokens.map((t) => t.token).join(''), json.choices[0].text);
      frames.length = 0;
      ws.send(JSON.stringify({ model: 'nope', prompt: 'x' }));
      await until((f) => f.length > 0);
      assert.equal(frames[0].error.code, 'model_not_found');
      ws.send('{not json');
      await until((f) => f.length > 1);
      assert.equal(frames[1].error.code, 'invalid_request');
      ws.close();
    });

    test('ids run several requests on one socket, and cancel stops one', async () => {
      const { ws, frames, until } = await open();
      ws.send(JSON.stringify({ id: 'a', model: 'default', prompt: 'One', max_tokens: 400, ignore_eos: true }));
      ws.send(JSON.stringify({ id: 'b', model: 'default', prompt: 'Two', max_tokens: 5 }));
      await until((f) => f.some((x) => x.id === 'b' && x.done));
      ws.send(JSON.stringify({ cancel: 'a' }));
      await until((f) => f.some((x) => x.id === 'a' && x.done));
      const doneA = frames.find((x) => x.id === 'a' && x.done);
      assert.equal(doneA.finish_reason, 'cancelled');
      ws.close();
    });

    test('a request cancelled while its long prompt is tokenized ends as cancelled, and its id is free again', async () => {
      const { ws, frames, until } = await open();
      ws.send(JSON.stringify({ id: 'long', model: 'default', prompt: 'word '.repeat(5000), max_tokens: 4 })); // tokenized off the main thread
      ws.send(JSON.stringify({ cancel: 'long' }));
      await until((f) => f.some((x) => x.id === 'long' && (x.done || x.error)));
      assert.equal(frames.find((x) => x.id === 'long' && x.done)?.finish_reason, 'cancelled', JSON.stringify(frames));
      frames.length = 0;
      ws.send(JSON.stringify({ id: 'long', model: 'default', prompt: 'Once', max_tokens: 3 }));
      await until((f) => f.some((x) => x.id === 'long' && (x.done || x.error)));
      assert.equal(frames.at(-1).done, true, JSON.stringify(frames.at(-1)));
      ws.close();
    });

    test('closing the socket frees its slots', async () => {
      const { ws, until } = await open();
      ws.send(JSON.stringify({ model: 'default', prompt: 'Go', max_tokens: 400, ignore_eos: true }));
      await until((f) => f.length > 2);
      ws.terminate();
      const model = server.context.registry.peek('default');
      for (let i = 0; i < 100 && model.stats().slotsBusy > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(model.stats().slotsBusy, 0);
    });
  });

  describe('OpenAI-compatible routes with the official client', () => {
    let client;
    before(() => {
      client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
    });

    test('models, completions and chat (streamed with usage)', async () => {
      const models = await client.models.list();
      assert.ok(models.data.some((m) => m.id === 'default'));
      const completion = await client.completions.create({ model: 'default', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
      assert.equal(completion.usage.completion_tokens, 8);
      const chat = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6 });
      assert.equal(chat.choices[0].message.role, 'assistant');
      const stream = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let usage;
      for await (const part of stream) {
        text += part.choices[0]?.delta?.content ?? '';
        if (part.usage) usage = part.usage;
      }
      assert.equal(usage.completion_tokens, 6);
      assert.equal(typeof text, 'string');
    });

    test('errors raise the client\'s typed errors', async () => {
      await assert.rejects(client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'Hi' }] }), OpenAI.NotFoundError);
      await assert.rejects(client.chat.completions.create({ model: 'default', messages: [] }), OpenAI.BadRequestError);
      await assert.rejects(client.completions.create({ model: 'default', prompt: 'x', temperature: 5 }), OpenAI.BadRequestError);
    });

    test('json_object output parses', async () => {
      const r = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 60, response_format: { type: 'json_object' }, temperature: 0 });
      if (r.choices[0].finish_reason === 'stop') JSON.parse(r.choices[0].message.content);
      else assert.match(r.choices[0].message.content, /^\{/);
    });
  });
});
