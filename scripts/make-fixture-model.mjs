#!/usr/bin/env node
// Writes a llama-architecture GGUF with seeded random weights and a real tokenizer copied from
// one of llama.cpp's vocab files (vendor/llama.cpp/models/ggml-vocab-*.gguf), so tests and
// benchmarks need no downloaded model. The text it generates is noise; its speed and its
// tokenizer are real.
//
//   node scripts/make-fixture-model.mjs OUT.gguf [--preset tiny|kv|moe|bench|long] [--type f32|q8_0|q4_0]
//        [--vocab llama-spm|phi-3|qwen2|…] [--template NAME] [--seed N]
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const presets = {
  // Small enough to generate in milliseconds; quantizable (every row a multiple of 32).
  tiny: { embd: 64, layers: 2, heads: 4, headsKv: 2, ff: 128, ctx: 2048 },
  // Heads of 64 values, which quantized KV cache blocks (32) divide.
  kv: { embd: 128, layers: 2, heads: 2, headsKv: 2, ff: 256, ctx: 4096 },
  // A Mixtral-style mixture of experts (llama with expert tensors): 4 experts, 2 used per token.
  moe: { embd: 64, layers: 2, heads: 4, headsKv: 2, ff: 64, ctx: 2048, experts: 4, expertsUsed: 2 },
  // The reference model of the engine issue: 0.85B parameters with a 32k vocabulary.
  bench: { embd: 2048, layers: 16, heads: 32, headsKv: 8, ff: 5632, ctx: 4096 },
  // The kv shape with a context as long as an agent's first turn needs (prefill benchmarks).
  long: { embd: 128, layers: 2, heads: 2, headsKv: 2, ff: 256, ctx: 65536 },
};

export const GGUF = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10 };
export const TENSOR = { f32: 0, q4_0: 2, q8_0: 8 };
const FILE_TYPE = { f32: 0, q4_0: 2, q8_0: 7 };
const ALIGN = 32;

// --- reading the vocab file: keep the raw bytes of every tokenizer.* key/value -------------
function readTokenizerKvs(path) {
  const buf = readFileSync(path);
  let at = 0;
  const u32 = () => { const v = buf.readUInt32LE(at); at += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(at)); at += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString('utf8', at, at + n); at += n; return s; };
  const scalarSize = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skipValue = (type) => {
    if (type === GGUF.STRING) return void str();
    if (type === GGUF.ARRAY) {
      const elem = u32();
      const n = u64();
      for (let i = 0; i < n; i++) skipValue(elem);
      return;
    }
    at += scalarSize[type];
  };
  if (buf.toString('ascii', 0, 4) !== 'GGUF') throw new Error(`${path} is not a GGUF file`);
  at = 8;
  u64(); // tensor count
  const kvCount = u64();
  const kvs = [];
  for (let i = 0; i < kvCount; i++) {
    const start = at;
    const key = str();
    skipValue(u32());
    if (key.startsWith('tokenizer.')) kvs.push({ key, raw: buf.subarray(start, at) });
  }
  return kvs;
}

// Appends tokens to the vocab (as user-defined tokens), e.g. a chat format's tool-call markers
// that the vendored vocab file predates.
function addTokens(kvs, tokens) {
  const append = (key, element) => {
    const kv = kvs.find((k) => k.key === key);
    if (!kv) return;
    const countAt = 8 + key.length + 4 + 4;
    const raw = Buffer.concat([kv.raw, ...tokens.map(element)]);
    raw.writeBigUInt64LE(raw.readBigUInt64LE(countAt) + BigInt(tokens.length), countAt);
    kv.raw = raw;
  };
  const USER_DEFINED = 4;
  append('tokenizer.ggml.tokens', (t) => { const b = Buffer.from(t, 'utf8'); const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(b.length)); return Buffer.concat([n, b]); });
  append('tokenizer.ggml.token_type', () => { const b = Buffer.alloc(4); b.writeInt32LE(USER_DEFINED); return b; });
  append('tokenizer.ggml.scores', () => Buffer.alloc(4));
}

