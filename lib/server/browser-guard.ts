// Keeps web pages from driving the local model (as Ollama does with OLLAMA_ORIGINS). A browser
// names the page that sent a request in `Origin`; only loopback origins and those given with
// --allow-origin may use the API, and they get real CORS headers. `Host` must be an IP address,
// a loopback name, this machine's name or one given with --allow-host, which defeats DNS
// rebinding (a hostile name that resolves to 127.0.0.1). Clients that are not browsers (curl,
// SDKs) send no Origin and are unaffected.
import { hostname } from 'node:os';
import { isIP } from 'node:net';

export interface BrowserPolicy {
  /** Extra allowed origins, e.g. https://app.example.com; '*' allows every origin. */
  allowOrigins: string[];
  /** Extra allowed Host names; '*' allows every name. */
  allowHosts: string[];
}

const loopbackName = (host: string) => host === 'localhost' || host.endsWith('.localhost');
const loopbackAddress = (host: string) => /^127(\.\d{1,3}){3}$/.test(host) || host === '::1';

/** The host name of a Host header or an origin's authority: no port, no brackets, lower case. */
function hostOf(authority: string): string {
  const a = authority.trim().toLowerCase();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  const colon = a.indexOf(':');
  return colon >= 0 && a.indexOf(':', colon + 1) < 0 ? a.slice(0, colon) : a;
}

function hostAllowed(policy: BrowserPolicy, host: string | undefined): boolean {
  if (!host) return true; // HTTP/1.0 clients send none; browsers always do
  const name = hostOf(host);
  if (isIP(name) || loopbackName(name) || policy.allowHosts.includes('*')) return true;
  const machine = hostname().toLowerCase();
  return name === machine || name === `${machine}.local` || policy.allowHosts.some((h) => h.toLowerCase() === name);
}

function originAllowed(policy: BrowserPolicy, origin: string | undefined): boolean {
  if (origin === undefined || origin === '') return true; // not sent by a browser page
  if (policy.allowOrigins.includes('*') || policy.allowOrigins.includes(origin)) return true;
  const m = /^(https?):\/\/([^/]+)$/i.exec(origin);
  if (!m) return false; // "null" (sandboxed frames, file: pages) and other schemes
  const host = hostOf(m[2]!);
  return loopbackName(host) || loopbackAddress(host);
}

/** Why a request with these Host and Origin headers is refused, or undefined when it is allowed. */
export function browserRefusal(policy: BrowserPolicy, host: string | undefined, origin: string | undefined): string | undefined {
  if (!hostAllowed(policy, host)) return `the Host '${host}' is not allowed; start the server with --allow-host to add it`;
  if (!originAllowed(policy, origin)) return `requests from the page at '${origin}' are not allowed; start the server with --allow-origin to add it`;
  return undefined;
}

/** Headers that let an allowed browser origin read the response. */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
}

/** The answer to a CORS preflight from an allowed origin. */
export function preflightHeaders(origin: string, requestHeaders: string | undefined): Record<string, string> {
  return {
    ...corsHeaders(origin),
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': requestHeaders || 'Authorization, Content-Type, X-Api-Key',
    'Access-Control-Max-Age': '600',
  };
}
