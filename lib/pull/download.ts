// One file fetched to disk the way a person can trust: into `<dest>.partial`, continued with
// `Range` after a dropped connection or Ctrl-C (a server that ignores Range starts it over
// cleanly), checked against its sha256 when the source gives one, and renamed to `dest` only
// when whole, so a failed download never leaves something discovery would load. Two downloads of
// one file in this process share one transfer.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, renameSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { PullError } from './errors.js';
import { fetchHops } from './fetch-hops.js';
import { makeDirectory } from '../make-directory.js';

export interface Progress {
  /** Bytes on disk so far (never goes backwards within one download, except when a server forces a restart). */
  completed: number;
  /** The file's size, once known. */
  total: number | undefined;
}

export interface DownloadRequest {
  url: string;
  dest: string;
  headers?: Record<string, string>;
  /** Hex sha256 the whole file must have. */
  sha256?: string;
  /** The size the source declared (a manifest's), checked before and after. */
  size?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** How long the server may send nothing before the transfer is given up (the partial file stays). */
  stallMs?: number;
}

/** A server that sends nothing for this long has stalled: the pull fails, and the next one continues. */
export const DEFAULT_STALL_MS = 60_000;

/** An AbortSignal that fires when `signal` does or when `touch()` is not called for `ms`. */
export function stallGuard(ms: number, signal?: AbortSignal) {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`nothing arrived for ${ms / 1000} s`)), ms);
    timer.unref?.();
  };
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  touch();
  return {
    signal: controller.signal,
    touch,
    /** Whether the stall (not the caller) stopped it. */
    get stalled() {
      return controller.signal.aborted && !signal?.aborted;
    },
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

const active = new Map<string, Promise<void>>();

/** Downloads `request.url` to `request.dest` (see the file's head); resolves once it is there and verified. */
export function download(request: DownloadRequest): Promise<void> {
  const running = active.get(request.dest);
  if (running) return running;
  const job = fetchToFile(request).finally(() => active.delete(request.dest));
  active.set(request.dest, job);
  return job;
}

async function hashOf(path: string): Promise<ReturnType<typeof createHash>> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

/** Refuses a download that cannot fit, before any byte of it is written. */
export function checkSpace(dir: string, bytes: number): void {
  makeDirectory(dir);
  const free = freeBytes(dir);
  if (bytes > free) throw new PullError('no_space', `${bytes.toLocaleString('en')} bytes are needed in ${dir} and ${free.toLocaleString('en')} are free`);
}

async function fetchToFile(request: DownloadRequest): Promise<void> {
  const guard = stallGuard(request.stallMs ?? DEFAULT_STALL_MS, request.signal);
  try {
    await transfer(request, guard);
  } finally {
    guard.done();
  }
}

// What a Content-Range header names: "bytes START-END/TOTAL", or an asterisk and the total.
function contentRange(response: Response): { start?: number; total?: number } {
  const m = /^bytes (?:(\d+)-\d+|\*)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  return m ? { start: m[1] === undefined ? undefined : Number(m[1]), total: Number(m[2]) } : {};
}

/** Free bytes where `dir` is. */
function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
}

