// `shimmy pull SOURCE` with a progress bar a person can trust (bytes, rate, ETA on a terminal;
// a plain line per tenth when not), and `shimmy rm NAME`.
import { homedir } from 'node:os';
import { ollamaStore } from '../models/discovery.js';
import { pull, type PullStatus } from '../pull/pull.js';
import { removeModel } from '../pull/remove.js';
import { discover, fail, formatSize, type CommonFlags } from './common.js';

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Progress on stderr: one rewritten line on a terminal, a line per tenth (and per file) otherwise. */
function progressPrinter(tty: boolean) {
  let file = '';
  let started = 0;
  let tenth = -1;
  let lastDraw = 0;
  return {
    status(s: PullStatus) {
      if (s.completed === undefined) {
        if (tty && file) process.stderr.write('\n');
        file = '';
        if (s.status !== 'success') process.stderr.write(`${s.status}\n`);
        return;
      }
      if (s.status !== file) {
        if (tty && file) process.stderr.write('\n');
        [file, started, tenth] = [s.status, Date.now(), -1];
      }
      const elapsed = (Date.now() - started) / 1000;
      const rate = elapsed > 0 ? s.completed / elapsed : 0;
      const total = s.total;
      const line = total
        ? `${file}  ${((100 * s.completed) / total).toFixed(0).padStart(3)}%  ${formatSize(s.completed)} / ${formatSize(total)}  ${formatSize(rate)}/s  ETA ${clock(rate > 0 ? (total - s.completed) / rate : Infinity)}`
        : `${file}  ${formatSize(s.completed)}  ${formatSize(rate)}/s`;
      if (tty) {
        if (Date.now() - lastDraw < 100 && s.completed !== total) return;
        lastDraw = Date.now();
        process.stderr.write(`\r${line}\x1b[K`);
      } else {
        const now = total ? Math.floor((10 * s.completed) / total) : 0;
        if (now === tenth) return;
        tenth = now;
        process.stderr.write(`${line}\n`);
      }
    },
  };
}

export async function pullCommand(source: string | undefined, flags: CommonFlags & { insecure?: boolean; offline?: boolean }): Promise<void> {
  if (!source) fail('pull needs a source: hf:org/repo[:QUANT], https://…/file.gguf, or an Ollama name such as qwen2.5:0.5b');
  const printer = progressPrinter(process.stderr.isTTY === true);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  try {
    const result = await pull(source, { insecure: flags.insecure === true, offline: flags.offline === true, onStatus: (s) => printer.status(s), signal: controller.signal });
    console.log(`${result.downloaded ? 'pulled' : 'already here:'} ${result.id}  ${result.path}`);
  } catch (error) {
    if (controller.signal.aborted) fail('stopped: pull again to continue where it left off');
    fail((error as Error).message);
  } finally {
    process.off('SIGINT', stop);
  }
}

export function rmCommand(name: string | undefined, flags: CommonFlags): void {
  if (!name) fail('rm needs a model name (see shimmy list)');
  const discovery = discover(flags);
  const entry = discovery.models.find((m) => m.id === name) ?? discovery.models.find((m) => `${m.id}:latest` === name);
  if (!entry) fail(`no model named '${name}' (see shimmy list)`);
  try {
    removeModel(entry, { ollama: ollamaStore(process.env, homedir()) });
  } catch (error) {
    fail((error as Error).message);
  }
  console.log(`removed ${entry.id}`);
}
