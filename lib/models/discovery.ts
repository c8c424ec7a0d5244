// Finds GGUF models without configuration. Sources, in order of precedence for name clashes:
// the explicit model (--model / SHIMMY_BASE_GGUF), ./models, --model-dirs / SHIMMY_MODEL_PATHS,
// the Hugging Face cache, Ollama's store and LM Studio's folders.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { isGguf } from '../engine/gguf-header.js';
import type { LoraFile } from '../engine/lora.js';
import { isAdapterFile, pairAdapters } from './lora-pairing.js';
import { isProjectorFile, pairProjectors } from './projector-pairing.js';

export type ModelSource = 'base' | 'directory' | 'huggingface' | 'ollama' | 'lmstudio';

export interface DiscoveredModel {
  /** Stable, readable name: file stem, `org/repo/stem`, or Ollama's `name:tag`. */
  id: string;
  path: string;
  source: ModelSource;
  sizeBytes: number;
  /** LoRA adapters loaded with it: paired beside it, or given for the default model (--lora, SHIMMY_LORA_GGUF). */
  lora?: LoraFile[];
  /** The vision projector loaded with it: found beside it (or Ollama's projector layer), or given for the default model (--mmproj, SHIMMY_MMPROJ_GGUF). */
  mmproj?: string;
  /** The projector was found, not given: one that does not load leaves the model serving text. */
  mmprojFound?: boolean;
}

export interface SearchedPlace {
  source: ModelSource;
  path: string;
  exists: boolean;
}

export interface DiscoveryOptions {
  /** A single model file (--model); SHIMMY_BASE_GGUF when absent. */
  modelPath?: string;
  /** Extra directories (--model-dirs); SHIMMY_MODEL_PATHS (`;` or `:` separated) is added. */
  modelDirs?: string[];
  /** Adapters for the default model (--lora); SHIMMY_LORA_GGUF (paths separated as SHIMMY_MODEL_PATHS) is added. */
  lora?: LoraFile[];
  /** Pair adapter files with the models beside them (default true; --no-auto-lora). */
  autoLora?: boolean;
  /** The default model's projector (--mmproj); SHIMMY_MMPROJ_GGUF when absent. */
  mmproj?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
}

export interface Discovery {
  models: DiscoveredModel[];
  /** The model the server starts with: the explicit one, else the first found. */
  base: DiscoveredModel | undefined;
  searched: SearchedPlace[];
  /** LoRA adapter files found that go with no model (none of their architecture whose file stem their name holds, or --no-auto-lora). */
  unpairedAdapters: string[];
  /** Projector files found in folders without a model. */
  unpairedProjectors: string[];
}

const GGUF_RE = /\.gguf$/i;
// Only the first file of a split model is loadable; llama.cpp finds the other parts itself.
const LATER_SPLIT_RE = /-0*([2-9]|[1-9]\d+)-of-\d+\.gguf$/i;

export function splitPathList(value: string | undefined): string[] {
  if (!value) return [];
  const separator = process.platform === 'win32' ? /;/ : /[;:]/;
  return value.split(separator).map((s) => s.trim()).filter(Boolean);
}

function stem(file: string): string {
  return basename(file).replace(GGUF_RE, '');
}

function ggufFiles(dir: string, depth: number): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory() && depth > 0 && !entry.name.startsWith('.')) out.push(...ggufFiles(full, depth - 1));
    else if ((entry.isFile() || entry.isSymbolicLink()) && GGUF_RE.test(entry.name) && !LATER_SPLIT_RE.test(entry.name)) out.push(full);
  }
  return out;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function fromDirectory(dir: string, source: ModelSource): DiscoveredModel[] {
  return ggufFiles(dir, 3).map((path) => ({
    id: relative(dir, path).split(sep).join('/').replace(GGUF_RE, ''),
    path,
    source,
    sizeBytes: sizeOf(path),
  }));
}

// hub/models--{org}--{repo}/snapshots/{revision}/…/*.gguf — the newest revision wins.
function fromHuggingFace(hub: string): DiscoveredModel[] {
  const out = new Map<string, DiscoveredModel & { mtime: number }>();
  for (const repoDir of safeList(hub)) {
    const m = /^models--(.+?)--(.+)$/.exec(repoDir);
    if (!m) continue;
    const snapshots = join(hub, repoDir, 'snapshots');
    for (const revision of safeList(snapshots)) {
      const root = join(snapshots, revision);
      for (const path of ggufFiles(root, 3)) {
        const id = `${m[1]}/${m[2]}/${relative(root, path).split(sep).join('/').replace(GGUF_RE, '')}`;
        const mtime = statSync(join(snapshots, revision)).mtimeMs;
        const prev = out.get(id);
        if (!prev || mtime > prev.mtime) out.set(id, { id, path, source: 'huggingface', sizeBytes: sizeOf(path), mtime });
      }
    }
  }
  return [...out.values()].map(({ mtime: _mtime, ...model }) => model);
}

