// OpenAI-compatible routes: GET /v1/models(/:id), POST /v1/completions, POST /v1/chat/completions,
// POST /v1/embeddings.
// Same engine and option schema as the seed API; errors in OpenAI's shape so the official client
// raises its typed errors.
import { randomUUID } from 'node:crypto';
import type { TemplatedApp } from 'uWebSockets.js';
import { ReplyParser, type ParsedReply } from '../engine/chat.js';
import { ShimmyError } from '../engine/errors.js';
import type { Generation, TokenLogprob } from '../engine/generation.js';
import type { Model } from '../engine/model.js';
import type { ServerContext } from './context.js';
import type { WireError } from './errors.js';
import type { Exchange } from './http.js';
import { route } from './native-api.js';
import { embeddings } from './openai-embeddings.js';
import { bodyObject, chatRequest, completionPrompt, generationOptions, logprobsOption } from './openai-request.js';
import { assistantMessage, chatLogprobs, completionLogprobs, delta, finishReason, usage } from './openai-shapes.js';

const typeOf: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 413: 'invalid_request_error', 503: 'server_error' };

function openAiError(ex: Exchange, e: WireError): void {
  const body = { error: { message: e.details || e.message, type: typeOf[e.status] ?? 'server_error', param: null, code: e.code } };
  ex.json(e.status, body, e.headers, e.code === 'payload_too_large');
}

async function run(ctx: ServerContext, ex: Exchange, kind: 'chat' | 'text'): Promise<number> {
  const body = bodyObject(await ex.readJson(ctx.bodyLimit));
  const { model: name, stream, includeUsage, ...options } = generationOptions(body);
  options.logprobs = logprobsOption(body, kind);
  const request = kind === 'chat' ? chatRequest(body, options.grammar) : undefined;
  const model: Model = await ctx.registry.get(name);
  if (!ex.open) return 499;
  let generation: Generation;
  let parser: ReplyParser | undefined;
  if (request) {
    const chat = await model.renderChat(request);
    if (!ex.open) return 499;
    parser = new ReplyParser(chat);
    generation = model.generate({ ...options, prompt: chat.prompt, stop: [...(options.stop ?? []), ...chat.stop], constraint: chat.constraint });
  } else {
    generation = model.generate({ ...options, prompt: completionPrompt(body) });
  }
  ctx.inFlight.add(generation);
  ex.onAbort(() => generation.cancel());
  generation.result.finally(() => ctx.inFlight.delete(generation)).catch(() => {});

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion';

  if (!stream) {
    const r = await generation.result;
    ctx.metrics.tokensGenerated += r.usage.completionTokens;
    parser?.push(r.text);
    const reply = parser?.finish();
    const choice = reply
      ? { index: 0, message: assistantMessage(reply), logprobs: r.logprobs ? chatLogprobs(r.logprobs) : null, finish_reason: finishReason(r, reply) }
      : { index: 0, text: r.text, logprobs: r.logprobs ? completionLogprobs(r.logprobs, 0) : null, finish_reason: finishReason(r) };
    ex.json(200, { id, object, created, model: name, choices: [choice], usage: usage(r) });
    return 200;
  }

  const head = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: name };
  const event = (choice: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ ...head, choices: choice ? [{ index: 0, logprobs: null, finish_reason: null, ...choice }] : [], ...extra })}\n\n`;
  // A chunk's logprobs ride its first delta; text that yields no delta (tool-call markup) passes
  // them on to the next one.
  let pendingLogprobs: TokenLogprob[] = [];
  const deltas = (diffs: ParsedReply['diffs']) =>
    diffs.map((d) => {
      const logprobs = pendingLogprobs.length > 0 ? chatLogprobs(pendingLogprobs) : null;
      pendingLogprobs = [];
      return event({ delta: delta(d), logprobs });
    }).join('');
  let textOffset = 0;
  ex.beginStream('text/event-stream');
  if (parser) ex.write(event({ delta: { role: 'assistant', content: '' } }));
  return new Promise<number>((resolve) => {
    generation.listen({
      text: (text, logprobs) => {
        let out: string;
        if (parser) {
          if (logprobs) pendingLogprobs.push(...logprobs);
          out = deltas(parser.push(text));
        } else {
          out = event({ text, logprobs: logprobs ? completionLogprobs(logprobs, textOffset) : null });
          textOffset += text.length;
        }
        if (out) ex.write(out);
      },
      done: (r) => {
        ctx.metrics.tokensGenerated += r.usage.completionTokens;
        const reply = parser?.finish();
        let tail = reply ? deltas(reply.diffs) : '';
        tail += event(reply ? { delta: {}, finish_reason: finishReason(r, reply) } : { text: '', finish_reason: finishReason(r) });
        if (includeUsage) tail += event(null, { usage: usage(r) });
        ex.endStream(tail + 'data: [DONE]\n\n');
        resolve(200);
      },
      error: (error) => {
        ex.endStream(`data: ${JSON.stringify({ error: { message: error.message, type: 'server_error', param: null, code: error.code } })}\n\ndata: [DONE]\n\n`);
        resolve(500);
      },
    });
  });
}

function modelEntry(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'shimmy' };
}

export function mountOpenAi(app: TemplatedApp, ctx: ServerContext): void {
  const onError = { onError: openAiError };
  const created = Math.floor(ctx.startedAt / 1000);
  app.get('/v1/models', route(ctx, 'GET /v1/models', (c, ex) => {
    const ids = c.registry.discovery.models.map((m) => (m.path === c.registry.base?.path ? ['default', m.id] : [m.id])).flat();
    ex.json(200, { object: 'list', data: ids.map((id) => modelEntry(id, created)) });
    return 200;
  }, onError));
  app.get('/v1/models/:id', (res, req) => {
    const id = decodeURIComponent(req.getParameter(0) ?? '');
    return route(ctx, 'GET /v1/models/:id', (c, ex) => {
      if (!c.registry.resolve(id)) throw new ShimmyError('model_not_found', `The model '${id}' does not exist`);
      ex.json(200, modelEntry(id, created));
      return 200;
    }, onError)(res, req);
  });
  app.post('/v1/completions', route(ctx, 'POST /v1/completions', (c, ex) => run(c, ex, 'text'), onError));
  app.post('/v1/chat/completions', route(ctx, 'POST /v1/chat/completions', (c, ex) => run(c, ex, 'chat'), onError));
  app.post('/v1/embeddings', route(ctx, 'POST /v1/embeddings', embeddings, onError));
}
