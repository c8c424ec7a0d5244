// OpenAI's Responses request (POST /v1/responses and /v1/responses/input_tokens), declared field by
// field and translated into the one chat request every dialect renders: `input` as a string or
// items (messages with text and image parts, function calls and their outputs, reasoning),
// `instructions` as the system turn, function tools, tool_choice and `text.format` as chat's
// response_format.
import type { ChatContentPart, ChatMessage, ChatRequest, ChatTool, ChatToolCall, ToolChoice } from '../../engine/chat.js';
import type { GenerationRequest } from '../../engine/model.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody, withDefaults } from '../../engine/schema.js';
import { extraSamplingFields } from '../completion/extra-fields.js';
import { urlImagePart } from '../completion/image-parts.js';
import { partsContent } from '../completion/text-content.js';

const { maxTokens, temperature, topP } = withDefaults(generationFields, { temperature: 1, topP: 1 });
/** The generation options Responses does not spell, at OpenAI's routes' defaults (top_k off). */
const unspelled = { ...parseFields(generationFields, {}), topK: 0 };

/** Items a local model does not read: records of OpenAI's hosted tools, and of tools shimmy does not offer (custom, shell, computer); skipped. */
const hostedItems = new Set(['web_search_call', 'file_search_call', 'computer_call', 'computer_call_output', 'code_interpreter_call', 'image_generation_call', 'local_shell_call', 'local_shell_call_output', 'mcp_call', 'mcp_list_tools', 'mcp_approval_request', 'mcp_approval_response', 'custom_tool_call', 'custom_tool_call_output', 'compaction']);

type Item = Record<string, unknown>;

function str(value: unknown, name: string): string {
  if (typeof value !== 'string') fail(name, 'must be a string');
  return value;
}

/** An input_image part: its image_url kept as a URL (see urlImagePart); `detail` is accepted, as the projector sets the size. */
function inputImage(part: Item, name: string): ChatContentPart {
  if (part.detail !== undefined && part.detail !== null) str(part.detail, `${name}.detail`);
  if ((part.image_url === undefined || part.image_url === null) && part.file_id !== undefined && part.file_id !== null) {
    fail(`${name}.file_id`, 'is not supported: this server has no Files API; send the image as a data URL in image_url (data:image/png;base64,…)');
  }
  return urlImagePart(part.image_url, `'${name}.image_url'`);
}

const textPart = (text: string): ChatContentPart => ({ type: 'text', text });

/** A message's content: a string, or its parts: text, and images where `images` allows them. */
function contentParts(content: unknown, name: string, images = true): ChatContentPart[] {
  if (typeof content === 'string') return [textPart(content)];
  if (!Array.isArray(content)) fail(name, 'must be a string or an array of content parts');
  return content.map((part: Item, i): ChatContentPart => {
      const at = `${name}[${i}]`;
      if (typeof part !== 'object' || part === null) fail(at, 'must be a content part');
      switch (part.type) {
        case 'input_text':
        case 'output_text':
        case 'text':
        case 'summary_text':
        case 'reasoning_text':
          return textPart(str(part.text, `${at}.text`));
        case 'refusal':
          return textPart(str(part.refusal, `${at}.refusal`));
        case 'input_image':
          if (!images) fail(at, 'is an input_image: images belong to user, system and developer messages and function call outputs');
          return inputImage(part, at);
        case 'input_file':
        case 'input_audio':
          return fail(at, `is ${part.type}: shimmy does not take files or audio (text and image parts only)`);
        default:
          return fail(`${at}.type`, `is not a content part shimmy reads: ${JSON.stringify(part.type)}`);
      }
  });
}

/** Content that can only be text (an assistant's message, reasoning), its parts joined. */
const contentText = (content: unknown, name: string) => contentParts(content, name, false).map((p) => (p as { text: string }).text).join('\n');

/** A function call's output: a string, or parts joined as text, unless images are among them (kept in their places). */
function callOutput(output: unknown, name: string): string | ChatContentPart[] {
  const parts = contentParts(output, name);
  return parts.every((p) => p.type === 'text') ? parts.map((p) => p.text).join('\n') : parts;
}

