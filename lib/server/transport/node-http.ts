// The node:http transport, with the `ws` package for WebSockets: used where no uWebSockets.js
// binary loads (Node 22+ on glibc < 2.38, for one) or when asked for (--transport node). It
// keeps uWS's behaviour where clients can see it: idle connections and stalled bodies are closed
// after IDLE_TIMEOUT_S, keep-alive connections stay usable after a stream, writes report
// congestion, and a client that leaves is reported once through onAborted.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { framingProblem } from './framing.js';
import { BODY_MIN_BYTES_PER_S, IDLE_TIMEOUT_S, STATUS_TEXT, WS_IDLE_TIMEOUT_S, type IncomingRequest, type Listening, type RawResponse, type Transport, type WsHandlers } from './types.js';

function copyRequest(req: IncomingMessage): IncomingRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
  return { method: (req.method ?? 'GET').toUpperCase(), path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), headers, framing: framingProblem(pairs) };
}

/**
 * Connections answered with Connection: close. node:http goes on to parse and emit whatever is
 * pipelined behind such a response, and behind a framing refusal that is a smuggled request: it
 * must never run.
 */
const closing = new WeakSet<Socket>();

// A socket idles out only while no response is being produced (a long generation is not idle).
const idle = (socket: Socket, on: boolean) => socket.setTimeout(on ? IDLE_TIMEOUT_S * 1000 : 0);

/**
 * Cuts the connection unless the body brings BODY_MIN_BYTES_PER_S over each IDLE_TIMEOUT_S, as
 * uWS does. node's socket timeout restarts on any byte, so a body sent a byte every few seconds
 * would hold its connection for ever.
 */
function bodyDeadline(req: IncomingMessage) {
  let received = 0;
  // A body that arrived whole but is not read yet (its handler is still busy) has not stalled.
  const arm = () => setTimeout(() => req.complete || req.socket.destroy(), IDLE_TIMEOUT_S * 1000).unref();
  let timer = arm();
  return {
    received(bytes: number) {
      received += bytes;
      if (received < BODY_MIN_BYTES_PER_S * IDLE_TIMEOUT_S) return;
      received = 0;
      clearTimeout(timer);
      timer = arm();
    },
    done: () => clearTimeout(timer),
  };
}

function response(req: IncomingMessage, res: ServerResponse): RawResponse {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  const deadline = hasBody ? bodyDeadline(req) : undefined;
  let aborted: (() => void) | undefined;
  res.on('close', () => {
    deadline?.done();
    if (!res.writableFinished) aborted?.();
  });
  res.on('finish', () => idle(req.socket, true));
  const head = (status: number, headers: Record<string, string>) => {
    res.statusCode = status;
    res.statusMessage = STATUS_TEXT[status] ?? 'Error';
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  };
  return {
    onAborted: (fn) => void (aborted = fn),
    onData: (fn) => {
      req.on('data', (chunk: Buffer) => {
        deadline?.received(chunk.byteLength);
        fn(chunk, false);
      });
      req.on('end', () => {
        deadline?.done();
        idle(req.socket, false); // the body is in: what follows is the server's work
        fn(Buffer.alloc(0), true);
      });
    },
    respond: (status, headers, body, close) => {
      head(status, headers);
      // A response sent before the body was read (a refusal) closes the connection, as uWS does:
      // the rest of the body must not be taken for the next request, nor keep the socket open.
      if (close || (hasBody && !req.complete)) {
        closing.add(req.socket);
        res.setHeader('Connection', 'close');
        res.on('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
      }
      res.end(body);
    },
    begin: (status, headers) => {
      head(status, headers);
      res.flushHeaders();
    },
    write: (text) => res.write(text),
    onWritable: (fn) => {
      const drained = () => {
        if (!fn()) res.once('drain', drained);
      };
      res.once('drain', drained);
    },
    end: (text) => void res.end(text),
    close: () => req.socket.destroy(),
  };
}

export function nodeTransport(): Transport {
  return {
    name: 'node',
    description: `node:http (Node ${process.versions.node}) + ws`,
    listen<State>(host: string, port: number, http: (req: IncomingRequest, res: RawResponse) => void, ws: WsHandlers<State>) {
      const server = createServer({ keepAliveTimeout: IDLE_TIMEOUT_S * 1000, headersTimeout: IDLE_TIMEOUT_S * 1000, requestTimeout: 0, connectionsCheckingInterval: 1000 });
      server.on('connection', (socket: Socket) => {
        idle(socket, true);
        socket.on('timeout', () => socket.destroy());
      });
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        if (closing.has(req.socket)) return; // unanswered: the connection is cut a second after the close
        const incoming = copyRequest(req);
        if (incoming.framing !== undefined) closing.add(req.socket); // before what is pipelined behind it is emitted
        if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') idle(req.socket, false);
        http(incoming, response(req, res));
      });

      const wss = new WebSocketServer({ noServer: true, maxPayload: ws.maxPayload });
      server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        const incoming = copyRequest(req);
        const verdict = ws.upgrade(incoming); // it refuses other paths
        if ('refusal' in verdict) {
          const { status, headers, body } = verdict.refusal;
          const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
          socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
          return;
        }
        idle(socket, false);
        wss.handleUpgrade(req, socket, head, (client: WebSocket) => {
          let closed = false;
          let alive = true;
          const connection = {
            send: (text: string) => void (closed || client.send(text)),
            bufferedAmount: () => client.bufferedAmount,
            end: (code: number, reason: string) => {
              if (closed) return;
              closed = true;
              client.close(code, reason);
              // A client that reads nothing never takes the close frame: drop it rather than hold
              // its buffered frames for ws's 30 s close timeout.
              setTimeout(() => client.terminate(), 1000).unref();
            },
          };
          // Pings as uWS sends them: a client that answers none for WS_IDLE_TIMEOUT_S is dropped.
          const pinger = setInterval(() => {
            if (!alive) return client.terminate();
            alive = false;
            client.ping();
          }, (WS_IDLE_TIMEOUT_S * 1000) / 2);
          pinger.unref();
          client.on('pong', () => (alive = true));
          client.on('message', (data: Buffer) => {
            alive = true;
            ws.message(connection, verdict.state, data);
          });
          client.on('close', () => {
            closed = true;
            clearInterval(pinger);
            ws.close(connection, verdict.state);
          });
          client.on('error', () => client.terminate());
          ws.open(connection, verdict.state);
        });
      });

      return new Promise<Listening>((resolve, reject) => {
        server.once('error', (error) => reject(new Error(`cannot listen on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? error.message})`)));
        server.listen(port, host, () => {
          const address = server.address();
          resolve({
            port: typeof address === 'object' && address ? address.port : port,
            stopAccepting: () => server.close(),
            closeAll: () => {
              server.closeAllConnections();
              for (const client of wss.clients) client.terminate();
            },
          });
        });
      });
    },
  };
}
