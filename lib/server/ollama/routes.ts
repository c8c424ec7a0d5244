// Ollama's API (Ollama 0.13's routes and shapes), for the editors and frontends that speak it:
// POST /api/chat and /api/generate as NDJSON streams or whole replies, /api/embed,
// /api/embeddings, /api/show, GET /api/tags, /api/ps, /api/version, and GET / (HEAD /). On
// shimmy's own port /api/generate stays the seed's; `serve --ollama-bind` opens a listener where
// it is Ollama's too. Chat and generate are a translator (request.ts) and a sink on the one
// completion path; errors are Ollama's {"error": "…"}.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { ReplyParser, type ParsedReply, type RenderedChat } from '../../engine/chat.js';
import type { ShimmyError } from '../../engine/errors.js';
import type { CompletionResult } from '../../engine/generation.js';
import type { Model } from '../../engine/model.js';
import type { DiscoveredModel } from '../../models/discovery.js';
import { runGeneration, type Sink } from '../completion/run-generation.js';
import type { ServerContext } from '../context.js';
import { sentCode, shutdownCancelled, statusOf } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';
import { embeddingsFields, embedFields, parseChatRequest, parseGenerateRequest, showFields, type OllamaChat, type OllamaGenerate } from './request.js';
import { parseFields, requestBody } from '../../engine/schema.js';
import { modelName } from './names.js';
import { deleteRoute, pullRoute } from './pull-routes.js';

/** The Ollama release whose API this follows (clients gate features on /api/version). */
export const OLLAMA_API_VERSION = '0.13.5';

export const ollamaErrorBody = (e: ShimmyError) => ({ error: e.message || sentCode(e) });

const line = (value: unknown) => `${JSON.stringify(value)}\n`;
const now = () => new Date().toISOString();
const ns = (ms: number) => Math.round(ms * 1e6);


/** Ollama's closing fields: why it stopped, token counts and durations in nanoseconds. */
function closing(r: CompletionResult, started: number) {
  return {
    done: true,
    done_reason: r.finishReason === 'length' ? 'length' : 'stop',
    total_duration: ns(performance.now() - started),
    load_duration: 0,
    prompt_eval_count: r.usage.promptTokens,
    prompt_eval_duration: ns(r.timings.promptMs),
    eval_count: r.usage.completionTokens,
    eval_duration: ns(r.timings.generationMs),
  };
}

const toolCalls = (reply: ParsedReply) =>
  reply.toolCalls.map((c, index) => {
    let args: unknown;
    try {
      args = JSON.parse(c.arguments);
    } catch {
      args = {}; // cut off inside its arguments (num_predict)
    }
    return { function: { index, name: c.name, arguments: args } };
  });

/**
 * The sink both generating routes share: `piece` shapes streamed text (chat's `message`,
 * generate's `response`), `whole` the reply and `end` the last line's extra fields.
 */
function ndjsonSink(
  ex: Exchange,
  model: string,
  stream: boolean,
  /** The reply's parser; none for raw text, which is all content. */
  parser: ReplyParser | undefined,
  shape: { piece(content: string, thinking: string): Record<string, unknown>; whole(reply: ParsedReply): Record<string, unknown>; end(r: CompletionResult): Record<string, unknown> | Promise<Record<string, unknown>> },
): Sink {
  const started = performance.now();
  let raw = '';
  const push = (text: string): ParsedReply['diffs'] => {
    if (parser) return parser.push(text);
    raw += text;
    return text ? [{ content: text, reasoning: '' }] : [];
  };
  const finishParse = (): ParsedReply => parser?.finish() ?? { content: raw, reasoning: '', toolCalls: [], diffs: [] };
  const fail = (e: ShimmyError) => {
    if (stream && ex.open) ex.endStream(line(ollamaErrorBody(e)));
    else ex.error(e, ollamaErrorBody);
    return statusOf(e);
  };
  const finish = async (r: CompletionResult, reply: ParsedReply, lead: Record<string, unknown>) => {
    const end = await shape.end(r);
    return { model, created_at: now(), ...lead, ...closing(r, started), ...end };
  };
  if (!stream) {
    return {
      open: () => {},
      text: () => {},
      done: (r) => {
        if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
        push(r.text);
        const reply = finishParse();
        void finish(r, reply, shape.whole(reply)).then((body) => ex.json(200, body), (e) => fail(e as ShimmyError));
      },
      error: (e) => void fail(e),
    };
  }
  const pieces = (diffs: ParsedReply['diffs']) =>
    diffs
      .filter((d) => !d.toolCall && (d.content || d.reasoning))
      .map((d) => line({ model, created_at: now(), ...shape.piece(d.content, d.reasoning), done: false }))
      .join('');
  return {
    open: () => ex.beginStream('application/x-ndjson'),
    text: (text) => {
      const out = pieces(push(text));
      if (out) ex.write(out);
    },
    done: (r) => {
      if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
      const reply = finishParse();
      let out = pieces(reply.diffs);
      // Ollama sends a reply's tool calls whole, in a line of their own before the last.
      if (reply.toolCalls.length > 0) out += line({ model, created_at: now(), message: { role: 'assistant', content: '', tool_calls: toolCalls(reply) }, done: false });
      ex.write(out);
      void finish(r, reply, shape.piece('', '')).then((body) => ex.endStream(line(body)), (e) => fail(e as ShimmyError));
    },
    error: (e) => void fail(e),
  };
}

