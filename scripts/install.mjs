#!/usr/bin/env node
// `npm install` hook: use a prebuilt addon when one matches this platform, otherwise fetch the
// pinned llama.cpp and compile. (node-gyp-build's own fallback runs `node-gyp rebuild`, which
// cannot build a cmake-js project, so we do the check ourselves.)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// A git checkout always (re)builds, incrementally: its sources may be newer than any binary.
const isCheckout = existsSync(join(root, '.git'));
if (!isCheckout && !process.env.SHIMMY_FORCE_BUILD && !process.env.SHIMMY_GPU) {
  try {
    const load = require('node-gyp-build');
    load.path(root);
    console.log('shimmy: using the existing native addon');
    process.exit(0);
  } catch {
    // no prebuild and no earlier build: compile below
  }
}
execFileSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { stdio: 'inherit', cwd: root });
