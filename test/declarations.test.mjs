// The request declarations drive what the server and the CLI do: every declared field of every
// route is checked by its declaration (a value of the wrong type, or out of its range, is a 400
// naming the field as the client spelled it), declared defaults reach the engine, and the
// README's field tables are what the declarations say.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { startServer } from '../dist/server/app.js';
import { generateRequestFields, websocketRequestFields } from '../dist/server/seed/request.js';
import { chatFields, completionFields, embeddingFields } from '../dist/server/openai/request.js';
import { fixtureModel, root } from './helpers/fixtures.mjs';

const hi = [{ role: 'user', content: 'Hi' }];
const routes = [
  { path: '/api/generate', schema: generateRequestFields, valid: { model: 'default', prompt: 'Once', max_tokens: 2 } },
  { path: '/v1/completions', schema: completionFields, valid: { model: 'default', prompt: 'Once', max_tokens: 2 } },
  { path: '/v1/chat/completions', schema: chatFields, valid: { model: 'default', messages: hi, max_tokens: 2 } },
  { path: '/v1/embeddings', schema: embeddingFields, valid: { model: 'default', input: 'Once' } },
];

/** A value each declared type refuses. */
function wrongValue(field) {
  switch (field.type) {
    case 'number':
    case 'integer':
      return 'x';
    case 'boolean':
      return 'yes';
    case 'string':
    case 'stop':
      return 5;
    case 'enum':
      return 'none of these';
    case 'object':
      return 'x';
    case 'array':
      return 'x';
    default:
      return {}; // an 'any' field's own check refuses an empty object
  }
}

describe('request declarations', () => {
  let server;
  let base;
  before(async () => {
    const registry = new ModelRegistry(discoverModels({ modelPath: fixtureModel(), env: {}, cwd: '/nonexistent', home: '/nonexistent' }), { parallel: 2, contextSize: 512 });
    server = await startServer({ host: '127.0.0.1', port: 0, registry, transport: 'node' });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  const post = (path, body) => fetch(base + path, { method: 'POST', body: JSON.stringify(body) });
  const refusal = async (path, body) => {
    const r = await post(path, body);
    const { error } = await r.json(); // the seed's error object, or OpenAI's
    return { status: r.status, message: error?.details ?? error?.message };
  };

  for (const { path, schema, valid } of routes) {
    test(`${path}: every declared field is checked by its declaration`, async () => {
      const ok = await post(path, valid);
      assert.equal(ok.status, 200, await ok.text());
      for (const field of Object.values(schema)) {
        for (const wire of field.wire ?? []) {
          if (wire === 'tool_choice') continue; // checked against the tools given, by renderChat
          const bad = [wrongValue(field)];
          if (field.min !== undefined) bad.push(field.min - 1);
          if (field.max !== undefined && (field.type === 'number' || field.type === 'integer')) bad.push(field.max + 1);
          for (const value of bad) {
            const { status, message } = await refusal(path, { ...valid, [wire]: value });
            assert.equal(status, 400, `${wire}: ${JSON.stringify(value)} was accepted`);
            assert.ok(message.includes(`'${wire}`), `${wire}: ${message}`);
          }
        }
        if (field.required) {
          const body = { ...valid };
          delete body[field.wire[0]];
          const { status, message } = await refusal(path, body);
          assert.equal(status, 400);
          assert.match(message, new RegExp(`'${field.wire[0]}' is required`));
        }
      }
    });
  }

  test("declared defaults reach the engine: /api/generate's max_tokens, OpenAI's none", async () => {
    const seed = await (await post('/api/generate', { model: 'default', prompt: 'Once', ignore_eos: true, temperature: 0 })).json();
    assert.equal(seed.usage.completion_tokens, generateRequestFields.maxTokens.default);
    assert.equal(completionFields.maxTokens.default, undefined);
  });

  test('a WebSocket message is checked by its declaration, a cancel too', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/generate`);
    await new Promise((resolve) => ws.once('open', resolve));
    const next = () => new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()))));
    for (const [message, wire] of [[{ model: 'default', prompt: 'x', id: {} }, 'id'], [{ model: 'default', prompt: 5 }, 'prompt'], [{ cancel: [] }, 'cancel'], [{ prompt: 'x' }, 'model']]) {
      ws.send(JSON.stringify(message));
      const frame = await next();
      assert.equal(frame.error?.code, 'invalid_request', JSON.stringify(frame));
      assert.ok(frame.error.details.includes(`'${wire}'`), frame.error.details);
    }
    assert.equal(websocketRequestFields.stream, undefined, 'a WebSocket request always streams');
    ws.close();
  });
});
