// OpenAI's Responses API (Codex, the Agents SDK, openai's responses.*): POST /v1/responses, whole
// or as its SSE events (every one with its sequence_number, and output_index, content_index and
// item_id where OpenAI sends them), POST /v1/responses/input_tokens, and GET and DELETE
// /v1/responses/{id} on the store that lets previous_response_id continue a conversation.
import { randomUUID } from 'node:crypto';
import { ReplyParser, type ChatMessage, type RenderedChat } from '../../engine/chat.js';
import { ShimmyError } from '../../engine/errors.js';
import type { CompletionResult } from '../../engine/generation.js';
import { ownerOf } from '../auth.js';
import { runGeneration, type Sink } from '../completion/run-generation.js';
import { ReplyBlocks, wholeBlocks, type Block } from '../completion/reply-blocks.js';
import { sseEvent } from '../completion/sse.js';
import type { ServerContext } from '../context.js';
import { openAiErrorBody, sentCode, shutdownCancelled } from '../errors.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';
import { parseInputTokensRequest, parseResponsesRequest, type ResponsesInput, type ResponsesRequest } from './request.js';

const newId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '')}`;

const usage = (r: CompletionResult) => ({
  input_tokens: r.usage.promptTokens,
  input_tokens_details: { cached_tokens: r.usage.cachedTokens },
  output_tokens: r.usage.completionTokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: r.usage.totalTokens,
});

const itemId = (b: Block) => newId(b.kind === 'reasoning' ? 'rs' : b.kind === 'text' ? 'msg' : 'fc');

/** Whether an item is the one the token limit cut off (the reply's last, at finish reason 'length'). */
const cutOff = (r: CompletionResult, last: boolean) => last && r.finishReason === 'length';

/** One output item, in progress (no text yet), done, or cut off by the token limit. */
function outputItem(block: Block, itemId: string, text: string | undefined, incomplete = false): Record<string, unknown> {
  const status = text === undefined ? 'in_progress' : incomplete ? 'incomplete' : 'completed';
  if (block.kind === 'reasoning') return { type: 'reasoning', id: itemId, summary: [], content: text === undefined ? [] : [{ type: 'reasoning_text', text }] };
  if (block.kind === 'text') return { type: 'message', id: itemId, status, role: 'assistant', content: text === undefined ? [] : [textPart(text)] };
  return { type: 'function_call', id: itemId, call_id: block.call!.id || newId('call'), name: block.call!.name, arguments: text ?? '', status };
}

const textPart = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

/** The reply as the assistant's turn, for the store: made of the output items, so previous_response_id renders what GET returns. */
function assistantTurn(output: Record<string, unknown>[]): ChatMessage {
  const texts = (type: string) => output.filter((o) => o.type === type).flatMap((o) => (o.content as { text: string }[]).map((c) => c.text)).join('');
  const calls = output.filter((o) => o.type === 'function_call');
  const reasoning = texts('reasoning');
  return {
    role: 'assistant',
    content: texts('message'),
    ...(reasoning ? { reasoning_content: reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls.map((c) => ({ id: c.call_id as string, type: 'function' as const, function: { name: c.name as string, arguments: c.arguments as string } })) } : {}),
  };
}

interface Turn {
  id: string;
  createdAt: number;
  owner: string;
  /** The conversation this response continues, without instructions. */
  history: ChatMessage[];
}

function responseSink(ctx: ServerContext, ex: Exchange, request: ResponsesRequest, chat: RenderedChat, turn: Turn): Sink {
  const parser = new ReplyParser(chat);
  const object = (status: string, output: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
    id: turn.id,
    object: 'response',
    created_at: turn.createdAt,
    status,
    error: null,
    incomplete_details: null,
    model: request.model,
    output,
    usage: null,
    ...request.echo,
    ...extra,
  });
  /** The finished response object; stored when asked to be. */
  const finish = (r: CompletionResult, output: Record<string, unknown>[]) => {
    const incomplete = r.finishReason === 'length';
    const response = object(incomplete ? 'incomplete' : 'completed', output, { usage: usage(r), ...(incomplete ? { incomplete_details: { reason: 'max_output_tokens' } } : {}) });
    if (request.store) {
      const conversation = [...turn.history, ...request.input, assistantTurn(output)];
      ctx.responses.put(turn.id, { owner: turn.owner, response, conversation });
    }
    return response;
  };
  if (!request.stream) {
    return {
      open: () => {},
      text: () => {},
      done: (r) => {
        if (r.finishReason === 'cancelled') {
          ex.error(shutdownCancelled(), openAiErrorBody);
          return 503;
        }
        parser.push(r.text);
        const blocks = wholeBlocks(parser.finish());
        const output = blocks.map((b, i) => outputItem(b, itemId(b), b.text, cutOff(r, i === blocks.length - 1)));
        ex.json(200, finish(r, output));
      },
      error: (e) => ex.error(e, openAiErrorBody),
    };
  }

  let sequence = 0;
  let out = '';
  const emit = (type: string, fields: Record<string, unknown>) => (out += sseEvent(type, { type, sequence_number: sequence++, ...fields }));
  const items: { id: string; block: Block; text: string; done?: Record<string, unknown>; head: string; middle: string; tail: string }[] = [];
  let truncated = false; // set when the reply ended at the token limit: its last item is incomplete
  const blocks = new ReplyBlocks({
    start: (block) => {
      const id = itemId(block);
      const item = outputItem(block, id, undefined);
      // The block's delta event around its sequence number and piece, written once (the hot path: see bench:chat).
      const type = block.kind === 'reasoning' ? 'response.reasoning_text.delta' : block.kind === 'text' ? 'response.output_text.delta' : 'response.function_call_arguments.delta';
      const head = `event: ${type}\ndata: {"type":"${type}","sequence_number":`;
      const middle = `,"item_id":"${id}","output_index":${block.index}${block.kind === 'tool' ? '' : ',"content_index":0'},"delta":`;
      const tail = `${block.kind === 'text' ? ',"logprobs":[]' : ''}}\n\n`;
      items.push({ id, block: { ...block, call: block.call && { ...block.call, id: item.call_id as string } }, text: '', head, middle, tail });
      emit('response.output_item.added', { output_index: block.index, item });
      if (block.kind === 'reasoning') emit('response.content_part.added', { item_id: id, output_index: block.index, content_index: 0, part: { type: 'reasoning_text', text: '' } });
      if (block.kind === 'text') emit('response.content_part.added', { item_id: id, output_index: block.index, content_index: 0, part: textPart('') });
    },
    delta: (block, piece) => {
      const entry = items[block.index]!;
      entry.text += piece;
      out += `${entry.head}${sequence++}${entry.middle}${JSON.stringify(piece)}${entry.tail}`;
    },
    stop: (block) => {
      const entry = items[block.index]!;
      const where = { item_id: entry.id, output_index: block.index };
      if (block.kind === 'reasoning') {
        emit('response.reasoning_text.done', { ...where, content_index: 0, text: entry.text });
        emit('response.content_part.done', { ...where, content_index: 0, part: { type: 'reasoning_text', text: entry.text } });
      } else if (block.kind === 'text') {
        emit('response.output_text.done', { ...where, content_index: 0, text: entry.text, logprobs: [] });
        emit('response.content_part.done', { ...where, content_index: 0, part: textPart(entry.text) });
      } else {
        emit('response.function_call_arguments.done', { ...where, name: entry.block.call!.name, arguments: entry.text });
      }
      entry.done = outputItem(entry.block, entry.id, entry.text, truncated);
      emit('response.output_item.done', { output_index: block.index, item: entry.done });
    },
  });
  const take = () => {
    const events = out;
    out = '';
    return events;
  };
  const failed = (e: ShimmyError) => {
    const error = { code: sentCode(e), message: e.message };
    emit('response.failed', { response: object('failed', items.map((i) => i.done ?? outputItem(i.block, i.id, i.text)), { error }) });
    ex.endStream(take());
  };
  return {
    open: () => {
      ex.beginStream('text/event-stream');
      emit('response.created', { response: object('in_progress', []) });
      emit('response.in_progress', { response: object('in_progress', []) });
      ex.write(take());
    },
    text: (text) => {
      blocks.push(parser.push(text));
      if (out) ex.write(take());
    },
    done: (r) => {
      if (r.finishReason === 'cancelled') {
        failed(shutdownCancelled());
        return 503;
      }
      blocks.push(parser.finish().diffs);
      truncated = r.finishReason === 'length'; // only the block still open stops after this
      blocks.finish();
      const response = finish(r, items.map((i) => i.done!));
      emit(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
      ex.endStream(take());
    },
    error: failed,
  };
}

/** The tool types each server has said it does not offer (once each). */
const toolTypesLogged = new WeakMap<ServerContext, Set<string>>();

function logIgnoredTools(ctx: ServerContext, types: string[]): void {
  for (const type of types) {
    const logged = toolTypesLogged.get(ctx) ?? toolTypesLogged.set(ctx, new Set()).get(ctx)!;
    // Bounded, and only names that look like tool types: a client cannot grow the set or forge log lines.
    if (logged.has(type) || logged.size >= 64 || !/^[a-z][a-z0-9_.-]{0,63}$/.test(type)) continue;
    logged.add(type);
    ctx.log(`responses: tools of type '${type}' are accepted and not offered to the model (said once)`);
  }
}

const notFound = (id: string) => new ShimmyError('response_not_found', `No response with id '${id}' is stored (it may have been evicted, or made with another API key)`);

/** The stored conversation a request continues ([] for a new one). */
function historyOf(ctx: ServerContext, request: ResponsesInput, owner: string): ChatMessage[] {
  if (request.previousResponseId === undefined) return [];
  const previous = ctx.responses.get(request.previousResponseId, owner);
  if (!previous) throw notFound(request.previousResponseId);
  return previous.conversation;
}

async function create(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request = parseResponsesRequest(await ex.readJson(ctx.bodyLimit));
  logIgnoredTools(ctx, request.ignoredTools);
  const owner = ownerOf(ctx.apiKey);
  const history = historyOf(ctx, request, owner);
  const turn: Turn = { id: newId('resp'), createdAt: Math.floor(Date.now() / 1000), owner, history };
  return runGeneration(ctx, request.model, ex, async (model) => {
    const chat = await model.renderChat(request.chat(history));
    return { request: { ...request.sampling, chat }, sink: responseSink(ctx, ex, request, chat, turn) };
  });
}

async function inputTokens(ctx: ServerContext, ex: Exchange): Promise<number> {
  const request = parseInputTokensRequest(await ex.readJson(ctx.bodyLimit));
  const history = historyOf(ctx, request, ownerOf(ctx.apiKey));
  const rendered = await ctx.registry.use(request.model, (model) => model.renderChat(request.chat(history)));
  ex.json(200, { object: 'response.input_tokens', input_tokens: rendered.promptTokens });
  return 200;
}

function retrieve(ctx: ServerContext, ex: Exchange, [id]: string[]): number {
  const stored = ctx.responses.get(id!, ownerOf(ctx.apiKey));
  if (!stored) throw notFound(id!);
  ex.json(200, stored.response);
  return 200;
}

function remove(ctx: ServerContext, ex: Exchange, [id]: string[]): number {
  if (!ctx.responses.delete(id!, ownerOf(ctx.apiKey))) throw notFound(id!);
  ex.json(200, { id, object: 'response', deleted: true });
  return 200;
}

export const responsesRoutes: Route[] = [
  { method: 'POST', path: '/v1/responses', handler: create },
  { method: 'POST', path: '/v1/responses/input_tokens', handler: inputTokens },
  { method: 'GET', path: '/v1/responses/:id', handler: retrieve },
  { method: 'DELETE', path: '/v1/responses/:id', handler: remove },
];
