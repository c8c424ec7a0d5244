// The pure parts of `shimmy pull`: which addresses a redirect may not lead to, which files of a
// Hugging Face repo are fetched for a quantization, and Ollama's durations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../dist/models/duration.js';
import { isInternal } from '../../dist/internal-address.js';
import { chooseFiles } from '../../dist/pull/pull.js';

test('internal addresses: loopback, private, link-local (the cloud metadata address), unique-local', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '224.0.0.1', '255.255.255.255', 'ff02::1', '::ffff:a9fe:a9fe', '::ffff:7f00:1', '64:ff9b::a9fe:a9fe', 'febf::1', 'fe80::1%eth0', '::7f00:1', '198.18.0.1', '192.0.0.8', 'fec0::1', '2002:7f00:1::', '2002:a9fe:a9fe::1']) assert.ok(isInternal(a), a);
  for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '1.1.1.1', '2606:4700::1111', '::ffff:808:808', '2001:db8::1', '64:ff9b::808:808', '2002:808:808::1', '198.20.0.1'])  assert.ok(!isInternal(a), a);
});

test("files for a quant: Q4_K_M when none is named, every split part, the mmproj beside it", () => {
  const files = ['README.md', 'm-Q8_0.gguf', 'm-Q4_K_M-00001-of-00002.gguf', 'm-Q4_K_M-00002-of-00002.gguf', 'mmproj-m-f16.gguf'];
  assert.deepEqual(chooseFiles(files, undefined, 'o/r'), ['m-Q4_K_M-00001-of-00002.gguf', 'm-Q4_K_M-00002-of-00002.gguf', 'mmproj-m-f16.gguf']);
  assert.deepEqual(chooseFiles(files, 'q8_0', 'o/r'), ['m-Q8_0.gguf', 'mmproj-m-f16.gguf']);
  assert.deepEqual(chooseFiles(['only-F16.gguf'], undefined, 'o/r'), ['only-F16.gguf'], 'no Q4_K_M: the first GGUF');
  assert.throws(() => chooseFiles(files, 'Q2_K', 'o/r'), { code: 'not_found' });
  assert.throws(() => chooseFiles(['README.md'], undefined, 'o/r'), { code: 'not_found' });
});

test("Ollama's durations", () => {
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration(10), 10_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration(-1), -1);
  assert.equal(parseDuration('-5m'), -1);
  assert.equal(parseDuration(1e13), -1, "past Node's longest timer: forever");
  for (const bad of ['forever', '5x', '', '5m5', {}, null, 'm'.repeat(40)]) assert.throws(() => parseDuration(bad), /duration/, String(bad));
});
