// A loaded model and the engine (scheduler thread, slots) that generates with it.
import { existsSync, statSync } from 'node:fs';
import { EventKind, native, type NativeEngine, type NativeEvent, type NativeMetadata, type NativeModel, type NativeRequestOptions, type NativeWorker } from '../native.js';
import { renderChat, type ChatMessage, type ChatRequest, type RenderedChat } from './chat.js';
import { ShimmyError, ShimmyTypeError, toShimmyError } from './errors.js';
import { checkModelFile } from './model-check.js';
import { readGgufHeader } from './gguf-header.js';
import { defaultContextSize, defaultThreads, loadDefaults } from './defaults.js';
import { Generation, type CompletionResult, type FinishReason } from './generation.js';
import { parseGenerationOptions, type GenerationOptions } from './options.js';
import { ggufFileTypes } from './file-types.js';
import { parseEndpoints } from './rpc.js';
import { resolveMemory, tensorOverrides, type MemoryOptions, type ResolvedMemory } from './memory-options.js';
import type { ImageUrlPolicy } from './image-fetch.js';
import { adapterProblem, checkLoraFiles, loraScales, type LoraAdapter, type LoraChoice, type LoraFile } from './lora.js';

/** llama.cpp's LLAMA_MAX_DEVICES: the longest tensorSplit. */
const MAX_DEVICES = 16;

