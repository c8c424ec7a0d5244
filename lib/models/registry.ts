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

interface Slot {
  entry: DiscoveredModel;
  loading?: Promise<Model>;
  model?: Model;
  /** Why the last load failed, until one succeeds. */
  loadError?: string;
  /** Requests holding the model (use()): it is not unloaded under them. */
  leases: number;
  lastUsed: number;
}

export class ModelRegistry {
  private readonly slots = new Map<string, Slot>();
  private clock = 0;

  constructor(
    readonly discovery: Discovery,
    private readonly loadOptions: LoadOptions = {},
    private readonly maxLoaded = 2,
    /** How a model is loaded: loadModel, or a stand-in (the registry's own tests). */
    private readonly load: (path: string, options: LoadOptions) => Promise<Model> = loadModel,
  ) {
    for (const entry of discovery.models) this.slots.set(entry.id, { entry, leases: 0, lastUsed: 0 });
  }

  get base(): DiscoveredModel | undefined {
    return this.discovery.base;
  }

  /** `default`, an id, or a file stem; undefined when nothing matches. */
  resolve(name: string): DiscoveredModel | undefined {
    if (name === 'default') return this.discovery.base;
    return this.slots.get(name)?.entry ?? this.discovery.models.find((m) => m.path === name);
  }

  /**
   * Loads (once) and returns the model; model_not_found for an unknown name. A model broken by a
   * lost RPC worker is loaded again (reconnecting) once its last request has ended.
   */
  async get(name: string): Promise<Model> {
    return this.loaded(this.slotOf(name));
  }

  /**
   * Runs fn with the model, held from before it loads until fn's promise settles: the least
   * recently used model is not unloaded under a request that is between steps (rendering a chat,
   * embedding, streaming); the cap is restored when the last hold ends.
   */
  async use<T>(name: string, fn: (model: Model) => Promise<T> | T): Promise<T> {
    const slot = this.slotOf(name);
    slot.leases++;
    try {
      return await fn(await this.loaded(slot));
    } finally {
      slot.leases--;
      void this.evict();
    }
  }

  private slotOf(name: string): Slot {
    const entry = this.resolve(name);
    if (!entry) throw new ShimmyError('model_not_found', `Model '${name}' is not available`);
    return this.slots.get(entry.id)!;
  }

  private async loaded(slot: Slot): Promise<Model> {
    slot.lastUsed = ++this.clock;
    if (slot.model && this.usesWorkers && slot.model.brokenBecause && slot.model.activeRequests === 0) {
      const broken = slot.model;
      slot.model = undefined;
      slot.loading = broken.close().then(() => this.startLoad(slot));
    }
    if (slot.model) return slot.model;
    slot.loading ??= this.startLoad(slot);
    return slot.loading;
  }

  /** The RPC workers models are split over (serve --rpc), or none. */
  get workers(): readonly string[] {
    return this.loadOptions.rpc ?? [];
  }

  private get usesWorkers(): boolean {
    return this.workers.length > 0;
  }

  private startLoad(slot: Slot): Promise<Model> {
    return this.load(slot.entry.path, this.loadOptions).then(
      (model) => {
        slot.model = model;
        slot.loading = undefined;
        slot.loadError = undefined;
        void this.evict(slot);
        return model;
      },
      (error) => {
        slot.loading = undefined;
        slot.loadError = (error as Error).message;
        throw error;
      },
    );
  }

  /** Why the model's last load failed, unless one has succeeded since. */
  loadError(name: string): string | undefined {
    const entry = this.resolve(name);
    return entry ? this.slots.get(entry.id)?.loadError : undefined;
  }

  /** The model if it is already loaded (no side effects). */
  peek(name: string): Model | undefined {
    const entry = this.resolve(name);
    return entry ? this.slots.get(entry.id)?.model : undefined;
  }

  get loadedCount(): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.model) n++;
    return n;
  }

  loadedModels(): Model[] {
    return [...this.slots.values()].flatMap((s) => (s.model ? [s.model] : []));
  }

  /** Every discovered model with what its header says; each file's header is read once per version. */
  summaries(): ModelSummary[] {
    return this.discovery.models.map((entry) => ({ ...entry, ...this.headerFacts(entry.path), loaded: !!this.slots.get(entry.id)?.model }));
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
    await Promise.all([...this.slots.values()].map(async (slot) => {
      const model = slot.model ?? (await slot.loading?.catch(() => undefined));
      slot.model = undefined;
      await model?.close();
    }));
  }

  // Unloads least-recently-used models beyond the cap that nothing holds (never the one just loaded).
  private async evict(keep?: Slot): Promise<void> {
    const loaded = [...this.slots.values()].filter((s) => s.model).sort((a, b) => a.lastUsed - b.lastUsed);
    let excess = loaded.length - this.maxLoaded;
    for (const slot of loaded) {
      if (excess <= 0) break;
      if (slot === keep || slot.leases > 0 || slot.model!.activeRequests > 0) continue;
      const model = slot.model!;
      slot.model = undefined;
      excess--;
      await model.close();
    }
  }
}
