// The shimmy API's request fields for /api/generate and /ws/generate: model, prompt, stream, plus
// the shared generation options, with the defaults the seed fixed (max_tokens 100, temperature 0.7).
import { generationFields } from '../engine/options.js';
import type { GenerateOptions } from '../engine/model.js';
import { parseFields } from '../engine/schema.js';
import { ShimmyError } from '../engine/errors.js';
import { seedGenerateDefaults } from '../engine/defaults.js';

export const generateRequestFields = {
  model: { type: 'string', wire: ['model'], max: 1024, doc: 'model id, file stem, or "default" (required)' },
  prompt: { type: 'string', wire: ['prompt'], doc: 'the text to continue (required)' },
  stream: { type: 'boolean', wire: ['stream'], default: false, doc: 'stream Server-Sent Events' },
  ...generationFields,
} as const;

export interface GenerateRequest {
  model: string;
  stream: boolean;
  generate: Omit<GenerateOptions, 'signal'>;
}

export function parseGenerateRequest(body: unknown): GenerateRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ShimmyError('invalid_request', 'the body must be a JSON object');
  }
  const f = parseFields(generateRequestFields, body as Record<string, unknown>, { wire: true, defaults: seedGenerateDefaults });
  if (f.model === undefined) throw new ShimmyError('invalid_request', "'model' is required");
  if (f.prompt === undefined) throw new ShimmyError('invalid_request', "'prompt' is required");
  const { model, prompt, stream, ...options } = f;
  return { model, stream: stream ?? false, generate: { ...options, prompt } };
}
