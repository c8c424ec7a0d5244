// POST /v1/embeddings: string or array input (texts or token ids), float or base64 encoding,
// computed on the model's embedding context (Model.embed).
import { ShimmyError } from '../engine/errors.js';
import type { ServerContext } from './context.js';
import type { Exchange } from './exchange.js';
import { bodyObject, modelName } from './openai-request.js';

/** OpenAI's own cap on inputs per request. */
const maxInputs = 2048;

const isTokens = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && t >= 0);

function inputs(value: unknown): (string | number[])[] {
  const list = typeof value === 'string' || isTokens(value) ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) throw new ShimmyError('invalid_request', "'input' must be a string, an array of strings, or token arrays");
  if (list.length > maxInputs) throw new ShimmyError('invalid_request', `'input' may hold at most ${maxInputs} items`);
  list.forEach((item, i) => {
    if (typeof item === 'string' ? item === '' : !isTokens(item)) throw new ShimmyError('invalid_request', `input[${i}] must be a non-empty string or array of token ids`);
  });
  return list as (string | number[])[];
}

export async function embeddings(ctx: ServerContext, ex: Exchange): Promise<number> {
  const body = bodyObject(await ex.readJson(ctx.bodyLimit));
  const name = modelName(body);
  const items = inputs(body.input);
  const encoding = body.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') throw new ShimmyError('invalid_request', "'encoding_format' must be 'float' or 'base64'");
  return ctx.registry.use(name, async (model) => {
    if (body.dimensions !== undefined && body.dimensions !== null && body.dimensions !== model.info.embeddingLength) {
      throw new ShimmyError('invalid_request', `'dimensions' must be ${model.info.embeddingLength} for this model (it cannot be reduced)`);
    }
    const { embeddings: vectors, promptTokens } = await model.embed(items);
    if (!ex.open) return 499;
    const data = vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: encoding === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
    }));
    ex.json(200, { object: 'list', data, model: name, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
    return 200;
  });
}
