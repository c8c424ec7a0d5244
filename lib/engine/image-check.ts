// Images are files from clients: their format and size are read from their headers here, before
// anything decodes them, so a file that claims 100,000 × 100,000 pixels is refused before a buffer
// of that size exists. Only PNG, JPEG and GIF pass (what tools/mtmd's stb_image decodes at the
// pinned commit without ffmpeg; it would take BMP, TGA, PSD and more, which no client sends).
import { ShimmyError } from './errors.js';

export const imageLimits = {
  /** Images in one request. */
  perRequest: 16,
  /** Pixels of one image (width × height): 4096 × 4096. */
  pixels: 4096 * 4096,
  /** Pixels of all of a request's images together (they are decoded together, 3 to 19 bytes a pixel on the way). */
  requestPixels: 32 << 20,
  /** The longer side over the shorter: a preprocessor that scales a 100000 × 1 image rounds a side to 0 and aborts. */
  aspect: 50,
  /** Scans of a progressive JPEG: each costs a pass over every block, and a few bytes buy one. */
  jpegScans: 64,
};

export type ImageFormat = 'png' | 'jpeg' | 'gif';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

const bad = (message: string) => new ShimmyError('invalid_request', message);

// JPEG: the first start-of-frame segment (baseline, progressive, lossless, arithmetic) holds the
// size; stb_image reads the same one. Segments are skipped by their lengths and each scan's
// entropy-coded data up to the next marker, to count the scans.
function jpegInfo(b: Uint8Array): { width: number; height: number; scans: number } | null {
  let size: { width: number; height: number } | null = null;
  let scans = 0;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // end of image
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (length < 2) return null;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof && !size) {
      if (i + 9 > b.length) return null;
      size = { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]! };
    }
    i += 2 + length;
    if (marker !== 0xda) continue;
    if (!size) return null; // scan data before any frame
    if (++scans > imageLimits.jpegScans) break;
    // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or a restart marker inside it.
    while (i + 1 < b.length && !(b[i] === 0xff && b[i + 1] !== 0x00 && !(b[i + 1]! >= 0xd0 && b[i + 1]! <= 0xd7))) i++;
  }
  return size && { ...size, scans };
}

/** The format and size an image file declares; throws invalid_request for anything else. */
export function readImageHeader(b: Uint8Array, what = 'the image'): ImageHeader {
  const at = (i: number, ...bytes: number[]) => bytes.every((v, k) => b[i + k] === v);
  let header: ImageHeader | null = null;
  if (b.length >= 24 && at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) {
    // The IHDR chunk comes first.
    if (!at(12, 0x49, 0x48, 0x44, 0x52)) throw bad(`${what} is not a valid PNG (no IHDR chunk first)`);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    header = { format: 'png', width: view.getUint32(16), height: view.getUint32(20) };
  } else if (b.length >= 10 && (at(0, 0x47, 0x49, 0x46, 0x38, 0x37, 0x61) || at(0, 0x47, 0x49, 0x46, 0x38, 0x39, 0x61))) {
    header = { format: 'gif', width: b[6]! | (b[7]! << 8), height: b[8]! | (b[9]! << 8) };
  } else if (b.length >= 4 && at(0, 0xff, 0xd8, 0xff)) {
    const info = jpegInfo(b);
    if (!info) throw bad(`${what} is not a valid JPEG (no frame header)`);
    if (info.scans > imageLimits.jpegScans) throw bad(`${what} is a JPEG of more than ${imageLimits.jpegScans} scans`);
    header = { format: 'jpeg', width: info.width, height: info.height };
  } else if (b.length >= 12 && at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) {
    throw bad(`${what} is WebP, which this build cannot decode: send PNG, JPEG or GIF`);
  } else {
    throw bad(`${what} is not a PNG, JPEG or GIF image`);
  }
  if (header.width === 0 || header.height === 0) throw bad(`${what} has no pixels`);
  if (header.width * header.height > imageLimits.pixels) {
    throw bad(`${what} is ${header.width} × ${header.height} pixels: at most ${imageLimits.pixels} pixels are accepted`);
  }
  if (Math.max(header.width, header.height) > imageLimits.aspect * Math.min(header.width, header.height)) {
    throw bad(`${what} is ${header.width} × ${header.height} pixels: one side may be at most ${imageLimits.aspect} times the other`);
  }
  return header;
}

const dataUrl = /^data:([^;,]*)((?:;[^;,]*)*?);base64,/i;

/** An image given as a data URL (`data:image/png;base64,…`): its bytes (http(s) URLs are image-fetch.ts's). */
export function imageFromUrl(url: unknown, what = 'the image'): Uint8Array {
  if (typeof url !== 'string') throw bad(`${what} needs a URL`);
  const m = dataUrl.exec(url.slice(0, 256));
  if (!m) throw bad(`${what} must be a base64 data URL (data:image/png;base64,…)`);
  const type = m[1]!.toLowerCase();
  if (type !== '' && !type.startsWith('image/')) throw bad(`${what} is a data URL of type '${type}', not an image`);
  return imageFromBase64(url.slice(m[0].length), what);
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64url = /^[A-Za-z0-9_-]*={0,2}$/;

/** An image given as base64 text (Anthropic's and Ollama's form): its bytes; invalid base64 is refused. */
export function imageFromBase64(text: unknown, what = 'the image'): Uint8Array {
  if (typeof text !== 'string' || text.length === 0) throw bad(`${what} needs base64 data`);
  const compact = /\s/.test(text) ? text.replace(/\s+/g, '') : text; // MIME line breaks
  if (!base64.test(compact) && !base64url.test(compact)) throw bad(`${what} is not valid base64`);
  return new Uint8Array(Buffer.from(compact, base64.test(compact) ? 'base64' : 'base64url'));
}
