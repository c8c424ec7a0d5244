#!/usr/bin/env node
// npm run bench:soak — memory under varied traffic: 10,000 requests (different prompts and
// lengths, JSON and streamed, seed and OpenAI routes, chat, embeddings, clients that leave
// mid-stream, malformed bodies) against `shimmy serve` on stories260K, sampling the server's RSS
// every 1,000 requests; then the same traffic, on the routes it has, against llama-server built
// from the same tree. Prints a markdown table for bench/RESULTS.md.
//   --requests 10000   --concurrency 16   --no-llama-server
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { toolsDir } from './build-llama-tools.mjs';
import { arg, flag } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const total = Number(arg('requests', 10000));
const concurrency = Number(arg('concurrency', 16));
const model = process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf');
if (!existsSync(model)) {
  console.error(`no model at ${model} (set SHIMMY_TEST_MODEL)`);
  process.exit(1);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const words = ['the', 'little', 'dog', 'ran', 'to', 'a', 'big', 'park', 'and', 'saw', 'cat', 'happy', 'sun', 'tree'];

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function send(port, method, path, body, leaveEarly = false) {
  return new Promise((resolvePromise) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: leaveEarly ? false : agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.on('data', () => {
        if (leaveEarly) req.destroy();
      });
      res.on('end', () => resolvePromise(res.statusCode));
      res.on('error', () => resolvePromise(0));
    });
    req.on('error', () => resolvePromise(0)); // llama-server resets pooled connections after streams
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

// Request i of the mix; `routes` says which the server has.
function request(i, seed) {
  const rand = (n) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const prompt = Array.from({ length: 1 + rand(60) }, () => words[rand(words.length)]).join(' ') + ` ${i}`;
  const maxTokens = 1 + rand(16);
  const kind = i % 8;
  if (kind === 0) return ['POST', '/v1/chat/completions', { model: 'default', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, stream: rand(2) === 1 }];
  if (kind === 1) return ['POST', '/v1/completions', { model: 'default', prompt, max_tokens: maxTokens, stream: true }, rand(3) === 0];
  if (kind === 2) return ['POST', '/v1/embeddings', { model: 'default', input: [prompt, prompt.slice(0, 20)] }];
  if (kind === 3) return ['POST', '/v1/completions', '{"model": "default", "prompt": [tru'];
  if (kind === 4) return ['POST', '/v1/completions', { model: 'default', prompt, max_tokens: maxTokens, temperature: 0.9, top_k: 20 }];
  if (kind === 5) return ['POST', '/api/generate', { model: 'default', prompt, max_tokens: maxTokens, stream: rand(2) === 1 }, rand(3) === 0];
  if (kind === 6) return ['GET', '/api/models'];
  return ['POST', '/api/generate', { model: 'default', prompt, max_tokens: maxTokens }];
}

async function soak(kind, port, pid, hasRoute) {
  const samples = [];
  let next = 0;
  let done = 0;
  let skipped = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const [method, path, body, leave] = request(i, i * 7919 + 1);
      if (!hasRoute(path)) skipped++;
      else await send(port, method, path, body, leave);
      if (++done % 1000 === 0) samples.push(rssKb(pid));
    }
  }));
  return { kind, samples, skipped };
}

async function start(kind, port) {
  const args = kind === 'shimmy'
    ? [join(root, 'bin', 'shimmy.js'), 'serve', '--model', model, '--port', String(port), '--parallel', '8', '--ctx-size', '1024']
    : ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-np', '8', '-c', '8192', '--no-webui', '--embeddings'];
  const child = spawn(kind === 'shimmy' ? process.execPath : join(toolsDir, 'llama-server'), args, { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    if ((await send(port, 'GET', '/health').catch(() => 0)) === 200) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} did not start`);
}

const runs = [];
let port = 19000 + Math.floor(Math.random() * 1000);
for (const kind of ['shimmy', 'llama-server']) {
  if (kind === 'llama-server' && (flag('no-llama-server') || !existsSync(join(toolsDir, 'llama-server')))) continue;
  const child = await start(kind, ++port);
  try {
    // llama-server has the OpenAI routes (and embeddings with --embeddings), not the seed API.
    const hasRoute = kind === 'shimmy' ? () => true : (path) => path.startsWith('/v1/');
    runs.push(await soak(kind, port, child.pid, hasRoute));
    console.error(JSON.stringify(runs.at(-1)));
  } finally {
    child.kill('SIGKILL');
  }
}
const mb = (kb) => (kb / 1024).toFixed(1);
console.log(`\n${total} requests, ${concurrency} at a time; RSS of the server process (MB) after every 1,000\n`);
console.log('| server | requests sent | RSS after 1k | after 5k | after 10k | growth 1k→10k | per request |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of runs) {
  const first = r.samples[0];
  const last = r.samples.at(-1);
  const sent = total - r.skipped;
  const sentBetween = ((r.samples.length - 1) * 1000 * sent) / total; // requests sent between the first and last sample
  console.log(`| ${r.kind} | ${sent} | ${mb(first)} | ${mb(r.samples[4] ?? last)} | ${mb(last)} | ${mb(last - first)} | ${(((last - first) * 1024) / sentBetween).toFixed(0)} B |`);
}
agent.destroy();
