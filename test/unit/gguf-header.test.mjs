// The GGUF header walker on headers written here: values of each type, arrays skipped or read,
// and truncated or hostile headers refused with an error, never a hang or a huge allocation.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isGguf, readGgufHeader, walkGgufHeader } from '../../dist/engine/gguf-header.js';

const dir = mkdtempSync(join(tmpdir(), 'shimmy-gguf-'));
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const str = (s) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);

/** A GGUF v3 header with these key/values ([key, type, payload bytes]). */
function header(kvs, kvCount = kvs.length) {
  return Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(kvCount), ...kvs.flatMap(([k, type, payload]) => [str(k), u32(type), payload])]);
}

function file(name, bytes) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

test('scalars and strings are read; arrays are skipped, or handed over when they hold strings', () => {
  const path = file('ok.gguf', header([
    ['general.architecture', 8, str('llama')],
    ['llama.context_length', 4, u32(2048)],
    ['general.file_type', 5, u32(2)],
    ['tokenizer.ggml.scores', 9, Buffer.concat([u32(6), u64(3), Buffer.alloc(12)])],
    ['tokenizer.ggml.tokens', 9, Buffer.concat([u32(8), u64(2), str('a'), str('bc')])],
    ['general.big', 10, u64(1n << 40n)],
    ['general.flag', 7, Buffer.from([1])],
  ]));
  assert.equal(isGguf(path), true);
  const h = readGgufHeader(path);
  assert.equal(h.get('general.architecture'), 'llama');
  assert.equal(h.get('llama.context_length'), 2048);
  assert.equal(h.get('general.big'), 1n << 40n);
  assert.equal(h.get('general.flag'), true);
  assert.equal(h.has('tokenizer.ggml.scores'), false);
  const arrays = {};
  walkGgufHeader(path, () => {}, (key, values) => (arrays[key] = values));
  assert.deepEqual(arrays, { 'tokenizer.ggml.tokens': ['a', 'bc'] });
});

test('truncated, foreign and hostile headers are refused', () => {
  assert.equal(isGguf(file('text.gguf', 'not a model')), false);
  assert.throws(() => readGgufHeader(file('foreign.gguf', Buffer.alloc(64))), /not a GGUF/);
  const whole = header([['general.name', 8, str('x'.repeat(100))]]);
  assert.throws(() => readGgufHeader(file('cut.gguf', whole.subarray(0, whole.length - 10))), /truncated/);
  assert.throws(() => readGgufHeader(file('count.gguf', header([], 1 << 30))), /implausible key\/value count/);
  assert.throws(() => readGgufHeader(file('len.gguf', header([['k', 8, u64(1n << 40n)]]))), /implausible string length/);
  assert.throws(() => readGgufHeader(file('type.gguf', header([['k', 99, u32(0)]]))), /unknown GGUF value type/);
});
