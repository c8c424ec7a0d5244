// makeDirectory (lib/make-directory.ts): mkdir -p that cannot loop where Node's recursive mkdir does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
  assert.throws(() => makeDirectory(join(root, 'file')), { code: 'EEXIST' });
});

// fs.mkdirSync('/proc/x', { recursive: true }) never returns (Node 20, 22 and 24): tried in a child
// with a timeout, so a regression fails this test rather than hang the runner.
test('a path under /proc is an error, not an endless loop', { skip: !existsSync('/proc/self') && 'no /proc here' }, () => {
  const script = `import('${new URL('../../dist/make-directory.js', import.meta.url)}').then(({ makeDirectory }) => { try { makeDirectory('/proc/shimmy-test/cache'); } catch (e) { console.log(e.code ? 'refused' : e.message); } })`;
  assert.equal(execFileSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' }).trim(), 'refused');
});
