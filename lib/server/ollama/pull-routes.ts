// POST /api/pull and DELETE /api/delete, Ollama's way: a pull streams NDJSON progress
// ({"status":"pulling …","digest","total","completed"} … {"status":"success"}), or answers once
// with "stream": false; either refreshes the registry, so every listing has the change at once.
// A server fetches only from Ollama's registry, Hugging Face and the hosts `--allow-pull-host`
// names: a client must not make it reach into the network it sits in.
import { homedir } from 'node:os';
import { ShimmyError } from '../../engine/errors.js';
import { parseFields, requestBody } from '../../engine/schema.js';
import { ollamaStore } from '../../models/discovery.js';
import { PullError } from '../../pull/errors.js';
import { pull, type PullStatus } from '../../pull/pull.js';
import { removeModel } from '../../pull/remove.js';
import { OLLAMA_REGISTRY, parseSource } from '../../pull/source.js';
import type { ServerContext } from '../context.js';
import type { Exchange } from '../exchange.js';
import { modelName } from './names.js';

export const pullFields = {
  model: { type: 'string', wire: ['model', 'name'], required: true, max: 512, doc: 'an Ollama name [host/][namespace/]name[:tag], or hf:org/repo[:QUANT] (`name` is the older spelling)' },
  insecure: { type: 'boolean', wire: ['insecure'], default: false, doc: 'plain http to the registry' },
  stream: { type: 'boolean', wire: ['stream'], default: true, doc: 'stream NDJSON progress' },
} as const;

const deleteFields = { model: pullFields.model } as const;

/** Whether this server may fetch `source`: Ollama's registry, Hugging Face's endpoint, or an allowed host. */
function allowed(ctx: ServerContext, text: string): void {
  const source = parseSource(text);
  const env = ctx.pull.env ?? process.env;
  const host =
    source.kind === 'ollama' ? source.host
    : source.kind === 'huggingface' ? new URL(env.HF_ENDPOINT ?? 'https://huggingface.co').host
    : source.url.host;
  const own = source.kind === 'ollama' ? host === OLLAMA_REGISTRY : source.kind === 'huggingface';
  if (!own && !ctx.pull.allowHosts.includes(host)) {
    throw new ShimmyError('forbidden', `this server pulls only from Ollama's registry, Hugging Face and the hosts --allow-pull-host names, not ${host}`);
  }
}

const asShimmy = (error: unknown) => {
  if (!(error instanceof PullError)) return error;
  const code = error.code === 'not_found' ? 'model_not_found' : error.code === 'invalid_source' ? 'invalid_request' : 'server_error';
  return new ShimmyError(code, error.message);
};

async function refresh(ctx: ServerContext): Promise<void> {
  if (ctx.rediscover) await ctx.registry.refresh(ctx.rediscover());
}

export async function pullRoute(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(pullFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  try {
    allowed(ctx, f.model);
  } catch (error) {
    throw asShimmy(error);
  }
  const controller = new AbortController();
  ex.onAbort(() => controller.abort());
  const options = { env: ctx.pull.env, home: ctx.pull.home, cwd: ctx.pull.cwd, insecure: f.insecure, signal: controller.signal };
  if (!f.stream) {
    try {
      await pull(f.model, options);
    } catch (error) {
      throw asShimmy(error);
    }
    await refresh(ctx);
    ex.json(200, { status: 'success' });
    return 200;
  }
  ex.beginStream('application/x-ndjson');
  try {
    // A line per status, but a file's progress at most every 100 ms (and its last): a slow client
    // must not fall behind a fast transfer.
    let last = 0;
    const onStatus = (s: PullStatus) => {
      if (s.status === 'success') return;
      if (s.completed !== undefined && s.completed !== s.total && Date.now() - last < 100) return;
      last = Date.now();
      ex.write(`${JSON.stringify(s)}\n`);
    };
    await pull(f.model, { ...options, onStatus });
    await refresh(ctx);
    ex.endStream(`${JSON.stringify({ status: 'success' })}\n`);
    return 200;
  } catch (error) {
    ex.endStream(`${JSON.stringify({ error: (error as Error).message })}\n`);
    return controller.signal.aborted ? 499 : 500;
  }
}

export async function deleteRoute(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(deleteFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  // By its own name only: never through 'default' or an alias.
  const id = modelName(ctx, f.model);
  const entry = ctx.registry.discovery.models.find((m) => m.id === id);
  if (!entry) throw new ShimmyError('model_not_found', `model '${f.model}' not found`);
  try {
    removeModel(entry, { ollama: ollamaStore(ctx.pull.env ?? process.env, ctx.pull.home ?? homedir()) });
  } catch (error) {
    throw asShimmy(error);
  }
  await refresh(ctx);
  ex.send(200, 'application/json', '');
  return 200;
}
