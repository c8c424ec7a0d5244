// The one completion path every dialect runs on: a route parses its body into a GenerationRequest
// (lib/engine/model.ts) and a Sink that writes the dialect's shape; runGeneration does the rest,
// the same for all of them: it holds the model while the request runs, starts it (a refusal is
// thrown while the client can still get a status), counts it in flight, cancels it when the
// client goes, pauses it while the client's socket is congested, and adds its tokens to the metrics.
import type { ShimmyError } from '../../engine/errors.js';
import { statusOf } from '../errors.js';
import type { CompletionResult, TokenLogprob } from '../../engine/generation.js';
import type { GenerationRequest, Model } from '../../engine/model.js';
import type { ServerContext } from '../context.js';

/** What a dialect does with one generation's events. */
export interface Sink {
  /** The engine took the request: a stream's head and opening events may be written. */
  open(): void;
  text(text: string, logprobs?: TokenLogprob[]): void;
  /** Returns the status it answered with when that is not 200 (a cancelled reply sent as an error). */
  done(result: CompletionResult): number | void;
  /** The generation failed after open() (a refusal before it is thrown instead). */
  error(error: ShimmyError): void;
}

/** The client a generation is for, as its transport sees it. */
export interface Client {
  /** Still there, and its response not yet ended. */
  readonly open: boolean;
  /** Calls `fn` once if the client goes away (at once if it has). */
  onAbort(fn: () => void): void;
  /** `pause` when the client's socket is congested, `resume` when it drained. */
  onCongestion(pause: () => void, resume: () => void): void;
}

/** What a route hands to runGeneration once it has the model: the request and its sink. */
export interface Completion {
  request: GenerationRequest;
  sink: Sink;
}

/**
 * Runs one generation for `client` on the model `name`. Resolves with the status to count: the
 * sink's, 499 when the client left before it started, or the failure's when it failed after the
 * engine took it (a refusal before that is thrown, for the route's error boundary to answer).
 */
export function runGeneration(
  ctx: ServerContext,
  name: string,
  client: Client,
  prepare: (model: Model) => Completion | Promise<Completion>,
  /** How long the model stays loaded after this request (Ollama's keep_alive). */
  keepAliveMs?: number,
): Promise<number> {
  return ctx.registry.use(name, async (model) => {
    if (!client.open) return 499;
    const { request, sink } = await prepare(model);
    if (!client.open) return 499;
    const generation = model.start(request);
    ctx.inFlight.add(generation);
    let status = 200;
    try {
      client.onAbort(() => generation.cancel());
      client.onCongestion(() => generation.pause(), () => generation.resume());
      await generation.started;
      try {
        sink.open();
      } catch (error) {
        generation.cancel(); // nothing may run on for a reply that cannot be written
        throw error;
      }
      // A sink that throws (a reply it cannot shape) must not reach the engine's event dispatch:
      // its generation is cancelled and the throw goes to the route's error boundary.
      let sinkFailure: { error: unknown } | undefined;
      const guard = (fn: () => void) => {
        if (sinkFailure) return;
        try {
          fn();
        } catch (error) {
          sinkFailure = { error };
          generation.cancel();
        }
      };
      generation.listen({
        text: (text, logprobs) => guard(() => sink.text(text, logprobs)),
        done: (result) => {
          ctx.metrics.tokensGenerated += result.usage.completionTokens;
          guard(() => void (status = sink.done(result) ?? 200));
        },
        error: (error) => {
          status = statusOf(error);
          if (status >= 500) ctx.log(`generation failed on ${name}: ${error.message}`);
          guard(() => sink.error(error));
        },
      });
      await generation.result.catch(() => {});
      if (sinkFailure) throw sinkFailure.error;
      return status;
    } finally {
      ctx.inFlight.delete(generation);
    }
  }, { keepAliveMs });
}
