// The one place that loads the addon and describes it. Everything else in TypeScript goes
// through these types; the C++ side re-checks them (native/napi/napi_util.h).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseBinary, type BinaryChoice } from './binary-choice.js';

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface NativeMetadata {
  keys: Record<string, string>;
  description: string;
  parameters: number;
  sizeBytes: number;
  contextLength: number;
  embeddingLength: number;
  layers: number;
  vocabSize: number;
  bos: number;
  eos: number;
  chatTemplate: string | null;
  /** Each LoRA adapter's GGUF metadata, in load order. */
  adapters: Record<string, string>[];
  /** What the projector (mmproj) loaded with it takes: images, audio. */
  vision: boolean;
  audio: boolean;
}

export interface NativeModel {
  metadata(): NativeMetadata;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  /** The same on a libuv worker; rejects with code invalid_request. */
  tokenizeAsync(text: string, addSpecial: boolean, parseSpecial: boolean): Promise<Int32Array>;
  detokenize(tokens: Int32Array, renderSpecial: boolean): string;
  /** Each token's own text as generated (special tokens rendered), as bytes: a token may hold part of a UTF-8 character. */
  pieces(tokens: Int32Array): Buffer[];
  /** Renders (and tokenizes) off the main thread; rejects with code invalid_request. */
  /** With images: each goes where the messages hold `marker` (a media_marker part). */
  renderChat(requestJson: string, images?: Uint8Array[], marker?: string): Promise<NativeRenderedChat>;
  embed(inputs: Int32Array[], options: { normalize: boolean; threads: number; contextSize: number }): Promise<Float32Array[]>;
  /** The RPC workers the model is split over (empty for a local model). */
  workers(): NativeWorker[];
  close(): void;
}

