#!/usr/bin/env node
// Writes a tiny LLaVA-style vision projector ("mmproj") GGUF with seeded random weights, as
// llama.cpp's tools/mtmd (clip.cpp, projector type "mlp") loads it: a ViT over square images cut
// into patches, then a two-layer MLP (mm.0, GELU, mm.2) out to the text model's width. It pairs
// with the fixtures of make-fixture-model.mjs and with stories260K (both n_embd 64); a projector of
// another width is refused by mtmd ("mismatch between text model (n_embd = …) and mmproj …").
//
// What it sees is noise, but it is deterministic and it depends on the image: every patch becomes
// one token of the text model, so a 32 × 32 image in 8-pixel patches is 16 image tokens (there is
// no class token).
//
//   node scripts/make-fixture-projector.mjs OUT.gguf [--width N] [--image-size N] [--patch-size N]
//        [--hidden N] [--layers N] [--seed N]
import { fileURLToPath } from 'node:url';
import { GGUF, mulberry32, tensorData, writeGguf } from './make-fixture-model.mjs';

// A key/value as raw GGUF bytes, for the types writeGguf's own writer has no case for.
function rawKv(key, type, value, elementType) {
  const name = Buffer.from(key, 'utf8');
  const head = Buffer.alloc(8 + name.length + 4);
  head.writeBigUInt64LE(BigInt(name.length));
  name.copy(head, 8);
  head.writeUInt32LE(type, 8 + name.length);
  if (type === GGUF.BOOL) return Buffer.concat([head, Buffer.from([value ? 1 : 0])]);
  if (type !== GGUF.ARRAY || (elementType !== GGUF.FLOAT32 && elementType !== GGUF.INT32)) throw new Error(`rawKv: unsupported type ${type}`);
  const body = Buffer.alloc(12 + 4 * value.length);
  body.writeUInt32LE(elementType, 0);
  body.writeBigUInt64LE(BigInt(value.length), 4);
  value.forEach((v, i) => (elementType === GGUF.FLOAT32 ? body.writeFloatLE(v, 12 + 4 * i) : body.writeInt32LE(v, 12 + 4 * i)));
  return Buffer.concat([head, body]);
}

/** The number of image tokens such a projector makes of one image (any image: it is resized). */
export function projectorTokens({ imageSize = 32, patchSize = 8 } = {}) {
  return (imageSize / patchSize) ** 2;
}

/**
 * Writes the projector to `outPath`. `width` is the text model's n_embd; `hidden` the ViT's width
 * (heads of 8 values); `layers` its block count. As in LLaVA, clip runs all but the last block
 * (it takes the penultimate layer's features), so `layers: 2` computes one transformer block and
 * `layers: 1` none (patch and position embeddings and the pre-norm only), though every block's
 * tensors are in the file.
 */
