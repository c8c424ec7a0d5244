// Reads a GGUF file's key/value header without loading the model: enough to list models with
// their architecture, quantization and context length, and to tell a GGUF blob from anything else.
import { closeSync, openSync, readSync } from 'node:fs';

export type HeaderValue = string | number | bigint | boolean;

const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** True when the file starts with the GGUF magic. */
export function isGguf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Walks a GGUF header's key/value pairs, reading the file in pieces. `visit` gets every scalar
 * and string value; `visitStrings` (when given) gets each string array in full (the vocabulary),
 * other arrays are skipped unread. Throws on a truncated or malformed header.
 */
export function walkGgufHeader(
  path: string,
  visit: (key: string, value: HeaderValue, type: number) => void,
  visitStrings?: (key: string, values: string[]) => void,
): { tensorCount: bigint; kvCount: bigint } {
  const fd = openSync(path, 'r');
  let buf = Buffer.alloc(1 << 16);
  let bufStart = 0;
  let bufEnd = 0;
  let at = 0;
  const need = (n: number) => {
    if (at + n <= bufEnd) return;
    if (n > buf.length) buf = Buffer.alloc(n * 2);
    bufStart = at;
    bufEnd = at + readSync(fd, buf, 0, buf.length, at);
    if (at + n > bufEnd) throw new Error('truncated GGUF header');
  };
  const u32 = () => (need(4), (at += 4), buf.readUInt32LE(at - 4 - bufStart));
  const u64 = () => (need(8), (at += 8), buf.readBigUInt64LE(at - 8 - bufStart));
  const str = () => {
    const n = Number(u64());
    if (n > 1 << 24) throw new Error('implausible string length in GGUF header');
    need(n);
    at += n;
    return buf.toString('utf8', at - n - bufStart, at - bufStart);
  };
  const scalar = (type: number): HeaderValue => {
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new Error(`unknown GGUF value type ${type}`);
    need(size);
    const o = at - bufStart;
    at += size;
    switch (type) {
      case 0: return buf.readUInt8(o);
      case 1: return buf.readInt8(o);
      case 2: return buf.readUInt16LE(o);
      case 3: return buf.readInt16LE(o);
      case 4: return buf.readUInt32LE(o);
      case 5: return buf.readInt32LE(o);
      case 6: return buf.readFloatLE(o);
      case 7: return buf.readUInt8(o) !== 0;
      case 10: return buf.readBigUInt64LE(o);
      case 11: return buf.readBigInt64LE(o);
      default: return buf.readDoubleLE(o);
    }
  };
  try {
    need(24);
    if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file');
    at = 8;
    const tensorCount = u64();
    const kvCount = u64();
    if (kvCount > 1n << 20n) throw new Error(`implausible key/value count ${kvCount} in GGUF header`);
    for (let i = 0; i < Number(kvCount); i++) {
      const key = str();
      const type = u32();
      if (type === STRING) visit(key, str(), type);
      else if (type === ARRAY) {
        const elem = u32();
        const n = Number(u64());
        if (elem === STRING) {
          const values: string[] = [];
          for (let k = 0; k < n; k++) {
            const value = str();
            if (visitStrings) values.push(value);
          }
          visitStrings?.(key, values);
        } else {
          const size = SCALAR_BYTES[elem];
          if (size === undefined) throw new Error(`unknown GGUF array type ${elem}`);
          at += size * n; // skip without reading
        }
      } else visit(key, scalar(type), type);
    }
    return { tensorCount, kvCount };
  } finally {
    closeSync(fd);
  }
}

/** Scalar and string values of the header (arrays, such as the vocabulary, are skipped). */
export function readGgufHeader(path: string): Map<string, HeaderValue> {
  const out = new Map<string, HeaderValue>();
  walkGgufHeader(path, (key, value) => out.set(key, value));
  return out;
}
