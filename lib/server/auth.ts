// The one API-key rule (serve --api-key), for HTTP routes and WebSocket upgrades alike: the key as
// `Authorization: Bearer KEY` (OpenAI's clients) or `X-Api-Key: KEY` (Anthropic's); on a WebSocket
// upgrade also as `?api_key=KEY` (browsers cannot set headers there). Only there: a key in an
// HTTP URL would end up in proxies' access logs.
import { createHash, timingSafeEqual } from 'node:crypto';

function same(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a request with these headers (lower-case names) carries `key`; `upgradeQuery`, a
 * WebSocket upgrade's query string, may carry it too.
 */
export function hasApiKey(key: string | undefined, headers: Record<string, string>, upgradeQuery = ''): boolean {
  if (!key) return true;
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
  const presented = [bearer, headers['x-api-key'], upgradeQuery.includes('api_key=') ? new URLSearchParams(upgradeQuery).get('api_key') : null];
  return presented.some((given) => typeof given === 'string' && same(given, key));
}

export const API_KEY_HINT = 'send the key as "Authorization: Bearer KEY" or "X-Api-Key: KEY"';
export const WS_API_KEY_HINT = `${API_KEY_HINT}, or ?api_key=KEY`;

/**
 * Who owns what a request stores (Responses): a digest of the key it authenticated with under
 * `--api-key` (one key, so every request that passed holds it), '' without one.
 */
export function ownerOf(key: string | undefined): string {
  return key ? createHash('sha256').update(key).digest('hex') : '';
}
