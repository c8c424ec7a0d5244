// OpenAI request bodies → library options: sampling fields through the shared schema (with
// OpenAI's defaults), and the chat-only fields (messages, tools, response_format) into a ChatRequest.
import type { ChatRequest, ChatTool, ToolChoice } from '../engine/chat.js';
import { ShimmyError } from '../engine/errors.js';
import type { GenerateOptions } from '../engine/model.js';
import { generationFields } from '../engine/options.js';
import { parseFields } from '../engine/schema.js';

export type OpenAiOptions = Omit<GenerateOptions, 'prompt'> & { model: string; stream: boolean; includeUsage: boolean };

export function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ShimmyError('invalid_request', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

const present = (v: unknown) => v !== undefined && v !== null;

export function modelName(body: Record<string, unknown>): string {
  if (typeof body.model !== 'string') throw new ShimmyError('invalid_request', "'model' is required and must be a string");
  return body.model;
}

export function generationOptions(body: Record<string, unknown>): OpenAiOptions {
  const model = modelName(body);
  if (present(body.n) && body.n !== 1) throw new ShimmyError('invalid_request', "only 'n': 1 is supported");
  if (present(body.stream) && typeof body.stream !== 'boolean') throw new ShimmyError('invalid_request', "'stream' must be a boolean");
  const options = parseFields(generationFields, body, { wire: true, defaults: { temperature: 1, topP: 1, topK: 0, minP: 0 } });
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
  const result: OpenAiOptions = { ...options, model, stream: body.stream === true, includeUsage: streamOptions?.include_usage === true };
  if (present(body.logit_bias)) {
    if (typeof body.logit_bias !== 'object') throw new ShimmyError('invalid_request', "'logit_bias' must be an object of token id → bias");
    const bias: Record<number, number> = {};
    for (const [token, value] of Object.entries(body.logit_bias as Record<string, unknown>)) {
      if (!/^\d+$/.test(token) || typeof value !== 'number' || value < -100 || value > 100) throw new ShimmyError('invalid_request', "'logit_bias' maps token ids to numbers from -100 to 100");
      bias[Number(token)] = value;
    }
    result.logitBias = bias;
  }
  return result;
}

// response_format: json_object is any JSON object; json_schema is the schema given.
function responseSchema(format: unknown): Record<string, unknown> | undefined {
  if (!present(format)) return undefined;
  const f = format as { type?: unknown; json_schema?: { schema?: unknown } };
  if (f.type === 'text') return undefined;
  if (f.type === 'json_object') return { type: 'object' };
  if (f.type === 'json_schema') {
    const schema = f.json_schema?.schema ?? { type: 'object' };
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new ShimmyError('invalid_request', "'response_format.json_schema.schema' must be an object");
    return schema as Record<string, unknown>;
  }
  throw new ShimmyError('invalid_request', "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
}

export function chatRequest(body: Record<string, unknown>, userGrammar: string | undefined): ChatRequest {
  const jsonSchema = responseSchema(body.response_format);
  const tools = present(body.tools) ? (body.tools as ChatTool[]) : undefined;
  const toolChoice = present(body.tool_choice) ? (body.tool_choice as ToolChoice) : undefined;
  if (userGrammar && (jsonSchema || (tools?.length && toolChoice !== 'none'))) {
    throw new ShimmyError('invalid_request', "'grammar' cannot be combined with 'response_format' or 'tools'");
  }
  if (present(body.parallel_tool_calls) && typeof body.parallel_tool_calls !== 'boolean') throw new ShimmyError('invalid_request', "'parallel_tool_calls' must be a boolean");
  const kwargs = body.chat_template_kwargs;
  if (present(kwargs) && (typeof kwargs !== 'object' || Array.isArray(kwargs))) throw new ShimmyError('invalid_request', "'chat_template_kwargs' must be an object");
  return {
    messages: body.messages as ChatRequest['messages'],
    tools,
    toolChoice,
    parallelToolCalls: body.parallel_tool_calls as boolean | undefined,
    jsonSchema,
    templateKwargs: kwargs as Record<string, unknown> | undefined,
  };
}

/** Completions: `logprobs: n` (0–20). Chat: `logprobs: true` with `top_logprobs: n`. */
export function logprobsOption(body: Record<string, unknown>, kind: 'chat' | 'text'): number | undefined {
  const count = (name: string, value: unknown) => {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 20) throw new ShimmyError('invalid_request', `'${name}' must be an integer from 0 to 20`);
    return value as number;
  };
  if (kind === 'text') return present(body.logprobs) ? count('logprobs', body.logprobs) : undefined;
  if (present(body.logprobs) && typeof body.logprobs !== 'boolean') throw new ShimmyError('invalid_request', "'logprobs' must be a boolean");
  if (body.logprobs !== true) {
    if (present(body.top_logprobs)) throw new ShimmyError('invalid_request', "'top_logprobs' needs 'logprobs': true");
    return undefined;
  }
  return present(body.top_logprobs) ? count('top_logprobs', body.top_logprobs) : 0;
}

/** /v1/completions: a string, or an array holding one string. */
export function completionPrompt(body: Record<string, unknown>): string {
  const p = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof p !== 'string') throw new ShimmyError('invalid_request', "'prompt' must be a string (or an array of one string)");
  return p;
}
