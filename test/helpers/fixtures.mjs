// Test fixtures, generated on first use into test/.fixtures/ (git-ignored): tiny llama models
// with seeded weights and real tokenizers, and damaged copies of them.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeFixtureLora, makeFixtureModel, mulberry32 } from '../../scripts/make-fixture-model.mjs';
import { makeFixtureProjector } from '../../scripts/make-fixture-projector.mjs';

export { mulberry32 }; // the seeded generator the fuzz test shares

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, 'test', '.fixtures');
// Models that passed their test load are remembered here, not in the user's ~/.cache.
process.env.SHIMMY_CACHE_DIR ??= join(dir, 'cache');

/**
 * A tiny generated model: type f32 | q8_0 | q4_0; vocab llama-spm (no template) | phi-3 (has one)
 * | qwen2 …; template: a file name from vendor/llama.cpp/models/templates/ to use as its chat template.
 */
export function fixtureModel(type = 'f32', vocab = 'llama-spm', template = undefined) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `tiny-${vocab}-${type}${template ? `-${template}` : ''}.gguf`);
  if (!existsSync(path)) makeFixtureModel(path, { preset: 'tiny', type, vocab, template });
  return path;
}

/** A tiny model of another shape: preset kv (heads of 64, for quantized KV caches) or moe (4 experts, 2 used). */
export function presetModel(preset, type = 'q8_0') {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${preset}-${type}.gguf`);
  if (!existsSync(path)) makeFixtureModel(path, { preset, type });
  return path;
}

/** A LoRA adapter for the model at `base` (rank 4 on its attention projections), named `name` in the fixtures folder; `widthOverride` makes one that does not fit. */
export function loraFixture(base, name = 'lora', options = {}) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.gguf`);
  if (!existsSync(path)) makeFixtureLora(path, base, options);
  return path;
}

/**
 * A tiny model with Qwen2.5's real chat template, whose tool calls are <tool_call> blocks. The
 * vendored Qwen2 vocab predates those markers, so they are added as tokens, as in Qwen2.5's vocab.
 */
export function toolCallingModel() {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tiny-qwen2.5-tools-q8_0.gguf');
  if (!existsSync(path)) {
    makeFixtureModel(path, { preset: 'tiny', type: 'q8_0', vocab: 'qwen2', template: 'Qwen-Qwen2.5-7B-Instruct', extraTokens: ['<tool_call>', '</tool_call>'] });
  }
  return path;
}

/** A tiny model whose chat template is not valid Jinja. */
export function brokenTemplateModel() {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tiny-broken-template.gguf');
  if (!existsSync(path)) makeFixtureModel(path, { preset: 'tiny', type: 'q8_0', template: { source: '{% for message in messages %}{{ message.content ' } });
  return path;
}

/** A tiny model whose chat template is `source` (named `name` in the fixtures folder). */
export function templateModel(name, source) {
  mkdirSync(dir, { recursive: true });
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 12); // an edited source is a new file
  const path = join(dir, `tiny-template-${name}-${digest}.gguf`);
  if (!existsSync(path)) makeFixtureModel(path, { preset: 'tiny', type: 'q8_0', template: { source } });
  return path;
}

/** A random LLaVA-style vision projector (32 × 32 images, 16 tokens) whose output is `width` wide (the text model's embedding length: 64 for stories260K and the tiny preset). */
export function projectorFixture(width = 64, name = `mmproj-${width}`) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.gguf`);
  if (!existsSync(path)) makeFixtureProjector(path, { width });
  return path;
}

/** The first `fraction` of a fixture model's bytes. */
export function truncatedModel(fraction = 0.5) {
  const path = join(dir, `truncated-${fraction}.gguf`);
  const bytes = readFileSync(fixtureModel());
  writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return path;
}

/** A fixture model whose header bytes after the magic are garbage. */
export function corruptModel() {
  const path = join(dir, 'corrupt.gguf');
  copyFileSync(fixtureModel(), path);
  const bytes = readFileSync(path);
  for (let i = 8; i < 64; i++) bytes[i] = 0xff;
  writeFileSync(path, bytes);
  return path;
}

/** A file that is not a GGUF at all. */
export function notAModel() {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'not-a-model.gguf');
  writeFileSync(path, 'this is plain text, not a GGUF file\n');
  return path;
}

/** The real trained model, or undefined with the reason printed once. */
export function storiesModel() {
  const path = process.env.SHIMMY_TEST_MODEL;
  if (path && existsSync(path)) return resolve(path);
  return undefined;
}

export const storiesSkip = storiesModel()
  ? false
  : `SHIMMY_TEST_MODEL is not set to an existing file (e.g. ../shared/models/stories260K.gguf): real-text tests skipped`;

// The value bytes of a GGUF key: its type (u32) then the value follow the key string.
function valueAt(bytes, key) {
  const name = Buffer.from(key);
  const at = bytes.indexOf(name);
  if (at < 0) throw new Error(`no key ${key} in the fixture`);
  return at + name.length + 4;
}

/**
 * Damaged copies of the tiny fixture in `dir`: the four kinds that made llama.cpp abort the
 * process (layer count 0 and 1,000,000, a duplicate token string, an rms_norm_eps of NaN), then
 * `random` copies with a few seeded random bytes changed in the header.
 */
export function corruptedCorpus(dir, random = 24) {
  const original = readFileSync(fixtureModel());
  const variants = [];
  const variant = (name, mutate) => {
    const bytes = Buffer.from(original);
    mutate(bytes);
    const path = join(dir, `${name}.gguf`);
    writeFileSync(path, bytes);
    variants.push({ name, path, known: !name.startsWith('random') });
  };
  variant('block-count-0', (b) => b.writeUInt32LE(0, valueAt(b, 'llama.block_count')));
  variant('block-count-1000000', (b) => b.writeUInt32LE(1_000_000, valueAt(b, 'llama.block_count')));
  variant('rms-eps-nan', (b) => b.writeFloatLE(Number.NaN, valueAt(b, 'llama.attention.layer_norm_rms_epsilon')));
  variant('duplicate-token', (b) => {
    const a = b.indexOf(Buffer.from('<0x41>'));
    b.write('<0x42>', a); // now listed twice
  });
  const headerEnd = original.indexOf(Buffer.from('token_embd.weight'));
  const rand = mulberry32(7);
  for (let i = 0; i < random; i++) {
    variant(`random-${i}`, (b) => {
      for (let k = 0; k < 4; k++) b[Math.floor(rand() * headerEnd)] = Math.floor(rand() * 256);
    });
  }
  return variants;
}
