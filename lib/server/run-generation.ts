// One lifecycle for every generation a client starts, whatever its protocol: counted in flight
// (so shutdown can wait for it), cancelled when its client leaves, its tokens added to the
// metrics. Each protocol only formats what happens (streaming ones through generation.listen).
import type { ShimmyError } from '../engine/errors.js';
import type { CompletionResult, Generation } from '../engine/generation.js';
import type { ServerContext } from './context.js';

/**
 * Runs `generation` for a client (`onClientGone` registers the cancel) and resolves with its
 * result, or rejects with its error.
 */
export function runGeneration(ctx: ServerContext, generation: Generation, onClientGone: (cancel: () => void) => void): Promise<CompletionResult> {
  ctx.inFlight.add(generation);
  onClientGone(() => generation.cancel());
  return generation.result.then(
    (result) => {
      ctx.inFlight.delete(generation);
      ctx.metrics.tokensGenerated += result.usage.completionTokens;
      return result;
    },
    (error: ShimmyError) => {
      ctx.inFlight.delete(generation);
      throw error;
    },
  );
}
