// makeDirectory (lib/make-directory.ts): mkdir -p that cannot loop where Node's recursive mkdir does.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirectory } from '../../dist/make-directory.js';

test('makes missing parents, and is a no-op on a directory that exists', () => {
  const root = mkdtempSync(join(tmpdir(), 'shimmy-mkdir-'));
  const deep = join(root, 'a', 'b', 'c');
  makeDirectory(deep);
  assert.ok(statSync(deep).isDirectory());
  makeDirectory(deep);
  writeFileSync(join(root, 'file'), '');
  assert.throws(() => makeDirectory(join(root, 'file', 'x')), { code: 'ENOTDIR' });
});

// fs.mkdirSync('/proc/x', { recursive: true }) never returns (Node 20, 22 and 24).
test('a path under /proc is an error, not an endless loop', { skip: !existsSync('/proc/self') && 'no /proc here' }, () => {
  assert.throws(() => makeDirectory('/proc/shimmy-test/cache'), { code: 'ENOENT' });
});
