// A chat reply as a sequence of blocks (reasoning, text, one per tool call), the unit Anthropic's
// Messages and OpenAI's Responses stream in: each block is started, grows by deltas, and is
// stopped before the next one starts. Fed with the reply parser's diffs (lib/engine/chat.ts).
import type { ParsedReply } from '../../engine/chat.js';

export type BlockKind = 'reasoning' | 'text' | 'tool';

export interface Block {
  /** Its position among the reply's blocks, from 0. */
  index: number;
  kind: BlockKind;
  /** A tool block's call id and function name (known when it starts). */
  call?: { id: string; name: string };
}

/** What a dialect writes for each block event. */
export interface BlockWriter {
  start(block: Block): void;
  delta(block: Block, piece: string): void;
  stop(block: Block): void;
}

export class ReplyBlocks {
  private current: Block | undefined;
  private count = 0;
  private toolCallIndex = -1;

  constructor(private readonly writer: BlockWriter) {}

  /** Streams the parser's diffs as block events. */
  push(diffs: ParsedReply['diffs']): void {
    for (const d of diffs) {
      if (d.toolCall) {
        // A call's first diff names it; the rest extend its arguments.
        if (d.toolCallIndex !== this.toolCallIndex || d.toolCall.name) {
          this.toolCallIndex = d.toolCallIndex!;
          this.begin('tool', { id: d.toolCall.id, name: d.toolCall.name });
        }
        if (d.toolCall.arguments) this.writer.delta(this.current!, d.toolCall.arguments);
        continue;
      }
      if (d.reasoning) this.extend('reasoning', d.reasoning);
      if (d.content) this.extend('text', d.content);
    }
  }

  /** Stops the open block; returns how many blocks the reply had. */
  finish(): number {
    if (this.current) this.writer.stop(this.current);
    this.current = undefined;
    return this.count;
  }

  private extend(kind: 'reasoning' | 'text', piece: string): void {
    if (this.current?.kind !== kind) this.begin(kind);
    this.writer.delta(this.current!, piece);
  }

  private begin(kind: BlockKind, call?: Block['call']): void {
    if (this.current) this.writer.stop(this.current);
    this.current = { index: this.count++, kind, ...(call ? { call } : {}) };
    this.writer.start(this.current);
  }
}

/** A whole reply's blocks with their text (a tool block's text is its arguments), for non-streamed answers. */
export function wholeBlocks(reply: ParsedReply): (Block & { text: string })[] {
  const blocks: (Block & { text: string })[] = [];
  if (reply.reasoning) blocks.push({ index: blocks.length, kind: 'reasoning', text: reply.reasoning });
  if (reply.content) blocks.push({ index: blocks.length, kind: 'text', text: reply.content });
  for (const c of reply.toolCalls) blocks.push({ index: blocks.length, kind: 'tool', call: { id: c.id, name: c.name }, text: c.arguments });
  return blocks;
}
