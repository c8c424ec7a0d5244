#!/usr/bin/env node
// npm run bench:parser — the chat reply parser's cost per streamed token, near the start of a
// reply and after 1,800 tokens, for three kinds of chat format: one without markers (ChatML, the
// fallback: passed through without parsing), Qwen2.5 with tools offered (tool-call markers), and
// Qwen3 (reasoning in <think>); against parsing the whole reply at every token, as llama-server
// does (the native parser with `incremental: false`). Each token is a ' word' piece, as a model
// streams it; each figure is the best of 5 runs of 200 pieces pushed after `length` pieces.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModel, native, ReplyParser } from '../../dist/index.js';
import { makeFixtureModel } from '../make-fixture-model.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const work = join(root, 'bench', '.work');
mkdirSync(work, { recursive: true });

function fixture(name, options) {
  const path = join(work, `${name}.gguf`);
  if (!existsSync(path)) makeFixtureModel(path, { preset: 'tiny', type: 'q8_0', ...options });
  return path;
}

const hi = [{ role: 'user', content: 'Hi' }];
const weather = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const formats = [
  { label: 'no markers (ChatML fallback)', path: fixture('tiny-spm', {}), request: { messages: hi }, opening: '' },
  { label: 'Qwen2.5, tools offered', path: fixture('tiny-qwen2.5-tools', { vocab: 'qwen2', template: 'Qwen-Qwen2.5-7B-Instruct', extraTokens: ['<tool_call>', '</tool_call>'] }), request: { messages: hi, tools: weather }, opening: '' },
  { label: 'Qwen3, reasoning', path: fixture('tiny-qwen3', { vocab: 'qwen2', template: 'Qwen-Qwen3-0.6B', extraTokens: ['<think>', '</think>'] }), request: { messages: hi }, opening: '<think>\n' },
];

const lengths = [50, 1800];
const measured = 200;

// What each update costs a caller: the shipped ReplyParser, or the whole-reply parse (its deltas
// decoded as ReplyParser decodes them).
const parsers = {
  shipped: (chat) => new ReplyParser(chat),
  whole: (chat) => {
    const parser = new (native().ChatParser)(chat, { incremental: false });
    return { push: (text) => JSON.parse(parser.update(text, true)).diffs, finish: () => JSON.parse(parser.update('', false)) };
  },
};

function perToken(make, chat, opening, length) {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const parser = make(chat);
    if (opening) parser.push(opening);
    for (let i = 0; i < length; i++) parser.push(' word');
    const start = process.hrtime.bigint();
    for (let i = 0; i < measured; i++) parser.push(' word');
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / measured);
    parser.finish();
  }
  return best;
}

console.log(`Node ${process.version}\n`);
const at = lengths.join(' / ');
console.log(`| format | parsed | shimmy µs per token at ${at} tokens | ratio | whole reply parsed each token, µs at ${at} | ratio |`);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const f of formats) {
  const model = await loadModel(f.path, { contextSize: 256, parallel: 1 });
  try {
    const chat = await model.renderChat(f.request);
    const cells = Object.values(parsers).map((make) => {
      const costs = lengths.map((l) => perToken(make, chat, f.opening, l));
      return `${costs.map((c) => c.toFixed(2)).join(' / ')} | ${(costs[1] / costs[0]).toFixed(1)}`;
    });
    console.log(`| ${f.label} (${chat.format}) | ${chat.contentOnly ? 'no' : 'yes'} | ${cells.join(' | ')} |`);
  } finally {
    await model.close();
  }
}