export function makeFixtureProjector(outPath, { width = 64, imageSize = 32, patchSize = 8, hidden = 32, layers = 2, seed = 11, name = 'shimmy-fixture-projector' } = {}) {
  if (!Number.isInteger(imageSize / patchSize) || imageSize <= 0) throw new Error(`image size ${imageSize} is not a multiple of patch size ${patchSize}`);
  if (hidden % 8 !== 0) throw new Error(`hidden ${hidden} is not a multiple of 8`);
  if (!(layers >= 1)) throw new Error('layers must be at least 1');
  const heads = hidden / 8;
  const ff = hidden * 4; // not equal to hidden, or clip takes the ffn tensors for a legacy swapped pair
  const nPatches = projectorTokens({ imageSize, patchSize });

  // Tensor dims are GGUF's (ggml's ne order: the innermost first).
  const tensors = [
    ['v.patch_embd.weight', [patchSize, patchSize, 3, hidden], 'f32'],
    ['v.patch_embd.bias', [hidden], 'f32'],
    ['v.position_embd.weight', [hidden, nPatches], 'f32'],
    ['v.pre_ln.weight', [hidden], 'f32'],
    ['v.pre_ln.bias', [hidden], 'f32'],
  ];
  for (let i = 0; i < layers; i++) {
    tensors.push(
      [`v.blk.${i}.ln1.weight`, [hidden], 'f32'],
      [`v.blk.${i}.ln1.bias`, [hidden], 'f32'],
      ...['attn_q', 'attn_k', 'attn_v', 'attn_out'].flatMap((t) => [
        [`v.blk.${i}.${t}.weight`, [hidden, hidden], 'f32'],
        [`v.blk.${i}.${t}.bias`, [hidden], 'f32'],
      ]),
      [`v.blk.${i}.ln2.weight`, [hidden], 'f32'],
      [`v.blk.${i}.ln2.bias`, [hidden], 'f32'],
      [`v.blk.${i}.ffn_up.weight`, [hidden, ff], 'f32'],
      [`v.blk.${i}.ffn_up.bias`, [ff], 'f32'],
      [`v.blk.${i}.ffn_down.weight`, [ff, hidden], 'f32'],
      [`v.blk.${i}.ffn_down.bias`, [hidden], 'f32'],
    );
  }
  tensors.push(
    ['mm.0.weight', [hidden, width], 'f32'],
    ['mm.0.bias', [width], 'f32'],
    ['mm.2.weight', [width, width], 'f32'],
    ['mm.2.bias', [width], 'f32'],
  );

  const kvs = [
    ['general.architecture', GGUF.STRING, 'clip'],
    ['general.name', GGUF.STRING, name],
    rawKv('clip.has_vision_encoder', GGUF.BOOL, true),
    ['clip.projector_type', GGUF.STRING, 'mlp'],
    rawKv('clip.use_gelu', GGUF.BOOL, false), // quick GELU in the ViT's ffn, as CLIP's
    ['clip.vision.image_size', GGUF.UINT32, imageSize],
    ['clip.vision.patch_size', GGUF.UINT32, patchSize],
    ['clip.vision.embedding_length', GGUF.UINT32, hidden],
    ['clip.vision.feed_forward_length', GGUF.UINT32, ff],
    ['clip.vision.projection_dim', GGUF.UINT32, width],
    ['clip.vision.block_count', GGUF.UINT32, layers],
    ['clip.vision.attention.head_count', GGUF.UINT32, heads],
    ['clip.vision.attention.layer_norm_epsilon', GGUF.FLOAT32, 1e-5],
    rawKv('clip.vision.image_mean', GGUF.ARRAY, [0.5, 0.5, 0.5], GGUF.FLOAT32),
    rawKv('clip.vision.image_std', GGUF.ARRAY, [0.5, 0.5, 0.5], GGUF.FLOAT32),
  ];

  const rand = mulberry32(seed);
  const fill = (count, v) => Buffer.from(new Float32Array(count).fill(v).buffer);
  // Norms start as identity (weight 1, bias 0); matrices get a fan-in-scaled spread, biases a
  // small one, so each layer's output stays of the order of its input.
  writeGguf(outPath, kvs, tensors, (tname, dims, t, count) => {
    if (/(^|\.)(ln\d|pre_ln)\.weight$/.test(tname)) return fill(count, 1);
    if (/(^|\.)(ln\d|pre_ln)\.bias$/.test(tname)) return fill(count, 0);
    if (tname.endsWith('.bias')) return tensorData(t, count, 0.1, rand);
    if (tname === 'v.position_embd.weight') return tensorData(t, count, 0.2, rand);
    const fanIn = tname === 'v.patch_embd.weight' ? patchSize * patchSize * 3 : dims[0];
    return tensorData(t, count, Math.sqrt(3 / fanIn), rand); // uniform with variance 1/fan-in
  });
  return outPath;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (flag, fallback) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : fallback);
  if (!out) {
    console.error('usage: make-fixture-projector.mjs OUT.gguf [--width N] [--image-size N] [--patch-size N] [--hidden N] [--layers N] [--seed N]');
    process.exit(2);
  }
  makeFixtureProjector(out, {
    width: opt('--width', 64), imageSize: opt('--image-size', 32), patchSize: opt('--patch-size', 8),
    hidden: opt('--hidden', 32), layers: opt('--layers', 2), seed: opt('--seed', 11),
  });
  console.log(`wrote ${out}`);
}