/** A device of an RPC worker, with the memory it reported when the worker connected. */
export interface NativeWorkerDevice {
  name: string;
  description: string;
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeWorker {
  endpoint: string;
  devices: NativeWorkerDevice[];
  /** Why the connection failed since the load; null while it works. */
  error: string | null;
}

/**
 * One chat request as the model's template rendered it (native/chat/rendered_chat.h): an opaque
 * handle that keeps the prompt's tokens, the reply's grammar and its parser on the native side.
 * The engine's submit() takes it in place of prompt tokens; a ChatParser is made from it.
 */
export interface NativeRenderedChat {
  readonly prompt: string;
  readonly promptTokens: number;
  /** Of those, the images' (the projector's embeddings, not text). */
  readonly imageTokens: number;
  /** Stop strings the format needs besides the model's end-of-generation tokens (submit() adds them). */
  readonly stop: readonly string[];
  /** The chat format's name, as llama.cpp calls it ("Content-only", "peg-native", …). */
  readonly format: string;
  /** Whether the reply is constrained by a grammar (a JSON schema, or tools). */
  readonly constrained: boolean;
  /** Whether the reply may hold tool calls (tools were offered and tool_choice is not 'none'). */
  readonly parseToolCalls: boolean;
  /** The format has no reasoning or tool-call markers: the reply is its content, verbatim. */
  readonly contentOnly: boolean;
  /** True when the model's own template could not be used and ChatML was. */
  readonly templateFallback: boolean;
}

/** A parsed reply so far, and what changed since the previous update. */
export interface NativeParsedReply {
  content: string;
  reasoning: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  diffs: { content: string; reasoning: string; toolCallIndex?: number; toolCall?: { id: string; name: string; arguments: string } }[];
}

export interface NativeChatParser {
  /** Appends `text` to the reply; returns the JSON of {diffs} while partial, of a NativeParsedReply at the end. */
  update(text: string, partial: boolean): string;
}

export interface NativeEngineOptions {
  contextSize: number;
  parallel: number;
  batchSize: number;
  threads: number;
  /** Decode with fewer than `threads` while that is faster (other processes busy on the cores). */
  adaptThreads: boolean;
  /** Requests without a grammar or logprobs sample inside the decode graph (llama.cpp's backend sampling). */
  backendSampling: boolean;
  queueLimit: number;
  /** KV cache element types by ggml's names (f16, q8_0, …). */
  cacheTypeK: string;
  cacheTypeV: string;
  flashAttention: 'auto' | 'on' | 'off';
  /** One KV pool of kvSize cells shared by the slots, instead of contextSize cells each. */
  kvUnified: boolean;
  kvSize: number;
}

/** What submit() passes for one request; names match lib/engine/options.ts. */
export interface NativeRequestOptions {
  /** A scale for each of the model's LoRA adapters ([] when it has none). */
  lora: number[];
  maxTokens: number;
  /** -1: none; n: each token's log-probability and its n likeliest alternatives (n ≤ 20). */
  logprobs: number;
  ignoreEos: boolean;
  stop: string[];
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  penaltyLastN: number;
  seed: number;
  /** The user's own GBNF (a rendered chat brings its own instead). */
  grammar: string;
  logitBias: [number, number][];
}

export const enum EventKind {
  Text = 0,
  Done = 1,
  Error = 2,
}

export interface NativeTokenLogprob {
  token: number;
  text: string;
  logprob: number;
  top: { token: number; text: string; logprob: number }[];
}

export interface NativeEvent {
  id: number;
  kind: EventKind;
  /** Text: new text. Done: the finish reason. Error: the message. */
  text: string;
  /** Text: the tokens the text came from, when the request asked for logprobs. */
  logprobs?: NativeTokenLogprob[];
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  promptMs?: number;
  generationMs?: number;
  /** Done: the stop string that ended the text, when one did. */
  stopSequence?: string;
}

export interface NativeEngine {
  /**
   * Queues a request, tokenizing a text prompt itself; a long text or a grammar is prepared off
   * the main thread, and the request queued once the promise resolves.
   */
  submit(id: number, prompt: string | Int32Array | NativeRenderedChat, options: NativeRequestOptions): void | Promise<void>;
  cancel(id: number): void;
  /** Holds a request in its slot (no decode steps) until called again with false. */
  pause(id: number, paused: boolean): void;
  stats(): NativeEngineStats;
  ref(): void;
  unref(): void;
  close(): Promise<void>;
}

export type StepPhase = 'decode' | 'sample' | 'deliver' | 'idle';

export interface NativeEngineStats {
  slotsBusy: number;
  /** Of those, held back by their pause (their client reads slowly) at the engine's last step. */
  slotsPaused: number;
  queued: number;
  steps: number;
  tokensGenerated: number;
  /** Of those, sampled inside the decode graph (backendSampling). */
  backendSampledTokens: number;
  parallel: number;
  contextSize: number;
  /** The KV cache: cells (tokens) in the context, those holding a request's or a cached prefix's tokens, and its bytes on every device. */
  kvCells: number;
  kvCellsUsed: number;
  kvBytes: number;
  /** Bytes of the model's weights, its context (the KV cache) and compute buffers per buffer type (CPU, CUDA0, …), as the context was made. */
  memory: { buffer: string; model: number; context: number; compute: number }[];
  /** Time the engine's thread spent in each phase of its steps: total, and counts per bucket of phaseBuckets (+ one for longer). */
  phases: Record<StepPhase, { seconds: number; counts: number[] }>;
  /** Upper bounds of the phase histogram's buckets, in seconds. */
  phaseBuckets: number[];
}

export interface NativeDevice {
  name: string;
  description: string;
  /** Its buffer type's name, which a tensor override names (CPU, CUDA0, Vulkan0, …). */
  bufferType: string | null;
  type: 'cpu' | 'gpu' | 'other';
  memoryFree: number;
  memoryTotal: number;
}

export interface NativeSystemInfo {
  gpuBackend: string;
  rpc: boolean;
  supportsMmap: boolean;
  llamaSystemInfo: string;
  cpuFeatures: Record<string, boolean>;
  devices: NativeDevice[];
}

export interface NativeBinding {
  loadModel(
    path: string,
    options: { gpuLayers?: number; useMmap?: boolean; rpc?: string[]; tensorSplit?: number[]; overrideTensor?: { pattern: string; buffer: string }[]; lora?: string[]; mmproj?: string; mmprojThreads?: number },
    onProgress?: (fraction: number) => void,
  ): { promise: Promise<NativeModel>; abort(): void };
  /** Serves this machine's devices to other shimmy processes over ggml's RPC protocol; `done` rejects if it cannot listen. */
  startWorker(options: { endpoint: string; threads?: number; devices?: string[]; memoryLimit?: number }): { devices: NativeWorkerDevice[]; done: Promise<never> };
  /** Connects to RPC workers and reports their devices; rejects with worker_unavailable. */
  probeWorkers(endpoints: string[]): Promise<NativeWorker[]>;
  /** Flushes stdio and ends the process at once (no static destructors under a serving thread). */
  exitProcess(code: number): never;
  Engine: new (model: NativeModel, options: NativeEngineOptions, onEvents: (events: NativeEvent[]) => void) => NativeEngine;
  /** `incremental: false` parses the whole reply at every update (the reference the incremental parser is tested against). */
  ChatParser: new (chat: NativeRenderedChat, options?: { incremental?: boolean }) => NativeChatParser;
  setLogHandler(handler: ((level: number, text: string) => void) | null, minLevel?: number): void;
  systemInfo(): NativeSystemInfo;
}

let binding: NativeBinding | undefined;
let choice: BinaryChoice | undefined;

/** Which binary this process loads and why the others were not taken (lib/binary-choice.ts). */
export function binaryChoice(): BinaryChoice {
  choice ??= chooseBinary(packageRoot);
  return choice;
}

export function native(): NativeBinding {
  binding ??= createRequire(import.meta.url)(binaryChoice().path) as NativeBinding;
  return binding;
}