// --- writing -------------------------------------------------------------------------------
class Writer {
  constructor() { this.parts = []; this.size = 0; }
  push(b) { this.parts.push(b); this.size += b.length; }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  kv(key, type, value) {
    this.str(key);
    this.u32(type);
    if (type === GGUF.UINT32) this.u32(value);
    else if (type === GGUF.FLOAT32) this.f32(value);
    else if (type === GGUF.STRING) this.str(value);
  }
}

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function toHalf(v) {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = (x >>> 13) & 0x3ff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | mant;
}

// Weights are uniform in ±scale; quantized blocks are written directly (a scale and random
// quants), which is what a quantizer would produce for such values.
export function tensorData(type, count, scale, rand) {
  if (type === 'f32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = (rand() * 2 - 1) * scale;
    return Buffer.from(out.buffer);
  }
  const blocks = count / 32;
  const blockBytes = type === 'q8_0' ? 34 : 18;
  const out = Buffer.alloc(blocks * blockBytes);
  const d = toHalf(type === 'q8_0' ? scale / 127 : scale / 8);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockBytes;
    out.writeUInt16LE(d, o);
    for (let j = 2; j < blockBytes; j++) out[o + j] = (rand() * 256) | 0;
  }
  return out;
}

/**
 * Writes a GGUF file: `kvs` are [key, type, value] or a key/value's raw bytes; `tensors` are
 * [name, dims, type]; `data(name, dims, type, count)` gives each tensor's bytes.
 */
export function writeGguf(outPath, kvs, tensors, data) {
  const header = new Writer();
  header.push(Buffer.from('GGUF'));
  header.u32(3);
  header.u64(tensors.length);
  header.u64(kvs.length);
  for (const kv of kvs) {
    if (Buffer.isBuffer(kv)) header.push(kv);
    else header.kv(...kv);
  }
  const bytesOf = (dims, t) => {
    const n = dims.reduce((a, b) => a * b, 1);
    return t === 'f32' ? n * 4 : t === 'q8_0' ? (n / 32) * 34 : (n / 32) * 18;
  };
  let offset = 0;
  const layout = tensors.map(([tname, dims, t]) => {
    const entry = { tname, dims, t, offset };
    offset += Math.ceil(bytesOf(dims, t) / ALIGN) * ALIGN;
    return entry;
  });
  for (const { tname, dims, t, offset: off } of layout) {
    header.str(tname);
    header.u32(dims.length);
    for (const d of dims) header.u64(d);
    header.u32(TENSOR[t]);
    header.u64(off);
  }
  const pad = (n) => Buffer.alloc((ALIGN - (n % ALIGN)) % ALIGN);
  header.push(pad(header.size));
  const fd = openSync(outPath, 'w');
  try {
    for (const part of header.parts) writeSync(fd, part);
    for (const { tname, dims, t } of layout) {
      const bytes = data(tname, dims, t, dims.reduce((a, b) => a * b, 1));
      writeSync(fd, bytes);
      writeSync(fd, pad(bytes.length));
    }
  } finally {
    closeSync(fd);
  }
}

