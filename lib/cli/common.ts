// What the CLI commands share: flags → discovery, a load progress display, one-line failures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { native, packageRoot } from '../native.js';
import { discoverModels, type Discovery } from '../models/discovery.js';
import { ShimmyError } from '../engine/errors.js';
import { parseEndpoints } from '../engine/rpc.js';
import type { LoraFile } from '../engine/lora.js';

export const version: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;

export interface CommonFlags {
  model?: string;
  'model-dirs'?: string;
  lora?: string | string[];
  /** --no-auto-lora */
  'auto-lora'?: boolean;
  mmproj?: string;
  verbose?: boolean;
}

/** --lora PATH[:SCALE], repeatable: a scale is a number after the last colon (so C:\… stays a path). */
export function loraFlags(value: unknown): LoraFile[] {
  return [value ?? []].flat().map((v) => {
    const text = String(v);
    const m = /^(.+):(-?\d+(?:\.\d+)?|-?\.\d+)$/.exec(text);
    const scale = m ? Number(m[2]) : 1;
    if (m && !(Math.abs(scale) <= 100)) fail(`--lora ${text}: the scale must be a number from -100 to 100`);
    return { path: m ? m[1]! : text, scale };
  });
}

export function discover(flags: CommonFlags): Discovery {
  const dirs = flags['model-dirs'] ? String(flags['model-dirs']).split(/[;,]/).filter(Boolean) : [];
  return discoverModels({ modelPath: flags.model ? String(flags.model) : undefined, modelDirs: dirs, lora: loraFlags(flags.lora), autoLora: flags['auto-lora'] !== false,
    mmproj: flags.mmproj ? String(flags.mmproj) : undefined });
}

/** A one-line failure: `shimmy: message` on stderr, exit status 1, never a stack trace. */
export class CliError extends ShimmyError {
  constructor(message: string) {
    super('invalid_request', message);
  }
}

export function fail(message: string): never {
  throw new CliError(message);
}

export function describeError(error: unknown): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof ShimmyError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Progress of a model load on stderr: a bar on a terminal, a few plain lines otherwise. */
export function loadProgress(label: string): (fraction: number) => void {
  const tty = process.stderr.isTTY === true;
  let lastStep = -1;
  return (fraction) => {
    const percent = Math.round(fraction * 100);
    if (tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      process.stderr.write(`\rloading ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}%${fraction >= 1 ? '\n' : ''}`);
    } else {
      const step = Math.floor(percent / 25);
      if (step !== lastStep) {
        lastStep = step;
        process.stderr.write(`loading ${label}: ${percent}%\n`);
      }
    }
  };
}

export function formatSize(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** A repeatable flag, each value possibly a comma-separated list, then an environment variable's list. */
export function listFlag(value: unknown, env?: string): string[] {
  return [value ?? [], env ?? []].flat().flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
}

/** --rpc host:port,… (also SHIMMY_RPC_WORKERS): the workers a model is split over. */
export function rpcWorkers(flags: { rpc?: unknown }): string[] {
  return parseEndpoints(listFlag(flags.rpc, process.env.SHIMMY_RPC_WORKERS));
}

export function number(flags: object, name: string): number | undefined {
  const v = (flags as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v === 'boolean' || !Number.isFinite(n)) fail(`--${name} must be a number (got '${v}')`);
  return n;
}

/**
 * An integer flag within what the engine accepts, checked before anything starts: a server
 * started with `--parallel 0` would only answer every request with an error that blames the client.
 */
export function integer(flags: object, name: string, min: number, max: number): number | undefined {
  const n = number(flags, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min || n > max)) fail(`--${name} must be a whole number from ${min} to ${max} (got ${n})`);
  return n;
}

/** ggml's log levels (ggml.h): what --verbose shows from llama.cpp. */
const GGML_LOG_LEVEL_INFO = 2;

/** --verbose: llama.cpp's and ggml's own log, info and above, on stderr. */
export function routeLlamaLog(): void {
  native().setLogHandler((_level, text) => process.stderr.write(`llama.cpp: ${text}\n`), GGML_LOG_LEVEL_INFO);
}
