// A client that stops reading a stream pauses its generation (the slot keeps its KV cells, no
// tokens are produced for it) and, when it reads again, gets every token. Loopback's TCP buffers
// are megabytes deep, so `shimmy serve` and the client run in a network namespace of their own
// whose socket buffers are a few kilobytes: the server sees the congestion within a few hundred
// tokens. Runs on each transport that loads here.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadUws } from '../dist/server/transport/uws.js';
import { fixtureModel, storiesModel } from './helpers/fixtures.mjs';
import { namespaceSkip } from './helpers/rpc-workers.mjs';

const root = join(import.meta.dirname, '..');
const modelPath = storiesModel() ?? fixtureModel();
const netns = `shimmy${process.pid}slow`;
const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const run = (cmd, args) => spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

function makeNamespace() {
  ip('netns', 'add', netns);
  ip('-n', netns, 'link', 'set', 'lo', 'up');
  // Per namespace since Linux 4.15: send and receive buffers of 4–16 KiB, no autotuning past them.
  execFileSync('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_wmem=4096 8192 16384', 'net.ipv4.tcp_rmem=4096 8192 16384']);
}

async function serve(transport, port) {
  const child = run(process.execPath, [join(root, 'bin', 'shimmy.js'), 'serve', '--model', modelPath, '--bind', `127.0.0.1:${port}`, '--transport', transport, '--parallel', '1', '--ctx-size', '2100']);
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode !== null) throw new Error(`shimmy serve exited: ${log}`);
    const probe = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/api/health`]);
    let out = '';
    probe.stdout.on('data', (d) => (out += d));
    await new Promise((r) => probe.on('exit', r));
    if (out === '200') return child;
  }
  child.kill();
  throw new Error(`shimmy serve never became healthy: ${log}`);
}

const uwsSkip = () => ('reason' in loadUws() ? `no uWebSockets.js binary loads here (${loadUws().reason})` : false);
const curlSkip = () => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'curl is missing';
  }
};

describe('a client that stops reading', { skip: namespaceSkip() || curlSkip(), timeout: 180_000 }, () => {
  for (const transport of ['node', 'uws']) {
    test(`over ${transport}: its generation pauses, then resumes losing no token`, { skip: transport === 'uws' && uwsSkip() }, async () => {
      makeNamespace();
      let server;
      try {
        const port = 20000 + (process.pid % 20000);
        server = await serve(transport, port);
        // Chat logprobs with 20 alternatives: about 1.5 KB per token, past the buffers at once.
        const maxTokens = 2000;
        const body = { model: 'default', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: maxTokens, ignore_eos: true, temperature: 0, logprobs: true, top_logprobs: 20, stream: true };
        const client = run(process.execPath, [join(root, 'test', 'helpers', 'slow-reader.mjs'), String(port), JSON.stringify(body)]);
        let out = '';
        let err = '';
        client.stdout.on('data', (d) => (out += d));
        client.stderr.on('data', (d) => (err += d));
        await new Promise((r) => client.on('exit', r));
        assert.ok(out, `the client printed nothing: ${err}`);
        const { still, stillAfter, finishedWhilePaused, response } = JSON.parse(out);
        assert.ok(still && stillAfter, 'generation stood still while the client read nothing');
        assert.equal(finishedWhilePaused, false, 'the request was paused, not finished, while the client read nothing');
        // Every token arrived: each chunk's logprobs name its tokens, which spell the whole text.
        const events = response.split('\r\n\r\n').slice(1).join('').split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
        const tokens = events.flatMap((e) => e.choices?.[0]?.logprobs?.content ?? []);
        const text = events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
        assert.equal(tokens.length, maxTokens);
        // A token that is part of a multi-byte character names it as U+FFFD: compare where none is.
        if (!tokens.some((t) => t.token.includes('\uFFFD'))) assert.equal(tokens.map((t) => t.token).join(''), text);
        assert.equal(events.at(-1).choices[0].finish_reason, 'length');
      } finally {
        server?.kill();
        if (server) await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
        ip('netns', 'del', netns);
      }
    });
  }
});
