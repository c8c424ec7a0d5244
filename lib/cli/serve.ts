import { startServer } from '../server/app.js';
import { loadDefaults, serveMaxLoaded } from '../engine/defaults.js';
import { parseDuration } from '../models/duration.js';
import { ModelRegistry, parseAlias } from '../models/registry.js';
import { DEFAULT_RESPONSE_STORE } from '../server/responses/store.js';
import { binaryChoice } from '../native.js';
import { transportChoice } from '../server/transport/index.js';
import { discover, fail, integer, listFlag, number, rpcWorkers, version, type CommonFlags } from './common.js';
import { memoryOptions, type MemoryFlags } from './memory-flags.js';

export interface ServeFlags extends CommonFlags, MemoryFlags {
  bind: string;
  port?: string | number;
  'api-key'?: string;
  parallel?: number;
  'ctx-size'?: number;
  threads?: number;
  'backend-sampling'?: boolean;
  'max-loaded'?: number;
  'body-limit'?: number;
  'allow-origin'?: string | string[];
  'allow-host'?: string | string[];
  transport?: string;
  rpc?: string | string[];
  alias?: string | string[];
  'keep-alive'?: string | number;
  'ollama-bind'?: string;
  'allow-pull-host'?: string | string[];
  'responses-store'?: number;
  'allow-image-urls'?: boolean | string;
}

// --allow-image-urls: public addresses only; --allow-image-urls=any: inside this network too.
function imageUrlPolicy(value: unknown): 'off' | 'public' | 'any' {
  if (value === undefined || value === false) return 'off';
  if (value === true || value === 'public') return 'public';
  if (value === 'any') return 'any';
  fail(`--allow-image-urls takes no value, or 'any' (got '${String(value)}')`);
}

function parseBind(bind: string, port: unknown): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(String(bind));
  if (!m) fail(`--bind must be HOST:PORT (got '${bind}')`);
  const p = port === undefined ? Number(m[2]) : Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) fail(`invalid port '${port ?? m[2]}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: p };
}

export async function serve(flags: ServeFlags): Promise<void> {
  const { host, port } = parseBind(flags.bind, flags.port);
  const discovery = discover(flags);
  const rpc = rpcWorkers(flags);
  const registry = new ModelRegistry(discovery, {
    parallel: integer(flags, 'parallel', 1, 256) ?? loadDefaults.parallel,
    contextSize: integer(flags, 'ctx-size', 16, 1 << 20),
    threads: integer(flags, 'threads', 1, 1024),
    backendSampling: flags['backend-sampling'] === true,
    rpc,
    imageUrls: imageUrlPolicy(flags['allow-image-urls']),
    ...memoryOptions(flags),
  }, integer(flags, 'max-loaded', 1, 1024) ?? serveMaxLoaded);
  try {
    registry.aliases = listFlag(flags.alias).map(parseAlias);
  } catch (error) {
    fail((error as Error).message);
  }
  try {
    registry.keepAliveMs = parseDuration(flags['keep-alive'] ?? '5m');
  } catch (error) {
    fail(`--keep-alive ${(error as Error).message}`);
  }
  const ollamaBind = flags['ollama-bind'] === undefined ? undefined : parseBind(String(flags['ollama-bind']), undefined);
  const storeMiB = number(flags, 'responses-store') ?? DEFAULT_RESPONSE_STORE.maxBytes / (1 << 20);
  if (storeMiB < 0) fail(`--responses-store must be 0 or more MiB (got ${storeMiB})`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  try {
    binaryChoice(); // SHIMMY_GPU is checked now, not at the first model load, after the server is up
  } catch (error) {
    fail((error as Error).message);
  }
  let transport;
  try {
    transport = transportChoice(flags.transport ?? process.env.SHIMMY_TRANSPORT);
  } catch (error) {
    fail(`--transport: ${(error as Error).message}`);
  }
  const server = await startServer({
    host, port, registry, apiKey: flags['api-key'], version, log, transport,
    bodyLimit: integer(flags, 'body-limit', 1024, 2 ** 31 - 1),
    ollamaBind,
    rediscover: () => discover(flags),
    pull: { allowHosts: listFlag(flags['allow-pull-host']) },
    responsesStore: { maxBytes: storeMiB * (1 << 20), maxCount: storeMiB > 0 ? DEFAULT_RESPONSE_STORE.maxCount : 0 },
    allowOrigins: listFlag(flags['allow-origin'], process.env.SHIMMY_ALLOW_ORIGINS),
    allowHosts: listFlag(flags['allow-host'], process.env.SHIMMY_ALLOW_HOSTS),
  });
  const base = registry.base;
  log(`shimmy ${version} listening on http://${host.includes(':') ? `[${host}]` : host}:${server.port} (${server.context.transport.description})`);
  log(base ? `default model: ${base.id} (${base.path}), loading…` : 'no model found: pass --model PATH or put .gguf files in ./models');
  if (ollamaBind) log(`Ollama's API on every path at http://${ollamaBind.host.includes(':') ? `[${ollamaBind.host}]` : ollamaBind.host}:${server.ollamaPort}`);
  if (rpc.length > 0) log(`models are split over RPC workers ${rpc.join(', ')} (see /api/health)`);
  if (flags.verbose) for (const m of discovery.models) log(`  model ${m.id}  ${m.path}`);
  for (const a of registry.aliases) log(`alias: ${a.pattern} → ${a.target}${registry.resolve(a.target) ? '' : ' (no such model)'}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130); // a second signal: leave now
    stopping = true;
    log(`${signal}: finishing in-flight requests…`);
    server.close(5000).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
