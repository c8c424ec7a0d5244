#!/usr/bin/env node
// npm run prebuild: the portable addon (shared llama.cpp, every CPU variant, the best picked at
// load) for this platform.
//   (no flag)           CPU, into prebuilds/<platform>-<arch>/ with prebuildify, which names it for
//                       node-gyp-build, strips it and collects the shared libraries beside it.
//                       prebuildify builds with node-gyp; scripts/prebuild-gyp.mjs stands in for
//                       node-gyp and builds with cmake-js. It ships inside the main package.
//   --gpu cuda|vulkan   the GPU package @shimmy/<platform>-<arch>-<gpu> into gpu-packages/, to
//                       publish on its own: only users with that GPU install it (lib/binary-choice.ts
//                       finds it). CUDA needs the CUDA toolkit; Vulkan the Vulkan headers and glslc.
// SHIMMY_CPU_VARIANTS="x64;haswell" builds only those CPU variants (scripts/build-native.mjs).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyAddonAndLibraries } from './prebuild-gyp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const gpuFlag = process.argv.indexOf('--gpu');
const gpu = gpuFlag < 0 ? 'cpu' : process.argv[gpuFlag + 1];
if (!['cpu', 'cuda', 'vulkan'].includes(gpu)) {
  console.error(`shimmy: prebuild --gpu takes cuda or vulkan (got ${gpu})`);
  process.exit(2);
}

if (gpu === 'cpu') {
  const stage = join(root, 'build-prebuild', 'stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  rmSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`), { recursive: true, force: true });
  const prebuildify = createRequire(import.meta.url)('prebuildify');
  prebuildify({ napi: true, strip: true, name: 'shimmy', cwd: stage, out: root, nodeGyp: join(root, 'scripts', 'prebuild-gyp.mjs') }, (error) => {
    if (error) {
      console.error(`shimmy: prebuild failed: ${error.message}`);
      process.exit(1);
    }
    console.log(`shimmy: wrote prebuilds/${process.platform}-${process.arch}/`);
  });
} else {
  execFileSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--prebuild'], { stdio: 'inherit', cwd: root, env: { ...process.env, SHIMMY_GPU: gpu } });
  const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const name = `@shimmy/${process.platform}-${process.arch}-${gpu}`;
  const out = join(root, 'gpu-packages', `${process.platform}-${process.arch}-${gpu}`);
  rmSync(out, { recursive: true, force: true });
  copyAddonAndLibraries(join(root, `build-prebuild-${gpu}`), out);
  // Stripped, as prebuildify strips the CPU set: no debug symbols in what users download.
  if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) {
    for (const file of readdirSync(out)) execFileSync('strip', ['--strip-unneeded', join(out, file)]);
  }
  const pkg = {
    name,
    version: main.version,
    description: `The ${gpu.toUpperCase()} build of shimmy's native addon for ${process.platform}-${process.arch}; shimmy loads it when it is installed and the GPU works.`,
    license: main.license,
    os: [process.platform],
    cpu: [process.arch],
    files: ['*.node', '*.so*'],
    peerDependencies: { shimmy: main.version },
  };
  writeFileSync(join(out, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  console.log(`shimmy: wrote gpu-packages/${process.platform}-${process.arch}-${gpu}/ (${name}); publish it with npm publish --access public`);
}
