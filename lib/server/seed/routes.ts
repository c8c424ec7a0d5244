// The shimmy API (the seed's routes): POST /api/generate (JSON or SSE), GET /api/models,
// GET /api/health (also /health).
import type { CompletionResult } from '../../engine/generation.js';
import type { Model } from '../../engine/model.js';
import { runGeneration, type Sink } from '../completion/run-generation.js';
import { SSE_DONE, sseData } from '../completion/sse.js';
import type { ServerContext } from '../context.js';
import { errorBody } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';
import { parseGenerateRequest } from './request.js';

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)}GB`;
  return `${(bytes / (1 << 20)).toFixed(1)}MB`;
}

/** The seed API's usage object (/api/generate and the WebSocket). */
export const usageOf = (r: CompletionResult) => ({
  prompt_tokens: r.usage.promptTokens,
  completion_tokens: r.usage.completionTokens,
  total_tokens: r.usage.totalTokens,
});

/** /api/generate's reply: one JSON object, or SSE events of {choices:[{text}]} ending in [DONE]. */
function generateSink(ex: Exchange, stream: boolean): Sink {
  if (!stream) {
    return {
      open: () => {},
      text: () => {},
      done: (r) => ex.json(200, { choices: [{ text: r.text, index: 0, finish_reason: r.finishReason }], usage: usageOf(r) }),
      error: (e) => ex.error(e),
    };
  }
  return {
    open: () => ex.beginStream('text/event-stream'),
    text: (text) => ex.write(sseData({ choices: [{ text, index: 0 }] })),
    done: (r) => ex.endStream(sseData({ choices: [{ text: '', index: 0, finish_reason: r.finishReason }], usage: usageOf(r) }) + SSE_DONE),
    // The head is gone: the error travels as an event, then the stream ends.
    error: (e) => ex.endStream(sseData(errorBody(e)) + SSE_DONE),
  };
}

async function generate(ctx: ServerContext, ex: Exchange): Promise<number> {
  const { model, stream, request } = parseGenerateRequest(await ex.readJson(ctx.bodyLimit));
  return runGeneration(ctx, model, ex, () => ({ request, sink: generateSink(ex, stream) }));
}

function health(ctx: ServerContext, ex: Exchange): number {
  const base = ctx.registry.peek('default');
  let { status, error } = ctx.baseState;
  // The default model may have loaded since it failed at startup (a worker was down, say), or
  // failed since: a reload after a lost worker.
  if (base && status === 'unhealthy') [status, error] = ['healthy', undefined];
  const loadError = ctx.registry.loadError('default');
  if (!base && status === 'healthy' && loadError) [status, error] = ['unhealthy', loadError];
  const body: Record<string, unknown> = {
    status,
    models_loaded: ctx.registry.loadedCount,
    memory_usage: formatBytes(process.memoryUsage.rss()),
  };
  if (ctx.registry.workers.length > 0) {
    // Workers as the default model (or else any loaded model) saw them.
    const source = base ?? ctx.registry.loadedModels()[0];
    const broken = source?.brokenBecause;
    if (broken && status === 'healthy') [status, error] = ['unhealthy', broken];
    body.status = status;
    body.workers = workerStates(ctx.registry.workers, source);
  }
  if (error) body.error = error;
  const code = status === 'healthy' ? 200 : 503;
  ex.json(code, body);
  return code;
}

interface WorkerState {
  endpoint: string;
  state: 'connected' | 'lost' | 'not connected';
  devices: { name: string; memory_free: number; memory_total: number }[];
  error?: string;
}

/**
 * serve --rpc: each worker as `source` saw it at load, and whether its connection failed since.
 * Nothing here touches the network.
 */
function workerStates(endpoints: readonly string[], source: Model | undefined): WorkerState[] {
  const reported = source?.workers() ?? [];
  return endpoints.map((endpoint) => {
    const w = reported.find((r) => r.endpoint === endpoint);
    if (!w) return { endpoint, state: 'not connected', devices: [] };
    const state: WorkerState = {
      endpoint,
      state: w.error === null ? 'connected' : 'lost',
      devices: w.devices.map((d) => ({ name: d.name, memory_free: d.memoryFree, memory_total: d.memoryTotal })),
    };
    if (w.error !== null) state.error = w.error;
    return state;
  });
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
    capabilities: m.mmproj ? ['completion', 'vision'] : ['completion'],
    loaded: m.loaded,
  }));
  list.sort((a, b) => (a.id === 'default' ? -1 : b.id === 'default' ? 1 : 0));
  ex.json(200, { models: list });
  return 200;
}

export const apiRoutes: Route[] = [
  { method: 'POST', path: '/api/generate', handler: generate },
  { method: 'GET', path: '/api/models', handler: models },
  { method: 'GET', path: '/api/health', handler: health, open: true },
  { method: 'GET', path: '/health', handler: health, open: true },
];
