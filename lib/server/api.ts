// The seed API: POST /api/generate (JSON or SSE), GET /api/models, GET /api/health.
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { CompletionResult } from '../engine/generation.js';
import { countRequest, type ServerContext } from './context.js';
import { toWireError, wireError, type WireError } from './errors.js';
import { parseSeedRequest } from './generate-request.js';
import { Exchange } from './http.js';

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)}GB`;
  return `${(bytes / (1 << 20)).toFixed(1)}MB`;
}

const usageOf = (r: CompletionResult) => ({
  prompt_tokens: r.usage.promptTokens,
  completion_tokens: r.usage.completionTokens,
  total_tokens: r.usage.totalTokens,
});

/** Checks the API key; answers 401 and returns false when it is wrong. */
export function authorized(ctx: ServerContext, ex: Exchange): boolean {
  if (!ctx.apiKey || ex.headers.authorization === `Bearer ${ctx.apiKey}`) return true;
  ex.error(wireError('unauthorized', 'send the key as "Authorization: Bearer KEY"'));
  return false;
}

async function generate(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request = parseSeedRequest(await ex.readJson(ctx.bodyLimit));
  const model = await ctx.registry.get(request.model);
  if (!ex.open) return 499;
  const generation = model.generate(request.generate); // validation errors throw before any output
  ctx.inFlight.add(generation);
  ex.onAbort(() => generation.cancel()); // a client that leaves stops its generation
  generation.result.finally(() => ctx.inFlight.delete(generation)).catch(() => {});

  if (!request.stream) {
    const result = await generation.result;
    ctx.metrics.tokensGenerated += result.usage.completionTokens;
    ex.json(200, { choices: [{ text: result.text, index: 0, finish_reason: result.finishReason }], usage: usageOf(result) });
    return 200;
  }

  ex.beginStream('text/event-stream');
  return new Promise<number>((resolve) => {
    generation.listen({
      text: (text) => ex.write(`data: ${JSON.stringify({ choices: [{ text, index: 0 }] })}\n\n`),
      done: (result) => {
        ctx.metrics.tokensGenerated += result.usage.completionTokens;
        const closing = { choices: [{ text: '', index: 0, finish_reason: result.finishReason }], usage: usageOf(result) };
        ex.endStream(`data: ${JSON.stringify(closing)}\n\ndata: [DONE]\n\n`);
        resolve(200);
      },
      error: (error) => {
        // Headers are gone: the error travels as an event, then the stream ends.
        const e = toWireError(error);
        ex.endStream(`data: ${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } })}\n\ndata: [DONE]\n\n`);
        resolve(500);
      },
    });
  });
}

function health(ctx: ServerContext, ex: Exchange): number {
  const { status } = ctx.baseState;
  const body: Record<string, unknown> = {
    status,
    models_loaded: ctx.registry.loadedCount,
    memory_usage: formatBytes(process.memoryUsage.rss()),
  };
  if (ctx.baseState.error) body.error = ctx.baseState.error;
  const code = status === 'healthy' ? 200 : 503;
  ex.json(code, body);
  return code;
}

function models(ctx: ServerContext, ex: Exchange): number {
  const base = ctx.registry.base;
  const list = ctx.registry.summaries().map((m) => ({
    id: m.path === base?.path ? 'default' : m.id,
    name: m.id,
    description: m.path === base?.path ? 'Base GGUF model' : `GGUF model (${m.source})`,
    file: m.path.split(/[\\/]/).pop(),
    path: m.path,
    source: m.source,
    size_bytes: m.sizeBytes,
    architecture: m.architecture,
    quantization: m.quantization,
    context_length: m.contextLength,
    loaded: m.loaded,
  }));
  list.sort((a, b) => (a.id === 'default' ? -1 : b.id === 'default' ? 1 : 0));
  ex.json(200, { models: list });
  return 200;
}

/** Wraps a handler: one Exchange, auth, errors mapped in one place, and request counting. */
export function route(
  ctx: ServerContext,
  name: string,
  handler: (ctx: ServerContext, ex: Exchange) => number | Promise<number>,
  options: { open?: boolean; onError?: (ex: Exchange, e: WireError) => void } = {},
) {
  return (res: HttpResponse, req: HttpRequest) => {
    const ex = Exchange.start(res, req);
    if (!options.open && !authorized(ctx, ex)) return countRequest(ctx, name, 401);
    Promise.resolve()
      .then(() => handler(ctx, ex))
      .then(
        (status) => countRequest(ctx, name, status),
        (error) => {
          const e = 'status' in (error ?? {}) && 'code' in error && 'details' in error ? (error as WireError) : toWireError(error);
          if (e.code === 'server_error') ctx.log(`error on ${name}: ${e.details}`);
          (options.onError ?? ((x, w) => x.error(w)))(ex, e);
          countRequest(ctx, name, e.status);
        },
      );
  };
}

export function mountNativeApi(app: TemplatedApp, ctx: ServerContext): void {
  app.post('/api/generate', route(ctx, 'POST /api/generate', generate));
  app.get('/api/models', route(ctx, 'GET /api/models', models));
  app.get('/api/health', route(ctx, 'GET /api/health', health, { open: true }));
  app.get('/health', route(ctx, 'GET /health', health, { open: true }));
}