export interface LoadOptions {
  /** Tokens one request may hold: prompt plus generated. Default: min(loadDefaults.contextSizeCap (4096), the model's training context). */
  contextSize?: number;
  /** Requests decoded together in one batch (slots). Default: loadDefaults.parallel (4). */
  parallel?: number;
  /** Tokens per decode step across all slots. Default: loadDefaults.batchSize (512). */
  batchSize?: number;
  /**
   * CPU threads, fixed. Default: up to the number of cores (at most 8: decoding is memory-bound),
   * fewer while other processes keep cores busy; the engine measures which count decodes faster.
   */
  threads?: number;
  /**
   * Sample inside the decode graph (llama.cpp's experimental backend sampling, llama-server's
   * `--backend-sampling`), default false: on a GPU the logits then stay on the device. For
   * requests without a grammar or logprobs (those sample on the CPU as usual). Greedy text is the
   * same; a seed still reproduces its text, though on a GPU not necessarily the CPU sampler's.
   * Withheld on Vulkan builds (see backendSamplingWithheld).
   */
  backendSampling?: boolean;
  /** Requests that may wait for a free slot before generate() throws queue_full. Default: loadDefaults.queueLimit (64). */
  queueLimit?: number;
  /** Layers to offload to a GPU backend or RPC workers (default all). */
  gpuLayers?: number;
  /**
   * RPC workers (`shimmy worker` on other machines, "host:port") to spread the model's layers
   * over, before this machine's GPUs. A worker that cannot be reached is worker_unavailable; one
   * lost later fails the requests in flight with generation_failed, and `workers()` says why.
   */
  rpc?: string[];
  /** The share of layers per device, workers first, then local GPUs (default: by free memory). */
  tensorSplit?: number[];
  /** K and V cache element types (default f16): q8_0 halves the KV memory, q4_0 quarters it; a quantized V cache needs flash attention. */
  cacheTypeK?: MemoryOptions['cacheTypeK'];
  cacheTypeV?: MemoryOptions['cacheTypeV'];
  /** Flash attention: auto (default: where the backend has it, as llama.cpp decides), on, off. */
  flashAttention?: MemoryOptions['flashAttention'];
  /**
   * One KV pool shared by the slots (llama-server's default) instead of contextSize cells per
   * slot: each request may still hold contextSize tokens; when the pool runs short, idle slots'
   * cached prefixes give their cells up, then the youngest requests wait. Default false.
   */
  kvUnified?: boolean;
  /** The shared pool's size in tokens (kvUnified only; default contextSize × parallel). */
  kvSize?: number;
  /** Keep every MoE expert tensor in system memory (llama.cpp's --cpu-moe). */
  cpuMoe?: boolean;
  /** Keep the expert tensors of the first N layers in system memory (--n-cpu-moe). */
  nCpuMoe?: number;
  /** Tensors whose name matches `pattern` go to buffer type `buffer` (CPU, CUDA0, …; llama.cpp's -ot). */
  overrideTensor?: MemoryOptions['overrideTensor'];
  /**
   * LoRA adapters to load with the model, each with its default scale (1 unless given). A
   * request's `lora` picks its own scales by id (the adapter's place here); an adapter made for
   * another model is invalid_model. Requests with different sets take turns: llama.cpp decodes one
   * set at a time.
   */
  lora?: LoraFile[];
  /**
   * A multimodal projector (an `mmproj` GGUF made for this model): chat messages may then hold
   * images. Checked like the model (its header, then a test load with the model in a child
   * process); one made for another model is invalid_model.
   */
  mmproj?: string;
  /**
   * Whether image parts may name http(s) URLs, fetched by this process (20 MiB, 3 redirects, 10 s
   * at most): 'off' (default: data URLs only), 'public' (never an address inside this network:
   * loopback, private, link-local), 'any'.
   */
  imageUrls?: ImageUrlPolicy;
  useMmap?: boolean;
  /**
   * Check the file before llama.cpp loads it in this process (default true): its header, then
   * a test load in a child process, once per file version (lib/engine/model-check.ts). A
   * damaged file is then invalid_model instead of an abort of the whole process.
   */
  check?: boolean;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

export type WorkerInfo = NativeWorker;

/**
 * What generate() takes: the generation options (declared once, in options.ts: each field's
 * range, default and meaning), the prompt or a rendered chat, and what only the library offers.
 */
export type GenerateOptions = Partial<Omit<GenerationOptions, 'stop'>> & {
  /** The prompt text or tokens; or, instead, `chat`. */
  prompt?: string | Int32Array;
  /** A rendered chat (renderChat()): its prompt, stop strings and grammar, which takes the place of `grammar`'s when it has one. */
  chat?: RenderedChat;
  /** One stop string, or several. */
  stop?: string | string[];
  /** Token id → additive bias. */
  logitBias?: Record<number, number>;
  /** The model's LoRA adapters to apply, by id, with their scales; those not listed are off. Absent: each adapter's default scale. */
  lora?: LoraChoice[];
  signal?: AbortSignal;
};

/** A request as Model.start() takes it: the generation options parsed, defaults filled. */
export type GenerationRequest = GenerationOptions & Pick<GenerateOptions, 'prompt' | 'chat' | 'logitBias' | 'lora' | 'signal'>;

export interface ModelInfo {
  path: string;
  architecture: string;
  name: string;
  description: string;
  parameters: number;
  sizeBytes: number;
  quantization: string;
  trainedContextLength: number;
  contextSize: number;
  parallel: number;
  embeddingLength: number;
  layers: number;
  vocabSize: number;
  chatTemplate: string | null;
  bosToken: number;
  eosToken: number;
  /** The LoRA adapters loaded with it, with their default scales now. */
  lora: LoraAdapter[];
  /** The projector loaded with it (null: none), and what it takes besides text. */
  mmproj: string | null;
  modalities: ('vision' | 'audio')[];
  /** The KV cache as made: element types, flash attention as asked, whether the pool is shared, its size in tokens. */
  kv: ResolvedMemory;
  metadata: Record<string, string>;
}

/** A model file's header, or none when it cannot be read (its load then says why). */
function headerOf(path: string): Map<string, unknown> {
  try {
    return readGgufHeader(path);
  } catch {
    return new Map();
  }
}

/** Loads a GGUF file off the main thread and starts its engine. */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new ShimmyError('model_not_found', `no model file at '${path}'`);
  }
  // The options first (what needs the model's shape is checked once it is loaded), then the files.
  const lora = checkLoraFiles(options.lora);
  const rpc = parseEndpoints(options.rpc ?? []);
  if (options.tensorSplit && (options.tensorSplit.length > MAX_DEVICES || !options.tensorSplit.every((v) => Number.isFinite(v) && v >= 0))) {
    throw new ShimmyError('invalid_request', `tensorSplit must hold at most ${MAX_DEVICES} numbers >= 0`);
  }
  resolveMemory({ ...options, kvSize: undefined }, {}, 1, 1);
  tensorOverrides(options);
  for (const { path: adapter } of lora) {
    if (!existsSync(adapter) || !statSync(adapter).isFile()) throw new ShimmyError('model_not_found', `no LoRA adapter file at '${adapter}'`);
  }
  if (options.imageUrls !== undefined && !['off', 'public', 'any'].includes(options.imageUrls)) {
    throw new ShimmyError('invalid_request', "imageUrls must be 'off', 'public' or 'any'");
  }
  const mmproj = options.mmproj;
  if (mmproj !== undefined) {
    if (typeof mmproj !== 'string' || !existsSync(mmproj) || !statSync(mmproj).isFile()) throw new ShimmyError('model_not_found', `no projector file at '${String(mmproj)}'`);
    if (options.check ?? true) {
      const architecture = headerOf(mmproj).get('general.architecture');
      if (architecture !== 'clip') throw new ShimmyError('invalid_model', `'${mmproj}' is no projector (mmproj): its architecture is '${String(architecture ?? 'unreadable')}', not 'clip'`);
    }
  }
  if (options.check ?? true) {
    await checkModelFile(path);
    if (lora.length > 0) {
      const architecture = String(headerOf(path).get('general.architecture') ?? '');
      for (const { path: adapter } of lora) {
        const problem = adapterProblem(adapter, architecture);
        if (problem) throw new ShimmyError('invalid_model', `'${adapter}' is no LoRA adapter for '${path}': ${problem}`);
      }
      await checkModelFile(path, lora.map((a) => a.path));
    }
    if (mmproj !== undefined) await checkModelFile(path, [], mmproj);
  }
  // Rules for layers past the model's last would only cost llama.cpp a regular expression per tensor each.
  const header = options.nCpuMoe ? headerOf(path) : undefined;
  const layers = Number(header?.get(`${header.get('general.architecture')}.block_count`) ?? 0);
  const overrides = tensorOverrides({ ...options, nCpuMoe: options.nCpuMoe && Math.min(options.nCpuMoe, layers) });
  const { promise, abort } = native().loadModel(
    path,
    {
      gpuLayers: options.gpuLayers ?? 999, useMmap: options.useMmap ?? true, rpc, tensorSplit: options.tensorSplit, overrideTensor: overrides,
      lora: lora.map((a) => a.path), mmproj, mmprojThreads: options.threads ?? defaultThreads(),
    },
    options.onProgress,
  );
  const onAbort = () => abort();
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let handle: NativeModel;
  try {
    handle = await promise;
  } catch (error) {
    throw toShimmyError(error, 'invalid_model');
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  try {
    return new Model(path, handle, { ...options, lora });
  } catch (error) {
    handle.close();
    throw toShimmyError(error, 'context_failed');
  }
}

