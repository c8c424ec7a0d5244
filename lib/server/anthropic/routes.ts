// Anthropic's Messages API (Claude Code, the Anthropic SDKs): POST /v1/messages, whole or as
// Anthropic's named SSE events, and POST /v1/messages/count_tokens. A request translator
// (request.ts) and a sink on the one completion path; errors in Anthropic's shape.
import { randomUUID } from 'node:crypto';
import { ReplyParser, type ParsedReply, type RenderedChat } from '../../engine/chat.js';
import type { ShimmyError } from '../../engine/errors.js';
import type { CompletionResult } from '../../engine/generation.js';
import { runGeneration, type Sink } from '../completion/run-generation.js';
import { ReplyBlocks, wholeBlocks, type Block } from '../completion/reply-blocks.js';
import { sseEvent } from '../completion/sse.js';
import type { ServerContext } from '../context.js';
import { anthropicErrorBody, shutdownCancelled, statusOf } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';
import { parseCountTokensRequest, parseMessagesRequest, type MessagesRequest } from './request.js';

/** How long a stream may be silent before it gets a ping (a long prompt is still being read). */
const PING_EVERY_MS = 10_000;

const toolId = (id: string) => id || `toolu_${randomUUID().replace(/-/g, '')}`;

function toolInput(args: string): Record<string, unknown> {
  try {
    const input = JSON.parse(args) as unknown;
    return typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : { value: input };
  } catch {
    return {}; // a reply cut off inside its call's arguments (max_tokens)
  }
}

function stopReason(r: CompletionResult, reply: ParsedReply, stopSequences: string[]) {
  if (reply.toolCalls.length > 0) return { stop_reason: 'tool_use', stop_sequence: null };
  if (r.finishReason === 'length') return { stop_reason: 'max_tokens', stop_sequence: null };
  if (r.stopSequence !== undefined && stopSequences.includes(r.stopSequence)) return { stop_reason: 'stop_sequence', stop_sequence: r.stopSequence };
  return { stop_reason: 'end_turn', stop_sequence: null };
}

const usage = (r: CompletionResult) => ({
  input_tokens: r.usage.promptTokens - r.usage.cachedTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: r.usage.cachedTokens,
  output_tokens: r.usage.completionTokens,
});

function contentBlock(block: Block & { text?: string }): Record<string, unknown> {
  const text = block.text ?? '';
  if (block.kind === 'reasoning') return { type: 'thinking', thinking: text, signature: '' };
  if (block.kind === 'text') return { type: 'text', text };
  return { type: 'tool_use', id: toolId(block.call!.id), name: block.call!.name, input: block.text === undefined ? {} : toolInput(text) };
}

/**
 * A block's content_block_delta event up to its piece of text: the same for every delta of the
 * block, so each token costs one JSON.stringify of its text (the hot path: see bench:chat).
 */
function deltaHead(block: Block): string {
  const [type, key] = block.kind === 'reasoning' ? ['thinking_delta', 'thinking'] : block.kind === 'text' ? ['text_delta', 'text'] : ['input_json_delta', 'partial_json'];
  return `event: content_block_delta\ndata: {"type":"content_block_delta","index":${block.index},"delta":{"type":"${type}","${key}":`;
}

function messageSink(ex: Exchange, request: MessagesRequest, chat: RenderedChat): Sink {
  const id = `msg_${randomUUID().replace(/-/g, '')}`;
  const parser = new ReplyParser(chat);
  const head = { id, type: 'message', role: 'assistant', model: request.model };
  const fail = (e: ShimmyError) => {
    if (request.stream) ex.endStream(sseEvent('error', anthropicErrorBody(e)));
    else ex.error(e, anthropicErrorBody);
    return statusOf(e);
  };

  if (!request.stream) {
    return {
      open: () => {},
      text: () => {},
      done: (r) => {
        if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
        parser.push(r.text);
        const reply = parser.finish();
        ex.json(200, { ...head, content: wholeBlocks(reply).map(contentBlock), ...stopReason(r, reply, request.stopSequences), usage: usage(r) });
      },
      error: (e) => void fail(e),
    };
  }

  let out = '';
  let delta = '';
  const blocks = new ReplyBlocks({
    start: (b) => {
      delta = deltaHead(b);
      out += sseEvent('content_block_start', { type: 'content_block_start', index: b.index, content_block: contentBlock(b) });
    },
    delta: (_b, piece) => (out += `${delta}${JSON.stringify(piece)}}}\n\n`),
    stop: (b) => (out += sseEvent('content_block_stop', { type: 'content_block_stop', index: b.index })),
  });
  const take = () => {
    const events = out;
    out = '';
    return events;
  };
  let ping: ReturnType<typeof setInterval> | undefined;
  let quiet = true;
  const stopPings = () => clearInterval(ping);
  return {
    open: () => {
      ex.beginStream('text/event-stream');
      const usage = { input_tokens: chat.promptTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 };
      ex.write(sseEvent('message_start', { type: 'message_start', message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage } }) + sseEvent('ping', { type: 'ping' }));
      ping = setInterval(() => {
        if (!ex.open) return stopPings(); // the client went, or the reply ended on a path that did not stop them
        if (quiet) ex.write(sseEvent('ping', { type: 'ping' }));
        quiet = true;
      }, PING_EVERY_MS);
      ping.unref?.();
    },
    text: (text) => {
      blocks.push(parser.push(text));
      if (out) {
        quiet = false;
        ex.write(take());
      }
    },
    done: (r) => {
      stopPings();
      if (r.finishReason === 'cancelled') return fail(shutdownCancelled());
      const reply = parser.finish();
      blocks.push(reply.diffs);
      blocks.finish();
      const closing = sseEvent('message_delta', { type: 'message_delta', delta: stopReason(r, reply, request.stopSequences), usage: usage(r) });
      ex.endStream(take() + closing + sseEvent('message_stop', { type: 'message_stop' }));
    },
    error: (e) => {
      stopPings();
      void fail(e);
    },
  };
}

async function messages(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request = parseMessagesRequest(await ex.readJson(ctx.bodyLimit));
  return runGeneration(ctx, request.model, ex, async (model) => {
    const chat = await model.renderChat(request.chat);
    return { request: { ...request.sampling, chat }, sink: messageSink(ex, request, chat) };
  });
}

async function countTokens(ctx: ServerContext, ex: Exchange): Promise<number> {
  const { model: name, chat } = parseCountTokensRequest(await ex.readJson(ctx.bodyLimit));
  const rendered = await ctx.registry.use(name, (model) => model.renderChat(chat));
  ex.json(200, { input_tokens: rendered.promptTokens });
  return 200;
}

export const anthropicRoutes: Route[] = [
  { method: 'POST', path: '/v1/messages', handler: messages, errorBody: anthropicErrorBody },
  { method: 'POST', path: '/v1/messages/count_tokens', handler: countTokens, errorBody: anthropicErrorBody },
];
