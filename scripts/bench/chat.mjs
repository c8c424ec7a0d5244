#!/usr/bin/env node
// npm run bench:chat — what the chat path costs per token over the completion path: a user message
// streamed through /v1/chat/completions (rendered by the model's template, the reply parsed by its
// chat format as it grows), through Anthropic's /v1/messages and OpenAI's /v1/responses (the same
// chat, in their events), Ollama's /api/chat (NDJSON), and the same rendered prompt through
// /v1/completions, greedy,
// ignore EOS, 1,800 tokens, on `shimmy serve`'s node transport. Per token near the reply's start
// is the time between the arrival of tokens 2 and 302, divided by 300; near 1,800 tokens, that
// of tokens 1,490 to 1,790; the whole stream includes each request's fixed costs (render, the
// template's longer prompt). Best of --rounds, alternating.
//   --model PATH (default: stories260K)   --rounds 4
import { join, resolve } from 'node:path';
import { discoverModels } from '../../dist/models/discovery.js';
import { ModelRegistry } from '../../dist/models/registry.js';
import { startServer } from '../../dist/server/app.js';
import { arg } from './args.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const modelPath = arg('model', process.env.SHIMMY_TEST_MODEL ?? join(root, '..', 'shared', 'models', 'stories260K.gguf'));
const rounds = Number(arg('rounds', 4));

const discovery = discoverModels({ modelPath, env: {}, cwd: '/nonexistent', home: '/nonexistent' });
const registry = new ModelRegistry(discovery, { parallel: 1, contextSize: 2200 });
const server = await startServer({ host: '127.0.0.1', port: 0, registry, transport: 'node' });
const base = `http://127.0.0.1:${server.port}`;

/** The whole stream's milliseconds, and those between the arrivals of the tokens in each window. */
async function streamed(route, body) {
  const t0 = performance.now();
  const res = await fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', stream: true, temperature: 0, ignore_eos: true, ...body }),
  });
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
  const arrivals = []; // one per event that carries text
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body) {
    const now = performance.now();
    pending += decoder.decode(chunk, { stream: true });
    const events = pending.split(route === '/api/chat' ? '\n' : '\n\n');
    pending = events.pop();
    // SSE events end in a blank line, Ollama's NDJSON lines in a newline.
    for (const e of events) if (/"(content|text|delta)":"[^"]/.test(e)) arrivals.push(now);
  }
  const window = ([from, to]) => (arrivals[to - 1] - arrivals[from - 1]) / (to - from);
  return { whole: performance.now() - t0, start: window(windows.start), end: window(windows.end), tokens: arrivals.length };
}

const tokens = 1800;
const windows = { start: [2, 302], end: [1490, 1790] }; // in text events: a token or two may bring no text
const messages = [{ role: 'user', content: 'Once upon a time' }];
// The completion gets the chat's rendered prompt, so both decode over the same context.
const prompt = await registry.use('default', (model) => model.applyChatTemplate(messages));
const kinds = {
  completion: () => streamed('/v1/completions', { prompt, max_tokens: tokens }),
  chat: () => streamed('/v1/chat/completions', { messages, max_tokens: tokens }),
  messages: () => streamed('/v1/messages', { messages, max_tokens: tokens }),
  responses: () => streamed('/v1/responses', { input: messages, max_output_tokens: tokens, store: false }),
  ollama: () => streamed('/api/chat', { messages, options: { num_predict: tokens, temperature: 0 } }),
};
const best = Object.fromEntries(Object.keys(kinds).map((kind) => [kind, {}]));
for (let r = 0; r < rounds; r++) {
  for (const [kind, run] of Object.entries(kinds)) {
    const m = await run();
    if (m.tokens < windows.end[1]) throw new Error(`${kind}: ${m.tokens} text events, fewer than ${windows.end[1]}`);
    for (const key of ['whole', 'start', 'end']) best[kind][key] = Math.min(best[kind][key] ?? Infinity, m[key]);
  }
}
await server.close();

console.log(`model: ${modelPath}, best of ${rounds} alternating rounds\n`);
console.log(`| | completion | chat | messages | responses | ollama | chat ÷ completion | messages ÷ chat | responses ÷ chat | ollama ÷ chat |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
const rows = { start: `ms per token, tokens ${windows.start.join('–')}`, end: `ms per token, tokens ${windows.end.join('–')}`, whole: `whole ${tokens}-token stream, ms` };
for (const [key, label] of Object.entries(rows)) {
  const [c, h, m, r, o] = ['completion', 'chat', 'messages', 'responses', 'ollama'].map((kind) => best[kind][key]);
  const ms = (v) => v.toFixed(key === 'whole' ? 1 : 3);
  console.log(`| ${label} | ${ms(c)} | ${ms(h)} | ${ms(m)} | ${ms(r)} | ${ms(o)} | ${(h / c).toFixed(2)} | ${(m / h).toFixed(2)} | ${(r / h).toFixed(2)} | ${(o / h).toFixed(2)} |`);
}
process.exit(0); // the registry's models close with the process
