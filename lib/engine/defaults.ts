// Every default that is not a generation option's (those are in options.ts): how a model loads,
// and what the seed fixed for its own API and the CLI. The C++ engine has none of its own: it
// requires every field, so a default is changed here and nowhere else.
import { availableParallelism } from 'node:os';

export const loadDefaults = {
  /** Context tokens per request when not given: the model's training context, capped here. */
  contextSizeCap: 4096,
  parallel: 4,
  batchSize: 512,
  queueLimit: 64,
  /** Decoding is memory-bound: more threads than this stop helping. */
  maxThreads: 8,
} as const;

/** Context tokens per request when not given: the model's training context (0: unknown), capped. */
export function defaultContextSize(trained: number): number {
  return Math.min(loadDefaults.contextSizeCap, trained || loadDefaults.contextSizeCap);
}

/** Threads a model decodes with at most when not told: the cores, up to loadDefaults.maxThreads. */
export function defaultThreads(): number {
  return Math.min(loadDefaults.maxThreads, availableParallelism());
}

/** The seed's defaults for /api/generate, /ws/generate and `shimmy generate` (the OpenAI routes and the library keep llama-server's). */
export const apiGenerateDefaults = { maxTokens: 100, temperature: 0.7 } as const;

/** Models `shimmy serve` keeps loaded at once. */
export const serveMaxLoaded = 2;
