// The Responses store: each stored response's object (for GET) and its conversation (input and
// output as chat messages, for previous_response_id), in memory only, bounded by bytes and count;
// the least recently used goes first. A response is visible only to the API key that made it.
import type { ChatMessage } from '../../engine/chat.js';

export interface StoredResponse {
  /** Who made it: a digest of the API key it came with ('' without one). */
  owner: string;
  response: Record<string, unknown>;
  /** The conversation up to and including this response, without its instructions. */
  conversation: ChatMessage[];
}

export interface ResponseStoreLimits {
  /** Bytes of JSON all entries may take together. */
  maxBytes: number;
  maxCount: number;
}

/** 64 MiB and 10,000 responses (`serve --responses-store MiB`). */
export const DEFAULT_RESPONSE_STORE: ResponseStoreLimits = { maxBytes: 64 << 20, maxCount: 10_000 };

export class ResponseStore {
  private readonly entries = new Map<string, StoredResponse & { bytes: number }>();
  private bytes = 0;

  constructor(readonly limits: ResponseStoreLimits = DEFAULT_RESPONSE_STORE) {}

  get size(): number {
    return this.entries.size;
  }

  /** Keeps `entry` (an entry larger than the whole store is not kept), dropping the least recently used past the limits. */
  put(id: string, entry: StoredResponse): void {
    this.delete(id, entry.owner);
    // Counted as if nothing were shared: a conversation's earlier turns are counted again in every
    // response that continues it (they are shared in memory), so the bound is conservative.
    const bytes = Buffer.byteLength(JSON.stringify(entry.response)) + Buffer.byteLength(JSON.stringify(entry.conversation));
    if (bytes > this.limits.maxBytes || this.limits.maxCount < 1) return;
    this.entries.set(id, { ...entry, bytes });
    this.bytes += bytes;
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.limits.maxBytes && this.entries.size <= this.limits.maxCount) break;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
    }
  }

  /** The entry, if it is there and `owner`'s; it becomes the most recently used. */
  get(id: string, owner: string): StoredResponse | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.owner !== owner) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  delete(id: string, owner: string): boolean {
    const entry = this.entries.get(id);
    if (!entry || entry.owner !== owner) return false;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
    return true;
  }
}
