// Ollama's requests (POST /api/chat, /api/generate, /api/embed, /api/embeddings, /api/show),
// declared field by field and translated into the one chat request every dialect renders, with
// Ollama's `options` as the generation options and its older field names (`name`) beside the new;
// its `images` (base64, no data: prefix) become image parts before the message's text.
import type { ChatContentPart, ChatMessage, ChatRequest, ChatTool } from '../../engine/chat.js';
import { imageLimits } from '../../engine/image-check.js';
import type { LoraChoice } from '../../engine/lora.js';
import type { GenerationRequest } from '../../engine/model.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody } from '../../engine/schema.js';
import { parseDuration } from '../../models/duration.js';
import { extraSamplingFields } from '../completion/extra-fields.js';
import { base64ImagePart, urlImagePart } from '../completion/image-parts.js';

/** Ollama's default temperature, top_k, top_p, min_p and repeat settings (its `options`). */
const ollamaDefaults = { temperature: 0.8, topK: 40, topP: 0.9, minP: 0, repeatPenalty: 1.1, penaltyLastN: 64 };

/** `options`: the sampling fields Ollama spells; the rest of its options (num_ctx, num_gpu, …) are per model here, and ignored. */
export const optionFields = {
  maxTokens: { type: 'integer', wire: ['num_predict'], min: -2, max: 1 << 20, doc: 'tokens to generate at most; -1 or -2: until the context is full' },
  temperature: { ...generationFields.temperature, default: ollamaDefaults.temperature },
  topK: { ...generationFields.topK, default: ollamaDefaults.topK },
  topP: { ...generationFields.topP, default: ollamaDefaults.topP },
  minP: { ...generationFields.minP, default: ollamaDefaults.minP },
  repeatPenalty: { ...generationFields.repeatPenalty, default: ollamaDefaults.repeatPenalty },
  penaltyLastN: { ...generationFields.penaltyLastN, min: -1, default: ollamaDefaults.penaltyLastN, doc: 'how many recent tokens the penalties look at (-1: the whole context)' },
  frequencyPenalty: generationFields.frequencyPenalty,
  presencePenalty: generationFields.presencePenalty,
  seed: generationFields.seed,
  stop: generationFields.stop,
} as const;

/** keep_alive: how long the model stays loaded after this request (ms; -1: until evicted). */
function keepAlive(value: unknown, name: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    return fail(name, (error as Error).message);
  }
}

function format(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === '') return undefined;
  if (value === 'json') return { type: 'object' };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(name, 'must be "json" or a JSON schema object');
  return value as Record<string, unknown>;
}

function think(value: unknown, name: string): boolean | string {
  if (typeof value === 'boolean') return value;
  if (value === 'high' || value === 'medium' || value === 'low') return value;
  return fail(name, 'must be true, false, "high", "medium" or "low"');
}

function tools(value: unknown, name: string): ChatTool[] {
  return (value as unknown[]).map((t, i) => {
    const tool = t as { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } };
    if (typeof tool !== 'object' || tool === null || (tool.type !== undefined && tool.type !== 'function') || typeof tool.function?.name !== 'string' || tool.function.name === '') {
      fail(`${name}[${i}]`, 'must be {type: "function", function: {name, description, parameters}}');
    }
    const { name: fn, description, parameters } = tool.function;
    if (description !== undefined && typeof description !== 'string') fail(`${name}[${i}].function.description`, 'must be a string');
    if (parameters !== undefined && (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))) fail(`${name}[${i}].function.parameters`, 'must be an object');
    return { type: 'function', function: { name: fn as string, description: description as string | undefined, parameters: parameters as Record<string, unknown> | undefined } };
  });
}

/** `images`: base64 strings as image parts (a data URL is taken too, though Ollama's own server would not). */
function images(value: unknown, name: string): ChatContentPart[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(name, 'must be an array of base64 strings');
  if (value.length > imageLimits.perRequest) fail(name, `may hold at most ${imageLimits.perRequest} images`);
  return value.map((text, i): ChatContentPart => {
    const what = `'${name}[${i}]'`;
    return typeof text === 'string' && text.startsWith('data:') ? urlImagePart(text, what) : base64ImagePart(text, what);
  });
}

/** A message's content: its images first, then its text, as Ollama places them. */
function withImages(text: string, parts: ChatContentPart[]): string | ChatContentPart[] {
  if (parts.length === 0) return text;
  return text ? [...parts, { type: 'text', text }] : parts;
}

