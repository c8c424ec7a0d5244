// The generation options: one schema shared by the library, the seed API, the WebSocket and
// the OpenAI routes (which differ only in their defaults). Sampling defaults follow llama-server.
import { parseFields, type Parsed } from './schema.js';

export const generationFields = {
  maxTokens: { type: 'integer', wire: ['max_tokens', 'max_completion_tokens', 'n_predict'], min: 1, max: 1 << 20, doc: 'tokens to generate at most (absent: until the context is full)' },
  temperature: { type: 'number', wire: ['temperature'], min: 0, max: 2, default: 0.8, doc: 'sampling temperature; 0 is greedy' },
  topK: { type: 'integer', wire: ['top_k'], min: 0, max: 1 << 20, default: 40, doc: 'keep the k most likely tokens; 0 = off' },
  topP: { type: 'number', wire: ['top_p'], min: 0, max: 1, default: 0.95, doc: 'nucleus sampling; 1 = off' },
  minP: { type: 'number', wire: ['min_p'], min: 0, max: 1, default: 0.05, doc: 'drop tokens below min_p × the top probability; 0 = off' },
  repeatPenalty: { type: 'number', wire: ['repeat_penalty'], min: 0.01, max: 10, default: 1, doc: 'penalise repeated tokens; 1 = off' },
  frequencyPenalty: { type: 'number', wire: ['frequency_penalty'], min: -2, max: 2, default: 0, doc: 'OpenAI frequency penalty; 0 = off' },
  presencePenalty: { type: 'number', wire: ['presence_penalty'], min: -2, max: 2, default: 0, doc: 'OpenAI presence penalty; 0 = off' },
  penaltyLastN: { type: 'integer', wire: ['repeat_last_n'], min: 0, max: 1 << 20, default: 64, doc: 'how many recent tokens the penalties look at' },
  seed: { type: 'integer', wire: ['seed'], min: -1, max: Number.MAX_SAFE_INTEGER, default: -1, doc: 'sampling seed; -1 = random' },
  stop: { type: 'stop', wire: ['stop'], max: 16, default: [], doc: 'strings that end generation (not included in the text)' },
  ignoreEos: { type: 'boolean', wire: ['ignore_eos'], default: false, doc: 'keep generating past end-of-sequence' },
  grammar: { type: 'string', wire: ['grammar'], max: 65536, default: '', doc: 'GBNF grammar constraining the output' },
  // The OpenAI routes read it themselves: completions and chat spell it differently.
  logprobs: { type: 'integer', wire: [], min: 0, max: 20, doc: "each token's log-probability and this many likeliest alternatives" },
} as const;

export type GenerationOptions = Parsed<typeof generationFields>;

export function parseGenerationOptions(input: Record<string, unknown>): GenerationOptions {
  return parseFields(generationFields, input);
}
