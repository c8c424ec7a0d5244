// Which addon binary a process loads (lib/binary-choice.ts): the package's own unless a GPU
// package is installed and works; a GPU binary that fails to load fails in a child process.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chooseBinary, gpuPackageName } from '../dist/binary-choice.js';
import { binaryChoice, packageRoot } from '../dist/native.js';
import { scratchDir } from './helpers/scratch.mjs';

/** A package root with this checkout's binary as its own, and GPU packages holding the given files. */
function installTree(gpuBinaries, { ownBuild = true } = {}) {
  const dir = scratchDir('binaries');
  writeFileSync(join(dir, 'package.json'), '{"name":"shimmy"}');
  mkdirSync(join(dir, 'node_modules'));
  // node-gyp-build is resolved from the package root, as in an install.
  for (const dep of ['node-gyp-build']) {
    mkdirSync(join(dir, 'node_modules', dep), { recursive: true });
    for (const file of ['package.json', 'index.js', 'node-gyp-build.js']) copyFileSync(join(packageRoot, 'node_modules', dep, file), join(dir, 'node_modules', dep, file));
  }
  if (ownBuild) {
    mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
    copyFileSync(binaryChoice().path, join(dir, 'build', 'Release', 'shimmy.node'));
  }
  for (const [kind, write] of Object.entries(gpuBinaries)) {
    const pkg = join(dir, 'node_modules', gpuPackageName(kind));
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: gpuPackageName(kind), version: '0.0.0' }));
    write(join(pkg, 'shimmy.node'));
  }
  return dir;
}
const cpuAddon = (to) => copyFileSync(binaryChoice().path, to);
const garbage = (to) => writeFileSync(to, 'not an ELF file');

describe('binary choice', () => {
  test('without GPU packages, the package loads its own binary and says why no GPU one', () => {
    const choice = chooseBinary(installTree({}), {});
    assert.equal(choice.kind, 'source build');
    assert.match(choice.path, /build\/Release\/shimmy\.node$/);
    assert.deepEqual(choice.passedOver, [`cuda: ${gpuPackageName('cuda')} is not installed`, `vulkan: ${gpuPackageName('vulkan')} is not installed`]);
  });

  test('a GPU binary that does not load, or sees no GPU, is passed over when forced too, without harm to this process', () => {
    const root = installTree({ cuda: garbage, vulkan: cpuAddon });
    assert.throws(() => chooseBinary(root, { SHIMMY_GPU: 'cuda' }), /SHIMMY_GPU=cuda, but @shimmy\/linux-x64-cuda does not load/);
    assert.throws(() => chooseBinary(root, { SHIMMY_GPU: 'vulkan' }), /SHIMMY_GPU=vulkan, but @shimmy\/linux-x64-vulkan loads, but sees no GPU/);
    const auto = chooseBinary(root, {});
    assert.equal(auto.kind, 'source build');
    assert.equal(auto.passedOver.length, 2);
    assert.match(auto.passedOver[0], /^cuda: (no NVIDIA driver|does not load)/);
    assert.match(auto.passedOver[1], /^vulkan: (no Vulkan driver|loads, but sees no GPU)/);
  });

  test('SHIMMY_GPU=cpu takes the own binary; an unknown value or a missing forced package is an error', () => {
    const root = installTree({ cuda: cpuAddon });
    const cpu = chooseBinary(root, { SHIMMY_GPU: 'cpu' });
    assert.equal(cpu.kind, 'source build');
    assert.deepEqual(cpu.passedOver, ['cuda: SHIMMY_GPU=cpu', 'vulkan: SHIMMY_GPU=cpu']);
    assert.throws(() => chooseBinary(root, { SHIMMY_GPU: 'metal' }), /SHIMMY_GPU must be cpu, cuda or vulkan/);
    // A source build stands in for the forced GPU (it was built with SHIMMY_GPU=...); a package
    // install without the GPU package is told what to install.
    assert.equal(chooseBinary(installTree({}), { SHIMMY_GPU: 'vulkan' }).kind, 'source build');
    assert.throws(() => chooseBinary(installTree({}, { ownBuild: false }), { SHIMMY_GPU: 'vulkan' }), /SHIMMY_GPU=vulkan, but @shimmy\/linux-x64-vulkan is not installed: npm i @shimmy\/linux-x64-vulkan/);
  });

  test('SHIMMY_ADDON names the file to load', () => {
    assert.deepEqual(chooseBinary(packageRoot, { SHIMMY_ADDON: '/x/y.node' }), { path: '/x/y.node', kind: 'SHIMMY_ADDON', passedOver: [] });
  });
});
