#!/usr/bin/env node
// node-llama-cpp 3.21.1 on the same model, for the engine benchmark's comparison column. It is
// installed on first use into bench/.work/nlc (git-ignored; never a dependency of shimmy), from its
// prebuilt binaries (--ignore-scripts: nothing is compiled), and measured in a child process so its
// own copy of llama.cpp never shares a process with shimmy's.
//   node scripts/bench/node-llama-cpp.mjs MODEL THREADS TOKENS   -> prints {"tokS": …}
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..', '..');
const dir = join(root, 'bench', '.work', 'nlc');
const entry = join(dir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');

function install() {
  if (existsSync(entry)) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"name":"nlc-bench","private":true,"type":"module"}\n');
  execFileSync('npm', ['install', 'node-llama-cpp@3.21.1', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
}

/** Single-stream greedy tok/s of node-llama-cpp, or undefined when it cannot run here. */
export function nodeLlamaCppTokS(model, threads, tokens) {
  try {
    install();
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), model, String(threads), String(tokens)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').at(-1)).tokS;
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [model, threads, tokens] = process.argv.slice(2);
  const { getLlama, LlamaCompletion } = await import(pathToFileURL(entry).href);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const loaded = await llama.loadModel({ modelPath: model });
  const context = await loaded.createContext({ contextSize: 512, threads: Number(threads) });
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  const run = async (maxTokens) => {
    let n = 0;
    const t0 = performance.now();
    // Rate over the tokens it generated (it stops at end-of-sequence; there is no ignore-EOS option).
    await completion.generateCompletion('Once upon a time', { maxTokens, temperature: 0, onToken: (t) => { n += t.length; } });
    return (n / (performance.now() - t0)) * 1000;
  };
  await run(8);
  const best = Math.max(await run(Number(tokens)), await run(Number(tokens)));
  console.log(JSON.stringify({ tokS: best }));
  process.exit(0);
}
