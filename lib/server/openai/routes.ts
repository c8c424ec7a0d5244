// OpenAI-compatible routes: GET /v1/models(/:id), POST /v1/completions, POST /v1/chat/completions,
// POST /v1/embeddings. Same engine and option schema as the shimmy API; errors in OpenAI's shape
// so the official client raises its typed errors.
import { randomUUID } from 'node:crypto';
import { ReplyParser, type ParsedReply } from '../../engine/chat.js';
import { ShimmyError } from '../../engine/errors.js';
import type { CompletionResult, TokenLogprob } from '../../engine/generation.js';
import { runGeneration, type Sink } from '../completion/run-generation.js';
import { SSE_DONE, sseData } from '../completion/sse.js';
import type { ServerContext } from '../context.js';
import { openAiErrorBody, shutdownCancelled, statusOf } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';
import { embeddings } from './embeddings.js';
import { parseChatRequest, parseCompletionRequest } from './request.js';
import { assistantMessage, chatLogprobs, completionLogprobs, delta, finishReason, usage } from './shapes.js';


/** How one kind of reply is shaped: whole, and as stream events. */
interface Shape {
  object: string;
  chunkObject: string;
  /** The first event of a stream, if any. */
  opening?: Record<string, unknown>;
  /** The streamed pieces for new text. */
  pieces(text: string, logprobs: TokenLogprob[] | undefined): Record<string, unknown>[];
  /** The streamed pieces left at the end, then the closing choice. */
  closing(result: CompletionResult): { pieces: Record<string, unknown>[]; choice: Record<string, unknown> };
  /** The choice of a whole reply. */
  whole(result: CompletionResult): Record<string, unknown>;
}

function completionShape(): Shape {
  let textOffset = 0;
  return {
    object: 'text_completion',
    chunkObject: 'text_completion',
    pieces: (text, logprobs) => {
      const piece = { text, logprobs: logprobs ? completionLogprobs(logprobs, textOffset) : null };
      textOffset += text.length;
      return [piece];
    },
    closing: (r) => ({ pieces: [], choice: { text: '', finish_reason: finishReason(r) } }),
    whole: (r) => ({ index: 0, text: r.text, logprobs: r.logprobs ? completionLogprobs(r.logprobs, 0) : null, finish_reason: finishReason(r) }),
  };
}

function chatShape(parser: ReplyParser): Shape {
  // A chunk's logprobs ride its first delta; text that yields no delta (tool-call markup) passes
  // them on to the next one.
  let pendingLogprobs: TokenLogprob[] = [];
  const deltas = (diffs: ParsedReply['diffs']) =>
    diffs.map((d) => {
      const logprobs = pendingLogprobs.length > 0 ? chatLogprobs(pendingLogprobs) : null;
      pendingLogprobs = [];
      return { delta: delta(d), logprobs };
    });
  return {
    object: 'chat.completion',
    chunkObject: 'chat.completion.chunk',
    opening: { delta: { role: 'assistant', content: '' } },
    pieces: (text, logprobs) => {
      if (logprobs) pendingLogprobs.push(...logprobs);
      return deltas(parser.push(text));
    },
    closing: (r) => {
      const reply = parser.finish();
      return { pieces: deltas(reply.diffs), choice: { delta: {}, finish_reason: finishReason(r, reply) } };
    },
    whole: (r) => {
      parser.push(r.text);
      const reply = parser.finish();
      return { index: 0, message: assistantMessage(reply), logprobs: r.logprobs ? chatLogprobs(r.logprobs) : null, finish_reason: finishReason(r, reply) };
    },
  };
}

/** The sink that answers with `shape`, whole or as chunks, ending in [DONE]. */
function replySink(ex: Exchange, options: { model: string; stream: boolean; includeUsage: boolean }, shape: Shape): Sink {
  const id = `${shape.object === 'text_completion' ? 'cmpl' : 'chatcmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = options.model;
  const fail = (e: ShimmyError) => {
    if (options.stream) ex.endStream(sseData(openAiErrorBody(e)) + SSE_DONE);
    else ex.error(e, openAiErrorBody);
    return statusOf(e);
  };

  if (!options.stream) {
    return {
      open: () => {},
      text: () => {},
      done: (r) => {
        if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
        ex.json(200, { id, object: shape.object, created, model, choices: [shape.whole(r)], usage: usage(r) });
      },
      error: (e) => void fail(e),
    };
  }
  const head = { id, object: shape.chunkObject, created, model };
  const event = (choice: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
    sseData({ ...head, choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [], ...extra });
  return {
    open: () => {
      ex.beginStream('text/event-stream');
      if (shape.opening) ex.write(event(shape.opening));
    },
    text: (text, logprobs) => {
      const out = shape.pieces(text, logprobs).map((p) => event(p)).join('');
      if (out) ex.write(out);
    },
    done: (r) => {
      if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
      const { pieces, choice } = shape.closing(r);
      let tail = pieces.map((p) => event(p)).join('') + event(choice);
      if (options.includeUsage) tail += event(null, { usage: usage(r) });
      ex.endStream(tail + SSE_DONE);
    },
    error: (e) => void fail(e),
  };
}

async function completions(ctx: ServerContext, ex: Exchange): Promise<number> {
  const { model, stream, includeUsage, ...request } = parseCompletionRequest(await ex.readJson(ctx.bodyLimit));
  return runGeneration(ctx, model, ex, () => ({ request, sink: replySink(ex, { model, stream, includeUsage }, completionShape()) }));
}

async function chat(ctx: ServerContext, ex: Exchange): Promise<number> {
  const { options, chat: chatRequest } = parseChatRequest(await ex.readJson(ctx.bodyLimit));
  const { model: name, stream, includeUsage, ...sampling } = options;
  return runGeneration(ctx, name, ex, async (model) => {
    const rendered = await model.renderChat(chatRequest);
    return { request: { ...sampling, chat: rendered }, sink: replySink(ex, { model: name, stream, includeUsage }, chatShape(new ReplyParser(rendered))) };
  });
}

// A model with a vision projector says so (as LM Studio's and llama-server's listings do).
const modelEntry = (id: string, created: number, vision: boolean) => ({ id, object: 'model', created, owned_by: 'shimmy', ...(vision ? { capabilities: ['vision'] } : {}) });

function listModels(ctx: ServerContext, ex: Exchange): number {
  const created = Math.floor(ctx.startedAt / 1000);
  const entries = ctx.registry.discovery.models.flatMap((m) => (m.path === ctx.registry.base?.path ? [['default', m] as const, [m.id, m] as const] : [[m.id, m] as const]));
  ex.json(200, { object: 'list', data: entries.map(([id, m]) => modelEntry(id, created, !!m.mmproj)) });
  return 200;
}

function getModel(ctx: ServerContext, ex: Exchange, [id]: string[]): number {
  const entry = ctx.registry.resolve(id!);
  if (!entry) throw new ShimmyError('model_not_found', `The model '${id}' does not exist`);
  ex.json(200, modelEntry(id!, Math.floor(ctx.startedAt / 1000), !!entry.mmproj));
  return 200;
}

export const openAiRoutes: Route[] = [
  { method: 'GET', path: '/v1/models', handler: listModels },
  { method: 'GET', path: '/v1/models/:id', handler: getModel },
  { method: 'POST', path: '/v1/completions', handler: completions },
  { method: 'POST', path: '/v1/chat/completions', handler: chat },
  { method: 'POST', path: '/v1/embeddings', handler: embeddings },
];
