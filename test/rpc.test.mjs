// One model across several processes and hosts: `shimmy worker` (ggml's RPC server) and models
// loaded with `rpc`, on loopback and in network namespaces that make each worker its own host.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadModel } from '../dist/index.js';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { startServer } from '../dist/server/app.js';
import { fixtureModel, root, storiesModel, storiesSkip } from './helpers/fixtures.mjs';
import { cli, freePort, makeNamespaces, namespaceSkip, startWorker } from './helpers/rpc-workers.mjs';

const run = promisify(execFile);
const greedy = { prompt: 'Once upon a time', maxTokens: 40, temperature: 0 };

async function localText(path) {
  const model = await loadModel(path, { parallel: 1, contextSize: 512 });
  try {
    return (await model.complete(greedy)).text;
  } finally {
    await model.close();
  }
}

/** Iterates a long generation; resolves with the error it ends with, calling onStarted after 10 chunks. */
async function failureOf(generation, onStarted) {
  let chunks = 0;
  try {
    for await (const _ of generation) if (++chunks === 10) onStarted();
  } catch (error) {
    return { error, chunks };
  }
  assert.fail(`the generation finished (${chunks} chunks) instead of failing`);
}

describe('RPC workers on loopback', { timeout: 120_000 }, () => {
  let workers = [];
  before(async () => {
    workers = await Promise.all([startWorker(), startWorker()]);
  });
  after(() => Promise.all(workers.map((w) => w.kill('SIGTERM'))));

  test('greedy text over two workers is the local text, on the tiny fixture and with tensorSplit', async () => {
    const path = fixtureModel('q4_0');
    const expected = await localText(path);
    const model = await loadModel(path, { parallel: 1, contextSize: 512, rpc: workers.map((w) => w.endpoint) });
    try {
      assert.equal((await model.complete(greedy)).text, expected);
      const listed = model.workers();
      assert.deepEqual(listed.map((w) => w.endpoint), workers.map((w) => w.endpoint));
      for (const w of listed) {
        assert.equal(w.error, null);
        assert.ok(w.devices.length >= 1 && w.devices[0].memoryTotal > 0, JSON.stringify(w));
      }
      assert.equal(model.brokenBecause, undefined);
    } finally {
      await model.close();
    }
    const uneven = await loadModel(path, { parallel: 1, contextSize: 512, rpc: workers.map((w) => w.endpoint), tensorSplit: [1, 3] });
    try {
      assert.equal((await uneven.complete(greedy)).text, expected);
    } finally {
      await uneven.close();
    }
  });

  test('greedy text over two workers is the local text on stories260K', { skip: storiesSkip }, async () => {
    const expected = await localText(storiesModel());
    const model = await loadModel(storiesModel(), { parallel: 1, contextSize: 512, rpc: workers.map((w) => w.endpoint) });
    try {
      assert.equal((await model.complete(greedy)).text, expected);
    } finally {
      await model.close();
    }
  });

  test('a worker that is down at load is worker_unavailable, naming it', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    await assert.rejects(loadModel(fixtureModel(), { rpc: [workers[0].endpoint, down] }), (error) => {
      assert.equal(error.code, 'worker_unavailable');
      assert.match(error.message, new RegExp(`RPC worker ${down} is unavailable: could not connect`));
      return true;
    });
    await assert.rejects(loadModel(fixtureModel(), { rpc: ['[::1]:50052'] }), { code: 'invalid_request' });
    await assert.rejects(loadModel(fixtureModel(), { rpc: ['host:99999'] }), { code: 'invalid_request' });
  });

  test('a worker killed mid-generation fails the request within seconds; the model stays broken until loaded again', async () => {
    const doomed = await startWorker();
    const endpoints = [workers[0].endpoint, doomed.endpoint];
    const model = await loadModel(fixtureModel(), { parallel: 2, contextSize: 4096, rpc: endpoints });
    let killedAt = 0;
    try {
      const long = { prompt: 'Once upon a time', maxTokens: 4000, temperature: 0, ignoreEos: true };
      const waiting = model.generate(long); // the second slot's request is failed as well
      const { error, chunks } = await failureOf(model.generate(long), () => {
        killedAt = performance.now();
        doomed.child.kill('SIGKILL');
      });
      assert.ok(killedAt > 0 && chunks < 4000);
      // A killed process resets the connection: the next RPC command fails at once. The bound only says "not a hang".
      assert.ok(performance.now() - killedAt < 15_000, `failed ${(performance.now() - killedAt).toFixed(0)} ms after the kill`);
      assert.equal(error.code, 'generation_failed');
      assert.match(error.message, new RegExp(`RPC worker ${doomed.endpoint} was lost`));
      await assert.rejects((async () => { for await (const _ of waiting); })(), { code: 'generation_failed' });
      assert.match(model.brokenBecause ?? '', new RegExp(doomed.endpoint));
      assert.equal(model.workers().find((w) => w.endpoint === doomed.endpoint).error !== null, true);
      assert.equal(model.workers().find((w) => w.endpoint === workers[0].endpoint).error, null);
      await assert.rejects(model.complete({ prompt: 'again', maxTokens: 4 }), { code: 'generation_failed' });
      assert.deepEqual([model.stats().slotsBusy, model.stats().queued], [0, 0]);
    } finally {
      await model.close();
    }
    // The same worker back on the same port: a new load reconnects.
    const back = await startWorker({ port: doomed.port });
    try {
      const again = await loadModel(fixtureModel(), { parallel: 1, contextSize: 512, rpc: endpoints });
      try {
        assert.equal((await again.complete(greedy)).text, await localText(fixtureModel()));
      } finally {
        await again.close();
      }
    } finally {
      await back.kill('SIGTERM');
    }
  });

  test('serve --rpc: /api/health lists the workers, a lost one fails the stream and makes it 503, and the next request reloads', async () => {
    const doomed = await startWorker();
    const endpoints = [workers[0].endpoint, doomed.endpoint];
    const discovery = discoverModels({ modelPath: fixtureModel(), env: {}, cwd: '/nonexistent', home: '/nonexistent' });
    const registry = new ModelRegistry(discovery, { parallel: 1, contextSize: 4096, rpc: endpoints });
    const server = await startServer({ host: '127.0.0.1', port: 0, registry });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      let health;
      for (let i = 0; i < 200; i++) {
        health = await fetch(`${base}/api/health`);
        if (health.status === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const healthy = await health.json();
      assert.equal(healthy.status, 'healthy');
      assert.deepEqual(healthy.workers.map((w) => [w.endpoint, w.state]), endpoints.map((e) => [e, 'connected']));
      assert.ok(healthy.workers[0].devices[0].memory_total > 0);

      const response = await fetch(`${base}/api/generate`, {
        method: 'POST',
        body: JSON.stringify({ model: 'default', prompt: 'Once upon a time', max_tokens: 4000, temperature: 0, stream: true, ignore_eos: true }),
      });
      const reader = response.body.getReader();
      let body = '';
      let killed = false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        body += Buffer.from(value).toString();
        if (!killed && body.split('data: ').length > 10) {
          killed = true;
          doomed.child.kill('SIGKILL');
        }
      }
      assert.match(body, /data: \{"error":\{"code":"generation_failed"[^\n]*was lost/);

      const lost = await fetch(`${base}/api/health`);
      assert.equal(lost.status, 503);
      const lostBody = await lost.json();
      assert.equal(lostBody.status, 'unhealthy');
      assert.equal(lostBody.workers.find((w) => w.endpoint === doomed.endpoint).state, 'lost');
      assert.match(lostBody.error, /was lost/);

      // Down: the reload fails with the new code and health says why; back: it works again.
      const refused = await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'default', prompt: 'Hi', max_tokens: 4 }) });
      assert.equal(refused.status, 503);
      assert.equal((await refused.json()).error.code, 'worker_unavailable');
      assert.equal((await fetch(`${base}/api/health`)).status, 503);
      const back = await startWorker({ port: doomed.port });
      try {
        const ok = await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'default', ...{ prompt: 'Once upon a time', max_tokens: 40, temperature: 0 } }) });
        assert.equal(ok.status, 200);
        assert.equal((await ok.json()).choices[0].text, await localText(fixtureModel()));
        const recovered = await (await fetch(`${base}/api/health`)).json();
        assert.equal(recovered.status, 'healthy');
        assert.ok(recovered.workers.every((w) => w.state === 'connected'));
      } finally {
        await back.kill('SIGTERM');
      }
    } finally {
      await server.close(1000);
      await registry.closeAll();
    }
  });

  test('shimmy worker: one-line refusals, SIGTERM stops it, diag --rpc lists it', async () => {
    const refuse = async (args, pattern) => {
      const { code, stderr } = await run(process.execPath, [cli, 'worker', ...args]).then(() => ({ code: 0, stderr: '' }), (e) => e);
      assert.equal(code, 1);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    };
    await refuse(['--bind', 'example.com:50052'], /^shimmy: --bind must be IPV4:PORT/);
    await refuse(['--bind', `127.0.0.1:${workers[0].port}`], /the port is in use/);
    await refuse(['--bind', `127.0.0.1:${await freePort()}`, '--device', 'NoSuchDevice'], /no device named 'NoSuchDevice'/);
    await refuse(['--bind', `127.0.0.1:${await freePort()}`, '--mem', '0'], /--mem must be/);

    const { stdout } = await run(process.execPath, [cli, 'diag', '--rpc', workers[0].endpoint]);
    assert.match(stdout, new RegExp(`rpc worker: +${workers[0].endpoint}: RPC\\d+ \\(${workers[0].endpoint}\\), [\\d.]+ GiB free`));

    const worker = await startWorker();
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    assert.equal(code, 0);
    assert.match(worker.output(), /SIGTERM: worker stopped/);
  });
});

