// The uWebSockets.js transport: the fast path, where one of its native binaries loads. Only the
// binaries themselves are loaded: the v20.30 repack silently falls back to a JavaScript emulation
// of uWS on other Node versions, which loses request bodies, so its loader is never used.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';
import { framingProblem } from './framing.js';
import { STATUS_TEXT, WS_IDLE_TIMEOUT_S, type IncomingRequest, type Listening, type RawResponse, type Transport, type WsConnection, type WsHandlers } from './types.js';

type UwsModule = typeof UWS;

/**
 * The builds tried, newest first: @btc-vision's 20.57 repack (Node 20/22/24/25, glibc ≥ 2.38),
 * then trufflesuite's 20.30 repack (Node 16/18/20, glibc ≥ 2.27).
 */
const builds = [
  { pkg: 'uWebSockets.js', version: '20.57', binary: (dir: string, name: string) => join(dir, name) },
  { pkg: 'uws-legacy', version: '20.30', binary: (dir: string, name: string) => join(dir, '..', 'binaries', name) },
];

/** The first uWS binary that loads here, or why none does. */
export function loadUws(): { uws: UwsModule; version: string } | { reason: string } {
  const require = createRequire(import.meta.url);
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const reasons: string[] = [];
  for (const build of builds) {
    try {
      const main = require.resolve(build.pkg);
      return { uws: require(build.binary(dirname(main), name)) as UwsModule, version: build.version };
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? '';
      reasons.push(`uWS ${build.version}: ${message.includes('Cannot find module') ? `no binary for Node ${process.versions.node} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}` : message}`);
    }
  }
  return { reason: reasons.join('; ') };
}

function copyRequest(req: UWS.HttpRequest): IncomingRequest {
  const headers: Record<string, string> = {};
  const pairs: [string, string][] = [];
  req.forEach((key, value) => {
    headers[key] = value;
    pairs.push([key, value]);
  });
  return { method: req.getMethod().toUpperCase(), path: req.getUrl(), query: req.getQuery() ?? '', headers, framing: framingProblem(pairs) };
}

/**
 * Answers a request whose framing is refused once uWS has parsed what came with it. uWS goes on
 * to parse and run whatever is pipelined behind a response, Connection: close or not, and a
 * smuggled request is exactly that. Still unanswered when the parser meets it, the refused request
 * makes uWS close the connection itself ("denying async pipelining", HttpContext.h) before it
 * runs anything; a client that sent nothing more gets its 400.
 */
const refuseLater = (answer: () => void) => void setImmediate(answer);

const statusLine = (status: number) => `${status} ${STATUS_TEXT[status] ?? 'Error'}`;

/** The response to one request; `gone` says whether uWS has reported the client gone. */
function response(res: UWS.HttpResponse): RawResponse & { gone(): boolean } {
  // uWS must have an abort handler before the request callback returns; the protocol layer may
  // set its own later (see refuseLater).
  let gone = false;
  let aborted: (() => void) | undefined;
  res.onAborted(() => {
    gone = true;
    aborted?.();
  });
  const head = (status: number, headers: Record<string, string>) => {
    res.writeStatus(statusLine(status));
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
  };
  return {
    gone: () => gone,
    onAborted: (fn) => void (aborted = fn),
    onData: (fn) => res.onData((chunk, last) => fn(Buffer.from(chunk.slice(0)), last)), // the ArrayBuffer is reused
    respond: (status, headers, body, close) => res.cork(() => {
      head(status, headers);
      res.end(body, close);
    }),
    begin: (status, headers) => res.cork(() => {
      head(status, headers);
      res.write(''); // flush the head now, so clients see the stream start
    }),
    write: (text) => {
      let ok = true;
      res.cork(() => (ok = res.write(text)));
      return ok;
    },
    onWritable: (fn) => res.onWritable(() => fn()),
    end: (text) => res.cork(() => res.end(text)),
    close: () => res.close(),
  };
}

interface Socket<State> {
  state: State;
  connection: WsConnection;
  closed: boolean;
  /** uWS reported the close: the socket may no longer be touched. */
  gone: boolean;
}

export function uwsTransport(uws: UwsModule, version: string): Transport {
  return {
    name: 'uws',
    description: `uWebSockets.js ${version}`,
    listen<State>(host: string, port: number, http: (req: IncomingRequest, res: RawResponse) => void, ws: WsHandlers<State>) {
      const app = uws.App();
      app.ws<Socket<State>>(ws.path, {
        maxPayloadLength: ws.maxPayload,
        idleTimeout: WS_IDLE_TIMEOUT_S,
        sendPingsAutomatically: true,
        // The protocol layer cuts a slow client off at its own limit; uWS must not drop frames first.
        maxBackpressure: 1 << 30,
        upgrade: (res, req, context) => {
          const incoming = copyRequest(req);
          const verdict = ws.upgrade(incoming);
          if ('refusal' in verdict) {
            const { status, headers, body } = verdict.refusal;
            const raw = response(res);
            if (incoming.framing === undefined) return raw.respond(status, headers, body, true);
            return refuseLater(() => raw.gone() || raw.respond(status, headers, body, true));
          }
          const socket = { state: verdict.state, closed: false, gone: false } as Socket<State>;
          res.upgrade(socket, incoming.headers['sec-websocket-key'] ?? '', incoming.headers['sec-websocket-protocol'] ?? '', incoming.headers['sec-websocket-extensions'] ?? '', context);
        },
        open: (socket) => {
          const s = socket.getUserData();
          s.connection = {
            send: (text) => void (s.closed || socket.send(text, false)),
            bufferedAmount: () => (s.closed ? 0 : socket.getBufferedAmount()),
            end: (code, reason) => {
              if (s.closed) return;
              s.closed = true;
              socket.end(code, reason);
              // A client that reads nothing never takes the close frame: drop it after a second.
              setTimeout(() => s.gone || socket.close(), 1000).unref();
            },
          };
          ws.open(s.connection, s.state);
        },
        message: (socket, data) => {
          const s = socket.getUserData();
          ws.message(s.connection, s.state, Buffer.from(data.slice(0)));
        },
        close: (socket) => {
          const s = socket.getUserData();
          s.closed = true;
          s.gone = true;
          ws.close(s.connection, s.state);
        },
      });
      app.any('/*', (res, req) => {
        const incoming = copyRequest(req);
        const raw = response(res);
        if (incoming.framing === undefined) http(incoming, raw);
        else refuseLater(() => raw.gone() || http(incoming, raw));
      });

      return new Promise<Listening>((resolve, reject) => {
        app.listen(host, port, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`));
          resolve({
            port: uws.us_socket_local_port(socket),
            stopAccepting: () => uws.us_listen_socket_close(socket),
            // uWS 20.30 has no app.close(): its idle keep-alive sockets time out on their own (10 s).
            closeAll: () => (app as unknown as { close?: () => void }).close?.(),
          });
        });
      });
    },
  };
}
