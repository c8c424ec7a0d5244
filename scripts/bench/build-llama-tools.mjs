#!/usr/bin/env node
// Builds llama.cpp's own llama-bench and llama-server (and ggml-rpc-server on request) from the
// same vendor/ tree, compiler and CPU flags as the addon, into bench/.work/llama-build
// (git-ignored), so benchmarks compare like with like. Incremental: an unchanged tree rebuilds nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const toolsDir = join(root, 'bench', '.work', 'llama-build', 'bin');

export function buildLlamaTools(targets = ['llama-bench', 'llama-server']) {
  execFileSync(process.execPath, [join(root, 'scripts', 'vendor-llama.mjs')], { stdio: 'inherit' });
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  const clang = ['clang-16', 'clang'].find(has);
  const env = { CCACHE_BASEDIR: root, ...process.env, ...(clang ? { CC: clang, CXX: clang.replace('clang', 'clang++') } : {}) };
  const build = join(root, 'bench', '.work', 'llama-build');
  execFileSync('cmake', ['-S', join(root, 'vendor', 'llama.cpp'), '-B', build, '-G', has('ninja') ? 'Ninja' : 'Unix Makefiles',
    '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=ON', '-DGGML_OPENMP=OFF', '-DGGML_RPC=ON', '-DGGML_RPC_RDMA=OFF', '-DBUILD_SHARED_LIBS=OFF', '-DLLAMA_OPENSSL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF'], { stdio: 'inherit', env });
  execFileSync('cmake', ['--build', build, '--parallel', String(availableParallelism()), '--target', ...targets], { stdio: 'inherit', env });
  return toolsDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildLlamaTools();
