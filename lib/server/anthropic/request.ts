// Anthropic's Messages request (POST /v1/messages and /v1/messages/count_tokens), declared field
// by field and translated into the one chat request every dialect renders: system text and
// `system` turns, text, image, tool_use and tool_result blocks, thinking blocks as the template's
// reasoning, tools with their input_schema, and tool_choice with a named tool forced.
import type { ChatContentPart, ChatMessage, ChatRequest, ChatTool, ChatToolCall, ToolChoice } from '../../engine/chat.js';
import type { GenerationRequest } from '../../engine/model.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody, withDefaults } from '../../engine/schema.js';
import { extraSamplingFields } from '../completion/extra-fields.js';
import { isHttpUrl } from '../../engine/image-fetch.js';
import { base64ImagePart } from '../completion/image-parts.js';
import { partsContent } from '../completion/text-content.js';

// Anthropic's temperature runs from 0 to 1 (default 1); top_k and top_p are off unless given.
const { maxTokens, temperature, topK, topP } = withDefaults(generationFields, { temperature: 1, topK: 0, topP: 1 });
/** The generation options Messages does not spell, at their defaults. */
const unspelled = parseFields(generationFields, {});

/**
 * Claude Code stamps its system prompt with a line that changes every request
 * (`x-anthropic-billing-header: cc_version=…; cch=…;`): it means nothing to a local model and,
 * left in, no two requests share a prefix, so each turn would prefill the whole system prompt.
 */
const billingStamp = /^x-anthropic-billing-header:[^\n]*\n?/gm;

/** Blocks that carry nothing a local model reads (server-side tools' records); skipped. */
const ignoredBlocks = new Set(['redacted_thinking', 'server_tool_use', 'web_search_tool_result', 'web_fetch_tool_result', 'code_execution_tool_result', 'container_upload']);

type Block = Record<string, unknown> & { type?: unknown };

function blocksOf(content: unknown, name: string): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) fail(name, 'must be a string or an array of content blocks');
  content.forEach((b, i) => {
    if (typeof b !== 'object' || b === null || typeof (b as Block).type !== 'string') fail(`${name}[${i}]`, "must be a content block with a string 'type'");
  });
  return content as Block[];
}

function textOf(block: Block, name: string): string {
  if (typeof block.text !== 'string') fail(`${name}.text`, 'must be a string');
  return block.text;
}

function refuseDocuments(block: Block, name: string): void {
  if (block.type === 'document') fail(name, 'is a document block: shimmy does not take documents (text, image, tool_use, tool_result and thinking blocks only)');
}

const sendBase64 = "send the image's bytes as base64 ({type: 'base64', media_type, data})";

/**
 * An image block as the library's image part: base64 bytes, or a URL that goes where chat
 * completions' http(s) image URLs go (the engine fetches it or refuses it by the model's policy).
 * There is no Files API for a file source.
 */
function imageBlock(block: Block, name: string): ChatContentPart {
  const source = block.source as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown } | undefined;
  if (typeof source !== 'object' || source === null) fail(`${name}.source`, `must be an image source: ${sendBase64}`);
  switch (source.type) {
    case 'base64':
      // The format is read from the bytes (PNG, JPEG or GIF); media_type only has to say it is an image.
      if (source.media_type !== undefined && !(typeof source.media_type === 'string' && source.media_type.startsWith('image/'))) {
        fail(`${name}.source.media_type`, "must be an image type: 'image/png', 'image/jpeg' or 'image/gif'");
      }
      return base64ImagePart(source.data, `'${name}.source.data'`);
    case 'url':
      if (!isHttpUrl(source.url)) fail(`${name}.source.url`, `must be an http(s) URL; or ${sendBase64}`);
      return { type: 'image_url', image_url: { url: source.url } };
    case 'file':
      return fail(`${name}.source`, `is a file_id: this server has no Files API; ${sendBase64}`);
    default:
      return fail(`${name}.source.type`, `must be 'base64' or 'url': ${sendBase64}`);
  }
}

/** A tool_result's content: a string, or its text blocks joined, with its images in their places; an error says so first. */
function toolResultContent(block: Block, name: string): string | ChatContentPart[] {
  const prefix = block.is_error ? 'Error: ' : ''; // the model must be able to tell a failed tool from its output
  const content = block.content ?? '';
  if (typeof content === 'string') return prefix + content;
  const parts: ChatContentPart[] = [];
  let text = prefix;
  blocksOf(content, `${name}.content`).forEach((b, i) => {
    const at = `${name}.content[${i}]`;
    refuseDocuments(b, at);
    if (b.type === 'text') text += textOf(b, at);
    if (b.type !== 'image') return;
    if (text) parts.push({ type: 'text', text });
    text = '';
    parts.push(imageBlock(b, at));
  });
  if (parts.length === 0) return text;
  if (text) parts.push({ type: 'text', text });
  return parts;
}

