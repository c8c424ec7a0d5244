// mkdir -p without Node's recursive mkdirSync, which loops for ever, at full CPU and deaf to
// SIGTERM, where mkdir answers ENOENT under a parent that exists (anywhere under /proc: Node 20,
// 22 and 24 alike). The paths come from the environment (SHIMMY_CACHE_DIR, OLLAMA_MODELS, HF_HOME).
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `path` and its missing parents; throws mkdir's own error where one cannot be made. */
export function makeDirectory(path: string): void {
  const full = resolve(path);
  const missing: string[] = [];
  for (let p = full; ; p = dirname(p)) {
    try {
      statSync(p);
      break; // there: a directory, or a file that mkdir below refuses
    } catch {
      missing.push(p);
    }
    if (dirname(p) === p) break;
  }
  if (missing.length === 0 && !statSync(full).isDirectory()) mkdirSync(full); // throws EEXIST, as mkdir -p does
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (error) {
      // Made meanwhile by another process is fine; a file of that name is not.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(p).isDirectory()) throw error;
    }
  }
}