/**
 * Why this build does not sample inside the graph even when asked, or undefined. Vulkan: on
 * Debian 12's lavapipe a chain with a logit bias or penalties, attached after another chain,
 * corrupts the driver's heap (a client's logit_bias could then end the server); the same sequence
 * is clean on the CPU under ASan, and no real Vulkan GPU was at hand to tell driver from ggml.
 */
export function backendSamplingWithheld(): string | undefined {
  return native().systemInfo().gpuBackend === 'vulkan' ? 'backendSampling is not used with Vulkan (it corrupted memory on lavapipe); sampling stays on the CPU' : undefined;
}
let warnedWithheld = false;

export class Model {
  readonly info: ModelInfo;
  private readonly engine: NativeEngine;
  private readonly live = new Map<number, Generation>();
  private nextId = 1;
  private closed = false;

  private readonly threads: number;
  private readonly imageUrls: ImageUrlPolicy;

  constructor(
    readonly path: string,
    private readonly handle: NativeModel,
    options: LoadOptions,
  ) {
    const meta = handle.metadata();
    const contextSize = options.contextSize ?? defaultContextSize(meta.contextLength);
    const parallel = options.parallel ?? loadDefaults.parallel;
    const kv = resolveMemory(options, meta.keys, contextSize, parallel);
    this.threads = options.threads ?? defaultThreads();
    this.imageUrls = options.imageUrls ?? 'off';
    const withheld = options.backendSampling === true ? backendSamplingWithheld() : undefined;
    if (withheld && !warnedWithheld) {
      warnedWithheld = true;
      process.emitWarning(withheld, { code: 'SHIMMY_BACKEND_SAMPLING' });
    }
    this.engine = new (native().Engine)(
      handle,
      {
        contextSize,
        parallel,
        batchSize: options.batchSize ?? loadDefaults.batchSize,
        threads: this.threads,
        adaptThreads: options.threads === undefined,
        backendSampling: options.backendSampling === true && !withheld,
        queueLimit: options.queueLimit ?? loadDefaults.queueLimit,
        ...kv,
      },
      (events) => this.dispatch(events),
    );
    if (kv.kvUnified) kv.kvSize = this.engine.stats().kvCells; // as llama.cpp rounded it up
    // loadModel filled in each adapter's scale.
    const lora = (options.lora ?? []).map((file, id) => ({ id, path: file.path, scale: file.scale! }));
    this.info = describe(path, meta, contextSize, parallel, kv, lora, options.mmproj ?? null);
  }