/** Ollama's messages as chat messages: tool calls' argument objects as JSON text, thinking as reasoning. */
export function translateMessages(value: unknown, name = 'messages'): ChatMessage[] {
  return (value as unknown[]).map((m, i) => {
    const at = `${name}[${i}]`;
    if (typeof m !== 'object' || m === null) fail(at, 'must be a message object');
    const { role, content, thinking, tool_calls: calls, tool_name: toolName, images: pictures } = m as Record<string, unknown>;
    if (!['system', 'user', 'assistant', 'tool'].includes(role as string)) fail(`${at}.role`, "must be 'system', 'user', 'assistant' or 'tool'");
    if (content !== undefined && typeof content !== 'string') fail(`${at}.content`, 'must be a string');
    if (thinking !== undefined && typeof thinking !== 'string') fail(`${at}.thinking`, 'must be a string');
    const message: ChatMessage = { role: role as string, content: withImages((content as string | undefined) ?? '', images(pictures, `${at}.images`)) };
    if (thinking) message.reasoning_content = thinking as string;
    if (role === 'tool' && typeof toolName === 'string') message.name = toolName;
    if (calls !== undefined) {
      if (!Array.isArray(calls)) fail(`${at}.tool_calls`, 'must be an array');
      message.tool_calls = calls.map((c, k) => {
        const fn = (c as { function?: { name?: unknown; arguments?: unknown } })?.function;
        if (typeof fn?.name !== 'string') fail(`${at}.tool_calls[${k}].function.name`, 'must be a string');
        const args = fn.arguments ?? {};
        if (typeof args !== 'object' || args === null || Array.isArray(args)) fail(`${at}.tool_calls[${k}].function.arguments`, 'must be an object');
        return { id: `call_${i}_${k}`, type: 'function' as const, function: { name: fn.name, arguments: JSON.stringify(args) } };
      });
    }
    return message;
  });
}

const modelField = { type: 'string', wire: ['model', 'name'], required: true, max: 512, doc: 'model name (`name` is Ollama\'s older spelling); `:latest` may be added' } as const;

/** llama-server's logit_bias, ignore_eos and lora, beside `options` (whose penalties and seed take precedence). */
const { logitBias, ignoreEos, lora } = extraSamplingFields;

const streamingFields = {
  model: modelField,
  logitBias,
  ignoreEos,
  lora,
  stream: { type: 'boolean', wire: ['stream'], default: true, doc: 'stream NDJSON lines (Ollama streams unless told not to)' },
  format: { type: 'any', wire: ['format'], check: format, shape: '"json" or schema', doc: '"json" (any object) or a JSON schema: the reply is constrained to it' },
  options: { type: 'object', wire: ['options'], shape: '{num_predict, temperature, …}', doc: 'sampling: num_predict, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, frequency_penalty, presence_penalty, seed, stop (others accepted and ignored)' },
  think: { type: 'any', wire: ['think'], check: think, shape: 'boolean or "high" | "medium" | "low"', doc: "the template's thinking on or off; the reply's reasoning comes back as `thinking`" },
  keepAlive: { type: 'any', wire: ['keep_alive'], check: keepAlive, shape: 'duration', doc: 'how long the model stays loaded after this request: "5m", seconds, 0 (unload now), negative (until evicted)' },
} as const;

export const chatFields = {
  ...streamingFields,
  messages: { type: 'array', wire: ['messages'], default: [], max: 100_000, doc: 'the conversation: {role, content, images (base64), thinking, tool_calls, tool_name}; none: just load the model' },
  tools: { type: 'array', wire: ['tools'], check: tools, doc: 'functions the model may call: {type: "function", function: {name, description, parameters}}' },
} as const;

export const generateFields = {
  ...streamingFields,
  prompt: { type: 'string', wire: ['prompt'], default: '', doc: 'the prompt; empty: just load the model' },
  system: { type: 'string', wire: ['system'], doc: 'a system prompt before it (not with raw)' },
  raw: { type: 'boolean', wire: ['raw'], default: false, doc: "the prompt as it is, without the model's template" },
  context: { type: 'array', wire: ['context'], max: 1 << 20, doc: 'the tokens an earlier reply returned: the conversation goes on from them' },
  suffix: { type: 'string', wire: ['suffix'], doc: 'only empty: fill-in-the-middle is not supported' },
  images: { type: 'array', wire: ['images'], max: imageLimits.perRequest, check: images, doc: 'base64 images before the prompt (PNG, JPEG, GIF; a model with a projector; not with raw or context)' },
} as const;