/** The scalar values (numbers, strings) of a GGUF file's header, by key. */
export function readScalarKvs(path) {
  const buf = readFileSync(path);
  let at = 8;
  const u32 = () => { const v = buf.readUInt32LE(at); at += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(at)); at += 8; return v; };
  const str = () => { const n = u64(); const s = buf.toString('utf8', at, at + n); at += n; return s; };
  const scalar = {
    0: () => buf.readUInt8(at++), 1: () => buf.readInt8(at++), 2: () => { at += 2; return buf.readUInt16LE(at - 2); }, 3: () => { at += 2; return buf.readInt16LE(at - 2); },
    4: () => u32(), 5: () => { at += 4; return buf.readInt32LE(at - 4); }, 6: () => { at += 4; return buf.readFloatLE(at - 4); }, 7: () => buf.readUInt8(at++) !== 0,
    10: () => u64(), 11: () => { at += 8; return Number(buf.readBigInt64LE(at - 8)); }, 12: () => { at += 8; return buf.readDoubleLE(at - 8); },
  };
  const value = (type) => {
    if (type === GGUF.STRING) return str();
    if (type === GGUF.ARRAY) {
      const elem = u32();
      const n = u64();
      for (let i = 0; i < n; i++) value(elem);
      return undefined;
    }
    return scalar[type]();
  };
  u64(); // tensor count
  const out = {};
  for (let i = 0, n = u64(); i < n; i++) {
    const key = str();
    const v = value(u32());
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * A LoRA adapter for the llama-architecture model at `basePath`, as llama.cpp's
 * convert_lora_to_gguf.py writes one: for each layer's attention projections, `lora_a` (input
 * width × rank) and `lora_b` (rank × output width) in f32, with alpha equal to the rank (a scale
 * of 1 adds B·A as it is). `widthOverride` writes another width, for an adapter that does not fit.
 */
export function makeFixtureLora(outPath, basePath, { rank = 4, seed = 7, strength = 1, widthOverride, name = 'shimmy-fixture-lora' } = {}) {
  const base = readScalarKvs(basePath);
  const arch = base['general.architecture'];
  const embd = widthOverride ?? base[`${arch}.embedding_length`];
  const heads = base[`${arch}.attention.head_count`];
  const kvDim = (embd / heads) * (base[`${arch}.attention.head_count_kv`] ?? heads);
  const tensors = [];
  for (let i = 0; i < base[`${arch}.block_count`]; i++) {
    for (const [proj, out] of [['attn_q', embd], ['attn_k', kvDim], ['attn_v', kvDim], ['attn_output', embd]]) {
      tensors.push([`blk.${i}.${proj}.weight.lora_a`, [embd, rank], 'f32'], [`blk.${i}.${proj}.weight.lora_b`, [rank, out], 'f32']);
    }
  }
  const kvs = [
    ['general.architecture', GGUF.STRING, arch],
    ['general.type', GGUF.STRING, 'adapter'],
    ['general.name', GGUF.STRING, name],
    ['adapter.type', GGUF.STRING, 'lora'],
    ['adapter.lora.alpha', GGUF.FLOAT32, rank],
  ];
  const rand = mulberry32(seed);
  writeGguf(outPath, kvs, tensors, (tname, dims, t, count) => tensorData(t, count, (tname.endsWith('lora_a') ? 1 / Math.sqrt(dims[0]) : 1 / Math.sqrt(rank)) * strength, rand));
  return outPath;
}

