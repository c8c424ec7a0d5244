// mkdir -p without Node's recursive mkdirSync, which loops for ever, at full CPU and deaf to
// SIGTERM, where mkdir answers ENOENT under a parent that exists (anywhere under /proc: Node 20,
// 22 and 24 alike). The paths come from the environment (SHIMMY_CACHE_DIR, OLLAMA_MODELS, HF_HOME).
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `path` and its missing parents; throws mkdir's own error where one cannot be made. */
export function makeDirectory(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      if (statSync(p).isDirectory()) break;
    } catch {
      // missing (or unreadable): made below, or mkdir says why not
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
