// Images named by http(s) URLs, fetched only when the process allows it (serve
// --allow-image-urls, loadModel's imageUrls): a client must not make the server reach into the
// network it sits in (cloud metadata at 169.254.169.254, a router's admin page), so under
// 'public' every address a name resolves to is checked when the connection is made (no second
// lookup a rebinding DNS could answer differently) and each redirect is checked again. Bounded in
// bytes, redirects and time.
import { lookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isInternal } from '../internal-address.js';
import { ShimmyError } from './errors.js';

export type ImageUrlPolicy = 'off' | 'public' | 'any';

export const imageFetchLimits = { bytes: 20 << 20, redirects: 3, ms: 10_000 };

/** Whether an image URL is one for fetchImage (else it must be a data URL). */
export const isHttpUrl = (url: unknown): url is string => typeof url === 'string' && /^https?:\/\//i.test(url);

const bad = (message: string) => new ShimmyError('invalid_request', message);

// dns.lookup that refuses a name with any internal address.
const publicOnly: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 4);
    const inside = addresses.find((a) => isInternal(a.address));
    if (inside) return callback(Object.assign(new Error(`${hostname} resolves to ${inside.address}, inside this network`), { code: 'SHIMMY_INTERNAL' }), '', 4);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

// A connection of its own (agent: false): no socket kept alive from a fetch under another
// policy, and no proxy from the environment, which would resolve the name itself.
function get(url: URL, policy: ImageUrlPolicy, deadline: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((done, fail) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (policy === 'public' && isIP(host) && isInternal(host)) return fail(bad(`the image URL's host ${host} is inside this network, which this server does not fetch from`));
    const request = (url.protocol === 'https:' ? https : http).get(url, { agent: false, lookup: policy === 'public' ? publicOnly : undefined, signal: deadline, headers: { accept: 'image/*' } }, done);
    request.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'SHIMMY_INTERNAL') fail(bad(`the image URL's host ${e.message}, which this server does not fetch from`));
      else if (deadline.aborted) fail(bad(`the image at ${url.host} did not arrive within ${imageFetchLimits.ms / 1000} s`));
      else fail(bad(`the image at ${url.host} could not be fetched: ${e.message}`));
    });
  });
}

const parse = (url: string, base: URL | undefined, what: string) => {
  try {
    return new URL(url, base);
  } catch {
    throw bad(`${what} has a URL that does not parse`);
  }
};

/** The bytes of the image at `url` (http or https), or invalid_request saying why not; `cancel` stops it (another image of the request failed). */
export async function fetchImage(url: string, policy: ImageUrlPolicy, what = 'the image', cancel?: AbortSignal): Promise<Uint8Array> {
  if (policy === 'off') throw bad(`${what} is an http(s) URL: this server does not fetch images (serve --allow-image-urls turns it on); send it as a data URL (data:image/png;base64,…)`);
  const deadline = AbortSignal.any([AbortSignal.timeout(imageFetchLimits.ms), ...(cancel ? [cancel] : [])]);
  let current = parse(url, undefined, what);
  for (let hop = 0; ; hop++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw bad(`${what} leads to a ${current.protocol} URL`);
    const response = await get(current, policy, deadline);
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (hop >= imageFetchLimits.redirects) throw bad(`${what}: more than ${imageFetchLimits.redirects} redirects`);
      current = parse(response.headers.location, current, what);
      continue;
    }
    if (status !== 200) {
      response.resume();
      throw bad(`${what} could not be fetched: ${current.host} answered ${status}`);
    }
    if (Number(response.headers['content-length'] ?? 0) > imageFetchLimits.bytes) {
      response.destroy();
      throw bad(`${what} is larger than ${imageFetchLimits.bytes} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response) {
        size += (chunk as Buffer).length;
        if (size > imageFetchLimits.bytes) {
          response.destroy();
          throw bad(`${what} is larger than ${imageFetchLimits.bytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof ShimmyError) throw error;
      throw bad(deadline.aborted ? `the image at ${current.host} did not arrive within ${imageFetchLimits.ms / 1000} s` : `${what} could not be fetched: ${(error as Error).message}`);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }
}
