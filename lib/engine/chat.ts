// Chat: OpenAI-style messages rendered by the model's own Jinja template (llama.cpp's common/, in
// native/chat/chat_format.cc), and the reply parsed back into content, reasoning and tool calls. A
// model without a template, or with one the Jinja engine cannot parse, gets ChatML, as in
// llama-server. Requests are bounded before they reach the native JSON and grammar code, which
// recurses: llama-server was measured to run out of memory on a schema nested 5,000 levels deep.
import { randomBytes } from 'node:crypto';
import { native, type NativeParsedReply, type NativeRenderedChat } from '../native.js';
import { ShimmyError } from './errors.js';
import { imageFromUrl, imageLimits, readImageHeader } from './image-check.js';
import { fetchImage, isHttpUrl, type ImageUrlPolicy } from './image-fetch.js';
import { depthExceeds } from './json-depth.js';
import { patternRefusal } from './pattern-check.js';

export interface ChatTextPart {
  type: 'text';
  text: string;
}

/** An image as the library takes it: the file's bytes (PNG, JPEG or GIF). Needs a model loaded with a projector (`mmproj`). */
export interface ChatImagePart {
  type: 'image';
  data: Uint8Array;
}

/** OpenAI's image part: a base64 data URL (`data:image/png;base64,…`), or an http(s) URL where the model's imageUrls allows it. */
export interface ChatImageUrlPart {
  type: 'image_url';
  image_url: { url: string; detail?: string } | string;
}

export type ChatContentPart = ChatTextPart | ChatImagePart | ChatImageUrlPart;

export interface ChatToolCall {
  id?: string;
  type?: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: string;
  content?: string | ChatContentPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  reasoning_content?: string;
}

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ChatTool[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  /** A JSON schema the reply must follow; decoding is constrained by a grammar made from it. */
  jsonSchema?: Record<string, unknown>;
  addGenerationPrompt?: boolean;
  /** Extra variables for the template (e.g. `enable_thinking`). */
  templateKwargs?: Record<string, unknown>;
}

/**
 * A chat request rendered by the model's template: read its `prompt`, `stop`, `format`; pass it
 * whole to `generate({ chat })` and `new ReplyParser(chat)`. Its tokens, grammar and reply parser
 * stay on the native side.
 */
export type RenderedChat = NativeRenderedChat;

export type ParsedReply = NativeParsedReply;

/** Documented limits on what a chat request may carry into the native template and grammar code. */
export const chatLimits = {
  /** JSON nesting depth of the whole request (messages, tools, schema). */
  depth: 64,
  /** Serialized size of `response_format`'s schema. */
  schemaBytes: 64 * 1024,
  /** Serialized size of all tool definitions together. */
  toolsBytes: 256 * 1024,
  tools: 128,
  /** Messages in one conversation, counted before anything walks them. */
  messages: 10_000,
  /** Keys of `chat_template_kwargs`, and their serialized size. */
  templateKwargs: 64,
  templateKwargsBytes: 16 * 1024,
};

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '');

