#!/usr/bin/env node
// Compiles the addon (and the static llama.cpp inside it) with cmake-js.
//   SHIMMY_GPU=cpu|cuda|vulkan|metal   ggml backend (default cpu)
//   SHIMMY_RPC=0                       leave out ggml's RPC backend (shimmy worker, serve --rpc)
//   SHIMMY_LLAMA_TOOLS=1               also build llama.cpp's llama-bench and llama-batched-bench in
//                                      the same build directory (same ggml objects; a GPU host's
//                                      benchmark: scripts/bench/gpu.sh)
//   SHIMMY_SANITIZE=address,undefined  a sanitizer build into build-sanitize/ (clang; .ci/sanitize)
//   --prebuild                         portable build into build-prebuild[-GPU]/ (shared llama.cpp and
//                                      every CPU variant, the best picked at load); npm run prebuild
//                                      packs it into prebuilds/ (scripts/prebuild.mjs)
//   SHIMMY_CPU_VARIANTS="x64;haswell"  with --prebuild: only these of ggml's CPU variants (the
//                                      package test builds two; a release builds all)
// clang is preferred when present: it is what we measured llama.cpp's AMX kernels with. GCC 12
// miscompiles them, which vendor/patches/0001 works around, so GCC builds are safe too.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuild = process.argv.includes('--prebuild');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

execFileSync(process.execPath, [join(root, 'scripts', 'vendor-llama.mjs')], { stdio: 'inherit' });

const gpu = (process.env.SHIMMY_GPU || 'cpu').toLowerCase();
const sanitize = process.env.SHIMMY_SANITIZE || '';
const buildDir = prebuild ? `build-prebuild${gpu === 'cpu' ? '' : `-${gpu}`}` : sanitize ? 'build-sanitize' : 'build';
const llamaTools = process.env.SHIMMY_LLAMA_TOOLS === '1';
const defines = [`--CDSHIMMY_GPU=${gpu}`, `--CDSHIMMY_RPC=${process.env.SHIMMY_RPC === '0' ? 'OFF' : 'ON'}`, `--CDSHIMMY_SANITIZE=${sanitize}`,
  `--CDSHIMMY_LLAMA_TOOLS=${llamaTools ? 'ON' : 'OFF'}`];
if (prebuild) defines.push('--CDSHIMMY_CPU_VARIANTS=ON', `--CDGGML_CPU_VARIANTS=${process.env.SHIMMY_CPU_VARIANTS ?? ''}`);

// CCACHE_BASEDIR makes ccache hits independent of where the clone lives.
const env = { CCACHE_BASEDIR: root, ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(availableParallelism()) };
if (!env.CC && !env.CXX) {
  const clang = ['clang-16', 'clang'].find(has);
  if (clang) Object.assign(env, { CC: clang, CXX: clang.replace('clang', 'clang++') });
}
const args = ['build', '--out', buildDir, ...defines];
if (has('ninja')) args.push('--generator', 'Ninja');

console.log(`shimmy: building the native addon (${gpu}${prebuild ? ', portable' : ''}${sanitize ? `, -fsanitize=${sanitize}` : ''}) with ${env.CXX || 'the default compiler'}`);
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
// cmake-js only configures a new build directory: an existing one whose cache disagrees with
// these options (SHIMMY_RPC changed, say) is configured again first.
const cache = join(root, buildDir, 'CMakeCache.txt');
const stale = existsSync(cache) && defines.some((d) => {
  const [name, value] = d.slice('--CD'.length).split(/=(.*)/s);
  return !new RegExp(`^${name}:[A-Z]+=${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').test(readFileSync(cache, 'utf8'));
});
if (stale) execFileSync(process.execPath, [cmakeJs, 'configure', ...args.slice(1)], { stdio: 'inherit', cwd: root, env });
execFileSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit', cwd: root, env });
if (llamaTools) {
  execFileSync('cmake', ['--build', join(root, buildDir), '--target', 'llama-bench', 'llama-batched-bench', '--parallel', env.CMAKE_BUILD_PARALLEL_LEVEL], { stdio: 'inherit', env });
}
