// What every route handler shares: the registry, limits, the API key, browser policy, and
// in-flight tracking.
import type { Discovery } from '../models/discovery.js';
import type { ModelRegistry } from '../models/registry.js';
import type { BrowserPolicy } from './browser-guard.js';
import type { ResponseStore, ResponseStoreLimits } from './responses/store.js';
import type { TransportChoice } from './transport/index.js';

export interface ServerOptions {
  registry: ModelRegistry;
  /** Largest request body accepted, in bytes (default 4 MiB). */
  bodyLimit?: number;
  /** When set, every route but /api/health and /health needs the key (see lib/server/auth.ts). */
  apiKey?: string;
  /** Bytes of output a slow client may fall behind (HTTP streams and WebSockets) before it is cut off (default 8 MiB). */
  bufferLimit?: number;
  /** Milliseconds a client may stay congested, its generation paused, before it is cut off (default 30 s). */
  stallLimitMs?: number;
  /** Browser origins allowed besides loopback pages ('*': all). */
  allowOrigins?: string[];
  /** Host names allowed besides IP addresses, loopback names and this machine's name ('*': all). */
  allowHosts?: string[];
  /** What the Responses store keeps (default DEFAULT_RESPONSE_STORE: 64 MiB, 10,000 responses). */
  responsesStore?: ResponseStoreLimits;
  /** Finds the models again after /api/pull or /api/delete (serve: the same discovery it started with). */
  rediscover?: () => Discovery;
  /**
   * Where /api/pull writes and /api/delete removes (default: this process's environment and home),
   * and the hosts it may fetch from besides Ollama's registry and Hugging Face (`--allow-pull-host`).
   */
  pull?: { env?: NodeJS.ProcessEnv; home?: string; cwd?: string; allowHosts?: string[] };
  /** A second listener where every path is Ollama's, /api/generate included (`serve --ollama-bind`). */
  ollamaBind?: { host: string; port: number };
  /** uWebSockets.js, node:http, or the first that works (default). */
  transport?: TransportChoice;
  version?: string;
  log?: (line: string) => void;
}

export interface ServerContext {
  registry: ModelRegistry;
  bodyLimit: number;
  bufferLimit: number;
  stallLimitMs: number;
  apiKey: string | undefined;
  browser: BrowserPolicy;
  /** The transport serving, e.g. "uws" (uWebSockets.js 20.30). */
  transport: { name: string; description: string };
  version: string;
  log: (line: string) => void;
  rediscover?: () => Discovery;
  pull: { env?: NodeJS.ProcessEnv; home?: string; cwd?: string; allowHosts: string[] };
  /** Stored Responses, for previous_response_id and GET /v1/responses/{id}. */
  responses: ResponseStore;
  /** Requests in flight (generations), so shutdown can wait for them. */
  inFlight: Set<{ cancel(): void }>;
  /** The default model's state, for /api/health. */
  baseState: { status: 'loading' | 'healthy' | 'unhealthy'; error?: string };
  startedAt: number;
  metrics: {
    requests: Map<string, number>;
    tokensGenerated: number;
    /** Clients cut off for falling more than bufferLimit behind, by kind. */
    slowClientsCutOff: { http: number; websocket: number };
  };
}

export function countRequest(ctx: ServerContext, route: string, status: number): void {
  const key = `${route} ${status}`;
  ctx.metrics.requests.set(key, (ctx.metrics.requests.get(key) ?? 0) + 1);
}