function checkRequest(request: ChatRequest): void {
  // Counts first: the walks below cost time in proportion to what they walk.
  if (Array.isArray(request.messages) && request.messages.length > chatLimits.messages) {
    throw new ShimmyError('invalid_request', `at most ${chatLimits.messages} messages are accepted`);
  }
  const kwargs = request.templateKwargs;
  if (kwargs !== undefined && kwargs !== null) {
    if (typeof kwargs !== 'object' || Array.isArray(kwargs)) throw new ShimmyError('invalid_request', "'chat_template_kwargs' must be an object");
    let keys = 0;
    for (const _ in kwargs) if (++keys > chatLimits.templateKwargs) throw new ShimmyError('invalid_request', `'chat_template_kwargs' may hold at most ${chatLimits.templateKwargs} keys`);
    if (bytes(kwargs) > chatLimits.templateKwargsBytes) throw new ShimmyError('invalid_request', `'chat_template_kwargs' may take at most ${chatLimits.templateKwargsBytes} bytes`);
  }
  // First, before anything recursive (JSON.stringify included) walks the request.
  if (depthExceeds(request, chatLimits.depth)) {
    throw new ShimmyError('invalid_request', `the request is nested deeper than ${chatLimits.depth} levels (messages, tools and schemas together)`);
  }
  const { messages, tools, jsonSchema } = request;
  if (!Array.isArray(messages) || messages.length === 0) throw new ShimmyError('invalid_request', "'messages' must be a non-empty array");
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string') throw new ShimmyError('invalid_request', `messages[${i}] needs a string 'role'`);
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      throw new ShimmyError('invalid_request', `messages[${i}].content must be a string or an array of content parts`);
    }
    if (Array.isArray(c)) {
      c.forEach((part, k) => {
        const ok = (part?.type === 'text' && typeof part.text === 'string') || (part?.type === 'image' && part.data instanceof Uint8Array) ||
          (part?.type === 'image_url' && (typeof part.image_url === 'string' || typeof part.image_url?.url === 'string'));
        if (!ok) throw new ShimmyError('invalid_request', `messages[${i}].content[${k}] must be a text part {type: 'text', text} or an image part {type: 'image_url', image_url: {url}}`);
      });
    }
  });
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw new ShimmyError('invalid_request', "'tools' must be an array");
    if (tools.length > chatLimits.tools) throw new ShimmyError('invalid_request', `at most ${chatLimits.tools} tools are accepted`);
    tools.forEach((t, i) => {
      if (t?.type !== 'function' || typeof t.function?.name !== 'string' || t.function.name === '') {
        throw new ShimmyError('invalid_request', `tools[${i}] must be {type: 'function', function: {name, parameters}}`);
      }
    });
    if (bytes(tools) > chatLimits.toolsBytes) throw new ShimmyError('invalid_request', `'tools' may take at most ${chatLimits.toolsBytes} bytes`);
    const refusal = patternRefusal(tools);
    if (refusal) throw new ShimmyError('invalid_request', `'tools': ${refusal}`);
  }
  if (jsonSchema !== undefined) {
    if (typeof jsonSchema !== 'object' || jsonSchema === null || Array.isArray(jsonSchema)) throw new ShimmyError('invalid_request', 'the JSON schema must be an object');
    if (bytes(jsonSchema) > chatLimits.schemaBytes) throw new ShimmyError('invalid_request', `the JSON schema may take at most ${chatLimits.schemaBytes} bytes`);
    const refusal = patternRefusal(jsonSchema);
    if (refusal) throw new ShimmyError('invalid_request', `the JSON schema: ${refusal}`);
  }
}

// tool_choice {type: 'function', function: {name}} is "required", with only that tool offered.
function resolveToolChoice(tools: ChatTool[] | undefined, choice: ToolChoice | undefined): { tools?: ChatTool[]; choice: string } {
  if (choice === undefined) return { tools, choice: 'auto' };
  if (typeof choice === 'string') {
    if (!['auto', 'none', 'required'].includes(choice)) throw new ShimmyError('invalid_request', "'tool_choice' must be 'auto', 'none', 'required' or a function");
    return { tools, choice };
  }
  const name = choice?.function?.name;
  const tool = tools?.find((t) => t.function.name === name);
  if (!tool) throw new ShimmyError('invalid_request', `'tool_choice' names a function that is not in 'tools': ${String(name)}`);
  return { tools: [tool], choice: 'required' };
}

const imageParts = (messages: ChatMessage[]) =>
  messages.reduce((n, m) => n + (Array.isArray(m.content) ? m.content.filter((p) => p.type !== 'text').length : 0), 0);

/**
 * The messages with each image part replaced by a marker made for this request (so text a user
 * types can never stand for an image), and the images' bytes, their headers checked. Image k's
 * marker is `${marker}${k}__>`: the native side finds each where the template put it, so a
 * template that moves a message (a system message into the last turn) moves its images too.
 */
