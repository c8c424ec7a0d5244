#!/usr/bin/env node
// npm run test:pack: the install a user does, checked. Builds the portable CPU prebuild (two of
// ggml's CPU variants unless SHIMMY_CPU_VARIANTS names others: the baseline x64 one and this CPU's
// best; the packing and loading code is a release's), packs the package, and installs the tarball
// into empty folders, once with --ignore-scripts and once with shimmy's install script allowed (npm
// 11 skips a dependency's install scripts unless the user allows them), with a PATH that holds node
// and npm but no compiler, cmake or git. Each install must run `shimmy generate` and import the
// library; with stories260K (SHIMMY_TEST_MODEL) the greedy text must be llama.cpp's own.
//   --gpu vulkan  also build the Vulkan package and check that an install with it chooses it (on
//                 Mesa's llvmpipe here) and gives the CPU's text
//   --no-build    pack the prebuilds/ and gpu-packages/ already there
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDir } from '../test/helpers/scratch.mjs'; // removed at exit: tarballs and installs are ~0.5 GB
import { pngImage, patterns } from './make-fixture-image.mjs';
import { makeFixtureProjector } from './make-fixture-projector.mjs';
import { STORIES_GREEDY_40 as REFERENCE, STORIES_IMAGE_GREEDY_40 } from './stories-reference.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mib = (bytes) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

function fail(message) {
  console.error(`test:pack: FAIL: ${message}`);
  process.exit(1);
}