// manifests/{registry}/{namespace}/{model}/{tag} → the layer of media type …image.model → blobs/sha256-….
function fromOllama(store: string): DiscoveredModel[] {
  const out: DiscoveredModel[] = [];
  const manifests = join(store, 'manifests');
  for (const registry of safeList(manifests)) {
    for (const namespace of safeList(join(manifests, registry))) {
      for (const model of safeList(join(manifests, registry, namespace))) {
        for (const tag of safeList(join(manifests, registry, namespace, model))) {
          try {
            const manifest = JSON.parse(readFileSync(join(manifests, registry, namespace, model, tag), 'utf8'));
            const layer = manifest.layers?.find((l: { mediaType?: string }) => l.mediaType === 'application/vnd.ollama.image.model');
            if (typeof layer?.digest !== 'string') continue;
            const path = join(store, 'blobs', layer.digest.replace(':', '-'));
            if (!isGguf(path)) continue;
            const name = namespace === 'library' ? model : `${namespace}/${model}`;
            const projector = manifest.layers?.find((l: { mediaType?: string }) => l.mediaType === 'application/vnd.ollama.image.projector');
            const mmproj = typeof projector?.digest === 'string' ? join(store, 'blobs', projector.digest.replace(':', '-')) : undefined;
            out.push({ id: `${name}:${tag}`, path, source: 'ollama', sizeBytes: sizeOf(path), ...(mmproj && isGguf(mmproj) ? { mmproj, mmprojFound: true } : {}) });
          } catch {
            // unreadable or foreign manifest: not a model we can serve
          }
        }
      }
    }
  }
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Where Hugging Face's tools keep their cache (`hub/`), as they read the environment. */
export function huggingFaceHub(env: NodeJS.ProcessEnv, home: string): string {
  return env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(env.HF_HOME ?? join(home, '.cache', 'huggingface'), 'hub');
}

/** Ollama's model store. */
export function ollamaStore(env: NodeJS.ProcessEnv, home: string): string {
  return env.OLLAMA_MODELS ?? join(home, '.ollama', 'models');
}

export function discoverModels(options: DiscoveryOptions = {}): Discovery {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? homedir();
  const searched: SearchedPlace[] = [];
  const found: DiscoveredModel[] = [];
  const visit = (source: ModelSource, path: string, scan: (p: string) => DiscoveredModel[]) => {
    const exists = existsSync(path);
    searched.push({ source, path, exists });
    if (exists) found.push(...scan(path));
  };

  let base: DiscoveredModel | undefined;
  const explicit = options.modelPath ?? env.SHIMMY_BASE_GGUF;
  if (explicit) {
    const path = resolve(cwd, explicit);
    searched.push({ source: 'base', path, exists: existsSync(path) });
    base = { id: stem(path), path, source: 'base', sizeBytes: sizeOf(path) };
    found.push(base);
  }
  visit('directory', join(cwd, 'models'), (p) => fromDirectory(p, 'directory'));
  for (const dir of [...(options.modelDirs ?? []), ...splitPathList(env.SHIMMY_MODEL_PATHS)]) {
    visit('directory', resolve(cwd, dir), (p) => fromDirectory(p, 'directory'));
  }
  visit('huggingface', huggingFaceHub(env, home), fromHuggingFace);
  visit('ollama', ollamaStore(env, home), fromOllama);
  for (const dir of [join(home, '.lmstudio', 'models'), join(home, '.cache', 'lm-studio', 'models')]) {
    visit('lmstudio', dir, (p) => fromDirectory(p, 'lmstudio'));
  }

  // Adapter and projector files are no models: they go with the models beside them.
  const adapters = found.filter((m) => m.source !== 'base' && isAdapterFile(m.path));
  const projectors = found.filter((m) => m.source !== 'base' && !adapters.includes(m) && isProjectorFile(m.path));
  const candidates = found.filter((m) => !adapters.includes(m) && !projectors.includes(m));
  const projected = pairProjectors(candidates.map((m) => m.path), projectors.map((p) => p.path));
  const { pairs, unpaired } = options.autoLora === false
    ? { pairs: new Map<string, LoraFile[]>(), unpaired: adapters.map((a) => a.path) }
    : pairAdapters(candidates.map((m) => m.path), adapters.map((a) => a.path));
  const withAdapters = candidates.map((m) => {
    const paired = projected.pairs.get(m.path);
    return { ...m, ...(pairs.has(m.path) ? { lora: pairs.get(m.path) } : {}), ...(!m.mmproj && paired ? { mmproj: paired, mmprojFound: true } : {}) };
  });

  // One entry per file, and one file per name: a later clash gets a numeric suffix.
  const byPath = new Set<string>();
  const byId = new Set<string>(['default']);
  const models: DiscoveredModel[] = [];
  for (const model of withAdapters) {
    const real = resolve(model.path);
    if (byPath.has(real)) continue;
    byPath.add(real);
    let id = model.id;
    for (let n = 2; byId.has(id); n++) id = `${model.id}-${n}`;
    byId.add(id);
    models.push({ ...model, id });
  }
  // The default model's own adapters come before those paired with it.
  const explicitLora = [...(options.lora ?? []), ...splitPathList(env.SHIMMY_LORA_GGUF).map((p) => ({ path: resolve(cwd, p), scale: 1 }))];
  const at = base ? models.findIndex((m) => m.path === base!.path) : models.length > 0 ? 0 : -1;
  if (at >= 0 && explicitLora.length > 0) models[at] = { ...models[at]!, lora: [...explicitLora, ...(models[at]!.lora ?? [])] };
  const explicitMmproj = options.mmproj ?? env.SHIMMY_MMPROJ_GGUF;
  if (at >= 0 && explicitMmproj) models[at] = { ...models[at]!, mmproj: resolve(cwd, explicitMmproj), mmprojFound: false };
  return { models, base: at >= 0 ? models[at] : undefined, searched, unpairedAdapters: unpaired, unpairedProjectors: projected.unpaired };
}
