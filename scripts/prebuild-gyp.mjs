#!/usr/bin/env node
// Run by prebuildify in node-gyp's place (its arguments are node-gyp's and are ignored): builds the
// portable addon with cmake-js and puts it, the shared llama.cpp libraries under the names the
// loader asks for (their sonames) and every CPU variant module into ./build/Release of the staging
// directory prebuildify runs this in, where it collects them. scripts/prebuild.mjs uses
// copyAddonAndLibraries for the GPU packages too.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The addon and the shared libraries and backend modules it loads, from a --prebuild build. */
export function copyAddonAndLibraries(buildDir, out) {
  mkdirSync(out, { recursive: true });
  copyFileSync(join(buildDir, 'Release', 'shimmy.node'), join(out, 'shimmy.node'));
  const libDir = join(buildDir, 'bin');
  const libs = readdirSync(libDir).filter((n) => /^lib.+\.so(\.\d+)?$/.test(n));
  for (const name of libs) {
    if (name.endsWith('.so') && libs.some((other) => other.startsWith(`${name}.`))) continue; // the soname copy suffices
    copyFileSync(join(libDir, name), join(out, name));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  execFileSync(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--prebuild'], { stdio: 'inherit', cwd: root });
  copyAddonAndLibraries(join(root, 'build-prebuild'), join(process.cwd(), 'build', 'Release'));
}
