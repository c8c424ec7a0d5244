// A server under benchmark as a child process: `shimmy serve` or llama.cpp's llama-server from
// the same vendor/ tree (scripts/bench/build-llama-tools.mjs), on a free port, ready once its
// /health answers.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { toolsDir } from './build-llama-tools.mjs';

const root = resolve(import.meta.dirname, '..', '..');

export function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/** Starts `kind` ('shimmy' or 'llama-server') with its own flags (the port is added); resolves to {base, stop()}. */
export async function startServerProcess(kind, shimmyArgs, llamaArgs) {
  const port = await freePort();
  const llamaServer = join(toolsDir, 'llama-server');
  if (kind !== 'shimmy' && !existsSync(llamaServer)) throw new Error(`no llama-server in ${toolsDir}: node scripts/bench/build-llama-tools.mjs`);
  const child = kind === 'shimmy'
    ? spawn(process.execPath, [join(root, 'bin', 'shimmy.js'), 'serve', '--transport', 'node', '--port', String(port), ...shimmyArgs], { stdio: 'ignore' })
    : spawn(llamaServer, ['--port', String(port), '--no-webui', ...llamaArgs], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) return { base, stop: () => new Promise((done) => { child.once('exit', done); child.kill('SIGTERM'); }) };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${kind} did not start`);
}

/**
 * A streamed generation's largest gap between two chunks that carry text, in ms, from its first
 * token until it ends or `signal` aborts it (a chat stream's opening role chunk, sent before the
 * prompt is decoded by some servers, is not a token).
 */
export async function worstGap(base, path, body, signal) {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.any([signal, AbortSignal.timeout(300_000)]),
    body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${base}: the stream got ${r.status} ${await r.text()}`);
  let last;
  let worst = 0;
  try {
    for await (const chunk of r.body) {
      if (!/"(content|text)":"[^"]/.test(Buffer.from(chunk).toString())) continue;
      const now = performance.now();
      if (last !== undefined) worst = Math.max(worst, now - last);
      last = now;
    }
  } catch {
    // aborted once the work it runs beside is done
  }
  return worst;
}