/** `input` as chat messages: function calls join the assistant turn before them, reasoning the one after. */
export function translateInput(input: unknown, name = 'input'): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) fail(name, 'must be a string or an array of items');
  const out: ChatMessage[] = [];
  let reasoning = '';
  const assistant = (): ChatMessage => {
    const last = out.at(-1);
    if (last?.role === 'assistant' && !reasoning) return last;
    const turn: ChatMessage = { role: 'assistant', content: '', ...(reasoning ? { reasoning_content: reasoning } : {}) };
    reasoning = '';
    out.push(turn);
    return turn;
  };
  input.forEach((item: Item, i) => {
    const at = `${name}[${i}]`;
    if (typeof item !== 'object' || item === null) fail(at, 'must be an item object');
    const type = item.type ?? 'message';
    if (hostedItems.has(type as string)) return;
    switch (type) {
      case 'message': {
        const role = item.role === 'developer' ? 'system' : item.role;
        if (role !== 'user' && role !== 'assistant' && role !== 'system') fail(`${at}.role`, "must be 'user', 'assistant', 'system' or 'developer'");
        if (role === 'assistant') {
          assistant().content += contentText(item.content, `${at}.content`);
          return;
        }
        reasoning = ''; // reasoning belongs to the assistant turn right after it
        out.push({ role, content: partsContent(contentParts(item.content, `${at}.content`)) });
        return;
      }
      case 'function_call': {
        const call: ChatToolCall = { id: str(item.call_id, `${at}.call_id`), type: 'function', function: { name: str(item.name, `${at}.name`), arguments: str(item.arguments, `${at}.arguments`) } };
        const turn = assistant();
        (turn.tool_calls ??= []).push(call);
        return;
      }
      case 'function_call_output':
        reasoning = '';
        out.push({ role: 'tool', tool_call_id: str(item.call_id, `${at}.call_id`), content: callOutput(item.output, `${at}.output`) });
        return;
      case 'reasoning': {
        const parts = Array.isArray(item.content) && item.content.length > 0 ? item.content : (item.summary ?? []);
        reasoning += contentText(parts, `${at}.${Array.isArray(item.content) && item.content.length > 0 ? 'content' : 'summary'}`);
        return;
      }
      case 'item_reference':
        return fail(at, 'is an item_reference: send the item itself, or continue with previous_response_id');
      default:
        return fail(`${at}.type`, `is not an item shimmy reads: ${JSON.stringify(type)}`);
    }
  });
  return out;
}

/** Function tools become the chat's; the hosted ones (web_search, file_search, custom, namespace…) are set aside, by type. */
function tools(value: unknown, name: string): { functions: ChatTool[]; ignored: string[]; echo: Record<string, unknown>[] } {
  const functions: ChatTool[] = [];
  const ignored: string[] = [];
  const echo: Record<string, unknown>[] = [];
  (value as unknown[]).forEach((t, i) => {
    const tool = t as { type?: unknown; name?: unknown; description?: unknown; parameters?: unknown };
    if (typeof tool !== 'object' || tool === null || typeof tool.type !== 'string') fail(`${name}[${i}]`, "must be a tool with a string 'type'");
    if (tool.type !== 'function') {
      ignored.push(tool.type);
      echo.push({ type: tool.type });
      return;
    }
    const fn = str(tool.name, `${name}[${i}].name`);
    if (fn === '') fail(`${name}[${i}].name`, 'must not be empty');
    if (tool.description !== undefined && tool.description !== null) str(tool.description, `${name}[${i}].description`);
    const parameters = tool.parameters ?? { type: 'object', properties: {} };
    if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) fail(`${name}[${i}].parameters`, 'must be an object');
    const description = (tool.description as string | undefined) ?? undefined;
    functions.push({ type: 'function', function: { name: fn, description, parameters: parameters as Record<string, unknown> } });
    echo.push({ type: 'function', name: fn, description: description ?? null, parameters, strict: (tool as { strict?: unknown }).strict === true });
  });
  return { functions, ignored, echo };
}

