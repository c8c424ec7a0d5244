#!/usr/bin/env node
// npm run bench:chat — what the chat path costs per token over the completion path: the same
// prompt streamed through /v1/completions and, as a user message, through /v1/chat/completions
// (rendered by the model's template, the reply parsed by its chat format as it grows), greedy,
// ignore EOS, at 50 and 1,800 tokens, on `shimmy serve`'s node transport. Best of --rounds,
// alternating. The slope between the two lengths is the cost per token; the 50-token figure
// includes each request's fixed costs (render, the template's longer prompt).
//   --model PATH (default: stories260K)   --rounds 4
import { join, resolve } from 'node:path';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';

const root = resolve(import.meta.dirname, '..', '..');
const arg = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const modelPath = arg('model', process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf'));
const rounds = Number(arg('rounds', 4));
const lengths = [50, 1800];

const discovery = discoverModels({ modelPath, env: {}, cwd: '/nonexistent', home: '/nonexistent' });
const registry = new ModelRegistry(discovery, { parallel: 1, contextSize: 2200 });
const server = await startServer({ host: '127.0.0.1', port: 0, registry, transport: 'node' });
const base = `http://127.0.0.1:${server.port}`;

/** Milliseconds until the whole stream has arrived. */
async function streamed(route, body) {
  const t0 = performance.now();
  const res = await fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', stream: true, temperature: 0, ignore_eos: true, ...body }),
  });
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
  for await (const _ of res.body);
  return performance.now() - t0;
}

const prompt = 'Once upon a time';
const kinds = {
  completion: (n) => streamed('/v1/completions', { prompt, max_tokens: n }),
  chat: (n) => streamed('/v1/chat/completions', { messages: [{ role: 'user', content: prompt }], max_tokens: n }),
};
const best = {};
for (let r = 0; r < rounds; r++) {
  for (const n of lengths) {
    for (const [kind, run] of Object.entries(kinds)) best[`${kind} ${n}`] = Math.min(best[`${kind} ${n}`] ?? Infinity, await run(n));
  }
}
await server.close();

const perToken = (kind) => (best[`${kind} ${lengths[1]}`] - best[`${kind} ${lengths[0]}`]) / (lengths[1] - lengths[0]);
console.log(`model: ${modelPath}, best of ${rounds} alternating rounds\n`);
console.log(`| | completion | chat | chat ÷ completion |\n| --- | --- | --- | --- |`);
for (const n of lengths) {
  const [c, h] = [best[`completion ${n}`], best[`chat ${n}`]];
  console.log(`| ${n} tokens, whole stream ms | ${c.toFixed(1)} | ${h.toFixed(1)} | ${(h / c).toFixed(2)} |`);
}
console.log(`| per token (slope ${lengths[0]}→${lengths[1]}) ms | ${perToken('completion').toFixed(3)} | ${perToken('chat').toFixed(3)} | ${(perToken('chat') / perToken('completion')).toFixed(2)} |`);
process.exit(0); // the registry's models close with the process
