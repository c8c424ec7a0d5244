// OpenAI's response shapes, built from the library's results: usage, chat messages and streamed
// deltas (tool calls included), finish reasons, and logprobs in the completions and chat forms.
import type { ParsedReply } from '../../engine/chat.js';
import type { CompletionResult, TokenLogprob } from '../../engine/generation.js';

export const usage = (r: CompletionResult) => ({
  prompt_tokens: r.usage.promptTokens,
  completion_tokens: r.usage.completionTokens,
  total_tokens: r.usage.totalTokens,
  prompt_tokens_details: { cached_tokens: r.usage.cachedTokens },
});

// One streamed delta in OpenAI's shape: a tool call's first piece carries its id and name.
export function delta(d: ParsedReply['diffs'][number]): Record<string, unknown> {
  if (d.toolCall) {
    const { id, name, arguments: args } = d.toolCall;
    const fn = name ? { name, arguments: args } : { arguments: args };
    return { tool_calls: [{ index: d.toolCallIndex, ...(name ? { id, type: 'function' } : {}), function: fn }] };
  }
  return d.reasoning ? { reasoning_content: d.reasoning } : { content: d.content };
}

export function assistantMessage(reply: ParsedReply): Record<string, unknown> {
  const calls = reply.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return {
    role: 'assistant',
    content: calls.length > 0 && reply.content === '' ? null : reply.content,
    ...(reply.reasoning ? { reasoning_content: reply.reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}

// Logprobs in the two shapes OpenAI uses: the legacy completions one, and chat's.
export function completionLogprobs(list: TokenLogprob[], offset: number) {
  const textOffset: number[] = [];
  for (const t of list) {
    textOffset.push(offset);
    offset += t.text.length;
  }
  return {
    tokens: list.map((t) => t.text),
    token_logprobs: list.map((t) => t.logprob),
    top_logprobs: list.map((t) => Object.fromEntries(t.top.map((a) => [a.text, a.logprob]))),
    text_offset: textOffset,
  };
}

const bytes = (text: string) => [...Buffer.from(text, 'utf8')];
export const chatLogprobs = (list: TokenLogprob[]) => ({
  content: list.map((t) => ({
    token: t.text,
    logprob: t.logprob,
    bytes: bytes(t.text),
    top_logprobs: t.top.map((a) => ({ token: a.text, logprob: a.logprob, bytes: bytes(a.text) })),
  })),
  refusal: null,
});

export const finishReason = (r: CompletionResult, reply?: ParsedReply) =>
  reply && reply.toolCalls.length > 0 ? 'tool_calls' : r.finishReason === 'length' ? 'length' : 'stop';
