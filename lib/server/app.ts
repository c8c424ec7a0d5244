// The HTTP/WebSocket server: builds the uWS app, mounts every surface, listens, and shuts down
// gracefully (stop accepting, let in-flight requests finish for a grace period, cancel the rest).
import uWS from 'uWebSockets.js';
import type { ServerContext, ServerOptions } from './context.js';
import { errorBody, wireError } from './errors.js';
import { mountMetrics } from './metrics.js';
import { mountNativeApi } from './native-api.js';
import { mountOpenAi } from './openai.js';
import { mountWebSocket } from './websocket.js';

export interface RunningServer {
  host: string;
  port: number;
  context: ServerContext;
  /** Waits up to `graceMs` for in-flight requests, cancels the rest, unloads models. */
  close(graceMs?: number): Promise<void>;
}

export function createContext(options: ServerOptions): ServerContext {
  return {
    registry: options.registry,
    bodyLimit: options.bodyLimit ?? 4 << 20,
    apiKey: options.apiKey,
    version: options.version ?? '0.0.0',
    log: options.log ?? (() => {}),
    inFlight: new Set(),
    baseState: { status: 'loading' },
    startedAt: Date.now(),
    metrics: { requests: new Map(), tokensGenerated: 0 },
  };
}

export async function startServer(options: ServerOptions & { host: string; port: number }): Promise<RunningServer> {
  const ctx = createContext(options);
  const app = uWS.App();
  mountNativeApi(app, ctx);
  mountOpenAi(app, ctx);
  mountWebSocket(app, ctx);
  mountMetrics(app, ctx);
  app.any('/*', (res) => {
    res.cork(() => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(errorBody(wireError('not_found', 'see the README for the routes'))));
    });
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen(options.host, options.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${options.host}:${options.port} (address in use or not available)`));
    });
  });
  const port = uWS.us_socket_local_port(listenSocket);

  // The default model loads in the background; /api/health says 'loading' until it is ready.
  const base = options.registry.base;
  if (base) {
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
    port,
    context: ctx,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        uWS.us_listen_socket_close(listenSocket);
        const deadline = Date.now() + graceMs;
        while (ctx.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        for (const g of ctx.inFlight) g.cancel();
        await ctx.registry.closeAll();
        await new Promise((r) => setTimeout(r, 10)); // let the last corked writes leave
        // uWS 20.30 has no app.close(): idle keep-alive sockets time out on their own (10 s).
        (app as unknown as { close?: () => void }).close?.();
      })();
      return closing;
    },
  };
}
