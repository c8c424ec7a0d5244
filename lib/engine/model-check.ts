// A model file is checked before the server's (or the caller's) process hands it to llama.cpp,
// which aborts the process on some damaged files: first its header (lib/engine/gguf-check.ts),
// then a test load with one generated token in a child process. A file that passed is remembered
// by path, size and modification time (in memory and in the cache directory), so each file is
// test-loaded once; a failure is remembered for this process only.
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ggufProblem } from './gguf-check.js';
import { ShimmyError } from './errors.js';
import { makeDirectory } from '../make-directory.js';

const childScript = join(dirname(fileURLToPath(import.meta.url)), 'model-check-child.js');
const checks = new Map<string, Promise<void>>();

export function cacheDir(): string {
  return process.env.SHIMMY_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'shimmy');
}

const cacheFile = () => join(cacheDir(), 'checked-models.json');
type Cache = Record<string, { size: number; mtimeMs: number }>;

function readCache(): Cache {
  try {
    return JSON.parse(readFileSync(cacheFile(), 'utf8')) as Cache;
  } catch {
    return {};
  }
}

function remember(path: string, size: number, mtimeMs: number): void {
  try {
    const cache = readCache();
    cache[path] = { size, mtimeMs };
    makeDirectory(cacheDir());
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(cache));
    renameSync(tmp, cacheFile());
  } catch {
    // An unwritable cache only means the file is test-loaded again next time.
  }
}

/** Loads `path` and generates a token in a child process; rejects with invalid_model if that fails or crashes. */
export function testLoad(path: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile(process.execPath, [childScript, path], { maxBuffer: 1 << 20 }, (error, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let report: { ok?: boolean; error?: string } = {};
      try {
        report = JSON.parse(line);
      } catch {
        // no report: the child died
      }
      if (report.ok) return done();
      const why = report.error ?? `llama.cpp crashed loading it (${(error as { signal?: string } | null)?.signal ?? `exit ${(error as { code?: number } | null)?.code}`})`;
      fail(new ShimmyError('invalid_model', `'${path}' cannot be loaded: ${why}`));
    });
  });
}

/** Resolves when `path` is safe to load in this process; rejects with invalid_model otherwise. */
export function checkModelFile(path: string): Promise<void> {
  const full = resolve(path);
  const { size, mtimeMs } = statSync(full);
  const key = `${full}\u0000${size}\u0000${mtimeMs}`;
  let check = checks.get(key);
  if (!check) {
    const problem = ggufProblem(full);
    const cached = readCache()[full];
    if (problem) check = Promise.reject(new ShimmyError('invalid_model', `'${path}' cannot be loaded: ${problem}`));
    else if (cached && cached.size === size && cached.mtimeMs === mtimeMs) check = Promise.resolve();
    else check = testLoad(full).then(() => remember(full, size, mtimeMs));
    check.catch(() => {});
    checks.set(key, check);
  }
  return check;
}
