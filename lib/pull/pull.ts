// `shimmy pull SOURCE`: fetches a model into the store discovery already reads, so every listing
// has it at once: Hugging Face repos into the hub cache's layout (blobs/<sha256>,
// snapshots/<commit>/<file> → ../../blobs/…, refs/main), Ollama registry names into Ollama's
// store (blobs/sha256-…, manifests/<host>/<namespace>/<name>/<tag>), URLs into ./models. Every
// file is verified (Ollama's digests; Hugging Face's LFS sha256) and appears only when whole.
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { isGguf } from '../engine/gguf-header.js';
import { huggingFaceHub, ollamaStore } from '../models/discovery.js';
import { checkSpace, DEFAULT_STALL_MS, download, stallGuard, type Progress } from './download.js';
import { PullError } from './errors.js';
import { fetchHops } from './fetch-hops.js';
import { parseSource, type Source } from './source.js';
import { makeDirectory } from '../make-directory.js';

/** One progress report, in the shape Ollama's /api/pull streams. */
export interface PullStatus {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface PullOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  cwd?: string;
  /** Plain http for an Ollama registry or a URL. */
  insecure?: boolean;
  /** Make no request: succeed only when the model is already complete here. */
  offline?: boolean;
  onStatus?: (status: PullStatus) => void;
  signal?: AbortSignal;
  /** How long a host may send nothing before the pull fails (default DEFAULT_STALL_MS: 60 s). */
  stallMs?: number;
}

export interface PullResult {
  /** The name discovery lists it under. */
  id: string;
  /** The model file (the first part of a split one). */
  path: string;
  /** Whether anything was downloaded (false: it was complete already). */
  downloaded: boolean;
}

/** The largest manifest or repo listing read (a hostile server could send an endless one). */
const MAX_LISTING_BYTES = 4 << 20;

/** A listing (manifest, repo revision), which must arrive whole within the stall limit. */
async function readJson(url: string, headers: Record<string, string>, options: PullOptions): Promise<unknown> {
  const guard = stallGuard(options.stallMs ?? DEFAULT_STALL_MS, options.signal);
  try {
    return await readJsonGuarded(url, { headers, signal: guard.signal }, guard);
  } finally {
    guard.done();
  }
}

async function readJsonGuarded(url: string, init: RequestInit, guard: ReturnType<typeof stallGuard>): Promise<unknown> {
  let response: Response;
  let text: string;
  try {
    response = await fetchHops(url, init as RequestInit & { headers: Record<string, string> });
  } catch (error) {
    if (error instanceof PullError) throw error;
    throw new PullError('network', `${url}: ${guard.stalled ? 'the server did not answer in time' : (error as Error).message}`);
  }
  const refuse = async (error: PullError) => {
    await response.body?.cancel().catch(() => {});
    throw error;
  };
  if (response.status === 404) return refuse(new PullError('not_found', `${url}: not found`));
  if (response.status === 401 || response.status === 403) return refuse(new PullError('unauthorized', `${url}: ${response.status} (a private or gated model: set HF_TOKEN for Hugging Face)`));
  if (!response.ok) return refuse(new PullError('network', `${url}: HTTP ${response.status}`));
  // Counted as it arrives: a hostile host may send an endless listing without a length.
  const parts: Uint8Array[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response.body ?? []) {
      bytes += (chunk as Uint8Array).byteLength;
      if (bytes > MAX_LISTING_BYTES) return refuse(new PullError('corrupt', `${url}: a listing of more than ${MAX_LISTING_BYTES} bytes`));
      parts.push(chunk as Uint8Array);
    }
  } catch (error) {
    throw new PullError('network', `${url}: ${guard.stalled ? 'the listing did not arrive in time' : (error as Error).message}`);
  }
  text = Buffer.concat(parts).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new PullError('corrupt', `${url}: not JSON`);
  }
}

/** Progress that never goes backwards, as one file's status lines. */
function reporter(options: PullOptions, status: string, digest: string) {
  let shown = 0;
  return (p: Progress) => {
    shown = Math.max(shown, p.completed);
    options.onStatus?.({ status, digest, total: p.total, completed: shown });
  };
}

