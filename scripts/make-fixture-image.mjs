#!/usr/bin/env node
// Small, valid image files made in JavaScript, for tests: PNG (8-bit RGB), GIF89a (a palette of at
// most 256 colours, LZW-coded) and baseline JPEG (DC only: every 8 × 8 block one flat colour).
// `rgbFn(x, y)` gives each pixel as [r, g, b], 0–255.
//
//   node scripts/make-fixture-image.mjs OUT.png|OUT.gif|OUT.jpg [--size N] [--pattern gradient|checker|red|blue]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (as PNG and zip use it) of a buffer. */
export function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const clamp8 = (v) => Math.max(0, Math.min(255, Math.round(v)));
const pixel = (rgbFn, x, y) => rgbFn(x, y).map(clamp8);

/** A PNG, 8-bit RGB, no interlace, each row unfiltered. */
export function pngImage(width, height, rgbFn) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1); // filter byte 0 (none) first
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(rgbFn, x, y);
      raw[row + 1 + x * 3] = r;
      raw[row + 2 + x * 3] = g;
      raw[row + 3 + x * 3] = b;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A GIF89a with one image and a global palette: the image's own colours when there are at most
 * 256, otherwise each pixel's nearest in a 6 × 6 × 6 colour cube.
 */
export function gifImage(width, height, rgbFn) {
  const pixels = [];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.push(pixel(rgbFn, x, y));
  const key = ([r, g, b]) => (r << 16) | (g << 8) | b;
  let colours = [...new Set(pixels.map(key))];
  let indexOf;
  if (colours.length <= 256) {
    const at = new Map(colours.map((c, i) => [c, i]));
    indexOf = (p) => at.get(key(p));
  } else {
    colours = [];
    for (let r = 0; r < 6; r++) for (let g = 0; g < 6; g++) for (let b = 0; b < 6; b++) colours.push(((r * 51) << 16) | ((g * 51) << 8) | (b * 51));
    const level = (v) => Math.round(v / 51);
    indexOf = ([r, g, b]) => level(r) * 36 + level(g) * 6 + level(b);
  }
  let bits = 2; // the palette has 2^bits entries; LZW's minimum code size is at least 2
  while (1 << bits < colours.length) bits++;
  const palette = Buffer.alloc(3 << bits);
  colours.forEach((c, i) => { palette[i * 3] = c >> 16; palette[i * 3 + 1] = (c >> 8) & 0xff; palette[i * 3 + 2] = c & 0xff; });

  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  screen[4] = 0x80 | ((bits - 1) << 4) | (bits - 1); // global palette, colour resolution, palette size
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);
  const lzw = lzwEncode(pixels.map(indexOf), bits);
  const blocks = [];
  for (let i = 0; i < lzw.length; i += 255) {
    const part = lzw.subarray(i, i + 255);
    blocks.push(Buffer.from([part.length]), part);
  }
  return Buffer.concat([Buffer.from('GIF89a', 'ascii'), screen, palette, descriptor, Buffer.from([bits]), ...blocks, Buffer.from([0, 0x3b])]);
}

// GIF's variable-width LZW, codes packed least significant bit first; the table is cleared when
// it is full (4096 codes).
function lzwEncode(indices, minCodeSize) {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  const out = [];
  let acc = 0;
  let nAcc = 0;
  let size = minCodeSize + 1;
  const emit = (code) => {
    acc |= code << nAcc;
    nAcc += size;
    while (nAcc >= 8) { out.push(acc & 0xff); acc >>>= 8; nAcc -= 8; }
  };
  let table = new Map();
  let next = end + 1;
  emit(clear);
  let cur = indices[0];
  for (let i = 1; i < indices.length; i++) {
    const k = indices[i];
    const joined = table.get(cur * 4096 + k);
    if (joined !== undefined) { cur = joined; continue; }
    emit(cur);
    if (next === 4096) {
      emit(clear);
      table = new Map();
      next = end + 1;
      size = minCodeSize + 1;
    } else {
      if (next >= 1 << size) size++;
      table.set(cur * 4096 + k, next++);
    }
    cur = k;
  }
  emit(cur);
  emit(end);
  if (nAcc > 0) out.push(acc & 0xff);
  return Buffer.from(out);
}

