// One in-flight request, seen from JavaScript: an async iterable of text chunks plus a promise
// of the final result. The engine's events are pushed in; the consumer pulls. Consumers that
// want no per-chunk promise (the server) attach listeners with `listen()` instead.
import type { NativeTokenLogprob } from '../native.js';
import type { ShimmyError } from './errors.js';

export type FinishReason = 'length' | 'stop' | 'cancelled';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens whose KV cells were reused from an earlier request. */
  cachedTokens: number;
}

/**
 * A generated token's log-probability (natural log, softmax of the raw logits) and its likeliest
 * alternatives. `text` is the token's own piece, which may be part of a multi-byte character.
 */
export type TokenLogprob = NativeTokenLogprob;

export interface CompletionResult {
  text: string;
  /** With the `logprobs` option: one entry per generated token. */
  logprobs?: TokenLogprob[];
  finishReason: FinishReason;
  /** The stop string that ended the text (finishReason 'stop'), when one did rather than end-of-sequence. */
  stopSequence?: string;
  usage: Usage;
  timings: { promptMs: number; generationMs: number; tokensPerSecond: number };
}

export interface Chunk {
  text: string;
  /** With the `logprobs` option: the tokens this text came from. */
  logprobs?: TokenLogprob[];
}

export interface GenerationListener {
  text(text: string, logprobs?: TokenLogprob[]): void;
  done(result: CompletionResult): void;
  error(error: ShimmyError): void;
}

export class Generation implements AsyncIterable<Chunk> {
  readonly result: Promise<CompletionResult>;
  /**
   * Settles once the request is in the engine's queue: at once for most prompts, after
   * tokenizing off the main thread for large ones. Rejects (as `result` does) when the request
   * is refused (context_overflow, queue_full, …), so a server can still answer with a status.
   */
  readonly started: Promise<void>;
  private markStarted!: (error?: ShimmyError) => void;
  private resolveResult!: (r: CompletionResult) => void;
  private rejectResult!: (e: ShimmyError) => void;
  private readonly chunks: Chunk[] = [];
  private fullText = '';
  private allLogprobs: TokenLogprob[] | undefined;
  private finished = false;
  private failure: ShimmyError | undefined;
  private outcome: CompletionResult | undefined;
  private wake: (() => void) | undefined;
  private listener: GenerationListener | undefined;

  private paused = false;

  constructor(
    readonly id: number,
    private readonly cancelFn: () => void,
    private readonly pauseFn: (paused: boolean) => void = () => {},
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.started = new Promise((resolve, reject) => {
      this.markStarted = (error) => (error ? reject(error) : resolve());
    });
    // A consumer that only iterates must not see an unhandled rejection on either promise.
    this.result.catch(() => {});
    this.started.catch(() => {});
  }

  /** The engine accepted the request (or refused it: the generation then fails with that error). */
  submitted(error?: ShimmyError): void {
    this.markStarted(error);
    if (error) this.fail(error);
  }

  /** Stops the generation within one decode step; the result's finishReason is 'cancelled'. */
  cancel(): void {
    if (!this.finished) this.cancelFn();
  }

  /**
   * Holds the generation in its slot (its KV cells kept, no tokens produced) until resume():
   * for a consumer that cannot take text as fast as it comes (a congested socket).
   */
  pause(): void {
    if (this.finished || this.paused) return;
    this.paused = true;
    this.pauseFn(true);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.finished) this.pauseFn(false);
  }

  /**
   * Push-style consumption: no promise per chunk. Text that came before is handed over first,
   * and the end too when the generation is already over.
   */
  listen(listener: GenerationListener): void {
    this.listener = listener;
    for (const c of this.chunks.splice(0)) listener.text(c.text, c.logprobs);
    if (this.failure) listener.error(this.failure);
    else if (this.outcome) listener.done(this.outcome);
  }

  pushText(text: string, logprobs?: TokenLogprob[]): void {
    this.fullText += text;
    if (logprobs) (this.allLogprobs ??= []).push(...logprobs);
    if (this.listener) return this.listener.text(text, logprobs);
    this.chunks.push(logprobs ? { text, logprobs } : { text });
    this.wakeUp();
  }

  finish(reason: FinishReason, usage: Usage, promptMs: number, generationMs: number, stopSequence?: string): void {
    this.finished = true;
    this.markStarted();
    const tokensPerSecond = generationMs > 0 ? (usage.completionTokens * 1000) / generationMs : 0;
    const result: CompletionResult = { text: this.fullText, finishReason: reason, usage, timings: { promptMs, generationMs, tokensPerSecond } };
    if (this.allLogprobs) result.logprobs = this.allLogprobs;
    if (stopSequence !== undefined) result.stopSequence = stopSequence;
    this.outcome = result;
    this.resolveResult(result);
    this.listener?.done(result);
    this.wakeUp();
  }

  fail(error: ShimmyError): void {
    this.finished = true;
    this.failure = error;
    this.rejectResult(error);
    this.listener?.error(error);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Chunk> {
    let completed = false;
    try {
      while (true) {
        // Drain everything that arrived since the last wake-up before waiting again.
        while (this.chunks.length > 0) yield this.chunks.shift()!;
        if (this.failure) throw this.failure;
        if (this.finished) {
          completed = true;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // A consumer that breaks out of the loop early no longer wants the tokens.
      if (!completed) this.cancel();
    }
  }
}