function systemText(value: unknown, name: string): string {
  return blocksOf(value, name)
    .map((b, i) => (b.type === 'text' ? textOf(b, `${name}[${i}]`) : fail(`${name}[${i}]`, 'must be a text block')))
    .join('\n')
    .replace(billingStamp, '');
}

/** One Anthropic turn as chat messages: tool results become tool messages, before the turn's text. */
function translateTurn(turn: unknown, i: number): ChatMessage[] {
  const name = `messages[${i}]`;
  if (typeof turn !== 'object' || turn === null) fail(name, 'must be an object');
  const { role, content } = turn as { role?: unknown; content?: unknown };
  if (role !== 'user' && role !== 'assistant' && role !== 'system') fail(`${name}.role`, "must be 'user', 'assistant' or 'system'");
  if (role === 'system') return [{ role: 'system', content: systemText(content, `${name}.content`) }];
  const out: ChatMessage[] = [];
  const parts: ChatContentPart[] = [];
  let reasoning = '';
  const calls: ChatToolCall[] = [];
  blocksOf(content, `${name}.content`).forEach((b, k) => {
    const at = `${name}.content[${k}]`;
    refuseDocuments(b, at);
    if (ignoredBlocks.has(b.type as string)) return;
    switch (b.type) {
      case 'text':
        parts.push({ type: 'text', text: textOf(b, at) });
        return;
      case 'image':
        if (role !== 'user') fail(at, 'an image block belongs to a user turn');
        parts.push(imageBlock(b, at));
        return;
      case 'thinking':
        if (typeof b.thinking !== 'string') fail(`${at}.thinking`, 'must be a string');
        reasoning += b.thinking;
        return;
      case 'tool_use':
        if (role !== 'assistant') fail(at, 'a tool_use block belongs to an assistant turn');
        if (typeof b.id !== 'string' || typeof b.name !== 'string' || b.name === '') fail(at, "needs a string 'id' and 'name'");
        if (typeof b.input !== 'object' || b.input === null || Array.isArray(b.input)) fail(`${at}.input`, 'must be an object');
        calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } });
        return;
      case 'tool_result':
        if (role !== 'user') fail(at, 'a tool_result block belongs to a user turn');
        if (typeof b.tool_use_id !== 'string') fail(`${at}.tool_use_id`, 'must be a string');
        if (b.is_error !== undefined && typeof b.is_error !== 'boolean') fail(`${at}.is_error`, 'must be a boolean');
        out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: toolResultContent(b, at) });
        return;
      default:
        fail(`${at}.type`, `is not a block shimmy reads: ${JSON.stringify(b.type)}`);
    }
  });
  const text = partsContent(parts); // images only in a user turn
  if (role === 'assistant') {
    out.push({ role, content: text, ...(reasoning ? { reasoning_content: reasoning } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) });
  } else if (parts.length > 0 || out.length === 0) {
    out.push({ role, content: text });
  }
  return out;
}

function tools(value: unknown, name: string): ChatTool[] {
  const list = value as unknown[];
  const out: ChatTool[] = [];
  list.forEach((t, i) => {
    const tool = t as { type?: unknown; name?: unknown; description?: unknown; input_schema?: unknown };
    if (typeof tool !== 'object' || tool === null) fail(`${name}[${i}]`, 'must be an object');
    // Anthropic's own server tools (web_search_…, bash_…) run on Anthropic's side: not offered.
    if (tool.type !== undefined && tool.type !== 'custom') return;
    if (typeof tool.name !== 'string' || tool.name === '') fail(`${name}[${i}].name`, 'must be a non-empty string');
    if (tool.description !== undefined && typeof tool.description !== 'string') fail(`${name}[${i}].description`, 'must be a string');
    const schema = tool.input_schema;
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail(`${name}[${i}].input_schema`, 'must be an object');
    out.push({ type: 'function', function: { name: tool.name, description: tool.description as string | undefined, parameters: schema as Record<string, unknown> } });
  });
  return out;
}

function toolChoice(value: unknown, name: string): { choice: ToolChoice; parallel: boolean } {
  const c = value as { type?: unknown; name?: unknown; disable_parallel_tool_use?: unknown };
  if (c.disable_parallel_tool_use !== undefined && typeof c.disable_parallel_tool_use !== 'boolean') fail(`${name}.disable_parallel_tool_use`, 'must be a boolean');
  const parallel = c.disable_parallel_tool_use !== true;
  switch (c.type) {
    case 'auto':
      return { choice: 'auto', parallel };
    case 'any':
      return { choice: 'required', parallel };
    case 'none':
      return { choice: 'none', parallel };
    case 'tool':
      if (typeof c.name !== 'string' || c.name === '') fail(`${name}.name`, 'must name a tool');
      return { choice: { type: 'function', function: { name: c.name } }, parallel };
    default:
      return fail(`${name}.type`, "must be 'auto', 'any', 'none' or 'tool'");
  }
}