  /** Streams a completion: `for await (const { text } of model.generate({ prompt }))`. */
  generate(options: GenerateOptions): Generation {
    if (typeof options !== 'object' || options === null) throw new ShimmyTypeError('generate() takes an options object');
    const { prompt, chat, logitBias, lora, signal } = options;
    if (prompt !== undefined && typeof prompt !== 'string' && !(prompt instanceof Int32Array)) {
      throw new ShimmyError('invalid_request', "'prompt' must be a string or an Int32Array of tokens");
    }
    return this.start({ ...parseGenerationOptions(options as unknown as Record<string, unknown>), prompt, chat, logitBias, lora, signal });
  }

  /**
   * Starts a request whose options were already parsed, with every default filled in (a server
   * route's, from the declarations in options.ts): its values are trusted, not checked again,
   * so give it only what parseGenerationOptions (or a route's parse) returned; generate() is the
   * entry for anything else. The request crosses into the engine once, which tokenizes a text
   * prompt itself (off the main thread when it is long).
   */
  start(request: GenerationRequest): Generation {
    if (this.closed) throw new ShimmyError('model_closed', 'the model was closed');
    const prompt = request.chat ?? request.prompt;
    if (prompt === undefined || (request.chat && request.prompt !== undefined)) throw new ShimmyError('invalid_request', "give either 'prompt' or 'chat'");
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    // While a long prompt is tokenized (or a grammar parsed) off the main thread, the engine does
    // not know the id yet: a cancel or pause then follows the request into the queue.
    let queueing = false;
    let cancelWhenQueued = false;
    let pausedWhenQueued = false;
    const generation = new Generation(
      id,
      () => (queueing ? (cancelWhenQueued = true) : this.engine.cancel(id)),
      (paused) => (queueing ? (pausedWhenQueued = paused) : this.engine.pause(id, paused)),
    );
    let queued: void | Promise<void>;
    try {
      queued = this.engine.submit(id, prompt, nativeOptions(request, loraScales(this.info.lora, request.lora)));
    } catch (error) {
      throw toShimmyError(error, 'invalid_request');
    }
    this.track(id, generation);
    if (!queued) generation.submitted();
    else {
      queueing = true;
      queued.then(
        () => {
          queueing = false;
          generation.submitted();
          if (cancelWhenQueued) this.engine.cancel(id);
          else if (pausedWhenQueued) this.engine.pause(id, true);
        },
        (error) => {
          queueing = false;
          this.untrack(id);
          // A request cancelled while it was prepared ends as cancelled, whatever its refusal.
          if (cancelWhenQueued) generation.finish('cancelled', { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: 0 }, 0, 0);
          else generation.submitted(toShimmyError(error, 'invalid_request') as ShimmyError);
        },
      );
    }
    const signal = request.signal;
    if (signal) {
      const onAbort = () => generation.cancel();
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        generation.result.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
      }
    }
    return generation;
  }

  /** Generates to the end and returns the whole text with its finish reason and usage. */
  async complete(options: GenerateOptions): Promise<CompletionResult> {
    return this.generate(options).result;
  }

  /**
   * Renders a chat request with the model's own Jinja template (off the main thread): the prompt,
   * plus the stop strings, grammar and reply format that tools or a JSON schema need. Generate with
   * `generate({ chat })`, parse the reply with `new ReplyParser(chat)`.
   */
  async renderChat(request: ChatRequest): Promise<RenderedChat> {
    if (this.closed) throw new ShimmyError('model_closed', 'the model was closed');
    return renderChat((json, images, marker) => this.handle.renderChat(json, images, marker), request, this.info.modalities.includes('vision'), this.imageUrls);
  }

  /** Just the prompt text for `messages` (see renderChat for tools and schemas). */
  async applyChatTemplate(messages: ChatMessage[], addAssistant = true): Promise<string> {
    return (await this.renderChat({ messages, addGenerationPrompt: addAssistant })).prompt;
  }

  /**
   * Embeddings of each input (text, or token ids), pooled as the model declares (mean for a
   * generative model) and L2-normalized unless `normalize` is false. Runs on an embedding context
   * of its own (contextSize tokens), off the main thread; a longer input is context_overflow.
   */
  async embed(inputs: (string | Int32Array | number[])[], options: { normalize?: boolean } = {}): Promise<{ embeddings: Float32Array[]; promptTokens: number }> {
    if (this.closed) throw new ShimmyError('model_closed', 'the model was closed');
    const tokens = await Promise.all(inputs.map((input) => (typeof input === 'string' ? this.tokenizeAsync(input) : Int32Array.from(input))));
    if (this.closed) throw new ShimmyError('model_closed', 'the model was closed');
    try {
      const embeddings = await this.handle.embed(tokens, { normalize: options.normalize ?? true, threads: this.threads, contextSize: this.info.contextSize });
      return { embeddings, promptTokens: tokens.reduce((n, t) => n + t.length, 0) };
    } catch (error) {
      throw toShimmyError(error, 'generation_failed');
    }
  }

  tokenize(text: string, addSpecial = false, parseSpecial = true): Int32Array {
    if (typeof text !== 'string') throw new ShimmyTypeError('text must be a string');
    return this.handle.tokenize(text, addSpecial, parseSpecial);
  }

  /** tokenize() on a libuv worker, for large texts. */
  async tokenizeAsync(text: string, addSpecial = true, parseSpecial = true): Promise<Int32Array> {
    if (typeof text !== 'string') throw new ShimmyTypeError('text must be a string');
    try {
      return await this.handle.tokenizeAsync(text, addSpecial, parseSpecial);
    } catch (error) {
      throw toShimmyError(error, 'invalid_request');
    }
  }

  detokenize(tokens: Int32Array | number[], renderSpecial = false): string {
    return this.handle.detokenize(tokens instanceof Int32Array ? tokens : Int32Array.from(tokens), renderSpecial);
  }

  /** Each token's own text as generated (a leading space kept, special tokens rendered), as bytes: a token may hold part of a UTF-8 character. */
  pieces(tokens: Int32Array | number[]): Buffer[] {
    return this.handle.pieces(tokens instanceof Int32Array ? tokens : Int32Array.from(tokens));
  }

  stats() {
    return this.engine.stats();
  }

  /** The LoRA adapters loaded with the model and the scale each request that names none uses. */
  loraAdapters(): LoraAdapter[] {
    return this.info.lora.map((a) => ({ ...a }));
  }

  /** Sets the default scales, as llama-server's POST /lora-adapters: the adapters not listed are off. Running requests keep theirs. */
  setLoraScales(choices: LoraChoice[]): LoraAdapter[] {
    const scales = loraScales(this.info.lora, choices);
    this.info.lora.forEach((a, i) => (a.scale = scales[i]!));
    return this.loraAdapters();
  }

  get activeRequests(): number {
    return this.live.size;
  }

  /** The RPC workers the model is split over, with the memory they reported and, once lost, why. */
  workers(): WorkerInfo[] {
    return this.handle.workers();
  }

  /** Why the model can no longer generate (an RPC worker was lost), or undefined while it can. */
  get brokenBecause(): string | undefined {
    const lost = this.workers().find((w) => w.error !== null);
    return lost ? `RPC worker ${lost.endpoint} was lost: ${lost.error}` : undefined;
  }

  /** Cancels what is still running, stops the engine thread, frees the model. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.close();
    this.handle.close();
  }

  private track(id: number, generation: Generation): void {
    if (this.live.size === 0) this.engine.ref(); // in-flight work keeps the process alive
    this.live.set(id, generation);
  }

  private untrack(id: number): void {
    this.live.delete(id);
    if (this.live.size === 0 && !this.closed) this.engine.unref();
  }

  /** Every event reaches its generation even when a listener throws; the first throw is rethrown after the batch. */
  private dispatch(events: NativeEvent[]): void {
    let thrown: { error: unknown } | undefined;
    for (const e of events) {
      try {
        this.deliver(e);
      } catch (error) {
        thrown ??= { error };
      }
    }
    if (thrown) throw thrown.error;
  }

  private deliver(e: NativeEvent): void {
    const generation = this.live.get(e.id);
    if (!generation) return;
    if (e.kind === EventKind.Text) {
      generation.pushText(e.text, e.logprobs);
      return;
    }
    this.untrack(e.id);
    if (e.kind === EventKind.Error) {
      generation.fail(new ShimmyError('generation_failed', e.text));
    } else {
      const promptTokens = e.promptTokens ?? 0;
      const completionTokens = e.completionTokens ?? 0;
      const usage = { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedTokens: e.cachedTokens ?? 0 };
      generation.finish(e.text as FinishReason, usage, e.promptMs ?? 0, e.generationMs ?? 0, e.stopSequence);
    }
  }
}

