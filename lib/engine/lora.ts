// LoRA adapters: the files a model loads with (each checked first, like a model), their default
// scales, and a request's own choice, `lora: [{id, scale}]` as llama-server takes it.
import { ShimmyError } from './errors.js';
import { readGgufHeader, type HeaderValue } from './gguf-header.js';
import { fail } from './schema.js';

/** An adapter given to loadModel: its file and default scale (1 unless given). */
export interface LoraFile {
  path: string;
  scale?: number;
}

/** An adapter as a loaded model lists it (GET /lora-adapters): its id is its place in the list. */
export interface LoraAdapter {
  id: number;
  path: string;
  /** The scale a request that gives no `lora` uses (POST /lora-adapters changes it). */
  scale: number;
}

/** One entry of a request's `lora`; the model's adapters it does not name are off (scale 0). */
export interface LoraChoice {
  id: number;
  scale: number;
}

/** More adapters than a model could sensibly stack; each one costs a graph node per projection. */
export const MAX_ADAPTERS = 64;
/** llama.cpp takes any float; past this a scale only makes noise. */
const MAX_SCALE = 100;

const validScale = (scale: unknown): scale is number => typeof scale === 'number' && Number.isFinite(scale) && Math.abs(scale) <= MAX_SCALE;

/** The `lora` field of a request body, checked as any field: [{id, scale}], ids once each. */
export function parseLoraChoices(value: unknown, name: string): LoraChoice[] {
  const list = value as unknown[];
  const seen = new Set<number>();
  return list.map((item, i) => {
    const entry = item as { id?: unknown; scale?: unknown } | null;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`${name}[${i}]`, 'must be {id, scale}');
    const { id, scale } = entry;
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= MAX_ADAPTERS) fail(`${name}[${i}].id`, `must be an adapter id from 0 to ${MAX_ADAPTERS - 1}`);
    if (seen.has(id as number)) fail(`${name}[${i}].id`, `names adapter ${id} twice`);
    seen.add(id as number);
    if (!validScale(scale)) fail(`${name}[${i}].scale`, `must be a number from -${MAX_SCALE} to ${MAX_SCALE}`);
    return { id: id as number, scale };
  });
}

/** llama-server's per-request field, for every dialect's schema. */
export const loraField = {
  type: 'array', wire: ['lora'], max: MAX_ADAPTERS, check: parseLoraChoices, shape: '[{id, scale}]',
  doc: "llama-server's: the model's LoRA adapters to apply, by id (GET /lora-adapters), with their scales; those not listed are off (absent: the defaults)",
} as const;

/** A scale for each of `adapters`: the choices given (the others 0), or the defaults. */
export function loraScales(adapters: readonly LoraAdapter[], choices: readonly LoraChoice[] | undefined): number[] {
  if (choices === undefined) return adapters.map((a) => a.scale);
  if (!Array.isArray(choices)) throw new ShimmyError('invalid_request', 'lora must be a list of {id, scale}');
  const scales = adapters.map(() => 0);
  const seen = new Set<number>();
  for (const [i, choice] of choices.entries()) {
    const { id, scale } = (choice ?? {}) as Partial<LoraChoice>;
    if (seen.has(id!)) throw new ShimmyError('invalid_request', `lora[${i}].id names adapter ${id} twice`);
    seen.add(id!);
    if (!Number.isInteger(id) || id! < 0 || id! >= adapters.length) {
      throw new ShimmyError('invalid_request', `lora[${i}].id ${id}: this model has ${adapters.length === 0 ? 'no LoRA adapters' : adapters.length === 1 ? 'one adapter, id 0' : `adapters 0 to ${adapters.length - 1}`} (GET /lora-adapters)`);
    }
    if (!validScale(scale)) throw new ShimmyError('invalid_request', `lora[${i}].scale must be a number from -${MAX_SCALE} to ${MAX_SCALE}`);
    scales[id!] = scale;
  }
  return scales;
}

/** loadModel's `lora`, checked: at most MAX_ADAPTERS files with finite scales. */
export function checkLoraFiles(files: unknown): LoraFile[] {
  if (files === undefined) return [];
  if (!Array.isArray(files) || files.length > MAX_ADAPTERS) throw new ShimmyError('invalid_request', `lora must be a list of at most ${MAX_ADAPTERS} {path, scale}`);
  return files.map((f: LoraFile, i) => {
    if (typeof f?.path !== 'string' || f.path === '') throw new ShimmyError('invalid_request', `lora[${i}].path must be a file path`);
    if (f.scale !== undefined && !validScale(f.scale)) throw new ShimmyError('invalid_request', `lora[${i}].scale must be a number from -${MAX_SCALE} to ${MAX_SCALE}`);
    return { path: f.path, scale: f.scale ?? 1 };
  });
}

/**
 * Why the file at `path` is no LoRA adapter for a model of `architecture`, or undefined: its
 * header must read, say it is an adapter of type lora, and name the model's architecture.
 * llama.cpp then checks each tensor against the model as it loads it.
 */
export function adapterProblem(path: string, architecture: string): string | undefined {
  let keys: Map<string, HeaderValue>;
  try {
    keys = readGgufHeader(path);
  } catch (error) {
    return `unreadable GGUF header: ${(error as Error).message}`;
  }
  if (keys.get('general.type') !== 'adapter') return `it is not an adapter (general.type is ${JSON.stringify(keys.get('general.type') ?? null)})`;
  if (keys.get('adapter.type') !== 'lora') return `it is not a LoRA adapter (adapter.type is ${JSON.stringify(keys.get('adapter.type') ?? null)})`;
  const arch = keys.get('general.architecture');
  if (arch !== architecture) return `it is for the architecture ${JSON.stringify(arch ?? null)}, the model is ${JSON.stringify(architecture)}`;
  return undefined;
}
