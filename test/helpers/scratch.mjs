// Folders the tests write into, removed when the test process exits, passed or failed. The damaged
// model corpus alone is half a gigabyte a run, and a CI machine's disk is shared: left behind, a
// few dozen runs filled it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder under the system's temporary folder, named `shimmy-<purpose>-XXXXXX`. */
export function scratchDir(purpose) {
  const dir = mkdtempSync(join(tmpdir(), `shimmy-${purpose}-`));
  made.push(dir);
  return dir;
}