function toolChoice(value: unknown, name: string): ToolChoice {
  if (value === 'auto' || value === 'none' || value === 'required') return value;
  const c = value as { type?: unknown; name?: unknown };
  if (typeof c !== 'object' || c === null) fail(name, "must be 'auto', 'none', 'required' or an object");
  if (c.type === 'function') return { type: 'function', function: { name: str(c.name, `${name}.name`) } };
  if (typeof c.type !== 'string') fail(`${name}.type`, 'must be a string');
  return 'auto'; // a hosted tool or allowed_tools: the functions offered stay the model's choice
}

function textFormat(value: unknown, name: string): { format: Record<string, unknown>; schema?: Record<string, unknown> } {
  const format = (value as { format?: unknown }).format ?? { type: 'text' };
  const f = format as { type?: unknown; schema?: unknown; name?: unknown };
  if (typeof f !== 'object' || f === null) fail(`${name}.format`, 'must be an object');
  if (f.type === 'text') return { format: { type: 'text' } };
  if (f.type === 'json_object') return { format: { type: 'json_object' }, schema: { type: 'object' } };
  if (f.type !== 'json_schema') fail(`${name}.format.type`, "must be 'text', 'json_object' or 'json_schema'");
  const schema = f.schema ?? { type: 'object' };
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail(`${name}.format.schema`, 'must be an object');
  if (f.name !== undefined && typeof f.name !== 'string') fail(`${name}.format.name`, 'must be a string');
  const strict = (format as { strict?: unknown }).strict === true;
  return { format: { type: 'json_schema', name: f.name ?? 'response', schema, strict }, schema: schema as Record<string, unknown> };
}

function reasoning(value: unknown, name: string): { effort?: string; summary: null } {
  const effort = (value as { effort?: unknown }).effort;
  if (effort !== undefined && effort !== null && !['none', 'minimal', 'low', 'medium', 'high', 'xhigh'].includes(effort as string)) {
    fail(`${name}.effort`, "must be 'none', 'minimal', 'low', 'medium', 'high' or 'xhigh'");
  }
  return { ...(typeof effort === 'string' ? { effort } : {}), summary: null };
}

function metadata(value: unknown, name: string): Record<string, string> {
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 16) fail(name, 'may hold at most 16 keys');
  for (const [k, v] of entries) {
    if (k.length > 64 || typeof v !== 'string' || v.length > 512) fail(name, 'maps keys of at most 64 characters to strings of at most 512');
  }
  return value as Record<string, string>;
}

function notBackground(value: unknown, name: string): false {
  if (value === true) fail(name, 'is not supported: shimmy answers in the foreground');
  return false;
}

/** What input_tokens reads: the conversation, without the generation's settings. */
export const inputTokensFields = {
  model: { type: 'string', wire: ['model'], required: true, doc: 'model id, "default", or a name `--alias` maps' },
  input: { type: 'any', wire: ['input'], shape: 'string or [item]', doc: 'the turn: text, or items (messages with input_text/input_image (a data or http(s) URL)/output_text/refusal parts, function_call, function_call_output, reasoning)' },
  instructions: { type: 'string', wire: ['instructions'], doc: 'the system turn (not carried over by previous_response_id, as OpenAI)' },
  previousResponseId: { type: 'string', wire: ['previous_response_id'], max: 200, doc: 'continue a stored response: its input and output go before this input' },
  tools: { type: 'array', wire: ['tools'], max: 256, check: tools, doc: 'function tools {type: "function", name, description, parameters}; other types are accepted and not offered' },
  toolChoice: { type: 'any', wire: ['tool_choice'], check: toolChoice, shape: 'string or object', doc: '"auto", "none", "required", or {type: "function", name}' },
  parallelToolCalls: { type: 'boolean', wire: ['parallel_tool_calls'], default: true, doc: 'allow several function calls in one reply' },
  text: { type: 'object', wire: ['text'], check: textFormat, shape: '{format}', doc: 'format {type: "text" | "json_object" | "json_schema", schema}: the reply is constrained to it' },
  reasoning: { type: 'object', wire: ['reasoning'], check: reasoning, shape: '{effort}', doc: 'effort: passed to the template as reasoning_effort; "none" and "minimal" turn thinking off' },
} as const;

