// The models a server can serve: resolves names (including `default`), loads on first use
// (concurrent first requests share one load), and unloads the least recently used model when
// more than `maxLoaded` are resident.
import { statSync } from 'node:fs';
import { loadModel, type LoadOptions, type Model } from '../engine/model.js';
import { ShimmyError } from '../engine/errors.js';
import type { DiscoveredModel, Discovery } from './discovery.js';
import { ggufFileTypes } from '../engine/file-types.js';
import { readGgufHeader } from '../engine/gguf-header.js';

/** What a model's GGUF header says, for listings. */
interface HeaderFacts {
  architecture?: string;
  quantization?: string;
  contextLength?: number;
}

export interface ModelSummary extends DiscoveredModel, HeaderFacts {
  loaded: boolean;
}

/** One discovered model and what the registry holds for it (not a decode slot: those are the engine's). */
interface Holder {
  entry: DiscoveredModel;
  loading?: Promise<Model>;
  model?: Model;
  /** Why the last load failed, until one succeeds. */
  loadError?: string;
  /** Requests holding the model (use()): it is not unloaded under them. */
  leases: number;
  lastUsed: number;
  /** Gone from the last discovery while a request held it: dropped when its last lease ends. */
  removed?: boolean;
  /** When it unloads if nothing uses it again (epoch ms), while the idle timer runs. */
  expiresAt?: number;
  idleTimer?: ReturnType<typeof setTimeout>;
}

/** Ollama's default: a model other than the server's default one unloads 5 minutes after its last request. */
export const DEFAULT_KEEP_ALIVE_MS = 5 * 60_000;

/** `serve --alias PATTERN=MODEL`: requests for a name matching PATTERN (`*` any run of characters) get MODEL. */
export interface ModelAlias {
  pattern: string;
  target: string;
}

/** Parses `PATTERN=MODEL`; throws a one-line message for anything else. */
export function parseAlias(text: string): ModelAlias {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new Error(`--alias must be PATTERN=MODEL, e.g. 'claude-*=default' (got '${text}')`);
  return { pattern: text.slice(0, at), target: text.slice(at + 1) };
}

/**
 * Whether `name` matches the glob `pattern` (`*`: any run of characters). Iterative, retrying
 * only from the last star: O(pattern × name), however many stars (a regex could backtrack
 * exponentially on a hostile name).
 */
export function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

export class ModelRegistry {
  private readonly holders = new Map<string, Holder>();
  private clock = 0;
  /** Names mapped to models on every route, the first matching pattern winning; a name that is a model's own is never mapped. */
  aliases: ModelAlias[] = [];
  /**
   * How long a model other than the default one stays loaded after its last request (`serve
   * --keep-alive`; ms, -1: until the LRU cap evicts it). A request may say otherwise for its model
   * (Ollama's keep_alive), the default one included.
   */
  keepAliveMs = -1;

  constructor(
    private found: Discovery,
    private readonly loadOptions: LoadOptions = {},
    private readonly maxLoaded = 2,
    /** How a model is loaded: loadModel, or a stand-in (the registry's own tests). */
    private readonly load: (path: string, options: LoadOptions) => Promise<Model> = loadModel,
  ) {
    for (const entry of found.models) this.holders.set(entry.id, { entry, leases: 0, lastUsed: 0 });
  }

  get discovery(): Discovery {
    return this.found;
  }

  /**
   * Takes a new discovery (after a pull or a delete): new models become servable at once, and a
   * vanished one is forgotten, unloaded first when nothing holds it (one a request holds stays
   * until the request ends, as the next refresh finds). The default model stays the one it was.
   */
  async refresh(discovery: Discovery): Promise<void> {
    const base = this.found.base;
    this.found = { ...discovery, base: base && (discovery.models.find((m) => m.path === base.path) ?? base) };
    const byId = new Map(discovery.models.map((m) => [m.id, m]));
    const gone: Holder[] = [];
    for (const [id, holder] of this.holders) {
      const entry = byId.get(id);
      if (entry?.path === holder.entry.path || holder.entry.path === base?.path) continue;
      // Vanished, or the name now names another file (a tag pulled again): the old one goes once nothing holds it.
      this.holders.delete(id);
      if (holder.leases > 0 || (holder.model?.activeRequests ?? 0) > 0) holder.removed = true;
      else gone.push(holder);
    }
    for (const entry of discovery.models) if (!this.holders.has(entry.id)) this.holders.set(entry.id, { entry, leases: 0, lastUsed: 0 });
    await Promise.all(gone.map((holder) => this.drop(holder)));
  }

