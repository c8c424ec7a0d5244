// The memory levers of a load: KV cache types, flash attention, one KV pool shared by the slots,
// and where tensors live (MoE experts kept in system memory). Checked here against the model's
// shape before llama.cpp makes a context, so a combination it would refuse is an error that names
// the fix instead of "could not create a context".
import { ShimmyError } from './errors.js';

/** KV cache element types llama-server's -ctk/-ctv take, with the values per quantized block. */
export const kvCacheTypes = { f32: 1, f16: 1, bf16: 1, q8_0: 32, q4_0: 32, q4_1: 32, q5_0: 32, q5_1: 32, iq4_nl: 32 } as const;
export type KvCacheType = keyof typeof kvCacheTypes;

export type FlashAttention = 'auto' | 'on' | 'off';

/** llama.cpp's LLM_FFN_EXPS_REGEX (common/common.h): a MoE model's expert tensors. */
const EXPERT_TENSORS = '\\.ffn_(up|down|gate|gate_up)_(ch|)exps';

export interface TensorOverride {
  /** A regular expression (std::regex, ECMAScript) matched against tensor names. */
  pattern: string;
  /** A buffer type by name, as `shimmy diag` lists them: CPU, CUDA0, Vulkan0, … */
  buffer: string;
}

export interface MemoryOptions {
  cacheTypeK?: KvCacheType;
  cacheTypeV?: KvCacheType;
  flashAttention?: FlashAttention;
  kvUnified?: boolean;
  kvSize?: number;
  cpuMoe?: boolean;
  nCpuMoe?: number;
  overrideTensor?: TensorOverride[];
}

/** What the engine and the loader are given, every field filled. */
export interface ResolvedMemory {
  cacheTypeK: KvCacheType;
  cacheTypeV: KvCacheType;
  flashAttention: FlashAttention;
  kvUnified: boolean;
  /** Tokens of KV the context holds: contextSize × parallel, or the shared pool's size. */
  kvSize: number;
}

const invalid = (message: string): never => {
  throw new ShimmyError('invalid_request', message);
};

function cacheType(value: unknown, name: string): KvCacheType {
  if (value === undefined) return 'f16';
  if (typeof value !== 'string' || !Object.hasOwn(kvCacheTypes, value)) invalid(`${name} must be one of ${Object.keys(kvCacheTypes).join(', ')} (got '${String(value)}')`);
  return value as KvCacheType;
}

/** The model's head sizes for K and V, from its metadata as llama.cpp reads them. */
export function headSizes(metadata: Record<string, string>): { k: number; v: number } {
  const arch = metadata['general.architecture'] ?? '';
  const n = (key: string) => Number(metadata[`${arch}.${key}`]);
  const heads = n('attention.head_count');
  const fallback = Number.isFinite(heads) && heads > 0 ? n('embedding_length') / heads : NaN;
  const k = n('attention.key_length');
  const v = n('attention.value_length');
  return { k: Number.isFinite(k) ? k : fallback, v: Number.isFinite(v) ? v : fallback };
}

/**
 * Fills the defaults and refuses what llama.cpp would: a quantized V cache without flash
 * attention, and a quantized type whose block does not divide the head size.
 */
export function resolveMemory(options: MemoryOptions, metadata: Record<string, string>, contextSize: number, parallel: number): ResolvedMemory {
  const cacheTypeK = cacheType(options.cacheTypeK, 'cacheTypeK');
  const cacheTypeV = cacheType(options.cacheTypeV, 'cacheTypeV');
  const flashAttention = options.flashAttention ?? 'auto';
  if (!['auto', 'on', 'off'].includes(flashAttention)) invalid(`flashAttention must be auto, on or off (got '${String(flashAttention)}')`);
  if (kvCacheTypes[cacheTypeV] > 1 && flashAttention === 'off') {
    invalid(`a quantized V cache (${cacheTypeV}) needs flash attention: use flash attention auto or on, or a V cache of f16`);
  }
  const heads = headSizes(metadata);
  for (const [which, type, size] of [['K', cacheTypeK, heads.k], ['V', cacheTypeV, heads.v]] as const) {
    const block = kvCacheTypes[type];
    if (block > 1 && Number.isInteger(size) && size % block !== 0) {
      invalid(`a ${which} cache of ${type} stores blocks of ${block} values, which do not divide this model's head size of ${size}: use f16, bf16 or f32`);
    }
  }
  const kvUnified = options.kvUnified ?? false;
  if (typeof kvUnified !== 'boolean') invalid('kvUnified must be true or false');
  let kvSize = contextSize * parallel;
  if (options.kvSize !== undefined) {
    if (!kvUnified) invalid('kvSize is the shared pool\'s size: it needs kvUnified (--kv-unified)');
    if (!Number.isInteger(options.kvSize) || options.kvSize < contextSize || options.kvSize > 1 << 24) {
      invalid(`kvSize (--kv-size) must be an integer from contextSize (${contextSize}) to ${1 << 24} tokens (got ${options.kvSize})`);
    }
    kvSize = options.kvSize;
  }
  return { cacheTypeK, cacheTypeV, flashAttention, kvUnified, kvSize };
}

/** --cpu-moe, --n-cpu-moe N and --override-tensor as the tensor-to-buffer rules llama.cpp takes, in its order. */
export function tensorOverrides(options: MemoryOptions): TensorOverride[] {
  const out: TensorOverride[] = [];
  for (const o of options.overrideTensor ?? []) {
    if (typeof o?.pattern !== 'string' || o.pattern === '' || typeof o.buffer !== 'string' || o.buffer === '') invalid('overrideTensor entries must be {pattern, buffer} strings');
    out.push({ pattern: o.pattern, buffer: o.buffer });
  }
  const n = options.nCpuMoe;
  if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 4096)) invalid(`nCpuMoe must be an integer from 0 to 4096 (got ${n})`);
  for (let i = 0; i < (n ?? 0); i++) out.push({ pattern: `blk\\.${i}${EXPERT_TENSORS}`, buffer: 'CPU' });
  if (options.cpuMoe) out.push({ pattern: EXPERT_TENSORS, buffer: 'CPU' });
  return out;
}

/** `REGEX=BUFFER[,REGEX=BUFFER…]`, llama.cpp's -ot value. */
export function parseTensorOverrides(value: string): TensorOverride[] {
  return value.split(',').filter(Boolean).map((item) => {
    const at = item.lastIndexOf('=');
    if (at <= 0 || at === item.length - 1) invalid(`an override is REGEX=BUFFER (got '${item}')`);
    return { pattern: item.slice(0, at), buffer: item.slice(at + 1) };
  });
}