export const responsesFields = {
  ...inputTokensFields,
  maxTokens: { ...maxTokens, wire: ['max_output_tokens'], doc: 'tokens to generate at most (absent: until the context is full)' },
  temperature,
  topP,
  stream: { type: 'boolean', wire: ['stream'], default: false, doc: 'stream the response\'s Server-Sent Events' },
  store: { type: 'boolean', wire: ['store'], default: true, doc: 'keep the response for previous_response_id and GET (in memory, bounded by `--responses-store`)' },
  metadata: { type: 'object', wire: ['metadata'], check: metadata, shape: '{key: string}', doc: 'up to 16 strings, echoed in the response' },
  user: { type: 'string', wire: ['user'], max: 256, doc: 'echoed in the response' },
  background: { type: 'boolean', wire: ['background'], check: notBackground, doc: 'only false' },
  truncation: { type: 'enum', wire: ['truncation'], values: ['auto', 'disabled'], default: 'disabled', doc: 'accepted; a conversation longer than the context is a 400 either way' },
  ...extraSamplingFields,
} as const;

type InputFields = ReturnType<typeof parseFields<typeof inputTokensFields>>;

/** What a route needs to render the conversation once the stored history (if any) is known. */
export interface ResponsesInput {
  model: string;
  input: ChatMessage[];
  instructions?: string;
  previousResponseId?: string;
  /** Tool types given but not offered to the model, for the log. */
  ignoredTools: string[];
  chat(history: ChatMessage[]): ChatRequest;
}

function inputOf(f: InputFields): ResponsesInput {
  const input = f.input === undefined ? [] : translateInput(f.input);
  const functions = f.tools?.functions ?? [];
  const offered = functions.length > 0 ? functions : undefined;
  const effort = f.reasoning?.effort;
  return {
    model: f.model,
    input,
    instructions: f.instructions,
    previousResponseId: f.previousResponseId,
    ignoredTools: f.tools?.ignored ?? [],
    chat: (history) => {
      const messages: ChatMessage[] = [...(f.instructions ? [{ role: 'system', content: f.instructions }] : []), ...history, ...input];
      // An empty probe (Codex sends one with max_output_tokens 1) still needs a turn to render.
      if (!messages.some((m) => m.role !== 'system')) messages.push({ role: 'user', content: '' });
      return {
        messages,
        tools: offered,
        toolChoice: offered ? f.toolChoice : undefined,
        parallelToolCalls: f.parallelToolCalls,
        jsonSchema: f.text?.schema,
        templateKwargs: effort === undefined ? undefined : { reasoning_effort: effort, enable_thinking: effort !== 'none' && effort !== 'minimal' },
      };
    },
  };
}

export function parseInputTokensRequest(body: unknown): ResponsesInput {
  return inputOf(parseFields(inputTokensFields, requestBody(body), { wire: true }));
}

export type ResponsesRequest = ResponsesInput & {
  stream: boolean;
  store: boolean;
  sampling: Omit<GenerationRequest, 'prompt' | 'chat'>;
  /** The request's settings as the response object echoes them. */
  echo: Record<string, unknown>;
};

export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const f = parseFields(responsesFields, requestBody(body), { wire: true });
  return {
    ...inputOf(f),
    stream: f.stream,
    store: f.store,
    sampling: { ...unspelled, maxTokens: f.maxTokens, temperature: f.temperature, topP: f.topP, logitBias: f.logitBias, repeatPenalty: f.repeatPenalty, minP: f.minP, seed: f.seed, ignoreEos: f.ignoreEos, lora: f.lora },
    echo: {
      instructions: f.instructions ?? null,
      max_output_tokens: f.maxTokens ?? null,
      metadata: f.metadata ?? {},
      parallel_tool_calls: f.parallelToolCalls,
      previous_response_id: f.previousResponseId ?? null,
      reasoning: f.reasoning ?? { effort: null, summary: null },
      store: f.store,
      temperature: f.temperature,
      text: { format: f.text?.format ?? { type: 'text' } },
      tool_choice: typeof f.toolChoice === 'object' ? { type: 'function', name: f.toolChoice.function.name } : (f.toolChoice ?? 'auto'),
      tools: f.tools?.echo ?? [],
      top_p: f.topP,
      truncation: f.truncation,
      user: f.user ?? null,
    },
  };
}