function thinking(value: unknown, name: string): boolean {
  const t = value as { type?: unknown; budget_tokens?: unknown };
  if (!['enabled', 'disabled', 'adaptive'].includes(t.type as string)) fail(`${name}.type`, "must be 'enabled', 'disabled' or 'adaptive'");
  if (t.budget_tokens !== undefined && !(Number.isInteger(t.budget_tokens) && (t.budget_tokens as number) >= 1)) fail(`${name}.budget_tokens`, 'must be a positive integer');
  return t.type !== 'disabled';
}

/** What count_tokens reads: the conversation, without the generation's settings. */
export const countTokensFields = {
  model: { type: 'string', wire: ['model'], required: true, doc: 'model id, "default", or a name `--alias` maps' },
  messages: { type: 'array', wire: ['messages'], required: true, max: 100_000, doc: 'the turns: {role: "user" | "assistant" | "system", content: string or blocks (text, image (base64 or a URL), tool_use, tool_result, thinking)}' },
  system: { type: 'any', wire: ['system'], check: systemText, shape: 'string or [text block]', doc: 'the system prompt' },
  tools: { type: 'array', wire: ['tools'], check: tools, doc: 'tools the model may use: {name, description, input_schema}; Anthropic\'s server tools are not offered' },
  toolChoice: { type: 'object', wire: ['tool_choice'], check: toolChoice, shape: '{type, name}', doc: '"auto", "any", "none", or {type: "tool", name} (that tool forced); disable_parallel_tool_use' },
  thinking: { type: 'object', wire: ['thinking'], check: thinking, shape: '{type, budget_tokens}', doc: 'enabled/adaptive turns the template\'s thinking on, disabled off; the budget is not enforced' },
} as const;

export const messagesFields = {
  ...countTokensFields,
  maxTokens: { ...maxTokens, required: true, wire: ['max_tokens'], doc: 'tokens to generate at most (required, as Anthropic)' },
  stream: { type: 'boolean', wire: ['stream'], default: false, doc: 'stream Anthropic\'s Server-Sent Events' },
  stopSequences: { ...generationFields.stop, wire: ['stop_sequences'], doc: 'strings that end the reply; the one that did is `stop_sequence`' },
  temperature: { ...temperature, max: 1, doc: 'sampling temperature, 0 to 1; 0 is greedy' },
  topK: { ...topK, doc: 'keep the k likeliest tokens; absent or 0: off' },
  topP: { ...topP, doc: 'nucleus sampling; absent or 1: off' },
  metadata: { type: 'object', wire: ['metadata'], doc: 'accepted and ignored' },
  ...extraSamplingFields,
} as const;

/** The chat request for a Messages body: system first, then the turns. */
function chatOf(f: { messages: unknown[]; system?: string; tools?: ChatTool[]; toolChoice?: { choice: ToolChoice; parallel: boolean }; thinking?: boolean }): ChatRequest {
  const messages: ChatMessage[] = [];
  if (f.system) messages.push({ role: 'system', content: f.system });
  f.messages.forEach((turn, i) => messages.push(...translateTurn(turn, i)));
  const offered = f.tools && f.tools.length > 0 ? f.tools : undefined;
  return {
    messages,
    tools: offered,
    toolChoice: offered ? (f.toolChoice?.choice ?? 'auto') : undefined,
    parallelToolCalls: f.toolChoice?.parallel ?? true,
    templateKwargs: f.thinking === undefined ? undefined : { enable_thinking: f.thinking },
  };
}

export function parseCountTokensRequest(body: unknown): { model: string; chat: ChatRequest } {
  const f = parseFields(countTokensFields, requestBody(body), { wire: true });
  return { model: f.model, chat: chatOf(f) };
}

export type MessagesRequest = { model: string; stream: boolean; stopSequences: string[]; chat: ChatRequest; sampling: Omit<GenerationRequest, 'prompt' | 'chat'> };

export function parseMessagesRequest(body: unknown): MessagesRequest {
  const f = parseFields(messagesFields, requestBody(body), { wire: true });
  const { maxTokens, temperature, topK, topP, stopSequences: stop, logitBias, repeatPenalty, minP, seed, ignoreEos, lora } = f;
  const sampling = { ...unspelled, maxTokens, temperature, topK, topP, stop, logitBias, repeatPenalty, minP, seed, ignoreEos, lora };
  return { model: f.model, stream: f.stream, stopSequences: f.stopSequences, chat: chatOf(f), sampling };
}