/**
 * A baseline JPEG (JFIF, YCbCr 4:4:4, quantizer 1) that carries only each 8 × 8 block's DC
 * coefficient: every block decodes to one flat colour, the mean of rgbFn over it. Decoders (stb_image,
 * libjpeg) read it like any baseline file; it needs no DCT.
 */
export function jpegImage(width, height, rgbFn) {
  const segment = (marker, body) => {
    const head = Buffer.from([0xff, marker, 0, 0]);
    head.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([head, body]);
  };
  // The standard DC table (ITU T.81 K.3) for categories 0–11, and an AC table holding only EOB.
  const dcBits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
  const dcCodes = []; // category → [code, length]
  for (let len = 1, code = 0, sym = 0; len <= 16; len++, code <<= 1) {
    for (let n = 0; n < dcBits[len - 1]; n++) dcCodes[sym++] = [code++, len];
  }
  const eob = [0, 1];
  const dht = Buffer.concat([
    Buffer.from([0x00, ...dcBits, ...Array.from({ length: 12 }, (_, i) => i)]),
    Buffer.from([0x10, 1, ...new Array(15).fill(0), 0x00]),
  ]);
  const sof = Buffer.alloc(15);
  sof[0] = 8;
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof[5] = 3;
  for (let c = 0; c < 3; c++) { sof[6 + c * 3] = c + 1; sof[7 + c * 3] = 0x11; sof[8 + c * 3] = 0; }

  const bytes = [];
  let acc = 0;
  let nAcc = 0;
  const put = (code, len) => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >> i) & 1);
      if (++nAcc === 8) { bytes.push(acc); if (acc === 0xff) bytes.push(0); acc = 0; nAcc = 0; }
    }
  };
  const pred = [0, 0, 0];
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      const sum = [0, 0, 0];
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 8; x++) {
          // pixels past the edge repeat the last row/column, as encoders pad partial blocks
          const [r, g, b] = pixel(rgbFn, Math.min(bx + x, width - 1), Math.min(by + y, height - 1));
          sum[0] += 0.299 * r + 0.587 * g + 0.114 * b;
          sum[1] += -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
          sum[2] += 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
        }
      }
      for (let c = 0; c < 3; c++) {
        const dc = Math.max(-1024, Math.min(1016, Math.round((sum[c] - 64 * 128) / 8))); // F(0,0) = sum / 8
        const diff = dc - pred[c];
        pred[c] = dc;
        const mag = Math.abs(diff);
        const cat = mag === 0 ? 0 : 32 - Math.clz32(mag);
        put(...dcCodes[cat]);
        if (cat > 0) put(diff >= 0 ? diff : diff + (1 << cat) - 1, cat);
        put(...eob);
      }
    }
  }
  if (nAcc > 0) put((1 << (8 - nAcc)) - 1, 8 - nAcc); // pad with 1 bits
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from([0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0])),
    segment(0xdb, Buffer.from([0x00, ...new Array(64).fill(1)])),
    segment(0xc0, sof),
    segment(0xc4, dht),
    segment(0xda, Buffer.from([3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0])),
    Buffer.from(bytes),
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A few patterns for tests: a colour gradient, a checkerboard of 8-pixel squares, flat colours. */
export const patterns = {
  gradient: (w, h) => (x, y) => [(x * 255) / Math.max(1, w - 1), (y * 255) / Math.max(1, h - 1), 128],
  checker: () => (x, y) => (((x >> 3) + (y >> 3)) % 2 ? [240, 240, 240] : [20, 20, 20]),
  red: () => () => [220, 30, 30],
  blue: () => () => [30, 30, 220],
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (flag, fallback) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : fallback);
  const size = Number(opt('--size', '32'));
  const pattern = patterns[opt('--pattern', 'gradient')];
  const encode = out && { png: pngImage, gif: gifImage, jpg: jpegImage, jpeg: jpegImage }[out.split('.').pop().toLowerCase()];
  if (!encode || !pattern) {
    console.error('usage: make-fixture-image.mjs OUT.png|OUT.gif|OUT.jpg [--size N] [--pattern gradient|checker|red|blue]');
    process.exit(2);
  }
  writeFileSync(out, encode(size, size, pattern(size, size)));
  console.log(`wrote ${out}`);
}