// `template` replaces the vocab's chat template with vendor/llama.cpp/models/templates/<template>.jinja
// (or with `{ source }`, the template text itself); `extraTokens` are appended to the vocab.
export function makeFixtureModel(outPath, { preset = 'tiny', type = 'f32', vocab = 'llama-spm', seed = 42, name, template, extraTokens = [] } = {}) {
  const p = presets[preset];
  if (!p) throw new Error(`unknown preset '${preset}'`);
  if (!(type in TENSOR)) throw new Error(`unknown type '${type}' (f32, q8_0, q4_0)`);
  let tokenizer = readTokenizerKvs(join(root, 'vendor', 'llama.cpp', 'models', `ggml-vocab-${vocab}.gguf`));
  const chatTemplate = typeof template === 'object' ? template.source
    : template && readFileSync(join(root, 'vendor', 'llama.cpp', 'models', 'templates', `${template}.jinja`), 'utf8');
  if (chatTemplate) tokenizer = tokenizer.filter((kv) => kv.key !== 'tokenizer.chat_template');
  if (extraTokens.length > 0) addTokens(tokenizer, extraTokens);
  const tokensKv = tokenizer.find((kv) => kv.key === 'tokenizer.ggml.tokens');
  const nVocab = Number(tokensKv.raw.readBigUInt64LE(8 + tokensKv.key.length + 4 + 4));
  const headDim = p.embd / p.heads;
  const kvDim = headDim * p.headsKv;

  const tensors = [
    ['token_embd.weight', [p.embd, nVocab], type],
    ['output_norm.weight', [p.embd], 'f32'],
    ['output.weight', [p.embd, nVocab], type],
  ];
  for (let i = 0; i < p.layers; i++) {
    tensors.push(
      [`blk.${i}.attn_norm.weight`, [p.embd], 'f32'],
      [`blk.${i}.attn_q.weight`, [p.embd, p.embd], type],
      [`blk.${i}.attn_k.weight`, [p.embd, kvDim], type],
      [`blk.${i}.attn_v.weight`, [p.embd, kvDim], type],
      [`blk.${i}.attn_output.weight`, [p.embd, p.embd], type],
      [`blk.${i}.ffn_norm.weight`, [p.embd], 'f32'],
    );
    if (p.experts) {
      tensors.push(
        [`blk.${i}.ffn_gate_inp.weight`, [p.embd, p.experts], 'f32'],
        [`blk.${i}.ffn_gate_exps.weight`, [p.embd, p.ff, p.experts], type],
        [`blk.${i}.ffn_up_exps.weight`, [p.embd, p.ff, p.experts], type],
        [`blk.${i}.ffn_down_exps.weight`, [p.ff, p.embd, p.experts], type],
      );
    } else {
      tensors.push(
        [`blk.${i}.ffn_gate.weight`, [p.embd, p.ff], type],
        [`blk.${i}.ffn_up.weight`, [p.embd, p.ff], type],
        [`blk.${i}.ffn_down.weight`, [p.ff, p.embd], type],
      );
    }
  }

  const kvs = [
    ['general.architecture', GGUF.STRING, 'llama'],
    ['general.name', GGUF.STRING, name ?? `shimmy-fixture-${preset}-${type}`],
    ['general.file_type', GGUF.UINT32, FILE_TYPE[type]],
    ['llama.context_length', GGUF.UINT32, p.ctx],
    ['llama.embedding_length', GGUF.UINT32, p.embd],
    ['llama.block_count', GGUF.UINT32, p.layers],
    ['llama.feed_forward_length', GGUF.UINT32, p.ff],
    ['llama.attention.head_count', GGUF.UINT32, p.heads],
    ['llama.attention.head_count_kv', GGUF.UINT32, p.headsKv],
    ['llama.rope.dimension_count', GGUF.UINT32, headDim],
    ['llama.attention.layer_norm_rms_epsilon', GGUF.FLOAT32, 1e-5],
    ['llama.rope.freq_base', GGUF.FLOAT32, 10000],
    ['llama.vocab_size', GGUF.UINT32, nVocab],
  ];
  if (p.experts) kvs.push(['llama.expert_count', GGUF.UINT32, p.experts], ['llama.expert_used_count', GGUF.UINT32, p.expertsUsed]);
  kvs.push(...tokenizer.map((kv) => kv.raw));
  if (chatTemplate) kvs.push(['tokenizer.chat_template', GGUF.STRING, chatTemplate]);
  const rand = mulberry32(seed);
  // Norm weights of 1 keep activations in range; matrices get a fan-in-scaled spread.
  writeGguf(outPath, kvs, tensors, (tname, dims, t, count) => (tname.endsWith('norm.weight')
    ? Buffer.from(new Float32Array(count).fill(1).buffer)
    : tensorData(t, count, 1 / Math.sqrt(dims[0]), rand)));
  return outPath;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--') && !args[args.indexOf(a) - 1]?.startsWith('--'));
  const opt = (flag, fallback) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : fallback);
  if (!out) {
    console.error('usage: make-fixture-model.mjs OUT.gguf [--preset tiny|kv|moe|bench|long] [--type f32|q8_0|q4_0] [--vocab llama-spm] [--seed N]');
    process.exit(2);
  }
  makeFixtureModel(out, { preset: opt('--preset', 'tiny'), type: opt('--type', 'f32'), vocab: opt('--vocab', 'llama-spm'), seed: Number(opt('--seed', '42')), template: opt('--template', undefined) });
  console.log(`wrote ${out}`);
}