  get base(): DiscoveredModel | undefined {
    return this.discovery.base;
  }

  /** `default`, an id, or a file stem, else what an alias maps the name to; undefined when nothing matches. */
  resolve(name: string): DiscoveredModel | undefined {
    const own = this.resolveOwn(name);
    if (own) return own;
    const alias = this.aliases.find((a) => globMatches(a.pattern, name));
    return alias && this.resolveOwn(alias.target);
  }

  private resolveOwn(name: string): DiscoveredModel | undefined {
    if (name === 'default') return this.discovery.base;
    return this.holders.get(name)?.entry ?? this.discovery.models.find((m) => m.path === name);
  }

  /**
   * Loads (once) and returns the model; model_not_found for an unknown name. A model broken by a
   * lost RPC worker is loaded again (reconnecting) once its last request has ended.
   */
  async get(name: string): Promise<Model> {
    return this.loaded(this.holderOf(name));
  }

  /**
   * Runs fn with the model, held from before it loads until fn's promise settles: the least
   * recently used model is not unloaded under a request that is between steps (rendering a chat,
   * embedding, streaming); the cap is restored when the last hold ends.
   */
  async use<T>(name: string, fn: (model: Model) => Promise<T> | T, options: { keepAliveMs?: number } = {}): Promise<T> {
    const holder = this.holderOf(name);
    holder.leases++;
    this.stopIdleTimer(holder);
    try {
      return await fn(await this.loaded(holder));
    } finally {
      holder.leases--;
      // The request that ends last says how long the model stays (its own keep_alive, else the default).
      if (holder.leases === 0) {
        if (holder.removed) void this.drop(holder);
        else this.startIdleTimer(holder, options.keepAliveMs);
      }
      void this.evict().catch(() => {});
    }
  }

  /** Unloads the model now if nothing holds it (Ollama's keep_alive 0 with nothing to generate); never loads it. */
  async unloadNow(name: string): Promise<void> {
    const entry = this.resolve(name);
    const holder = entry && this.holders.get(entry.id);
    if (!holder) throw new ShimmyError('model_not_found', `Model '${name}' is not available`);
    this.stopIdleTimer(holder);
    await this.unloadIdle(holder);
  }

  private async drop(holder: Holder): Promise<void> {
    if (this.holders.get(holder.entry.id) === holder) this.holders.delete(holder.entry.id);
    this.stopIdleTimer(holder);
    const model = holder.model;
    holder.model = undefined;
    await model?.close().catch(() => {});
  }

  /** When the model unloads if nothing uses it (epoch ms), or undefined: it stays until evicted. */
  expiresAt(name: string): number | undefined {
    const entry = this.resolve(name);
    return entry ? this.holders.get(entry.id)?.expiresAt : undefined;
  }

  private startIdleTimer(holder: Holder, requested: number | undefined): void {
    const keepAlive = requested ?? (holder.entry.path === this.base?.path ? -1 : this.keepAliveMs);
    if (keepAlive < 0 || !holder.model) return;
    holder.expiresAt = Date.now() + keepAlive;
    holder.idleTimer = setTimeout(() => void this.unloadIdle(holder).catch(() => {}), keepAlive);
    holder.idleTimer.unref?.();
  }

  private stopIdleTimer(holder: Holder): void {
    clearTimeout(holder.idleTimer);
    holder.idleTimer = undefined;
    holder.expiresAt = undefined;
  }

  private async unloadIdle(holder: Holder): Promise<void> {
    holder.idleTimer = undefined;
    holder.expiresAt = undefined;
    const model = holder.model;
    if (!model || holder.leases > 0 || model.activeRequests > 0) return;
    holder.model = undefined;
    await model.close();
  }

  private holderOf(name: string): Holder {
    const entry = this.resolve(name);
    if (!entry) throw new ShimmyError('model_not_found', `Model '${name}' is not available`);
    return this.holders.get(entry.id)!;
  }

  private async loaded(holder: Holder): Promise<Model> {
    holder.lastUsed = ++this.clock;
    if (holder.model && this.usesWorkers && holder.model.brokenBecause && holder.model.activeRequests === 0) {
      const broken = holder.model;
      holder.model = undefined;
      holder.loading = broken.close().then(() => this.startLoad(holder));
    }
    if (holder.model) return holder.model;
    holder.loading ??= this.startLoad(holder);
    return holder.loading;
  }