/** A model file must be a GGUF; one this pull just wrote goes when it is not (one already here is left: others may use it). */
function requireGguf(path: string, what: string, justWritten: boolean): void {
  if (!isGguf(path)) {
    if (justWritten) unlinkSync(path);
    throw new PullError('corrupt', `${what} is not a GGUF model file`);
  }
}

// ── Ollama registries ────────────────────────────────────────────────────────────────────────

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
}

function layersOf(manifest: unknown, url: string): Layer[] {
  const m = manifest as { layers?: unknown; config?: unknown };
  const list = [...(Array.isArray(m?.layers) ? m.layers : []), ...(m?.config ? [m.config] : [])];
  return list.map((l) => {
    const layer = l as Layer;
    if (typeof layer?.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(layer.digest) || !Number.isSafeInteger(layer.size) || layer.size < 0 || typeof layer.mediaType !== 'string') {
      throw new PullError('corrupt', `${url}: a layer without a sha256 digest and size`);
    }
    return layer;
  });
}

async function pullOllama(source: Extract<Source, { kind: 'ollama' }>, options: PullOptions, store: string): Promise<PullResult> {
  const { host, namespace, name, tag } = source;
  const manifestPath = join(store, 'manifests', host, namespace, name, tag);
  const id = namespace === 'library' ? `${name}:${tag}` : `${namespace}/${name}:${tag}`;
  const blobPath = (digest: string) => join(store, 'blobs', digest.replace(':', '-'));
  const modelOf = (layers: Layer[]) => layers.find((l) => l.mediaType === 'application/vnd.ollama.image.model');
  const complete = (layers: Layer[]) => layers.every((l) => existsSync(blobPath(l.digest)));

  if (options.offline) {
    const layers = existsSync(manifestPath) ? layersOf(JSON.parse(readFileSync(manifestPath, 'utf8')), manifestPath) : [];
    const model = modelOf(layers);
    if (!model || !complete(layers)) throw new PullError('offline', `${id} is not complete here, and --offline makes no request`);
    return { id, path: blobPath(model.digest), downloaded: false };
  }
  const base = `${options.insecure ? 'http' : 'https'}://${host}/v2/${namespace}/${name}`;
  options.onStatus?.({ status: 'pulling manifest' });
  const manifest = await readJson(`${base}/manifests/${tag}`, { Accept: 'application/vnd.docker.distribution.manifest.v2+json' }, options);
  const layers = layersOf(manifest, `${base}/manifests/${tag}`);
  const model = modelOf(layers);
  if (!model) throw new PullError('corrupt', `${id}'s manifest names no model layer`);
  const missing = layers.filter((l, i) => !existsSync(blobPath(l.digest)) && layers.findIndex((o) => o.digest === l.digest) === i);
  checkSpace(join(store, 'blobs'), missing.reduce((n, l) => n + l.size, 0));
  for (const layer of missing) {
    await download({ url: `${base}/blobs/${layer.digest}`, dest: blobPath(layer.digest), sha256: layer.digest.slice(7), size: layer.size, onProgress: reporter(options, `pulling ${layer.digest.slice(7, 19)}`, layer.digest), signal: options.signal, stallMs: options.stallMs });
  }
  options.onStatus?.({ status: 'verifying sha256 digest' });
  requireGguf(blobPath(model.digest), `${id}'s model layer`, missing.includes(model));
  options.onStatus?.({ status: 'writing manifest' });
  makeDirectory(join(manifestPath, '..'));
  writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest));
  renameSync(`${manifestPath}.partial`, manifestPath);
  return { id, path: blobPath(model.digest), downloaded: missing.length > 0 };
}

// ── Hugging Face ─────────────────────────────────────────────────────────────────────────────