/** A request with nothing to generate loads the model and answers done, as Ollama does. */
async function loaded(ctx: ServerContext, ex: Exchange, name: string, request: { model: string; keepAliveMs?: number }, lead: Record<string, unknown>): Promise<number> {
  const answer = (reason: string) => {
    ex.json(200, { model: request.model, created_at: now(), ...lead, done: true, done_reason: reason });
    return 200;
  };
  // keep_alive 0 with nothing to generate is Ollama's way to unload a model now (never to load it).
  if (request.keepAliveMs === 0) {
    await ctx.registry.unloadNow(name);
    return answer('unload');
  }
  return ctx.registry.use(name, () => answer('load'), { keepAliveMs: request.keepAliveMs });
}

async function chat(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request: OllamaChat = parseChatRequest(await ex.readJson(ctx.bodyLimit));
  const name = modelName(ctx, request.model);
  if (request.loadOnly) return loaded(ctx, ex, name, request, { message: { role: 'assistant', content: '' } });
  return runGeneration(ctx, name, ex, async (model) => {
    const rendered = await model.renderChat(request.chat);
    const message = (content: string, thinking: string) => ({ role: 'assistant', content, ...(thinking ? { thinking } : {}) });
    const sink = ndjsonSink(ex, request.model, request.stream, new ReplyParser(rendered), {
      piece: (content, thinking) => ({ message: message(content, thinking) }),
      whole: (reply) => ({ message: { ...message(reply.content, reply.reasoning), ...(reply.toolCalls.length > 0 ? { tool_calls: toolCalls(reply) } : {}) } }),
      end: () => ({}),
    });
    return { request: { ...request.sampling, chat: rendered }, sink };
  }, request.keepAliveMs);
}

/** /api/generate's prompt: the template's rendering, or the raw text, after the text of `context`. */
async function generatePrompt(model: Model, request: OllamaGenerate): Promise<{ text: string; chat?: RenderedChat }> {
  const before = request.context?.length ? model.detokenize(request.context.filter((t) => t < model.info.vocabSize), true) : '';
  if (request.raw) return { text: before + request.prompt };
  const chat = await model.renderChat(request.chat);
  return before ? { text: before + chat.prompt } : { text: chat.prompt, chat };
}

async function generate(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request = parseGenerateRequest(await ex.readJson(ctx.bodyLimit));
  const name = modelName(ctx, request.model);
  if (request.loadOnly) return loaded(ctx, ex, name, request, { response: '' });
  return runGeneration(ctx, name, ex, async (model) => {
    const prompt = await generatePrompt(model, request);
    let text = '';
    // A rendered chat brings its stop strings, grammar and reply format; raw text is content.
    const sink = ndjsonSink(ex, request.model, request.stream, prompt.chat && new ReplyParser(prompt.chat), {
      piece: (content, thinking) => {
        text += content;
        return { response: content, ...(thinking ? { thinking } : {}) };
      },
      whole: (reply) => {
        text = reply.content;
        return { response: reply.content, ...(reply.reasoning ? { thinking: reply.reasoning } : {}) };
      },
      // Ollama's `context`: the conversation's tokens, for the next request to go on from (none
      // after images: a token list has no place for them, and the prompt's text only marks them).
      end: async () => (request.hasImages ? {} : { context: [...(await model.tokenizeAsync(prompt.text + text, false, true))] }),
    });
    return { request: { ...request.sampling, ...(prompt.chat ? { chat: prompt.chat } : { prompt: prompt.text }) }, sink };
  }, request.keepAliveMs);
}