async function transfer(request: DownloadRequest, guard: ReturnType<typeof stallGuard>): Promise<void> {
  const { url, dest, sha256, size, onProgress } = request;
  const signal = guard.signal;
  const partial = `${dest}.partial`;
  makeDirectory(dirname(dest));
  let have = existsSync(partial) ? statSync(partial).size : 0;
  if (size !== undefined && have > size) {
    unlinkSync(partial); // longer than the file can be: not a prefix of it
    have = 0;
  }
  if (size !== undefined) checkSpace(dirname(dest), size - have);
  // Hashed before the request, so a long partial file is not taken for a silent server.
  const resumedHash = have > 0 ? await hashOf(partial) : undefined;
  guard.touch();
  const headers: Record<string, string> = { ...request.headers, ...(have > 0 ? { Range: `bytes=${have}-` } : {}) };
  let response: Response;
  try {
    response = await fetchHops(url, { headers, signal });
  } catch (error) {
    if (error instanceof PullError) throw error;
    throw new PullError(signal.aborted && !guard.stalled ? 'aborted' : 'network', `${url}: ${guard.stalled ? 'the server did not answer' : (error as Error).message}`);
  }
  const refuse = async (error: PullError) => {
    await response.body?.cancel().catch(() => {});
    throw error;
  };
  const whole = response.status === 416 && have > 0 && (size ?? contentRange(response).total) === have;
  if (whole) {
    // The partial file is already whole (a pull stopped before its rename): only check it.
    await response.body?.cancel().catch(() => {});
    if (sha256 !== undefined && resumedHash!.digest('hex') !== sha256.toLowerCase()) {
      unlinkSync(partial);
      throw new PullError('corrupt', `${url}: the downloaded bytes do not have the expected sha256; pull again`);
    }
    renameSync(partial, dest);
    return;
  }
  if (response.status === 404) return refuse(new PullError('not_found', `${url}: 404 not found`));
  if (response.status === 401 || response.status === 403) return refuse(new PullError('unauthorized', `${url}: ${response.status} (a private or gated file: set HF_TOKEN)`));
  if (response.status !== 200 && response.status !== 206) return refuse(new PullError('network', `${url}: HTTP ${response.status}`));
  // A 206 continues the partial file only from where it ends; anything else starts it over.
  const resume = response.status === 206 && have > 0 && contentRange(response).start === have;
  if (response.status === 206 && !resume) return refuse(new PullError('network', `${url}: the server sent a range that does not continue the partial file; pull again`));
  if (!resume) have = 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = size ?? (Number.isFinite(length) ? have + length : undefined);
  if (total !== undefined && size === undefined) checkSpace(dirname(dest), total - have);
  // Without a size, the disk's free space is the cap: an endless body fails instead of filling it.
  const cap = total ?? have + freeBytes(dirname(dest));
  const hash = resume ? resumedHash! : createHash('sha256');
  const out = createWriteStream(partial, { flags: resume ? 'a' : 'w' });
  let writeError: Error | undefined;
  out.on('error', (error) => (writeError = error));
  let completed = have;
  onProgress?.({ completed, total });
  try {
    for await (const chunk of response.body ?? []) {
      guard.touch();
      if (writeError) throw writeError;
      const bytes = chunk as Uint8Array;
      hash.update(bytes);
      completed += bytes.byteLength;
      if (completed > cap) throw new PullError(total === undefined ? 'no_space' : 'corrupt', total === undefined ? `${url} sent more than the disk has room for` : `${url} sent more than its ${total} bytes`);
      if (!out.write(bytes)) {
        await new Promise<void>((resolve) => {
          out.once('drain', resolve);
          out.once('error', () => resolve());
        });
      }
      onProgress?.({ completed, total });
    }
    if (writeError) throw writeError;
  } catch (error) {
    await new Promise<void>((r) => out.end(() => r()));
    if (error instanceof PullError) throw error;
    if (error === writeError) throw new PullError('no_space', `${partial}: ${(error as Error).message}`);
    // The partial file stays: the next pull continues it.
    const why = guard.stalled ? `the server sent nothing for ${(request.stallMs ?? DEFAULT_STALL_MS) / 1000} s` : (error as Error).message;
    throw new PullError(signal.aborted && !guard.stalled ? 'aborted' : 'network', `${url}: the transfer stopped at ${completed.toLocaleString('en')} bytes (${why}); pull again to continue`);
  }
  try {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    throw new PullError('no_space', `${partial}: ${(error as Error).message}`);
  }
  if (total !== undefined && completed !== total) throw new PullError('network', `${url}: got ${completed} of ${total} bytes; pull again to continue`);
  if (sha256 !== undefined && hash.digest('hex') !== sha256.toLowerCase()) {
    unlinkSync(partial); // wrong bytes cannot be continued
    throw new PullError('corrupt', `${url}: the bytes do not have the expected sha256 ${sha256}`);
  }
  renameSync(partial, dest);
}