const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** The files to fetch: the GGUF for `quant` (Q4_K_M when none is named, as llama.cpp's -hf picks), all its split parts, and an mmproj beside it. */
export function chooseFiles(files: string[], quant: string | undefined, repo: string): string[] {
  const ggufs = files.filter((f) => /\.gguf$/i.test(f) && !/(^|\/)mmproj/i.test(basename(f)));
  const wanted = (quant ?? 'Q4_K_M').toLowerCase();
  const matching = ggufs.filter((f) => basename(f).toLowerCase().includes(wanted));
  const pick = matching.find((f) => !SPLIT.test(f) || /-00001-of-/.test(f)) ?? (quant ? undefined : ggufs.find((f) => !SPLIT.test(f) || /-00001-of-/.test(f)));
  if (!pick) throw new PullError('not_found', `${repo} has no GGUF file${quant ? ` for ${quant}` : ''}`);
  const split = SPLIT.exec(pick);
  const parts = split ? ggufs.filter((f) => f.replace(SPLIT, '') === pick.replace(SPLIT, '') && SPLIT.test(f)).sort() : [pick];
  const mmproj = files.find((f) => /\.gguf$/i.test(f) && /^mmproj/i.test(basename(f)));
  return [...parts, ...(mmproj ? [mmproj] : [])];
}

/** Hugging Face's LFS sha256, from the X-Linked-Etag (or ETag) of the file's resolve URL. */
function lfsSha256(response: Response): string | undefined {
  const etag = (response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  return /^[0-9a-f]{64}$/.test(etag) ? etag : undefined;
}

async function pullHuggingFace(source: Extract<Source, { kind: 'huggingface' }>, options: PullOptions, hub: string): Promise<PullResult> {
  const env = options.env ?? process.env;
  const [org, repo] = source.repo.split('/') as [string, string];
  const root = join(hub, `models--${org}--${repo}`);
  const idOf = (file: string) => `${source.repo}/${file.replace(/\.gguf$/i, '')}`;
  const refPath = join(root, 'refs', 'main');

  if (options.offline) {
    const commit = existsSync(refPath) ? readFileSync(refPath, 'utf8').trim() : '';
    const snapshot = join(root, 'snapshots', commit);
    const files = commit && /^[0-9a-f]{40}$/.test(commit) ? listFiles(snapshot) : [];
    let chosen: string[] = [];
    try {
      chosen = chooseFiles(files, source.quant, source.repo);
    } catch {
      // not here
    }
    if (chosen.length === 0 || !chosen.every((f) => existsSync(join(snapshot, f)))) throw new PullError('offline', `${source.repo}${source.quant ? `:${source.quant}` : ''} is not complete here, and --offline makes no request`);
    return { id: idOf(chosen[0]!), path: join(snapshot, chosen[0]!), downloaded: false };
  }

  const endpoint = (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const headers: Record<string, string> = env.HF_TOKEN ? { Authorization: `Bearer ${env.HF_TOKEN}` } : {};
  options.onStatus?.({ status: 'pulling manifest' });
  const info = (await readJson(`${endpoint}/api/models/${source.repo}/revision/main`, headers, options)) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  const commit = typeof info.sha === 'string' && /^[0-9a-f]{40}$/.test(info.sha) ? info.sha : undefined;
  if (!commit) throw new PullError('corrupt', `${endpoint}: ${source.repo} has no commit`);
  const files = (Array.isArray(info.siblings) ? info.siblings : []).map((s) => s?.rfilename).filter((f): f is string => typeof f === 'string' && /^[\w.-]+(\/[\w.-]+)*$/.test(f) && !f.split('/').some((p) => p === '.' || p === '..'));
  const chosen = chooseFiles(files, source.quant, source.repo);
  const snapshot = join(root, 'snapshots', commit);
  let downloaded = false;
  for (const file of chosen) {
    const link = join(snapshot, file);
    if (existsSync(link)) continue; // this commit's file is here already: no request
    const url = `${endpoint}/${source.repo}/resolve/${commit}/${file}`;
    // HEAD, without following the redirect to the blob host: Hugging Face puts the LFS sha256 and size on it.
    let head: Response;
    const guard = stallGuard(options.stallMs ?? DEFAULT_STALL_MS, options.signal);
    try {
      head = await fetch(url, { method: 'HEAD', headers, redirect: 'manual', signal: guard.signal });
    } catch (error) {
      throw new PullError('network', `${url}: ${guard.stalled ? 'the server did not answer in time' : (error as Error).message}`);
    } finally {
      guard.done();
    }
    await head.body?.cancel().catch(() => {});
    if (head.status === 404) throw new PullError('not_found', `${url}: not found`);
    if (head.status === 401 || head.status === 403) throw new PullError('unauthorized', `${url}: ${head.status} (a private or gated model: set HF_TOKEN)`);
    const sha256 = lfsSha256(head);
    if (!sha256) throw new PullError('corrupt', `${url}: no sha256 to verify the file against (X-Linked-Etag)`);
    const size = Number(head.headers.get('x-linked-size') ?? head.headers.get('content-length') ?? NaN);
    const blob = join(root, 'blobs', sha256);
    const fetched = !existsSync(blob);
    if (fetched) {
      await download({ url, dest: blob, headers, sha256, size: Number.isSafeInteger(size) ? size : undefined, onProgress: reporter(options, `pulling ${basename(file)}`, `sha256:${sha256}`), signal: options.signal, stallMs: options.stallMs });
      downloaded = true;
    }
    if (/\.gguf$/i.test(file) && (!SPLIT.test(file) || /-00001-of-/.test(file))) requireGguf(blob, url, fetched);
    makeDirectory(join(link, '..'));
    // From snapshots/<commit>/<dirs…>/<file> back to the repo's blobs/.
    const target = join(...file.split('/').slice(1).map(() => '..'), '..', '..', 'blobs', sha256);
    if (lstatSync(link, { throwIfNoEntry: false })) unlinkSync(link); // a dangling link too
    symlinkSync(target, link);
  }
  makeDirectory(join(root, 'refs'));
  writeFileSync(refPath, commit);
  return { id: idOf(chosen[0]!), path: join(snapshot, chosen[0]!), downloaded };
}

function listFiles(dir: string, prefix = ''): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
  } catch {
    return [];
  }
}

// ── URLs ─────────────────────────────────────────────────────────────────────────────────────

async function pullUrl(source: Extract<Source, { kind: 'url' }>, options: PullOptions, dir: string): Promise<PullResult> {
  let file: string;
  try {
    file = basename(decodeURIComponent(source.url.pathname));
  } catch {
    throw new PullError('invalid_source', `'${source.url}' is not valid percent-encoding`);
  }
  if (!/^[\w.-]+\.gguf$/i.test(file) || file.startsWith('.')) throw new PullError('invalid_source', `'${source.url}' names a file that is not a plain name`);
  const dest = join(dir, file);
  const id = file.replace(/\.gguf$/i, '');
  if (existsSync(dest)) return { id, path: dest, downloaded: false }; // a URL has no digest to compare: a whole file here is it
  if (options.offline) throw new PullError('offline', `${file} is not here, and --offline makes no request`);
  if (source.url.protocol === 'http:' && !options.insecure) throw new PullError('invalid_source', `'${source.url}' is plain http: pass --insecure to allow it`);
  await download({ url: source.url.href, dest, onProgress: reporter(options, `pulling ${file}`, file), signal: options.signal, stallMs: options.stallMs });
  requireGguf(dest, source.url.href, true);
  return { id, path: dest, downloaded: true };
}

/** Pulls `source` (see source.ts) into the store discovery reads for it. */
export async function pull(text: string, options: PullOptions = {}): Promise<PullResult> {
  const source = parseSource(text);
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const result =
    source.kind === 'ollama' ? await pullOllama(source, options, ollamaStore(env, home))
    : source.kind === 'huggingface' ? await pullHuggingFace(source, options, huggingFaceHub(env, home))
    : await pullUrl(source, options, join(options.cwd ?? process.cwd(), 'models'));
  options.onStatus?.({ status: 'success' });
  return result;
}
