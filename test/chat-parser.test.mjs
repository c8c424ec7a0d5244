// The incremental chat reply parser against llama.cpp's whole-reply parser, on real chat
// templates: random replies made of each template's own markers, JSON, words, whitespace and
// cut-off pieces, streamed piece by piece. Every update's deltas and the final message must be
// the same either way; and no reply, however malformed, may bring the process down.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModel, native } from '../dist/index.js';
import { fixtureModel, mulberry32, root } from './helpers/fixtures.mjs';

const templates = [
  'Qwen-Qwen3-0.6B', // reasoning in <think>, Hermes-style tool calls
  'Qwen-Qwen2.5-7B-Instruct',
  'deepseek-ai-DeepSeek-R1-Distill-Llama-8B',
  'meta-llama-Llama-3.1-8B-Instruct',
  'mistralai-Mistral-Nemo-Instruct-2407',
  'Apertus-8B-Instruct', // its re-parse once read streamed text differently, and crashed the process
  'openai-gpt-oss-120b', // channels: parsed whole at every update
];
const weather = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const generic = ['<think>', '</think>', '<tool_call>', '</tool_call>', '{"name": "get_weather", "arguments": {"city": "Paris"}}', '{', '}', '"', ':', ',', ' ', '\n', '\n\n', ' word', 'Hello', ' the', 'é', '日本', '<', '</', '[', ']', 'get_weather', 'city', '=', '>', '|'];
// Tool call ids are random per parser.
const withoutIds = (json) => JSON.stringify(JSON.parse(json), (key, value) => (key === 'id' ? undefined : value));

describe('the incremental reply parser', () => {
  for (const template of templates) {
    test(`${template}: the same deltas and message as parsing the whole reply each time`, async () => {
      const source = readFileSync(join(root, 'vendor', 'llama.cpp', 'models', 'templates', `${template}.jinja`), 'utf8');
      const markers = source.match(/<[^<>\s'"{}]{1,40}>|\[[A-Z_]{3,}\]|<\|[^|]{1,30}\|>|<｜[^｜]{1,30}｜>/g) ?? [];
      const pool = [...new Set([...markers, ...generic])];
      const model = await loadModel(fixtureModel('q8_0', 'llama-spm', template), { contextSize: 256, parallel: 1 });
      try {
        for (const tools of [undefined, weather]) {
          const chat = await model.renderChat({ messages: [{ role: 'user', content: 'Hi' }], tools });
          const random = mulberry32(7);
          for (let reply = 0; reply < 150; reply++) {
            const incremental = new (native().ChatParser)(chat);
            const whole = new (native().ChatParser)(chat, { incremental: false });
            const pieces = [];
            for (let i = 1 + Math.floor(random() * 40); i > 0; i--) {
              let piece = pool[Math.floor(random() * pool.length)];
              if (random() < 0.2 && piece.length > 1) {
                const cut = 1 + Math.floor(random() * (piece.length - 1));
                piece = random() < 0.5 ? piece.slice(0, cut) : piece.slice(cut);
              }
              pieces.push(piece);
              assert.equal(withoutIds(incremental.update(piece, true)), withoutIds(whole.update(piece, true)), JSON.stringify(pieces));
            }
            assert.equal(withoutIds(incremental.update('', false)), withoutIds(whole.update('', false)), JSON.stringify(pieces));
          }
        }
      } finally {
        await model.close();
      }
    });
  }
});
