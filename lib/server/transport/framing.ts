// One rule for the headers that frame a request, whatever parser read it. node:http and
// uWebSockets.js let different things through (uWS takes the first of two Content-Lengths, any
// Transfer-Encoding that ends in chunked, the last of two Hosts), and a proxy in front that reads
// such a request another way sees other requests than shimmy does: the ground of request
// smuggling. So an ambiguous request is refused, the same on both transports.

/** A Host header's value: a name or IPv4 address or bracketed IPv6 address, then an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{1,5})?$/;

/** Why the headers (name, value pairs as sent, names lower case) frame the request ambiguously, or undefined. */
export function framingProblem(headers: Iterable<readonly [string, string]>): string | undefined {
  const host: string[] = [];
  const length: string[] = [];
  const coding: string[] = [];
  const lists: Record<string, string[]> = { host, 'content-length': length, 'transfer-encoding': coding };
  for (const [name, value] of headers) lists[name]?.push(value.trim());
  if (host.length > 1) return 'the request has more than one Host header';
  if (host[0] !== undefined && !HOST.test(host[0])) return `the Host header ${JSON.stringify(host[0].slice(0, 100))} is not a host name with an optional port`;
  if (length.length > 1) return 'the request has more than one Content-Length header';
  if (length[0] !== undefined && !/^\d{1,15}$/.test(length[0])) return 'the Content-Length header is not a number';
  if (coding.length > 1 || (coding[0] !== undefined && coding[0].toLowerCase() !== 'chunked')) return "the only Transfer-Encoding taken is 'chunked', sent once";
  if (coding.length === 1 && length.length === 1) return 'the request has both Content-Length and Transfer-Encoding';
  return undefined;
}
