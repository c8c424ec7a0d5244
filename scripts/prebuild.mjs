#!/usr/bin/env node
// npm run prebuild: the portable addon into prebuilds/<platform>-<arch>/ with prebuildify, which
// names it for node-gyp-build, strips it and collects the shared libraries beside it. prebuildify
// builds with node-gyp; scripts/prebuild-gyp.mjs stands in for node-gyp and builds with cmake-js.
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
