// The OpenAI routes' requests, declared field by field: /v1/completions, /v1/chat/completions and
// /v1/embeddings. Sampling fields are the shared generation options with OpenAI's defaults
// (temperature 1, top_p 1, and llama-server's extras top_k and min_p off).
import type { ChatMessage, ChatRequest, ChatTool, ToolChoice } from '../../engine/chat.js';
import { ShimmyError } from '../../engine/errors.js';
import type { GenerationRequest } from '../../engine/model.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody, withDefaults } from '../../engine/schema.js';
import { logitBias } from '../completion/extra-fields.js';
import { loraField } from '../../engine/lora.js';

const { logprobs: _spelledPerRoute, ...samplingFields } = withDefaults(generationFields, { temperature: 1, topP: 1, topK: 0, minP: 0 });

/** OpenAI's own cap on embedding inputs per request. */
const maxInputs = 2048;

function includeUsage(value: unknown, name: string): boolean {
  const v = (value as { include_usage?: unknown }).include_usage;
  if (v !== undefined && v !== null && typeof v !== 'boolean') fail(`${name}.include_usage`, 'must be a boolean');
  return v === true;
}

function onlyOne(value: unknown, name: string): 1 {
  if (value !== 1) fail(name, 'must be 1: one choice per request');
  return 1;
}

/** The fields both generating routes share. */
const generatingFields = {
  model: { type: 'string', wire: ['model'], required: true, doc: 'model id, or "default"' },
  stream: { type: 'boolean', wire: ['stream'], default: false, doc: 'stream Server-Sent Events' },
  includeUsage: { type: 'object', wire: ['stream_options'], check: includeUsage, shape: '{include_usage}', doc: 'include_usage: a last event with `usage`' },
  n: { type: 'integer', wire: ['n'], check: onlyOne, doc: 'choices per request: only 1' },
  logitBias: { type: 'object', wire: ['logit_bias'], check: logitBias, shape: '{token id: bias}', doc: 'added to the token\'s logit, from -100 to 100 (-100 bans it)' },
  user: { type: 'string', wire: ['user'], doc: 'accepted and ignored' },
  lora: loraField,
  ...samplingFields,
} as const;

function completionPrompt(value: unknown, name: string): string {
  const p = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (typeof p !== 'string') fail(name, 'must be a string (or an array of one string)');
  return p;
}

export const completionFields = {
  ...generatingFields,
  prompt: { type: 'any', wire: ['prompt'], required: true, check: completionPrompt, shape: 'string or [string]', doc: 'the text to continue' },
  logprobs: { type: 'integer', wire: ['logprobs'], min: 0, max: 20, doc: "each token's log-probability and this many likeliest alternatives" },
} as const;

// response_format: json_object is any JSON object; json_schema is the schema given.
function responseSchema(value: unknown, name: string): Record<string, unknown> | undefined {
  const f = value as { type?: unknown; json_schema?: { schema?: unknown } };
  if (f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'object' };
  if (f.type !== 'json_schema') fail(`${name}.type`, "must be 'text', 'json_object' or 'json_schema'");
  const schema = f.json_schema?.schema ?? { type: 'object' };
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail(`${name}.json_schema.schema`, 'must be an object');
  return schema as Record<string, unknown>;
}

