// The README's tables are what lib/ declares: request fields (the declarations) and error codes
// (the registry). `npm run docs:tables` rewrites them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { withTables } from '../../scripts/doc-tables.mjs';

test("the README's field and error tables are lib/'s", () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  assert.equal(withTables(readme), readme, 'run npm run docs:tables');
  assert.ok((readme.match(/<!-- fields:/g) ?? []).length >= 7);
  assert.equal((readme.match(/<!-- errors:/g) ?? []).length, 2);
});
