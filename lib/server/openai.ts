// OpenAI-compatible routes: GET /v1/models(/:id), POST /v1/completions, POST /v1/chat/completions.
// Same engine and option schema as the seed API; errors in OpenAI's shape so the official client
// raises its typed errors.
import { randomUUID } from 'node:crypto';
import type { TemplatedApp } from 'uWebSockets.js';
import type { ChatMessage } from '../engine/chat.js';
import { ShimmyError } from '../engine/errors.js';
import type { CompletionResult, Generation } from '../engine/generation.js';
import type { GenerateOptions, Model } from '../engine/model.js';
import { generationFields } from '../engine/options.js';
import { parseFields } from '../schema.js';
import type { ServerContext } from './context.js';
import type { WireError } from './errors.js';
import type { Exchange } from './http.js';
import { route } from './native-api.js';

// A GBNF grammar for any JSON object (response_format: json_object).
const JSON_OBJECT_GRAMMAR = String.raw`
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws     ::= | " " | "\n" [ \t]{0,20}
`;

const typeOf: Record<number, string> = { 400: 'invalid_request_error', 401: 'authentication_error', 404: 'not_found_error', 413: 'invalid_request_error', 503: 'server_error' };

function openAiError(ex: Exchange, e: WireError): void {
  const body = { error: { message: e.details || e.message, type: typeOf[e.status] ?? 'server_error', param: null, code: e.code } };
  ex.json(e.status, body, e.headers, e.code === 'payload_too_large');
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ShimmyError('invalid_request', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function commonOptions(body: Record<string, unknown>): Omit<GenerateOptions, 'prompt'> & { model: string; stream: boolean; includeUsage: boolean } {
  if (typeof body.model !== 'string') throw new ShimmyError('invalid_request', "'model' is required and must be a string");
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw new ShimmyError('invalid_request', "only 'n': 1 is supported");
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') throw new ShimmyError('invalid_request', "'stream' must be a boolean");
  const options = parseFields(generationFields, body, { wire: true, defaults: { temperature: 1, topP: 1, topK: 0, minP: 0 } });
  const result: ReturnType<typeof commonOptions> = { ...options, model: body.model, stream: body.stream === true, includeUsage: false };
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  result.includeUsage = streamOptions?.include_usage === true;
  if (body.logit_bias !== undefined && body.logit_bias !== null) {
    if (typeof body.logit_bias !== 'object') throw new ShimmyError('invalid_request', "'logit_bias' must be an object of token id → bias");
    const bias: Record<number, number> = {};
    for (const [token, value] of Object.entries(body.logit_bias as Record<string, unknown>)) {
      if (!/^\d+$/.test(token) || typeof value !== 'number' || value < -100 || value > 100) throw new ShimmyError('invalid_request', "'logit_bias' maps token ids to numbers from -100 to 100");
      bias[Number(token)] = value;
    }
    result.logitBias = bias;
  }
  const format = body.response_format as { type?: unknown } | undefined;
  if (format && format.type === 'json_object') result.grammar = JSON_OBJECT_GRAMMAR;
  else if (format && format.type !== 'text' && format.type !== undefined) {
    throw new ShimmyError('invalid_request', `response_format '${String(format.type)}' is not supported yet (use 'json_object')`);
  }
  if (body.tools !== undefined && body.tools !== null && (!Array.isArray(body.tools) || body.tools.length > 0)) {
    throw new ShimmyError('invalid_request', "'tools' are not supported yet");
  }
  return result;
}

function chatMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) throw new ShimmyError('invalid_request', "'messages' must be a non-empty array");
  return value.map((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string') throw new ShimmyError('invalid_request', `messages[${i}] needs a string 'role'`);
    let content = m.content ?? '';
    if (Array.isArray(content)) {
      content = content.map((part: { type?: string; text?: unknown }) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') throw new ShimmyError('invalid_request', `messages[${i}]: only text content parts are supported`);
        return part.text;
      }).join('');
    }
    if (typeof content !== 'string') throw new ShimmyError('invalid_request', `messages[${i}].content must be a string or text parts`);
    return { role: m.role, content };
  });
}

