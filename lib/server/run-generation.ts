// One lifecycle for every generation a client starts, whatever its protocol: counted in flight
// (so shutdown can wait for it), cancelled when its client leaves, its tokens added to the
// metrics. Each protocol only formats what happens (streaming ones through generation.listen).
import type { ShimmyError } from '../engine/errors.js';
import type { CompletionResult, Generation } from '../engine/generation.js';
import type { ServerContext } from './context.js';

/**
 * Runs `generation` for a client (`onClientGone` registers the cancel). Resolves once the engine
 * has taken the request (it rejects with the refusal otherwise: context overflow, queue full…,
 * while the client can still get a status) with the promise of its result.
 */
export async function runGeneration(
  ctx: ServerContext,
  generation: Generation,
  onClientGone: (cancel: () => void) => void,
): Promise<{ result: Promise<CompletionResult> }> {
  ctx.inFlight.add(generation);
  onClientGone(() => generation.cancel());
  const result = generation.result.then(
    (r) => {
      ctx.inFlight.delete(generation);
      ctx.metrics.tokensGenerated += r.usage.completionTokens;
      return r;
    },
    (error: ShimmyError) => {
      ctx.inFlight.delete(generation);
      throw error;
    },
  );
  try {
    await generation.started;
  } catch (error) {
    result.catch(() => {}); // the refusal is thrown here, once
    throw error;
  }
  return { result };
}
