// A model file is checked before the server's (or the caller's) process hands it to llama.cpp,
// which aborts the process on some damaged files: first its header (lib/engine/gguf-check.ts),
// then a test load with one generated token in a child process. A file that passed is remembered
// by path, size and modification time (in memory and in the cache directory), so each file is
// test-loaded once; a failure is remembered for this process only. A model with LoRA adapters is
// test-loaded with them, and that pairing remembered as well.
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
/** By path (a model alone), or by the paths of a model and its adapters (then their fingerprint). */
type Cache = Record<string, { size: number; mtimeMs: number } | { fingerprint: string }>;

function readCache(): Cache {
  try {
    return JSON.parse(readFileSync(cacheFile(), 'utf8')) as Cache;
  } catch {
    return {};
  }
}

function remember(key: string, entry: Cache[string]): void {
  try {
    const cache = readCache();
    cache[key] = entry;
    makeDirectory(cacheDir());
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(cache));
    renameSync(tmp, cacheFile());
  } catch {
    // An unwritable cache only means the file is test-loaded again next time.
  }
}

/**
 * Loads `path` (with `adapters`, or with the projector `mmproj`) and generates a token in a child
 * process (about an image, with a projector); rejects with invalid_model if that fails or crashes.
 */
export function testLoad(path: string, adapters: string[] = [], mmproj?: string): Promise<void> {
  return new Promise((done, fail) => {
    execFile(process.execPath, [childScript, path, ...adapters, ...(mmproj ? [`--mmproj=${mmproj}`] : [])], { maxBuffer: 1 << 20 }, (error, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let report: { ok?: boolean; error?: string } = {};
      try {
        report = JSON.parse(line);
      } catch {
        // no report: the child died
      }
      if (report.ok) return done();
      const companion = mmproj ? ` with the projector '${mmproj}'` : adapters.length > 0 ? ' with its LoRA adapters' : '';
      const why = report.error ?? `llama.cpp crashed loading it${companion} (${(error as { signal?: string } | null)?.signal ?? `exit ${(error as { code?: number } | null)?.code}`})`;
      fail(new ShimmyError('invalid_model', `'${path}' cannot be loaded: ${why}`));
    });
  });
}

/**
 * Resolves when `path` (with `adapters`, checked as adapter files already, or with the projector
 * `mmproj`) is safe to load in this process; rejects with invalid_model otherwise.
 */
export function checkModelFile(path: string, adapters: string[] = [], mmproj?: string): Promise<void> {
  const full = resolve(path);
  const { size, mtimeMs } = statSync(full);
  const projector = mmproj === undefined ? undefined : resolve(mmproj);
  const parts = [...adapters.map((a) => resolve(a)), ...(projector ? [projector] : [])];
  const stamp = (file: string) => {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  };
  const fingerprint = [full, ...parts].map(stamp).join('/');
  const cacheKey = parts.length === 0 ? full : [full, ...parts].join('\u0000');
  const key = `${cacheKey}\u0000${fingerprint}`;
  let check = checks.get(key);
  if (!check) {
    const problem = ggufProblem(full) ?? (projector && ggufProblem(projector));
    const cached = readCache()[cacheKey];
    const known = parts.length === 0
      ? cached && 'size' in cached && cached.size === size && cached.mtimeMs === mtimeMs
      : cached && 'fingerprint' in cached && cached.fingerprint === fingerprint;
    if (problem) check = Promise.reject(new ShimmyError('invalid_model', `'${path}' cannot be loaded: ${problem}`));
    else if (known) check = Promise.resolve();
    else check = testLoad(full, projector ? [] : parts, projector).then(() => remember(cacheKey, parts.length === 0 ? { size, mtimeMs } : { fingerprint }));
    check.catch(() => {});
    checks.set(key, check);
  }
  return check;
}