/** The generation options for `options`, with Ollama's defaults, and the extensions. */
function sampling(f: { options?: Record<string, unknown>; logitBias?: Record<number, number>; ignoreEos: boolean; lora?: LoraChoice[] }): Omit<GenerationRequest, 'prompt' | 'chat'> {
  const o = parseFields(optionFields, f.options ?? {}, { wire: true });
  const base = parseFields(generationFields, {});
  return { ...base, ...o, logitBias: f.logitBias, ignoreEos: f.ignoreEos, lora: f.lora, maxTokens: o.maxTokens === undefined || o.maxTokens < 0 ? undefined : Math.max(1, o.maxTokens), penaltyLastN: o.penaltyLastN < 0 ? 1 << 20 : o.penaltyLastN };
}

const templateKwargs = (t: boolean | string | undefined) => (t === undefined ? undefined : { enable_thinking: t !== false, ...(typeof t === 'string' ? { reasoning_effort: t } : {}) });

export interface OllamaChat {
  model: string;
  stream: boolean;
  keepAliveMs?: number;
  /** No messages: a request that only loads the model (Ollama answers done at once). */
  loadOnly: boolean;
  chat: ChatRequest;
  sampling: Omit<GenerationRequest, 'prompt' | 'chat'>;
}

export function parseChatRequest(body: unknown): OllamaChat {
  const f = parseFields(chatFields, requestBody(body), { wire: true });
  const messages = translateMessages(f.messages);
  const offered = f.tools && f.tools.length > 0 ? f.tools : undefined;
  return {
    model: f.model,
    stream: f.stream,
    keepAliveMs: f.keepAlive,
    loadOnly: messages.length === 0,
    chat: { messages, tools: offered, toolChoice: offered ? 'auto' : undefined, parallelToolCalls: true, jsonSchema: f.format, templateKwargs: templateKwargs(f.think) },
    sampling: sampling(f),
  };
}

export interface OllamaGenerate {
  model: string;
  stream: boolean;
  keepAliveMs?: number;
  loadOnly: boolean;
  raw: boolean;
  prompt: string;
  context?: number[];
  /** Images came with the prompt: the reply carries no `context`, whose tokens cannot hold them. */
  hasImages: boolean;
  /** Rendered through the template unless raw. */
  chat: ChatRequest;
  sampling: Omit<GenerationRequest, 'prompt' | 'chat'>;
}

export function parseGenerateRequest(body: unknown): OllamaGenerate {
  const f = parseFields(generateFields, requestBody(body), { wire: true });
  if (f.suffix) fail('suffix', 'is not supported: fill-in-the-middle needs a model and template shimmy does not drive yet');
  if (f.raw && (f.system || f.format)) fail('raw', "cannot be combined with 'system' or 'format'");
  if (f.format && f.context?.length) fail('format', "cannot be combined with 'context'");
  // A raw prompt is text, and `context` is tokens the prompt goes on from as text: neither has a place for an image.
  const pictures = f.images ?? [];
  if (pictures.length > 0 && f.raw) fail('images', "cannot be combined with 'raw': a raw prompt is text, with no place for an image");
  if (pictures.length > 0 && f.context?.length) fail('images', "cannot be combined with 'context': send the conversation to /api/chat instead");
  const context = f.context as unknown[] | undefined;
  context?.forEach((t, i) => {
    if (!Number.isInteger(t) || (t as number) < 0) fail(`context[${i}]`, 'must be a token id');
  });
  const messages: ChatMessage[] = [...(f.system ? [{ role: 'system', content: f.system }] : []), { role: 'user', content: withImages(f.prompt, pictures) }];
  return {
    model: f.model,
    stream: f.stream,
    keepAliveMs: f.keepAlive,
    loadOnly: f.prompt === '' && !context?.length && pictures.length === 0,
    raw: f.raw,
    prompt: f.prompt,
    context: context as number[] | undefined,
    hasImages: pictures.length > 0,
    chat: { messages, jsonSchema: f.format, templateKwargs: templateKwargs(f.think) },
    sampling: sampling(f),
  };
}

function embedInput(value: unknown, name: string): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > 2048 || list.some((s) => typeof s !== 'string' || s === '')) fail(name, 'must be a non-empty string or an array of up to 2048 of them');
  return list as string[];
}

export const embedFields = {
  model: modelField,
  input: { type: 'any', wire: ['input'], required: true, check: embedInput, shape: 'string or [string]', doc: 'the texts to embed' },
  truncate: { type: 'boolean', wire: ['truncate'], default: true, doc: 'accepted; an input longer than the context is a 400' },
  keepAlive: streamingFields.keepAlive,
} as const;

export const embeddingsFields = {
  model: modelField,
  prompt: { type: 'string', wire: ['prompt'], required: true, doc: 'the text to embed' },
  keepAlive: streamingFields.keepAlive,
} as const;

export const showFields = {
  model: modelField,
  verbose: { type: 'boolean', wire: ['verbose'], default: false, doc: 'accepted' },
} as const;
