// The HTTP/WebSocket server: picks a transport, mounts every surface behind one route table,
// listens, and shuts down gracefully (stop accepting, let in-flight requests finish for a grace
// period, cancel the rest).
import type { ServerContext, ServerOptions } from './context.js';
import { DEFAULT_BUFFER_LIMIT, DEFAULT_STALL_LIMIT_MS } from './exchange.js';
import { metricsRoutes } from './metrics.js';
import { anthropicRoutes } from './anthropic/routes.js';
import { llamaServerRoutes } from './llama-server/routes.js';
import { loraRoutes } from './llama-server/lora-routes.js';
import { ollamaGenerateRoute, ollamaRoutes } from './ollama/routes.js';
import { openAiRoutes } from './openai/routes.js';
import { responsesRoutes } from './responses/routes.js';
import { ResponseStore } from './responses/store.js';
import { httpHandler } from './routes.js';
import { apiRoutes } from './seed/routes.js';
import { webSocketHandlers } from './seed/websocket.js';
import { chooseTransport } from './transport/index.js';

export interface RunningServer {
  host: string;
  port: number;
  /** The port of the `ollamaBind` listener, when there is one. */
  ollamaPort?: number;
  context: ServerContext;
  /** Waits up to `graceMs` for in-flight requests, cancels the rest, unloads models. */
  close(graceMs?: number): Promise<void>;
}

const dialects = [...openAiRoutes, ...anthropicRoutes, ...responsesRoutes, ...llamaServerRoutes, ...loraRoutes, ...metricsRoutes];
export const routes = [...apiRoutes, ...ollamaRoutes, ...dialects];
/** The `ollamaBind` listener's: Ollama's on every path, /api/generate included, beside the other dialects. */
export const ollamaListenerRoutes = [ollamaGenerateRoute, ...ollamaRoutes, ...dialects];

export async function startServer(options: ServerOptions & { host: string; port: number }): Promise<RunningServer> {
  const log = options.log ?? (() => {});
  const { transport, notice } = chooseTransport(options.transport);
  if (notice) log(notice);
  const ctx: ServerContext = {
    registry: options.registry,
    bodyLimit: options.bodyLimit ?? 4 << 20,
    bufferLimit: options.bufferLimit ?? DEFAULT_BUFFER_LIMIT,
    stallLimitMs: options.stallLimitMs ?? DEFAULT_STALL_LIMIT_MS,
    apiKey: options.apiKey,
    browser: { allowOrigins: options.allowOrigins ?? [], allowHosts: options.allowHosts ?? [] },
    transport: { name: transport.name, description: transport.description },
    version: options.version ?? '0.0.0',
    log,
    responses: new ResponseStore(options.responsesStore),
    rediscover: options.rediscover,
    pull: { ...options.pull, allowHosts: options.pull?.allowHosts ?? [] },
    inFlight: new Set(),
    baseState: { status: 'loading' },
    startedAt: Date.now(),
    metrics: { requests: new Map(), tokensGenerated: 0, slowClientsCutOff: { http: 0, websocket: 0 } },
  };
  const listening = await transport.listen(options.host, options.port, httpHandler(ctx, routes), webSocketHandlers(ctx));
  const ollama = options.ollamaBind && (await transport.listen(options.ollamaBind.host, options.ollamaBind.port, httpHandler(ctx, ollamaListenerRoutes), webSocketHandlers(ctx)));
  const listeners = ollama ? [listening, ollama] : [listening];

  // The default model loads in the background; /api/health says 'loading' until it is ready.
  if (options.registry.base) {
    options.registry.get('default').then(
      () => (ctx.baseState = { status: 'healthy' }),
      (error) => (ctx.baseState = { status: 'unhealthy', error: (error as Error).message }),
    );
  } else {
    ctx.baseState = { status: 'unhealthy', error: 'no model found: pass --model or put a .gguf file in ./models' };
  }

  let closing: Promise<void> | undefined;
  return {
    host: options.host,
    port: listening.port,
    ...(ollama ? { ollamaPort: ollama.port } : {}),
    context: ctx,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        for (const l of listeners) l.stopAccepting();
        const deadline = Date.now() + graceMs;
        while (ctx.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        for (const g of ctx.inFlight) g.cancel();
        await ctx.registry.closeAll();
        await new Promise((r) => setTimeout(r, 10)); // let the last writes leave
        for (const l of listeners) l.closeAll();
      })();
      return closing;
    },
  };
}