const usage = (r: CompletionResult) => ({
  prompt_tokens: r.usage.promptTokens,
  completion_tokens: r.usage.completionTokens,
  total_tokens: r.usage.totalTokens,
  prompt_tokens_details: { cached_tokens: r.usage.cachedTokens },
});
const finishReason = (r: CompletionResult) => (r.finishReason === 'length' ? 'length' : 'stop');

async function run(
  ctx: ServerContext,
  ex: Exchange,
  kind: 'chat' | 'text',
): Promise<number> {
  const body = object(await ex.readJson(ctx.bodyLimit));
  const options = commonOptions(body);
  const model: Model = await ctx.registry.get(options.model);
  let prompt: string;
  if (kind === 'chat') {
    prompt = model.applyChatTemplate(chatMessages(body.messages));
  } else {
    const p = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
    if (typeof p !== 'string') throw new ShimmyError('invalid_request', "'prompt' must be a string (or an array of one string)");
    prompt = p;
  }
  if (!ex.open) return 499;
  const { model: name, stream, includeUsage, ...generate } = options;
  const generation: Generation = model.generate({ ...generate, prompt });
  ctx.inFlight.add(generation);
  ex.onAbort(() => generation.cancel());
  generation.result.finally(() => ctx.inFlight.delete(generation)).catch(() => {});

  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: name };
  const piece = (text: string, finish: string | null) =>
    kind === 'chat'
      ? { index: 0, delta: text === '' && finish === null ? { role: 'assistant', content: '' } : finish === null ? { content: text } : {}, logprobs: null, finish_reason: finish }
      : { index: 0, text, logprobs: null, finish_reason: finish };

  if (!stream) {
    const r = await generation.result;
    ctx.metrics.tokensGenerated += r.usage.completionTokens;
    const choice = kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: finishReason(r) }
      : { index: 0, text: r.text, logprobs: null, finish_reason: finishReason(r) };
    ex.json(200, { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: name, choices: [choice], usage: usage(r) });
    return 200;
  }
  ex.beginStream('text/event-stream');
  const event = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
  if (kind === 'chat') ex.write(event({ ...head, choices: [piece('', null)] }));
  return new Promise<number>((resolve) => {
    generation.listen({
      text: (text) => ex.write(event({ ...head, choices: [piece(text, null)] })),
      done: (r) => {
        ctx.metrics.tokensGenerated += r.usage.completionTokens;
        let tail = event({ ...head, choices: [piece('', finishReason(r))] });
        if (includeUsage) tail += event({ ...head, choices: [], usage: usage(r) });
        ex.endStream(tail + 'data: [DONE]\n\n');
        resolve(200);
      },
      error: (error) => {
        ex.endStream(event({ error: { message: error.message, type: 'server_error', param: null, code: error.code } }) + 'data: [DONE]\n\n');
        resolve(500);
      },
    });
  });
}

function modelEntry(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'shimmy' };
}

export function mountOpenAi(app: TemplatedApp, ctx: ServerContext): void {
  const onError = { onError: openAiError };
  const created = Math.floor(ctx.startedAt / 1000);
  app.get('/v1/models', route(ctx, 'GET /v1/models', (c, ex) => {
    const ids = c.registry.discovery.models.map((m) => (m.path === c.registry.base?.path ? ['default', m.id] : [m.id])).flat();
    ex.json(200, { object: 'list', data: ids.map((id) => modelEntry(id, created)) });
    return 200;
  }, onError));
  app.get('/v1/models/:id', (res, req) => {
    const id = decodeURIComponent(req.getParameter(0) ?? '');
    return route(ctx, 'GET /v1/models/:id', (c, ex) => {
      if (!c.registry.resolve(id)) throw new ShimmyError('model_not_found', `The model '${id}' does not exist`);
      ex.json(200, modelEntry(id, created));
      return 200;
    }, onError)(res, req);
  });
  app.post('/v1/completions', route(ctx, 'POST /v1/completions', (c, ex) => run(c, ex, 'text'), onError));
  app.post('/v1/chat/completions', route(ctx, 'POST /v1/chat/completions', (c, ex) => run(c, ex, 'chat'), onError));
}