async function takeImages(messages: ChatMessage[], imageUrls: ImageUrlPolicy): Promise<{ messages: ChatMessage[]; images: Uint8Array[]; marker: string }> {
  const marker = `<__shimmy_image_${randomBytes(12).toString('hex')}_`;
  // Counted before any fetch starts: one refused midway would leave the others unawaited.
  if (imageParts(messages) > imageLimits.perRequest) throw new ShimmyError('invalid_request', `at most ${imageLimits.perRequest} images are accepted in one request`);
  const pending: Promise<Uint8Array>[] = [];
  const failed = new AbortController(); // one image refused: the others' fetches stop
  const out = messages.map((m) => {
    if (!Array.isArray(m.content) || !m.content.some((p) => p.type !== 'text')) return m;
    const content = m.content.map((part) => {
      if (part.type === 'text') return part;
      pending.push(imageBytes(part, imageUrls, `image ${pending.length + 1}`, failed.signal));
      return { type: 'media_marker', text: `${marker}${pending.length - 1}__>` };
    });
    return { ...m, content } as unknown as ChatMessage;
  });
  const images = await Promise.all(pending).catch((error) => {
    failed.abort();
    throw error;
  });
  let pixels = 0;
  images.forEach((bytes, i) => {
    const { width, height } = readImageHeader(bytes, `image ${i + 1}`);
    pixels += width * height;
  });
  if (pixels > imageLimits.requestPixels) throw new ShimmyError('invalid_request', `the images hold ${pixels} pixels together: at most ${imageLimits.requestPixels} are accepted in one request`);
  return { messages: images.length > 0 ? out : messages, images, marker };
}

function imageBytes(part: ChatImagePart | ChatImageUrlPart, imageUrls: ImageUrlPolicy, what: string, cancel: AbortSignal): Promise<Uint8Array> {
  if (part.type === 'image') return Promise.resolve(part.data);
  const url = typeof part.image_url === 'string' ? part.image_url : part.image_url.url;
  if (isHttpUrl(url)) return fetchImage(url, imageUrls, what, cancel);
  try {
    return Promise.resolve(imageFromUrl(url, what));
  } catch (error) {
    return Promise.reject(error);
  }
}

export type RenderNative = (json: string, images: Uint8Array[], marker: string) => Promise<RenderedChat>;

/** `vision`: whether the model was loaded with a projector that takes images; `imageUrls`: whether and where http(s) image URLs are fetched. */
export async function renderChat(renderNative: RenderNative, request: ChatRequest, vision = false, imageUrls: ImageUrlPolicy = 'off'): Promise<RenderedChat> {
  checkRequest(request);
  const { tools, choice } = resolveToolChoice(request.tools, request.toolChoice);
  if (!vision && imageParts(request.messages) > 0) throw new ShimmyError('invalid_request', 'this model takes no images: it was loaded without a vision projector (mmproj)');
  const { messages, images, marker } = await takeImages(request.messages, imageUrls);
  const payload = {
    messages,
    tools: tools ?? [],
    tool_choice: choice,
    parallel_tool_calls: request.parallelToolCalls ?? false,
    json_schema: request.jsonSchema,
    add_generation_prompt: request.addGenerationPrompt ?? true,
    chat_template_kwargs: request.templateKwargs ?? {},
  };
  try {
    return await renderNative(JSON.stringify(payload), images, marker);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    // invalid_model: the model's template was stopped by a limit (native/chat/chat_format.cc).
    const code = e.code === 'model_closed' || e.code === 'invalid_model' ? e.code : 'invalid_request';
    throw new ShimmyError(code, e.message ?? String(error));
  }
}

/**
 * Parses a reply as it grows. A content-only format needs no parsing: each piece is content, and
 * nothing crosses into native code. Otherwise the native parser (native/chat/chat_parser.cc) extends
 * free content or reasoning in place and parses the whole reply again only where a marker may
 * begin, and returns what changed.
 */
export class ReplyParser {
  private readonly parser;
  private text = ''; // only without a parser: the native one keeps the reply itself

  constructor(chat: RenderedChat) {
    this.parser = chat.contentOnly ? null : new (native().ChatParser)(chat);
  }

  /** Adds generated text; returns the deltas to stream (content, reasoning, tool-call pieces). */
  push(text: string): ParsedReply['diffs'] {
    if (!this.parser) {
      this.text += text;
      return text ? [{ content: text, reasoning: '' }] : [];
    }
    return (JSON.parse(this.parser.update(text, true)) as Pick<ParsedReply, 'diffs'>).diffs;
  }

  /** The final parse of the complete reply (its last deltas included). */
  finish(): ParsedReply {
    if (!this.parser) return { content: this.text, reasoning: '', toolCalls: [], diffs: [] };
    return JSON.parse(this.parser.update('', false)) as ParsedReply;
  }
}
