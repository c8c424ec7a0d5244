// shimmy worker: lends this machine's devices to shimmy processes elsewhere (serve --rpc) over
// ggml's RPC protocol, the one llama.cpp's rpc-server speaks, until SIGINT or SIGTERM.
import { createServer, isIPv4 } from 'node:net';
import { DEFAULT_WORKER_PORT } from '../engine/rpc.js';
import { native, type NativeWorker, type NativeWorkerDevice } from '../native.js';
import { fail, formatSize, listFlag, number, version, type CommonFlags } from './common.js';

export interface WorkerFlags extends CommonFlags {
  bind: string;
  threads?: number;
  device?: string | string[];
  mem?: number;
}

export const DEFAULT_WORKER_BIND = `127.0.0.1:${DEFAULT_WORKER_PORT}`;

/** ggml binds an IPv4 address given as digits; localhost is spelled out for it. */
function parseWorkerBind(bind: string): { host: string; port: number } {
  const m = /^([^:]+):(\d{1,5})$/.exec(String(bind));
  const host = m?.[1] === 'localhost' ? '127.0.0.1' : m?.[1];
  const port = Number(m?.[2]);
  if (!host || !isIPv4(host) || !(port >= 1 && port <= 65535)) fail(`--bind must be IPV4:PORT, e.g. ${DEFAULT_WORKER_BIND} or 0.0.0.0:${DEFAULT_WORKER_PORT} (got '${bind}')`);
  return { host, port };
}

/** ggml's server says only "Failed to create server socket"; Node can say why, before it starts. */
async function checkCanListen(host: string, port: number): Promise<void> {
  const server = createServer();
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once('error', resolve);
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (error) {
    const why = error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EADDRNOTAVAIL' ? 'not an address of this machine' : error.message;
    fail(`cannot listen on ${host}:${port}: ${why}`);
  }
}

const describeDevice = (d: NativeWorkerDevice) => `${d.name} (${d.description}), ${formatSize(d.memoryFree)} free of ${formatSize(d.memoryTotal)}`;

export function describeWorker(w: NativeWorker): string {
  const devices = w.devices.map(describeDevice).join('; ') || 'no devices';
  return `${w.endpoint}: ${w.error ? `lost (${w.error})` : devices}`;
}

export async function worker(flags: WorkerFlags): Promise<void> {
  const { host, port } = parseWorkerBind(flags.bind);
  const threads = number(flags, 'threads');
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 1024)) fail('--threads must be a whole number from 1 to 1024');
  const memMiB = number(flags, 'mem');
  if (memMiB !== undefined && !(Number.isInteger(memMiB) && memMiB >= 1)) fail('--mem must be a whole number of MiB');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  await checkCanListen(host, port);
  if (!host.startsWith('127.')) {
    log(`shimmy worker: WARNING: listening on ${host}, not loopback. ggml's RPC protocol has no authentication and no`);
    log('encryption: anyone who can reach this port can run computations here and read what it holds.');
    log('Keep workers on a private network or behind a firewall that admits only the serving machines.');
  }
  const endpoint = `${host}:${port}`;
  // Installed before the server starts, which listens (and says so) at once. ggml's server has no
  // way to stop, and its thread would outlive the static destructors exit() runs: _exit instead.
  const stop = (signal: string) => {
    log(`${signal}: worker stopped`);
    native().exitProcess(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const started = (() => {
    try {
      return native().startWorker({ endpoint, threads, devices: listFlag(flags.device), memoryLimit: memMiB === undefined ? 0 : memMiB * 2 ** 20 });
    } catch (error) {
      return fail((error as Error).message);
    }
  })();
  log(`shimmy ${version} worker on ${endpoint}, lending:`);
  for (const d of started.devices) log(`  ${describeDevice(d)}${memMiB ? ` (reported to clients as at most ${memMiB} MiB)` : ''}`);
  log(`serve with: shimmy serve --rpc ${host === '0.0.0.0' ? 'THIS-MACHINE' : host}:${port}`);

  try {
    await started.done;
  } catch (error) {
    fail((error as Error).message);
  }
}
