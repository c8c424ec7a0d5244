// The route table and the one error boundary every request passes: browser checks (Host,
// Origin, CORS preflight), route matching (a path that does not decode is a 400, not a crash),
// the API key, and the handler, whose every throw or rejection becomes the error object.
import { browserRefusal, corsHeaders, preflightHeaders } from './browser-guard.js';
import { countRequest, type ServerContext } from './context.js';
import type { ShimmyError } from '../engine/errors.js';
import { API_KEY_HINT, hasApiKey } from './auth.js';
import { asShimmyError, errorBody, httpError, openAiErrorBody, statusOf } from './errors.js';
import { Exchange } from './exchange.js';
import type { IncomingRequest, RawResponse } from './transport/types.js';

export interface Route {
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE';
  /** Segments starting with ':' are parameters, passed to the handler decoded. */
  path: string;
  /** No API key needed (health checks). */
  open?: boolean;
  /** The error body its clients expect, when not the one its path implies (bodyFor). */
  errorBody?: (e: ShimmyError) => unknown;
  handler(ctx: ServerContext, ex: Exchange, params: string[]): number | Promise<number>;
}

/** The error body the path's clients expect: OpenAI's under /v1/, the shimmy API's elsewhere. */
const bodyFor = (path: string) => (path.startsWith('/v1/') ? openAiErrorBody : errorBody);

/** The route for this method and path with its raw parameters, or the methods the path takes. */
export function match(routes: Route[], method: string, path: string): { route: Route; params: string[] } | { methods: string[] } {
  const parts = path.split('/');
  const methods: string[] = [];
  for (const route of routes) {
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: string[] = [];
    const fits = pattern.every((p, i) => (p.startsWith(':') ? parts[i] !== '' && params.push(parts[i]!) > 0 : p === parts[i]));
    if (!fits) continue;
    if (route.method === method) return { route, params };
    methods.push(route.method);
  }
  return { methods };
}

async function handle(ctx: ServerContext, routes: Route[], ex: Exchange): Promise<void> {
  const { method, path } = ex.req;
  let body: (e: ShimmyError) => unknown = bodyFor(path);
  const origin = ex.req.headers.origin;
  // Unmatched paths share one label: a client must not grow the metrics without bound.
  const verb = ['GET', 'POST', 'OPTIONS', 'HEAD', 'PUT', 'DELETE', 'PATCH'].includes(method) ? method : 'OTHER';
  let name = `${verb} unmatched`;
  const fail = (e: ShimmyError) => {
    ex.error(e, body);
    countRequest(ctx, name, statusOf(e));
  };
  if (ex.req.framing) return fail(httpError('invalid_request', ex.req.framing));
  const refusal = browserRefusal(ctx.browser, ex.req.headers.host, origin);
  if (refusal) return fail(httpError('forbidden', refusal));
  Object.assign(ex.extraHeaders, corsHeaders(origin));
  if (method === 'OPTIONS') {
    ex.send(204, 'text/plain', '', origin ? preflightHeaders(origin, ex.req.headers['access-control-request-headers']) : { Allow: 'GET, POST, OPTIONS' });
    return countRequest(ctx, name, 204);
  }

  const found = match(routes, method, path);
  if ('methods' in found) {
    if (found.methods.length === 0) return fail(httpError('not_found', 'see the README for the routes'));
    return fail(httpError('method_not_allowed', `${path} takes ${found.methods.join(', ')}`));
  }
  const { route, params } = found;
  name = `${route.method} ${route.path}`;
  if (route.errorBody) body = route.errorBody;
  if (!route.open && !hasApiKey(ctx.apiKey, ex.req.headers)) return fail(httpError('unauthorized', API_KEY_HINT));
  let decoded: string[];
  try {
    decoded = params.map((p) => decodeURIComponent(p));
  } catch {
    return fail(httpError('invalid_request', `the path ${JSON.stringify(path)} is not valid percent-encoding`));
  }
  try {
    const status = await route.handler(ctx, ex, decoded);
    countRequest(ctx, name, status);
  } catch (error) {
    const e = asShimmyError(error);
    if (statusOf(e) >= 500) ctx.log(`error on ${name}: ${e.message}`);
    if (ex.open) ex.error(e, body);
    countRequest(ctx, name, statusOf(e));
  }
}

/** The transport's request callback: nothing thrown in here reaches the process. */
export function httpHandler(ctx: ServerContext, routes: Route[]) {
  return (req: IncomingRequest, res: RawResponse): void => {
    let ex: Exchange | undefined;
    try {
      ex = new Exchange(req, res, ctx, () => ctx.metrics.slowClientsCutOff.http++);
      handle(ctx, routes, ex).catch((error) => lastResort(ctx, ex, error));
    } catch (error) {
      lastResort(ctx, ex, error);
    }
  };
}

function lastResort(ctx: ServerContext, ex: Exchange | undefined, error: unknown): void {
  ctx.log(`unexpected error: ${(error as Error)?.stack ?? String(error)}`);
  try {
    if (ex?.open) ex.error(httpError('server_error', 'an unexpected error occurred; it was logged'));
  } catch {
    // the connection is unusable: nothing more to tell the client
  }
}
