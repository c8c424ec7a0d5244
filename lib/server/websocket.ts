// WebSocket /ws/generate: each message is a request {model, prompt, max_tokens, temperature, …};
// the server answers {"token": …} per token, then {"done": true}. The socket stays open for more.
// An optional `id` lets one socket run several requests at once (every frame then carries it),
// and {"cancel": id} stops one. Errors are the shimmy API's error object. A client that falls
// more than the server's buffer limit behind has its requests cancelled and is closed with 1008.
import type { Generation } from '../engine/generation.js';
import { browserRefusal } from './browser-guard.js';
import { countRequest, type ServerContext } from './context.js';
import { asWireError, errorBody, wireError, type WireError } from './errors.js';
import { parseFields } from '../engine/schema.js';
import { parseWebSocketRequest, websocketCancelFields } from './generate-request.js';
import { runGeneration } from './run-generation.js';
import type { IncomingRequest, WsConnection, WsHandlers } from './transport/types.js';

interface Socket {
  closed: boolean;
  bufferLimit: number;
  onCutOff: () => void;
  authorized: boolean;
  running: Map<string, Generation>;
}

const ANON = '\u0000';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function send(ws: WsConnection, s: Socket, frame: unknown): void {
  if (s.closed) return;
  ws.send(JSON.stringify(frame));
  if (ws.bufferedAmount() > s.bufferLimit) {
    for (const g of s.running.values()) g.cancel();
    s.closed = true;
    s.onCutOff();
    ws.end(1008, `the client fell more than ${s.bufferLimit} bytes behind`);
  }
}

const sendError = (ws: WsConnection, s: Socket, e: WireError, id: unknown) => send(ws, s, id === undefined ? errorBody(e) : { id, ...errorBody(e) });

async function start(ctx: ServerContext, ws: WsConnection, s: Socket, message: Record<string, unknown>): Promise<void> {
  const request = parseWebSocketRequest(message);
  const id = request.id;
  const key = id === undefined ? ANON : String(id);
  if (s.running.has(key)) {
    throw wireError('invalid_request', id === undefined
      ? 'a request is already running on this socket; give each request an "id" to run several at once'
      : `a request with id ${JSON.stringify(id)} is already running`);
  }
  // The model is held until the request's last frame.
  await ctx.registry.use(request.model, async (model) => {
    if (s.closed) return;
    const generation = model.generate(request.generate);
    s.running.set(key, generation);
    const tag = id === undefined ? {} : { id };
    generation.listen({
      text: (token) => send(ws, s, { ...tag, token }),
      done: (result) => {
        s.running.delete(key);
        const { promptTokens, completionTokens, totalTokens } = result.usage;
        send(ws, s, { ...tag, done: true, finish_reason: result.finishReason, usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: totalTokens } });
      },
      error: (error) => {
        s.running.delete(key);
        sendError(ws, s, asWireError(error), id);
      },
    });
    // The socket's close cancels it (s.running); a refusal was sent by the listener above.
    await runGeneration(ctx, generation, () => {}).then(({ result }) => result).catch(() => {});
  });
}

function onMessage(ctx: ServerContext, ws: WsConnection, s: Socket, data: Buffer): void {
  let message: unknown;
  try {
    message = JSON.parse(utf8.decode(data));
  } catch {
    return sendError(ws, s, wireError('invalid_request', 'each message must be a JSON object in UTF-8'), undefined);
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return sendError(ws, s, wireError('invalid_request', 'each message must be a JSON object'), undefined);
  }
  const m = message as Record<string, unknown>;
  if ('cancel' in m) {
    try {
      s.running.get(String(parseFields(websocketCancelFields, m, { wire: true }).cancel))?.cancel();
    } catch (error) {
      sendError(ws, s, asWireError(error), undefined);
    }
    return;
  }
  start(ctx, ws, s, m).then(
    () => countRequest(ctx, 'WS /ws/generate', 200),
    (error) => {
      const e = asWireError(error);
      sendError(ws, s, e, m.id);
      countRequest(ctx, 'WS /ws/generate', e.status);
    },
  );
}

function refuse(status: number, e: WireError) {
  return { refusal: { status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(errorBody(e)) } };
}

export function webSocketHandlers(ctx: ServerContext): WsHandlers<Socket> {
  return {
    path: '/ws/generate',
    maxPayload: ctx.bodyLimit,
    upgrade: (req: IncomingRequest) => {
      // Browsers send no preflight for WebSockets: the Origin check is the only guard.
      const refusal = browserRefusal(ctx.browser, req.headers.host, req.headers.origin);
      if (refusal) return refuse(403, wireError('forbidden', refusal));
      const key = new URLSearchParams(req.query).get('api_key');
      const authorized = !ctx.apiKey || req.headers.authorization === `Bearer ${ctx.apiKey}` || key === ctx.apiKey;
      const onCutOff = () => void ctx.metrics.slowClientsCutOff.websocket++;
      return { state: { closed: false, bufferLimit: ctx.bufferLimit, onCutOff, authorized, running: new Map() } };
    },
    open: (ws, s) => {
      if (s.authorized) return;
      sendError(ws, s, wireError('unauthorized', 'send the key as "Authorization: Bearer KEY" or ?api_key='), undefined);
      s.closed = true;
      ws.end(4401, 'unauthorized');
    },
    message: (ws, s, data) => {
      // The error boundary of the WebSocket protocol: no message can throw past here.
      try {
        if (!s.closed) onMessage(ctx, ws, s, data);
      } catch (error) {
        ctx.log(`unexpected error on /ws/generate: ${(error as Error)?.stack ?? String(error)}`);
        sendError(ws, s, wireError('server_error', 'an unexpected error occurred; it was logged'), undefined);
      }
    },
    close: (_ws, s) => {
      s.closed = true;
      for (const g of s.running.values()) g.cancel(); // a socket that leaves frees its slots
      s.running.clear();
    },
  };
}
