// `shimmy worker` processes for the RPC tests, on loopback or inside network namespaces.
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { root } from './fixtures.mjs';

export const cli = join(root, 'bin', 'shimmy.js');

/** A TCP port nothing listens on right now. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `shimmy worker --bind HOST:PORT` (inside `netns` when given) and resolves once ggml's
 * server listens. kill() ends it (SIGKILL by default: a worker that dies, not one that stops).
 */
export async function startWorker({ host = '127.0.0.1', port, netns } = {}) {
  port ??= await freePort();
  const args = [cli, 'worker', '--bind', `${host}:${port}`, '--threads', '1'];
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // ggml's server prints to stdout, shimmy's worker command to stderr: each stream is kept whole,
  // since chunks of the two interleave at any byte (a merged string once split "Listening").
  const streams = { stdout: '', stderr: '' };
  const output = () => streams.stdout + streams.stderr;
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const late = setTimeout(() => {
      child.kill('SIGKILL'); // a worker left running would keep the test process alive
      reject(new Error(`worker not listening after 20 s:\n${output()}`));
    }, 20_000);
    for (const name of ['stdout', 'stderr']) {
      child[name].on('data', (data) => {
        streams[name] += data;
        if (streams.stdout.includes(`Listening on ${host}:${port}`)) {
          clearTimeout(late);
          resolve();
        }
      });
    }
    exited.then(({ code }) => {
      clearTimeout(late);
      reject(new Error(`worker exited (${code}) before listening:\n${output()}`));
    });
  });
  return {
    endpoint: `${host}:${port}`,
    host,
    port,
    child,
    exited,
    output,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Network namespaces joined to a client namespace by veth pairs: client 10.231.N.1 ⇄ worker N at
 * 10.231.N.2, so each worker is a separate host as far as TCP is concerned. Undefined (with the
 * reason in `skip`) where the machine does not allow it.
 */
export function makeNamespaces(workers) {
  const tag = `shimmy${process.pid}`;
  const client = `${tag}c`;
  const names = Array.from({ length: workers }, (_, i) => `${tag}w${i + 1}`);
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const remove = () => {
    for (const ns of [client, ...names]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  try {
    ip('netns', 'add', client);
    ip('-n', client, 'link', 'set', 'lo', 'up');
    names.forEach((ns, i) => {
      const n = i + 1;
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'add', `${tag}c${n}`, 'netns', client, 'type', 'veth', 'peer', 'name', `${tag}p${n}`, 'netns', ns);
      ip('-n', client, 'addr', 'add', `10.231.${n}.1/30`, 'dev', `${tag}c${n}`);
      ip('-n', ns, 'addr', 'add', `10.231.${n}.2/30`, 'dev', `${tag}p${n}`);
      ip('-n', client, 'link', 'set', `${tag}c${n}`, 'up');
      ip('-n', ns, 'link', 'set', `${tag}p${n}`, 'up');
    });
  } catch (error) {
    remove();
    return { skip: `network namespaces are not available here: ${String(error.stderr || error.message).trim()}` };
  }
  return {
    client,
    workers: names.map((ns, i) => ({ netns: ns, host: `10.231.${i + 1}.2` })),
    /** Takes worker N's link down: its host vanishes without a reset. */
    cut: (n) => ip('-n', names[n - 1], 'link', 'set', `${tag}p${n}`, 'down'),
    remove,
  };
}

/** Why namespace tests cannot run here, or false. */
export function namespaceSkip() {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "the 'ip' command (iproute2) is missing";
  }
  return false;
}
