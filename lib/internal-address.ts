// Addresses inside the network a process sits in (loopback, private, link-local, CGNAT, unique
// local, multicast): a client or a remote server must not lead it to them. IPv6 forms that carry
// an IPv4 address (::ffff:a9fe:a9fe is 169.254.169.254; NAT64's 64:ff9b::/96,
// 6to4's 2002::/16) are judged by it.

function internalV4(a: number, b: number, c: number): boolean {
  return a === 0 || a === 10 || a === 127 || a >= 224 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) ||
    (a === 192 && b === 168) || (a === 192 && b === 0 && c === 0) || (a === 198 && (b === 18 || b === 19));
}

// An IPv6 address as its 8 groups, or null when it is not one.
function groups(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, ''); // a zone id
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) return null;
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)) : []);
  const left = parse(head);
  const right = parse(tail);
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...new Array(Math.max(fill, 0)).fill(0), ...right];
  return all.length === 8 && all.every((g) => Number.isInteger(g)) ? all : null;
}

/** Whether an IP address is one a fetch on an outsider's behalf must not reach. */
export function isInternal(address: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (v4) return internalV4(Number(v4[1]), Number(v4[2]), Number(v4[3]));
  const g = groups(address);
  if (!g) return true; // not an address this check can read: refuse rather than guess
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  const embedded = (zeros(5) && (g[5] === 0xffff || g[5] === 0)) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0));
  if (embedded && !(zeros(6) && g[6] === 0)) return internalV4(g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8);
  if (g[0] === 0x2002) return internalV4(g[1]! >> 8, g[1]! & 0xff, g[2]! >> 8);
  if (zeros(7) && (g[7] === 0 || g[7] === 1)) return true; // :: and ::1
  // unique local fc00::/7, link-local fe80::/10, the old site-local fec0::/10, multicast ff00::/8
  return (g[0]! & 0xfe00) === 0xfc00 || (g[0]! & 0xffc0) === 0xfe80 || (g[0]! & 0xffc0) === 0xfec0 || (g[0]! & 0xff00) === 0xff00;
}
