// The shimmy API's requests: POST /api/generate and the WebSocket's messages on /ws/generate.
// Model, prompt, stream, plus the shared generation options with the defaults the seed fixed
// (max_tokens 100, temperature 0.7).
import { apiGenerateDefaults } from '../../engine/defaults.js';
import type { GenerationRequest } from '../../engine/model.js';
import { loraField } from '../../engine/lora.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody, withDefaults } from '../../engine/schema.js';

/** Every frame of a WebSocket request echoes its id: a long one would multiply the output. */
const MAX_ID_LENGTH = 256;

export const generateRequestFields = {
  model: { type: 'string', wire: ['model'], max: 1024, required: true, doc: 'model id, file stem, or "default"' },
  prompt: { type: 'string', wire: ['prompt'], required: true, doc: 'the text to continue' },
  stream: { type: 'boolean', wire: ['stream'], default: false, doc: 'stream Server-Sent Events' },
  ...withDefaults(generationFields, apiGenerateDefaults),
  lora: loraField,
} as const;

function requestId(value: unknown, name: string): string | number {
  if (typeof value !== 'string' && typeof value !== 'number') fail(name, 'must be a string or a number');
  if (typeof value === 'string' && value.length > MAX_ID_LENGTH) fail(name, `may be at most ${MAX_ID_LENGTH} characters`);
  return value;
}

const { stream: _always, ...streamedRequestFields } = generateRequestFields;

/** A WebSocket request: /api/generate's fields (it always streams), and an id. */
export const websocketRequestFields = {
  id: { type: 'any', wire: ['id'], check: requestId, shape: 'string or number', doc: `names the request (up to ${MAX_ID_LENGTH} characters): every frame it causes carries it, and several may run at once` },
  ...streamedRequestFields,
} as const;

/** The WebSocket message that stops a running request. */
export const websocketCancelFields = {
  cancel: { type: 'any', wire: ['cancel'], required: true, check: requestId, shape: 'string or number', doc: 'the id of a running request to stop (a message with `cancel` needs no other field)' },
} as const;

/** A seed API request, parsed once: the model's name, and the request as the engine takes it. */
export interface GenerateRequest {
  model: string;
  stream: boolean;
  request: GenerationRequest;
}

export function parseGenerateRequest(body: unknown): GenerateRequest {
  const { model, stream, ...request } = parseFields(generateRequestFields, requestBody(body), { wire: true });
  return { model, stream, request };
}

export function parseWebSocketRequest(message: Record<string, unknown>): GenerateRequest & { id?: string | number } {
  const { id, model, ...request } = parseFields(websocketRequestFields, message, { wire: true });
  return { id, model, stream: true, request };
}
