// The one API-key rule (serve --api-key), for HTTP routes and WebSocket upgrades alike: the key as
// `Authorization: Bearer KEY` (OpenAI's clients), `X-Api-Key: KEY` (Anthropic's), or `?api_key=KEY`
// (browsers cannot set headers on a WebSocket).
import { timingSafeEqual } from 'node:crypto';

function same(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a request with these headers (lower-case names) and query string carries `key`. */
export function hasApiKey(key: string | undefined, headers: Record<string, string>, query: string): boolean {
  if (!key) return true;
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
  const presented = [bearer, headers['x-api-key'], query.includes('api_key=') ? new URLSearchParams(query).get('api_key') : null];
  return presented.some((given) => typeof given === 'string' && same(given, key));
}

export const API_KEY_HINT = 'send the key as "Authorization: Bearer KEY", "X-Api-Key: KEY" or ?api_key=KEY';
