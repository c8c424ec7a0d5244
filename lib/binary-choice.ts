// Which compiled addon this process loads. The package carries the portable CPU binary
// (prebuilds/, or build/Release in a source build); GPU binaries come in their own packages that a
// user installs only for the GPU they have (@shimmy/linux-x64-cuda, @shimmy/linux-x64-vulkan).
// The best usable one wins: CUDA when a driver and GPU are present, else Vulkan when a device is,
// else the CPU. A GPU binary is first loaded in a child process, so a broken driver or runtime
// library fails there and not in the user's process. SHIMMY_GPU=cpu|cuda|vulkan forces one;
// SHIMMY_ADDON names a file (the sanitizer build, for one).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type BinaryKind = 'cpu' | 'cuda' | 'vulkan';

export interface BinaryChoice {
  /** The .node file to load. */
  path: string;
  /** What it is: a package's cpu, cuda or vulkan binary, a source build (whichever backend it was
   * compiled with), or the file SHIMMY_ADDON names. */
  kind: BinaryKind | 'source build' | 'SHIMMY_ADDON';
  /** Why each other candidate was not taken, e.g. "cuda: no NVIDIA driver (/dev/nvidiactl)". */
  passedOver: string[];
}

const GPU_KINDS = ['cuda', 'vulkan'] as const;
const PROBE_TIMEOUT_MS = 20_000;

/** The package that carries a GPU binary for this platform. */
export const gpuPackageName = (kind: (typeof GPU_KINDS)[number]) => `@shimmy/${process.platform}-${process.arch}-${kind}`;

/** Whether this machine could run the kind at all, before any binary is tried. */
function deviceAbsence(kind: (typeof GPU_KINDS)[number]): string | undefined {
  if (kind === 'cuda') return existsSync('/dev/nvidiactl') ? undefined : 'no NVIDIA driver (/dev/nvidiactl)';
  const icds = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].some((d) => existsSync(d) && readdirSync(d).length > 0);
  return icds ? undefined : 'no Vulkan driver (no ICD in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d)';
}

/** The GPU package's binary, or why there is none. */
function gpuBinary(require: NodeRequire, kind: (typeof GPU_KINDS)[number]): { path: string } | { missing: string } {
  const name = gpuPackageName(kind);
  try {
    const dir = dirname(require.resolve(`${name}/package.json`));
    const path = join(dir, 'shimmy.node');
    return existsSync(path) ? { path } : { missing: `${name} has no shimmy.node` };
  } catch {
    return { missing: `${name} is not installed` };
  }
}

/**
 * Loads the binary in a child process and asks it for its devices: a GPU binary counts only when
 * it loads and ggml sees a GPU through it.
 */
function probe(path: string): string | undefined {
  const script = `const i = require(process.argv[1]).systemInfo(); process.stdout.write(JSON.stringify(i.devices.filter((d) => d.type === 'gpu').map((d) => d.description)));`;
  const r = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env: process.env });
  if (r.status !== 0) {
    const why = r.error?.message ?? (r.signal ? `killed by ${r.signal}` : (r.stderr.trim().split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`));
    return `does not load (${why.slice(0, 200)})`;
  }
  try {
    return (JSON.parse(r.stdout) as string[]).length > 0 ? undefined : 'loads, but sees no GPU';
  } catch {
    return 'loads, but its device list is unreadable';
  }
}

const sourceBuild = (packageRoot: string) => join(packageRoot, 'build', 'Release', 'shimmy.node');

/** A source build's build/Release, else this platform's prebuilds/ entry (the portable CPU one). */
function ownBinary(require: NodeRequire, packageRoot: string): Pick<BinaryChoice, 'path' | 'kind'> {
  const path = (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  return { path, kind: path === sourceBuild(packageRoot) ? 'source build' : 'cpu' };
}

export function chooseBinary(packageRoot: string, env: NodeJS.ProcessEnv = process.env): BinaryChoice {
  if (env.SHIMMY_ADDON) return { path: env.SHIMMY_ADDON, kind: 'SHIMMY_ADDON', passedOver: [] };
  const require = createRequire(join(packageRoot, 'package.json'));
  const forced = env.SHIMMY_GPU?.toLowerCase();
  if (forced !== undefined && forced !== '' && forced !== 'cpu' && !(GPU_KINDS as readonly string[]).includes(forced)) {
    throw new Error(`SHIMMY_GPU must be cpu, cuda or vulkan (got ${JSON.stringify(env.SHIMMY_GPU)})`);
  }
  const passedOver: string[] = [];
  for (const kind of GPU_KINDS) {
    if (forced && forced !== kind) {
      passedOver.push(`${kind}: SHIMMY_GPU=${forced}`);
      continue;
    }
    const binary = gpuBinary(require, kind);
    if ('missing' in binary) {
      // A source build made for this GPU (SHIMMY_GPU=… npm install) is its own binary.
      if (forced === kind && existsSync(sourceBuild(packageRoot))) return { path: sourceBuild(packageRoot), kind: 'source build', passedOver };
      if (forced === kind) throw new Error(`SHIMMY_GPU=${kind}, but ${binary.missing}: npm i ${gpuPackageName(kind)}`);
      passedOver.push(`${kind}: ${binary.missing}`);
      continue;
    }
    const absent = forced === kind ? undefined : deviceAbsence(kind);
    const broken = absent ?? probe(binary.path);
    if (!broken) return { path: binary.path, kind, passedOver };
    if (forced === kind) throw new Error(`SHIMMY_GPU=${kind}, but ${gpuPackageName(kind)} ${broken}`);
    passedOver.push(`${kind}: ${broken}`);
  }
  return { ...ownBinary(require, packageRoot), passedOver };
}