// Messages, tools and tool_choice are checked in depth by lib/engine/chat.ts (renderChat).
export const chatFields = {
  ...generatingFields,
  messages: { type: 'array', wire: ['messages'], required: true, doc: 'the conversation: {role, content (text, or text and image_url parts), name, tool_calls, tool_call_id}' },
  tools: { type: 'array', wire: ['tools'], doc: 'functions the model may call: {type: "function", function: {name, description, parameters}}' },
  toolChoice: { type: 'any', wire: ['tool_choice'], shape: 'string or object', doc: '"auto", "none", "required", or {type: "function", function: {name}}' },
  parallelToolCalls: { type: 'boolean', wire: ['parallel_tool_calls'], default: false, doc: 'allow several tool calls in one reply' },
  jsonSchema: { type: 'object', wire: ['response_format'], check: responseSchema, shape: '{type, json_schema}', doc: '"text", "json_object", or "json_schema" with its schema: the reply is constrained to it' },
  templateKwargs: { type: 'object', wire: ['chat_template_kwargs'], doc: 'extra variables for the model\'s template (e.g. enable_thinking)' },
  logprobs: { type: 'boolean', wire: ['logprobs'], default: false, doc: "each token's log-probability" },
  topLogprobs: { type: 'integer', wire: ['top_logprobs'], min: 0, max: 20, doc: 'and this many likeliest alternatives (needs logprobs: true)' },
} as const;

function embeddingInput(value: unknown, name: string): (string | number[])[] {
  const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && t >= 0);
  const list = typeof value === 'string' || isTokens(value) ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) fail(name, 'must be a string, an array of strings, or token arrays');
  if (list.length > maxInputs) fail(name, `may hold at most ${maxInputs} items`);
  list.forEach((item, i) => {
    if (typeof item === 'string' ? item === '' : !isTokens(item)) fail(`${name}[${i}]`, 'must be a non-empty string or array of token ids');
  });
  return list as (string | number[])[];
}

export const embeddingFields = {
  model: { type: 'string', wire: ['model'], required: true, doc: 'model id, or "default"' },
  input: { type: 'any', wire: ['input'], required: true, check: embeddingInput, shape: 'string, [string] or [[token]]', doc: `the texts (or token ids) to embed, up to ${maxInputs}` },
  encodingFormat: { type: 'enum', wire: ['encoding_format'], values: ['float', 'base64'], default: 'float', doc: 'numbers, or little-endian float32 in base64' },
  dimensions: { type: 'integer', wire: ['dimensions'], min: 1, doc: "only the model's own width (it cannot be reduced)" },
  user: { type: 'string', wire: ['user'], doc: 'accepted and ignored' },
} as const;

/** An OpenAI request parsed once: the engine's request (prompt or chat added by the route), and what the reply needs. */
export type OpenAiOptions = Omit<GenerationRequest, 'prompt' | 'chat'> & { model: string; stream: boolean; includeUsage: boolean };

export function parseCompletionRequest(body: unknown): OpenAiOptions & { prompt: string } {
  const { n: _one, user: _ignored, includeUsage, ...options } = parseFields(completionFields, requestBody(body), { wire: true });
  return { ...options, includeUsage: includeUsage ?? false };
}

export function parseChatRequest(body: unknown): { options: OpenAiOptions; chat: ChatRequest } {
  const f = parseFields(chatFields, requestBody(body), { wire: true });
  const { n: _one, user: _ignored, includeUsage, messages, tools, toolChoice, parallelToolCalls, jsonSchema, templateKwargs, logprobs, topLogprobs, ...options } = f;
  if (!logprobs && topLogprobs !== undefined) fail('top_logprobs', "needs 'logprobs': true");
  if (options.grammar && (jsonSchema || (tools?.length && toolChoice !== 'none'))) {
    throw new ShimmyError('invalid_request', "'grammar' cannot be combined with 'response_format' or 'tools'");
  }
  return {
    options: { ...options, includeUsage: includeUsage ?? false, logprobs: logprobs ? (topLogprobs ?? 0) : undefined },
    chat: {
      messages: messages as ChatMessage[],
      tools: tools as ChatTool[] | undefined,
      toolChoice: toolChoice as ToolChoice | undefined,
      parallelToolCalls,
      jsonSchema,
      templateKwargs,
    },
  };
}

export function parseEmbeddingRequest(body: unknown) {
  const { user: _ignored, ...request } = parseFields(embeddingFields, requestBody(body), { wire: true });
  return request;
}