async function embed(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(embedFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  const started = performance.now();
  return ctx.registry.use(modelName(ctx, f.model), async (model) => {
    const { embeddings, promptTokens } = await model.embed(f.input);
    ex.json(200, { model: f.model, embeddings: embeddings.map((v) => Array.from(v)), total_duration: ns(performance.now() - started), load_duration: 0, prompt_eval_count: promptTokens });
    return 200;
  }, { keepAliveMs: f.keepAlive });
}

async function legacyEmbeddings(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(embeddingsFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  return ctx.registry.use(modelName(ctx, f.model), async (model) => {
    const { embeddings } = await model.embed([f.prompt]);
    ex.json(200, { embedding: Array.from(embeddings[0]!) });
    return 200;
  }, { keepAliveMs: f.keepAlive });
}

function details(ctx: ServerContext, entry: DiscoveredModel) {
  const facts = ctx.registry.summaries().find((s) => s.path === entry.path);
  return {
    parent_model: '',
    format: 'gguf',
    family: facts?.architecture ?? '',
    families: facts?.architecture ? [facts.architecture] : null,
    parameter_size: '',
    quantization_level: facts?.quantization ?? '',
  };
}

/** The file's modification time (when it was pulled), or the server's start if it is gone. */
function modifiedAt(ctx: ServerContext, entry: DiscoveredModel): string {
  try {
    return statSync(entry.path).mtime.toISOString();
  } catch {
    return new Date(ctx.startedAt).toISOString();
  }
}

/** A stable digest for a listing (Ollama's is its blob's sha256; hashing whole files to list them would be slow). */
const digestOf = (entry: DiscoveredModel) => createHash('sha256').update(`${entry.path}\0${entry.sizeBytes}`).digest('hex');

function tags(ctx: ServerContext, ex: Exchange): number {
  const models = ctx.registry.summaries().map((m) => ({
    name: m.id,
    model: m.id,
    modified_at: modifiedAt(ctx, m),
    size: m.sizeBytes,
    digest: digestOf(m),
    details: details(ctx, m),
  }));
  ex.json(200, { models });
  return 200;
}

function ps(ctx: ServerContext, ex: Exchange): number {
  const models = ctx.registry.summaries().filter((m) => m.loaded).map((m) => ({
    name: m.id,
    model: m.id,
    size: m.sizeBytes,
    digest: digestOf(m),
    details: details(ctx, m),
    // No idle timer: it stays until the LRU cap evicts it (Ollama reports forever as far ahead).
    expires_at: new Date(ctx.registry.expiresAt(m.id) ?? Date.UTC(2318, 0, 1)).toISOString(),
    size_vram: 0,
    context_length: ctx.registry.peek(m.id)?.info.contextSize ?? 0,
  }));
  ex.json(200, { models });
  return 200;
}

function parameterSize(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e3).toFixed(0)}K`;
}

async function show(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(showFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  const name = modelName(ctx, f.model);
  return ctx.registry.use(name, async (model) => {
    const { info } = model;
    const arch = info.architecture;
    // What the template can do: a tool offered renders into a format that parses tool calls.
    const probe = await model.renderChat({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'probe', parameters: { type: 'object', properties: {} } } }] });
    const template = info.chatTemplate ?? '';
    const capabilities = ['completion', ...(probe.parseToolCalls && !probe.templateFallback ? ['tools'] : []), 'embedding', ...(/enable_thinking|<think>|reasoning_content/.test(template) ? ['thinking'] : []),
      ...(info.modalities.includes('vision') ? ['vision'] : [])];
    const entry = ctx.registry.resolve(name)!;
    ex.json(200, {
      license: info.metadata['general.license'] ?? '',
      modelfile: `FROM ${info.path}\n`,
      parameters: '',
      template,
      details: { ...details(ctx, entry), parameter_size: parameterSize(info.parameters) },
      model_info: {
        'general.architecture': arch,
        'general.name': info.name,
        'general.parameter_count': info.parameters,
        'general.file_type': info.quantization,
        [`${arch}.context_length`]: info.trainedContextLength,
        [`${arch}.embedding_length`]: info.embeddingLength,
        [`${arch}.block_count`]: info.layers,
        'tokenizer.ggml.bos_token_id': info.bosToken,
        'tokenizer.ggml.eos_token_id': info.eosToken,
      },
      capabilities,
      modified_at: modifiedAt(ctx, entry),
    });
    return 200;
  });
}

function version(_ctx: ServerContext, ex: Exchange): number {
  ex.json(200, { version: OLLAMA_API_VERSION });
  return 200;
}

function root(_ctx: ServerContext, ex: Exchange): number {
  ex.send(200, 'text/plain; charset=utf-8', ex.req.method === 'HEAD' ? '' : 'Ollama is running');
  return 200;
}

const ollama = (route: Omit<Route, 'errorBody'>): Route => ({ ...route, errorBody: ollamaErrorBody });

/** The routes on shimmy's own port: every one of Ollama's whose path the seed does not use. */
export const ollamaRoutes: Route[] = [
  ollama({ method: 'POST', path: '/api/chat', handler: chat }),
  ollama({ method: 'POST', path: '/api/embed', handler: embed }),
  ollama({ method: 'POST', path: '/api/embeddings', handler: legacyEmbeddings }),
  ollama({ method: 'POST', path: '/api/show', handler: show }),
  ollama({ method: 'GET', path: '/api/tags', handler: tags }),
  ollama({ method: 'GET', path: '/api/ps', handler: ps }),
  ollama({ method: 'GET', path: '/api/version', handler: version, open: true }),
  ollama({ method: 'GET', path: '/', handler: root, open: true }),
  ollama({ method: 'HEAD', path: '/', handler: root, open: true }),
  ollama({ method: 'POST', path: '/api/pull', handler: pullRoute }),
  ollama({ method: 'DELETE', path: '/api/delete', handler: deleteRoute }),
];

/** `--ollama-bind`'s listener adds Ollama's /api/generate. */
export const ollamaGenerateRoute: Route = ollama({ method: 'POST', path: '/api/generate', handler: generate });