/** The best of ggml's x86 CPU variants this CPU runs (ggml/src/CMakeLists.txt names them). */
function bestCpuVariant() {
  let flags;
  try {
    flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/));
  } catch {
    return 'x64';
  }
  const all = (...names) => names.every((n) => flags.has(n));
  const avx512 = all('avx512f', 'avx512cd', 'avx512vl', 'avx512dq', 'avx512bw');
  if (avx512 && all('avx512_vbmi', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8')) return 'sapphirerapids';
  if (avx512 && all('avx512_vbmi', 'avx512_vnni', 'avx512_bf16')) return 'zen4';
  if (avx512 && all('avx512_vnni', 'avx512_bf16')) return 'cooperlake';
  if (avx512 && all('avx512_vbmi', 'avx512_vnni')) return 'icelake';
  if (avx512 && flags.has('avx512_vnni')) return 'cascadelake';
  if (avx512 && flags.has('avx512_vbmi')) return 'cannonlake';
  if (avx512) return 'skylakex';
  if (all('avx2', 'fma', 'f16c', 'bmi2', 'avx_vnni')) return 'alderlake';
  if (all('avx2', 'fma', 'f16c', 'bmi2')) return 'haswell';
  return 'x64';
}

/** A folder whose only commands are node, npm, npx and sh: what a machine without build tools has. */
function bareToolsPath() {
  const bin = scratchDir('pack-bin');
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin');
  for (const tool of ['npm', 'npx']) {
    const script = [join(npmCli, `${tool}-cli.js`), join('/usr/lib/node_modules/npm/bin', `${tool}-cli.js`)].find(existsSync);
    if (!script) fail(`cannot find ${tool}-cli.js beside ${process.execPath}`);
    writeFileSync(join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`, { mode: 0o755 });
  }
  symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs package scripts with sh
  return bin;
}

function run(cmd, args, options) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

// 1. The prebuilds.
const gpuFlag = process.argv.indexOf('--gpu');
const gpu = gpuFlag < 0 ? undefined : process.argv[gpuFlag + 1];
if (gpu !== undefined && gpu !== 'vulkan') fail(`--gpu takes vulkan, the one GPU this machine can emulate (got ${gpu})`);
const gpuPackageDir = join(root, 'gpu-packages', `${process.platform}-${process.arch}-vulkan`);
if (!process.argv.includes('--no-build')) {
  const variants = process.env.SHIMMY_CPU_VARIANTS ?? [...new Set(['x64', bestCpuVariant()])].join(';');
  for (const args of gpu ? [[], ['--gpu', gpu]] : [[]]) {
    const started = performance.now();
    console.log(`test:pack: building the portable ${args[1] ?? 'CPU'} prebuild (CPU variants: ${variants})`);
    execFileSync(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), ...args], { stdio: 'inherit', cwd: root, env: { ...process.env, SHIMMY_CPU_VARIANTS: variants } });
    console.log(`test:pack: prebuild took ${seconds(started)}`);
  }
}
const prebuildDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!existsSync(prebuildDir)) fail(`no ${prebuildDir}: run without --no-build`);
console.log(`test:pack: prebuilds/${process.platform}-${process.arch}: ${readdirSync(prebuildDir).join(', ')}`);

// 2. The tarball, as `npm publish` would send it.
const work = scratchDir('pack');
const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }).stdout)[0];
const tarball = join(work, packed.filename);
console.log(`test:pack: ${packed.filename}: ${mib(statSync(tarball).size)} packed, ${mib(packed.unpackedSize)} unpacked, ${packed.entryCount} files`);

// 3. Installs without build tools, with and without install scripts.
const PATH = bareToolsPath();
for (const tool of ['cc', 'gcc', 'g++', 'clang', 'c++', 'cmake', 'make', 'ninja', 'git']) {
  if (spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH } }).status === 0) fail(`${tool} is reachable through PATH=${PATH}`);
}
const model = process.env.SHIMMY_TEST_MODEL && existsSync(process.env.SHIMMY_TEST_MODEL) ? resolve(process.env.SHIMMY_TEST_MODEL) : undefined;
const fixture = join(work, 'tiny.gguf');
if (!model) execFileSync(process.execPath, [join(root, 'scripts', 'make-fixture-model.mjs'), fixture], { stdio: 'inherit' });
// tools/mtmd in the package: a projector for the model (both are 64 wide) and an image to ask about.
const projector = makeFixtureProjector(join(work, 'mmproj.gguf'), { width: 64 });
const picture = join(work, 'gradient.png');
writeFileSync(picture, pngImage(32, 32, patterns.gradient(32, 32)));

const library = `import { loadModel } from 'shimmy';
  const model = await loadModel(process.argv[1], { contextSize: 256, parallel: 1 });
  let text = '';
  for await (const chunk of model.generate({ prompt: 'Once upon a time', maxTokens: 40, temperature: 0 })) text += chunk.text;
  await model.close();
  process.stdout.write(text);`;
const vision = `import { readFileSync } from 'node:fs';
  import { loadModel } from 'shimmy';
  const [path, mmproj, picture] = process.argv.slice(1);
  const model = await loadModel(path, { contextSize: 256, parallel: 1, mmproj });
  const chat = await model.renderChat({ messages: [{ role: 'user', content: [{ type: 'image', data: readFileSync(picture) }, { type: 'text', text: 'Once upon a time' }] }] });
  const { text } = await model.complete({ chat, maxTokens: 40, temperature: 0 });
  await model.close();
  process.stdout.write(JSON.stringify({ imageTokens: chat.imageTokens, text }));`;
let firstText;

/** Installs the tarballs into an empty folder, then checks the binary chosen and the text. */
function checkInstall({ label, tarballs, scripts, binary, extraEnv = {}, gpuInstall = false }) {
  const app = join(work, `app-${label.replace(/\W+/g, '-')}`);
  mkdirSync(app);
  // npm 11 runs a dependency's install script only when the project allows it (allowScripts); the
  // prebuilt binary must serve either way.
  const allowScripts = scripts ? { [`file:${tarball}`]: true } : undefined;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module', allowScripts }));
  const env = { HOME: process.env.HOME ?? work, PATH, npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? work, '.npm'), ...extraEnv };
  const started = performance.now();
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', scripts ? '--foreground-scripts' : '--ignore-scripts', ...tarballs], { cwd: app, env });
  console.log(`test:pack: npm install (${label}): ${seconds(started)}`);
  if (scripts && !/using the existing native addon/.test(install.stdout + install.stderr)) fail(`the install script did not take the prebuild:\n${install.stdout}${install.stderr}`);

  const diag = run(join(app, 'node_modules', '.bin', 'shimmy'), ['diag'], { cwd: app, env }).stdout;
  if (!binary.test(diag)) fail(`shimmy diag does not name the binary expected (${binary}):\n${diag}`);
  const cli = run(join(app, 'node_modules', '.bin', 'shimmy'), ['generate', '--model', model ?? fixture, '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '0'], { cwd: app, env });
  if (model && cli.stdout !== `${REFERENCE}\n`) fail(`shimmy generate printed ${JSON.stringify(cli.stdout)}, not llama.cpp's greedy text`);
  if (cli.stdout.length < 2) fail('shimmy generate printed nothing');
  firstText ??= cli.stdout;
  if (cli.stdout !== firstText) fail(`shimmy generate printed ${JSON.stringify(cli.stdout)}, the first install ${JSON.stringify(firstText)}`);
  const lib = run('node', ['--input-type=module', '-e', library, model ?? fixture], { cwd: app, env });
  if (lib.stdout !== cli.stdout.slice(0, -1)) fail(`the library generated ${JSON.stringify(lib.stdout)}, the CLI ${JSON.stringify(cli.stdout)}`);
  // A GPU's projector may round differently from the CPU's: the exact text is the CPU's to match.
  const seen = JSON.parse(run('node', ['--input-type=module', '-e', vision, model ?? fixture, projector, picture], { cwd: app, env }).stdout);
  if (seen.imageTokens !== 16 || seen.text.length < 2) fail(`an image request gave ${JSON.stringify(seen)}`);
  if (model && !gpuInstall && seen.text !== STORIES_IMAGE_GREEDY_40.gradient) fail(`an image request gave ${JSON.stringify(seen.text)}, not llama-mtmd-cli's text`);
  console.log(`test:pack: ${label}: shimmy generate and import('shimmy') give ${model ? "llama.cpp's greedy text" : 'the same text'}, and an image request works`);
}

const platform = `${process.platform}-${process.arch}`;
const cpuBinary = new RegExp(`^binary: +cpu .*/node_modules/shimmy/prebuilds/${platform}/shimmy\\.node$`, 'm');
checkInstall({ label: '--ignore-scripts', tarballs: [tarball], scripts: false, binary: cpuBinary });
checkInstall({ label: 'with install scripts', tarballs: [tarball], scripts: true, binary: cpuBinary });

// 4. With --gpu vulkan: the Vulkan package installed beside it is chosen and gives the same text.
// Mesa's software device (llvmpipe) stands in for a GPU; ggml skips CPU-type Vulkan devices unless
// GGML_VK_VISIBLE_DEVICES names one.
if (gpu === 'vulkan') {
  const gpuPackage = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work, gpuPackageDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }).stdout)[0];
  console.log(`test:pack: ${gpuPackage.filename}: ${mib(statSync(join(work, gpuPackage.filename)).size)} packed, ${mib(gpuPackage.unpackedSize)} unpacked`);
  const vulkanBinary = new RegExp(`^binary: +vulkan .*/node_modules/@shimmy/${platform}-vulkan/shimmy\\.node$`, 'm');
  checkInstall({ label: 'with the Vulkan package', tarballs: [tarball, join(work, gpuPackage.filename)], scripts: false, binary: vulkanBinary, extraEnv: { GGML_VK_VISIBLE_DEVICES: '0' }, gpuInstall: true });
}
console.log('test:pack: ok');
