// The memory levers as flags, for the commands that load a model (serve, generate): llama-server's
// names, checked before anything starts; what depends on the model's shape is checked at its load.
import { kvCacheTypes, parseTensorOverrides, type FlashAttention, type KvCacheType, type MemoryOptions } from '../engine/memory-options.js';
import { native } from '../native.js';
import { fail, integer, listFlag } from './common.js';

const types = Object.keys(kvCacheTypes);

/** flag, description: what sade declares. */
export const memoryFlagDocs: [flag: string, doc: string][] = [
  ['--cache-type-k', `KV cache type for K: ${types.join(', ')} (default f16; q8_0 halves the KV memory)`],
  ['--cache-type-v', 'KV cache type for V, as --cache-type-k (a quantized V needs flash attention)'],
  ['--flash-attn', 'Flash attention: auto, on or off (default auto: where the backend has it)'],
  ['--kv-unified', 'One KV pool shared by the slots instead of --ctx-size tokens each (see --kv-size)'],
  ['--kv-size', 'Tokens in the shared KV pool (with --kv-unified; default --ctx-size × --parallel)'],
  ['--cpu-moe', 'Keep every MoE expert tensor in system memory'],
  ['--n-cpu-moe', 'Keep the MoE expert tensors of the first N layers in system memory'],
  ['--override-tensor', "Tensors matching REGEX go to a buffer type: REGEX=BUFFER (repeatable, comma-separated; llama.cpp's -ot; buffers in shimmy diag)"],
];

export interface MemoryFlags {
  'cache-type-k'?: unknown;
  'cache-type-v'?: unknown;
  'flash-attn'?: unknown;
  'kv-unified'?: boolean;
  'kv-size'?: number;
  'cpu-moe'?: boolean;
  'n-cpu-moe'?: number;
  'override-tensor'?: string | string[];
}

function cacheType(flags: MemoryFlags, name: 'cache-type-k' | 'cache-type-v'): KvCacheType | undefined {
  const v = flags[name];
  if (v !== undefined && !types.includes(String(v))) fail(`--${name} must be one of ${types.join(', ')} (got '${String(v)}')`);
  return v === undefined ? undefined : (String(v) as KvCacheType);
}

/** The flags as loadModel options; a value outside its range is one line and exit 1. */
export function memoryOptions(flags: MemoryFlags): MemoryOptions {
  const flash = flags['flash-attn'];
  if (flash !== undefined && !['auto', 'on', 'off'].includes(String(flash))) fail(`--flash-attn must be auto, on or off (got '${String(flash)}')`);
  const cacheTypeV = cacheType(flags, 'cache-type-v');
  if (cacheTypeV && kvCacheTypes[cacheTypeV] > 1 && flash === 'off') fail(`--cache-type-v ${cacheTypeV} needs flash attention: drop --flash-attn off or use --cache-type-v f16`);
  const kvUnified = flags['kv-unified'] === true;
  const kvSize = integer(flags, 'kv-size', 16, 1 << 24);
  if (kvSize !== undefined && !kvUnified) fail("--kv-size is the shared pool's size: add --kv-unified");
  let overrideTensor;
  try {
    overrideTensor = listFlag(flags['override-tensor']).flatMap(parseTensorOverrides);
  } catch (error) {
    fail(`--override-tensor: ${(error as Error).message}`);
  }
  const buffers = native().systemInfo().devices.flatMap((d) => (d.bufferType ? [d.bufferType] : []));
  for (const { pattern, buffer } of overrideTensor) {
    try {
      new RegExp(pattern); // llama.cpp compiles it as std::regex's ECMAScript at the load, which checks it again
    } catch {
      fail(`--override-tensor ${pattern}=${buffer}: '${pattern}' is not a regular expression`);
    }
    if (!buffers.includes(buffer)) fail(`--override-tensor ${pattern}=${buffer}: no buffer type '${buffer}' here (there are: ${buffers.join(', ')})`);
  }
  return {
    cacheTypeK: cacheType(flags, 'cache-type-k'),
    cacheTypeV,
    flashAttention: flash === undefined ? undefined : (String(flash) as FlashAttention),
    kvUnified: kvUnified || undefined,
    kvSize,
    cpuMoe: flags['cpu-moe'] === true || undefined,
    nCpuMoe: integer(flags, 'n-cpu-moe', 0, 4096),
    overrideTensor,
  };
}
