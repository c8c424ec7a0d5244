// Server-Sent Events framing, written once for every dialect that streams.

/** A data-only event (the seed API's and OpenAI's chat and completions streams). */
export const sseData = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`;

/** A named event (the dialects whose clients dispatch on `event:`). */
export const sseEvent = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** The end of a data-only stream, as OpenAI sends it. */
export const SSE_DONE = 'data: [DONE]\n\n';
