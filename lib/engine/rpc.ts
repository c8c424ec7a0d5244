// RPC worker addresses as users write them ("host:port"), checked before they reach ggml, whose
// transport speaks IPv4 only and reads the port with std::stoi.
import { ShimmyError } from './errors.js';

/** ggml's RPC_MAX_SERVERS. */
export const MAX_WORKERS = 16;
export const DEFAULT_WORKER_PORT = 50052;

/** "host:port" with an IPv4 address or a host name; throws invalid_request otherwise. */
export function parseEndpoint(text: string): string {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    const hint = text.includes('[') ? ' (RPC workers are reached over IPv4)' : '';
    throw new ShimmyError('invalid_request', `an RPC worker is HOST:PORT, e.g. 192.168.1.20:${DEFAULT_WORKER_PORT} (got '${text}')${hint}`);
  }
  return `${m[1]}:${port}`;
}

/** A list of endpoints, each at most once, at most MAX_WORKERS. */
export function parseEndpoints(list: readonly string[]): string[] {
  const endpoints = [...new Set(list.map(parseEndpoint))];
  if (endpoints.length > MAX_WORKERS) throw new ShimmyError('invalid_request', `at most ${MAX_WORKERS} RPC workers`);
  return endpoints;
}
