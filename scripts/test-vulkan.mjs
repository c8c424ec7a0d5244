#!/usr/bin/env node
// npm run test:vulkan — the engine suite and stories260K's checks on the Vulkan package's
// binary (gpu-packages/<platform>-<arch>-vulkan, made by `npm run prebuild -- --gpu vulkan`, which
// `npm run test:pack -- --gpu vulkan` runs first in CI), every layer offloaded to a Vulkan device.
// Without a GPU that device is Mesa's software one (llvmpipe, Debian's mesa-vulkan-drivers),
// which ggml lists only when GGML_VK_VISIBLE_DEVICES names it: so the Vulkan backend's kernels,
// not the CPU's, produce the greedy text the suite compares with llama.cpp's own.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const binary = join(root, 'gpu-packages', `${process.platform}-${process.arch}-vulkan`, 'shimmy.node');
// The whole engine suite, the memory levers and LoRA; of stories260K's, all but the 14,400-token batching benchmark (12 min on
// llvmpipe's ~20 tok/s): batched decoding on real text is the seeded 8-stream test's to check.
const runs = [
  ['test/engine.test.mjs'],
  // KV cache types and flash attention on the device, MoE experts moved to the host, LoRA sets switched between steps.
  ['test/memory.test.mjs', 'test/lora.test.mjs'],
  ['--test-name-pattern', 'greedy generation matches|stop string cuts|seed for seed|several threads|follow-up prompt', 'test/stories.test.mjs'],
  // Image requests with the projector on the device; their exact text is the CPU run's to check (a
  // random projector's text is near ties that a GPU's rounding may tip).
  ['--test-name-pattern', 'bytes that are not an image|media marker typed|another width|is paired|openai client sends', 'test/vision.test.mjs'],
];

function fail(message) {
  console.error(`test:vulkan: FAIL: ${message}`);
  process.exit(1);
}

if (!existsSync(binary)) {
  console.log('test:vulkan: building the Vulkan package (npm run prebuild -- --gpu vulkan)');
  const built = spawnSync('npm', ['run', 'prebuild', '--', '--gpu', 'vulkan'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0 || !existsSync(binary)) fail('the Vulkan package did not build');
}
const env = { ...process.env, SHIMMY_ADDON: binary, GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0' };

// The binary must be the Vulkan one and see a Vulkan device, or the suite would prove nothing.
const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `
  const { native } = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
  const info = native().systemInfo();
  console.log(JSON.stringify({ backend: info.gpuBackend, devices: info.devices.filter((d) => d.type === 'gpu').map((d) => d.name + ' (' + d.description + ')') }));
`], { env, encoding: 'utf8' });
if (probe.status !== 0) fail(`the Vulkan binary does not load: ${probe.stderr.trim().split('\n').pop()}`);
const { backend, devices } = JSON.parse(probe.stdout);
if (backend !== 'vulkan') fail(`${binary} is a ${backend} build`);
if (devices.length === 0) fail('no Vulkan device (install mesa-vulkan-drivers for llvmpipe, or check GGML_VK_VISIBLE_DEVICES)');
// Mesa 22.3's lavapipe (Debian 12) segfaults in its queue thread on some of ggml-vulkan's fused
// shaders (one request, then four at once, on these fixtures); with fusion off it does not.
// llama-batched-bench from the same tree did not crash on the shapes tried. Only for llvmpipe: a
// GPU keeps fusion.
if (devices.some((d) => /llvmpipe/.test(d))) env.GGML_VK_DISABLE_FUSION ??= '1';
console.log(`test:vulkan: ${binary} (built ${statSync(binary).mtime.toISOString()}) on ${devices.join(', ')}${env.GGML_VK_DISABLE_FUSION ? ', fusion off' : ''}`);

for (const args of runs) {
  const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...args], { cwd: root, env, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
