// WebSocket /ws/generate: each message is a request {model, prompt, max_tokens, temperature, …};
// the server answers {"token": …} per token, then {"done": true}. The socket stays open for more.
// An optional `id` lets one socket run several requests at once (every frame then carries it),
// and {"cancel": id} stops one. Errors are the seed's error object.
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import type { Generation } from '../engine/generation.js';
import { countRequest, type ServerContext } from './context.js';
import { errorBody, toWireError, wireError, type WireError } from './errors.js';
import { parseSeedRequest } from './generate-request.js';

interface Socket {
  closed: boolean;
  authorized: boolean;
  running: Map<string, Generation>;
  backlog: string[];
}

/** Past this many bytes buffered for a slow client, its requests are cancelled. */
const MAX_BUFFERED = 8 << 20;
const ANON = '\u0000';

function send(ws: WebSocket<Socket>, frame: unknown): void {
  const s = ws.getUserData();
  if (s.closed) return;
  const text = JSON.stringify(frame);
  // Keep order: once something waits for `drain`, everything after it waits too.
  if (s.backlog.length > 0 || ws.getBufferedAmount() > 0) {
    s.backlog.push(text);
    if (ws.getBufferedAmount() > MAX_BUFFERED) {
      for (const g of s.running.values()) g.cancel();
    }
    return;
  }
  ws.send(text);
}

function flush(ws: WebSocket<Socket>): void {
  const s = ws.getUserData();
  ws.cork(() => {
    while (s.backlog.length > 0 && !s.closed) {
      if (ws.send(s.backlog.shift()!) !== 1) break; // 1 = sent; otherwise wait for the next drain
    }
  });
}

function sendError(ws: WebSocket<Socket>, e: WireError, id: unknown): void {
  send(ws, id === undefined ? errorBody(e) : { id, ...errorBody(e) });
}

async function start(ctx: ServerContext, ws: WebSocket<Socket>, message: Record<string, unknown>): Promise<void> {
  const s = ws.getUserData();
  const id = message.id;
  if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') throw wireError('invalid_request', "'id' must be a string or a number");
  const key = id === undefined ? ANON : String(id);
  if (s.running.has(key)) {
    throw wireError('invalid_request', id === undefined
      ? 'a request is already running on this socket; give each request an "id" to run several at once'
      : `a request with id ${JSON.stringify(id)} is already running`);
  }
  const request = parseSeedRequest(message);
  const model = await ctx.registry.get(request.model);
  if (s.closed) return;
  const generation = model.generate(request.generate);
  s.running.set(key, generation);
  ctx.inFlight.add(generation);
  const tag = id === undefined ? {} : { id };
  generation.listen({
    text: (token) => send(ws, { ...tag, token }),
    done: (result) => {
      s.running.delete(key);
      ctx.inFlight.delete(generation);
      ctx.metrics.tokensGenerated += result.usage.completionTokens;
      send(ws, {
        ...tag,
        done: true,
        finish_reason: result.finishReason,
        usage: { prompt_tokens: result.usage.promptTokens, completion_tokens: result.usage.completionTokens, total_tokens: result.usage.totalTokens },
      });
    },
    error: (error) => {
      s.running.delete(key);
      ctx.inFlight.delete(generation);
      sendError(ws, toWireError(error), id);
    },
  });
}

export function mountWebSocket(app: TemplatedApp, ctx: ServerContext): void {
  app.ws<Socket>('/ws/generate', {
    maxPayloadLength: ctx.bodyLimit,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    maxBackpressure: MAX_BUFFERED * 2,
    upgrade: (res, req, context) => {
      const header = req.getHeader('authorization');
      const authorized = !ctx.apiKey || header === `Bearer ${ctx.apiKey}` || req.getQuery('api_key') === ctx.apiKey;
      res.upgrade<Socket>(
        { closed: false, authorized, running: new Map(), backlog: [] },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      if (!ws.getUserData().authorized) {
        ws.send(JSON.stringify(errorBody(wireError('unauthorized', 'send the key as "Authorization: Bearer KEY" or ?api_key='))));
        ws.end(4401, 'unauthorized');
      }
    },
    message: (ws, data) => {
      let message: unknown;
      try {
        message = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
      } catch {
        return sendError(ws, wireError('invalid_request', 'each message must be a JSON object in UTF-8'), undefined);
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        return sendError(ws, wireError('invalid_request', 'each message must be a JSON object'), undefined);
      }
      const m = message as Record<string, unknown>;
      if ('cancel' in m) {
        ws.getUserData().running.get(String(m.cancel))?.cancel();
        return;
      }
      start(ctx, ws, m).then(
        () => countRequest(ctx, 'WS /ws/generate', 200),
        (error) => {
          const e = 'details' in (error ?? {}) && 'status' in error ? (error as WireError) : toWireError(error);
          sendError(ws, e, m.id);
          countRequest(ctx, 'WS /ws/generate', e.status);
        },
      );
    },
    drain: (ws) => flush(ws),
    close: (ws) => {
      const s = ws.getUserData();
      s.closed = true;
      for (const g of s.running.values()) g.cancel(); // a socket that leaves frees its slots
      s.running.clear();
    },
  });
}