  /** The RPC workers models are split over (serve --rpc), or none. */
  get workers(): readonly string[] {
    return this.loadOptions.rpc ?? [];
  }

  private get usesWorkers(): boolean {
    return this.workers.length > 0;
  }

  private startLoad(holder: Holder): Promise<Model> {
    const { lora, mmproj, mmprojFound } = holder.entry;
    const options = { ...this.loadOptions, ...(lora ? { lora } : {}) };
    // A projector found beside the model (not given) may be another model's, or one this build
    // cannot run (M-RoPE): the model then serves text, as it did before projectors were found.
    const load = !mmproj ? this.load(holder.entry.path, options) : this.load(holder.entry.path, { ...options, mmproj }).catch((error: ShimmyError) => {
      if (!mmprojFound || error.code !== 'invalid_model' || !error.message.includes(mmproj)) throw error;
      process.emitWarning(`${holder.entry.id}: the projector found beside it was not loaded, so it takes no images: ${error.message}`, { code: 'SHIMMY_PROJECTOR' });
      return this.load(holder.entry.path, options);
    });
    return load.then(
      (model) => {
        holder.model = model;
        holder.loading = undefined;
        holder.loadError = undefined;
        void this.evict(holder);
        return model;
      },
      (error) => {
        holder.loading = undefined;
        holder.loadError = (error as Error).message;
        throw error;
      },
    );
  }

  /** Why the model's last load failed, unless one has succeeded since. */
  loadError(name: string): string | undefined {
    const entry = this.resolve(name);
    return entry ? this.holders.get(entry.id)?.loadError : undefined;
  }

  /** The model if it is already loaded (no side effects). */
  peek(name: string): Model | undefined {
    const entry = this.resolve(name);
    return entry ? this.holders.get(entry.id)?.model : undefined;
  }

  get loadedCount(): number {
    let n = 0;
    for (const holder of this.holders.values()) if (holder.model) n++;
    return n;
  }

  loadedModels(): Model[] {
    return [...this.holders.values()].flatMap((s) => (s.model ? [s.model] : []));
  }

  /** Every discovered model with what its header says; each file's header is read once per version. */
  summaries(): ModelSummary[] {
    return this.discovery.models.map((entry) => ({ ...entry, ...this.headerFacts(entry.path), loaded: !!this.holders.get(entry.id)?.model }));
  }

  private readonly facts = new Map<string, { size: number; mtimeMs: number; facts: HeaderFacts }>();

  // GET /api/models lists often; a header is re-read only when its file's size or mtime changed.
  private headerFacts(path: string): HeaderFacts {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return {}; // listed anyway; loading it will report what is wrong
    }
    const known = this.facts.get(path);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known.facts;
    const facts: HeaderFacts = {};
    try {
      const header = readGgufHeader(path);
      const arch = header.get('general.architecture');
      if (typeof arch === 'string') {
        facts.architecture = arch;
        const ctx = header.get(`${arch}.context_length`);
        if (ctx !== undefined) facts.contextLength = Number(ctx);
      }
      const fileType = header.get('general.file_type');
      if (fileType !== undefined) facts.quantization = ggufFileTypes[Number(fileType)] ?? `type ${fileType}`;
    } catch {
      // listed anyway; loading it will report what is wrong
    }
    this.facts.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, facts });
    return facts;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.holders.values()].map(async (holder) => {
      this.stopIdleTimer(holder);
      const model = holder.model ?? (await holder.loading?.catch(() => undefined));
      holder.model = undefined;
      await model?.close();
    }));
  }

  // Unloads least-recently-used models beyond the cap that nothing holds (never the one just loaded).
  private async evict(keep?: Holder): Promise<void> {
    const loaded = [...this.holders.values()].filter((s) => s.model).sort((a, b) => a.lastUsed - b.lastUsed);
    let excess = loaded.length - this.maxLoaded;
    for (const holder of loaded) {
      if (excess <= 0) break;
      if (holder === keep || holder.leases > 0 || holder.model!.activeRequests > 0) continue;
      const model = holder.model!;
      holder.model = undefined;
      this.stopIdleTimer(holder);
      excess--;
      await model.close();
    }
  }
}