/** What the engine's submit() takes: the parsed options, −1 where an option is absent. */
function nativeOptions(parsed: GenerationRequest, lora: number[]): NativeRequestOptions {
  return {
    lora,
    maxTokens: parsed.maxTokens ?? -1,
    logprobs: parsed.logprobs ?? -1,
    temperature: parsed.temperature,
    topK: parsed.topK,
    topP: parsed.topP,
    minP: parsed.minP,
    repeatPenalty: parsed.repeatPenalty,
    frequencyPenalty: parsed.frequencyPenalty,
    presencePenalty: parsed.presencePenalty,
    penaltyLastN: parsed.penaltyLastN,
    seed: parsed.seed,
    stop: parsed.stop,
    ignoreEos: parsed.ignoreEos,
    grammar: parsed.grammar,
    logitBias: Object.entries(parsed.logitBias ?? {}).map(([token, bias]) => [Number(token), bias]),
  };
}

function describe(path: string, meta: NativeMetadata, contextSize: number, parallel: number, kv: ResolvedMemory, lora: LoraAdapter[], mmproj: string | null): ModelInfo {
  const k = meta.keys;
  const fileType = k['general.file_type'];
  return {
    path,
    architecture: k['general.architecture'] ?? 'unknown',
    name: k['general.name'] ?? '',
    description: meta.description,
    parameters: meta.parameters,
    sizeBytes: meta.sizeBytes,
    // general.file_type is absent in some conversions; the description then names the type.
    quantization: (fileType !== undefined ? ggufFileTypes[Number(fileType)] : undefined) ?? /\b(F32|F16|BF16|I?Q\d\w*)\b/.exec(meta.description)?.[1] ?? 'unknown',
    trainedContextLength: meta.contextLength,
    contextSize,
    parallel,
    embeddingLength: meta.embeddingLength,
    layers: meta.layers,
    vocabSize: meta.vocabSize,
    chatTemplate: meta.chatTemplate,
    bosToken: meta.bos,
    eosToken: meta.eos,
    lora,
    mmproj,
    modalities: [...(meta.vision ? ['vision' as const] : []), ...(meta.audio ? ['audio' as const] : [])],
    kv,
    metadata: k,
  };
}
