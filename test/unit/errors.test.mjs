// The error registry (lib/engine/errors.ts) against native/napi/error_codes.h, and the wire bodies made from it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { errorRegistry, ShimmyError, toShimmyError } from '../../dist/engine/errors.js';
import { errorBody, HttpError, headersOf, openAiErrorBody, statusOf } from '../../dist/server/errors.js';

const root = join(import.meta.dirname, '..', '..');

describe('error registry', () => {
  test('native/napi/error_codes.h raises exactly the library codes the registry lists, apart from model_not_found (raised in TypeScript)', () => {
    const header = readFileSync(join(root, 'native', 'napi', 'error_codes.h'), 'utf8');
    const native = [...header.matchAll(/return "([a-z_]+)";/g)].map((m) => m[1]).filter((c, i, all) => all.indexOf(c) === i);
    const library = Object.entries(errorRegistry).filter(([, e]) => e.raisedBy === 'library').map(([code]) => code);
    for (const code of native) assert.ok(library.includes(code), `${code} is raised natively but is not a library code in the registry`);
    for (const code of library) assert.ok(native.includes(code) || code === 'model_not_found', `${code} is in the registry but native/napi/error_codes.h cannot raise it`);
  });

  test('every code is sent as a code the seed error object carries, with a title', () => {
    for (const [code, entry] of Object.entries(errorRegistry)) {
      const sent = entry.sentAs ?? code;
      assert.ok(errorRegistry[sent], `${code} is sent as unknown ${sent}`);
      assert.equal(errorRegistry[sent].sentAs, undefined, `${code} is sent as ${sent}, which is itself sent as another`);
      assert.ok(errorRegistry[sent].title, `${sent} has no title`);
      assert.equal(errorRegistry[sent].status, entry.status, `${code} and ${sent} differ in status`);
    }
  });

  test('the seed body, the OpenAI body, status and Retry-After come from the registry', () => {
    const e = new ShimmyError('context_overflow', 'the prompt is too long');
    assert.deepEqual(errorBody(e), { error: { code: 'invalid_request', message: 'Request format is invalid', details: 'the prompt is too long' } });
    assert.deepEqual(openAiErrorBody(e), { error: { message: 'the prompt is too long', type: 'invalid_request_error', param: null, code: 'invalid_request' } });
    assert.equal(statusOf(e), 400);
    const busy = new ShimmyError('queue_full', 'busy');
    assert.equal(statusOf(busy), 503);
    assert.deepEqual(headersOf(busy), { 'Retry-After': '1' });
    const unauthorized = new HttpError('unauthorized', 'no key');
    assert.ok(unauthorized instanceof ShimmyError);
    assert.equal(openAiErrorBody(unauthorized).error.type, 'authentication_error');
  });

  test('native errors become ShimmyError by their code, and a wrong-typed call a TypeError', () => {
    const coded = Object.assign(new Error('x'), { code: 'queue_full' });
    assert.equal(toShimmyError(coded).code, 'queue_full');
    assert.equal(toShimmyError(new Error('y'), 'invalid_model').code, 'invalid_model');
    const bug = toShimmyError(Object.assign(new Error('submit(id: number…)'), { code: 'invalid_argument' }));
    assert.ok(bug instanceof TypeError);
    assert.equal(bug.code, 'invalid_argument');
  });
});
