// The metadata rules llama.cpp enforces with GGML_ASSERT (which aborts the whole process) or
// trusts blindly, checked in JavaScript first so a damaged file is a clear invalid_model:
// a layer count of 0 or past LLAMA_MAX_LAYERS, non-finite floats (an rms_norm_eps of NaN loads
// and then kills the first request), duplicate token strings, implausible counts.
import { walkGgufHeader, type HeaderValue } from './gguf-header.js';

/** llama.cpp's LLAMA_MAX_LAYERS (src/llama-hparams.h). */
const MAX_LAYERS = 512;
const FLOAT32 = 6;
const FLOAT64 = 12;

/** The reason llama.cpp must not see this file, or undefined when its header is sound. */
export function ggufProblem(path: string): string | undefined {
  const values = new Map<string, HeaderValue>();
  let problem: string | undefined;
  const note = (reason: string) => (problem ??= reason);
  let tensorCount: bigint;
  try {
    ({ tensorCount } = walkGgufHeader(
      path,
      (key, value, type) => {
        values.set(key, value);
        if ((type === FLOAT32 || type === FLOAT64) && !Number.isFinite(value)) note(`'${key}' is ${value}, not a finite number`);
      },
      (key, list) => {
        if (key !== 'tokenizer.ggml.tokens') return;
        if (list.length === 0) note('the vocabulary is empty');
        const seen = new Set<string>();
        for (const token of list) {
          if (seen.has(token)) return note(`the vocabulary lists the token ${JSON.stringify(token)} twice`);
          seen.add(token);
        }
      },
    ));
  } catch (error) {
    return `unreadable GGUF header: ${(error as Error).message}`;
  }
  if (problem) return problem;
  if (tensorCount === 0n || tensorCount > 1n << 20n) return `implausible tensor count ${tensorCount}`;
  const arch = values.get('general.architecture');
  if (typeof arch !== 'string') return "the header has no 'general.architecture'";
  const layers = values.get(`${arch}.block_count`);
  if (layers !== undefined && !(Number(layers) >= 1 && Number(layers) <= MAX_LAYERS)) {
    return `'${arch}.block_count' is ${layers}; llama.cpp supports 1 to ${MAX_LAYERS} layers`;
  }
  for (const key of [`${arch}.embedding_length`, `${arch}.context_length`]) {
    const v = values.get(key);
    if (v !== undefined && typeof v !== 'string' && !(Number(v) >= 1 && Number(v) <= 1 << 24)) return `'${key}' is ${v}, out of range`;
  }
  return undefined;
}
