// A turn's text blocks as a chat message's content: one block as its text, several as text parts,
// which llama.cpp joins with newlines as it does for chat completions' parts.
import type { ChatContentPart } from '../../engine/chat.js';

export function textContent(texts: string[]): string | ChatContentPart[] {
  if (texts.length <= 1) return texts[0] ?? '';
  return texts.map((text) => ({ type: 'text', text }));
}

/** A turn's parts, images among them, as its content: text only as textContent's, else the parts in their order. */
export function partsContent(parts: ChatContentPart[]): string | ChatContentPart[] {
  if (parts.every((p) => p.type === 'text')) return textContent(parts.map((p) => (p as { text: string }).text));
  return parts;
}