describe('RPC workers in network namespaces (one host each)', { skip: namespaceSkip(), timeout: 120_000 }, () => {
  let net;
  let workers = [];
  const clients = [];
  before(async () => {
    net = makeNamespaces(2);
    if (net.skip) return;
    workers = await Promise.all(net.workers.map((w) => startWorker({ host: w.host, port: 50052, netns: w.netns })));
  });
  after(async () => {
    for (const child of clients) child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.kill()));
    net?.remove?.();
  });

  /** rpc-client.mjs inside the client namespace; resolves each JSON line as it arrives. */
  function client(path, mode) {
    const child = spawn('ip', ['netns', 'exec', net.client, process.execPath, `${root}/test/helpers/rpc-client.mjs`, path, workers.map((w) => w.endpoint).join(','), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    clients.push(child);
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return { child, next: async () => JSON.parse((await lines.next()).value ?? 'null') };
  }

  test('greedy text over workers on two other hosts is the local text', async (t) => {
    if (net.skip) return t.skip(net.skip);
    for (const path of [fixtureModel('q4_0'), ...(storiesSkip ? [] : [storiesModel()])]) {
      const { next } = client(path, 'greedy');
      const { text, workers: listed } = await next();
      assert.equal(text, await localText(path));
      assert.deepEqual(listed.map((w) => w.endpoint), ['10.231.1.2:50052', '10.231.2.2:50052']);
    }
  });

  test('a worker whose host vanishes (link down, no reset) fails the request within keepalive time', async (t) => {
    if (net.skip) return t.skip(net.skip);
    const { next } = client(fixtureModel(), 'long');
    assert.deepEqual(await next(), { generating: true });
    const cutAt = performance.now();
    net.cut(2);
    const outcome = await next();
    const seconds = (performance.now() - cutAt) / 1000;
    assert.equal(outcome.code, 'generation_failed', JSON.stringify(outcome));
    assert.match(outcome.message, /RPC worker 10\.231\.2\.2:50052 was lost/);
    assert.ok(seconds < 30, `failed ${seconds.toFixed(1)} s after the link went down`);
  });
});
