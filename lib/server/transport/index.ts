// Picks the transport: uWebSockets.js where one of its binaries loads, node:http otherwise, or
// the one asked for (--transport, SHIMMY_TRANSPORT). The fallback is announced with its reason.
import { nodeTransport } from './node-http.js';
import type { Transport } from './types.js';
import { loadUws, uwsTransport } from './uws.js';

export type TransportChoice = 'auto' | 'uws' | 'node';

export function chooseTransport(choice: TransportChoice = 'auto'): { transport: Transport; notice?: string } {
  if (choice === 'node') return { transport: nodeTransport() };
  const loaded = loadUws();
  if ('uws' in loaded) return { transport: uwsTransport(loaded.uws, loaded.version) };
  if (choice === 'uws') throw new Error(`--transport uws: no uWebSockets.js binary loads here (${loaded.reason})`);
  return { transport: nodeTransport(), notice: `shimmy: serving with node:http: no uWebSockets.js binary loads here (${loaded.reason})` };
}

export function transportChoice(value: unknown): TransportChoice {
  const v = value === undefined || value === '' ? 'auto' : String(value);
  if (v !== 'auto' && v !== 'uws' && v !== 'node') throw new Error(`the transport must be auto, uws or node (got '${v}')`);
  return v;
}

export type { Transport } from './types.js';
