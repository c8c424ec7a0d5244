// fetch() for pulls, following redirects one hop at a time: registries send blobs to other hosts
// (Ollama's to a CDN, Hugging Face's to its LFS store), but a hop may not lead into a private,
// loopback or link-local address unless the pull started at one, so an allowed registry cannot
// bounce a server into the network it sits in. Authorization goes only to the first host.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isInternal } from '../internal-address.js';
import { PullError } from './errors.js';

const MAX_HOPS = 5;

async function internal(host: string): Promise<boolean> {
  const name = host.replace(/^\[|\]$/g, '');
  if (isIP(name)) return isInternal(name);
  try {
    return (await lookup(name, { all: true })).some((a) => isInternal(a.address));
  } catch {
    return false; // the fetch itself will report the name
  }
}

/** fetch(url, init) with redirects followed by hand (see the file's head). */
export async function fetchHops(url: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
  const start = new URL(url);
  const startsInside = await internal(start.hostname);
  let current = start;
  let headers = init.headers ?? {};
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { ...init, headers, redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return response;
    await response.body?.cancel().catch(() => {});
    if (hop >= MAX_HOPS) throw new PullError('network', `${url}: more than ${MAX_HOPS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new PullError('network', `${url}: redirected to a ${next.protocol} URL`);
    if (!startsInside && (await internal(next.hostname))) throw new PullError('network', `${url}: redirected to ${next.host}, an address inside this network, which a pull from outside may not reach`);
    if (next.host !== start.host) {
      const { Authorization: _dropped, authorization: _also, ...rest } = headers;
      headers = rest;
    }
    current = next;
  }
}
