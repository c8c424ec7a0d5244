// POST /v1/embeddings: string or array input (texts or token ids), float or base64 encoding,
// computed on the model's embedding context (Model.embed).
import { ShimmyError } from '../../engine/errors.js';
import type { ServerContext } from '../context.js';
import type { Exchange } from '../exchange.js';
import { parseEmbeddingRequest } from './request.js';

export async function embeddings(ctx: ServerContext, ex: Exchange): Promise<number> {
  const { model: name, input, encodingFormat, dimensions } = parseEmbeddingRequest(await ex.readJson(ctx.bodyLimit));
  return ctx.registry.use(name, async (model) => {
    if (dimensions !== undefined && dimensions !== model.info.embeddingLength) {
      throw new ShimmyError('invalid_request', `'dimensions' must be ${model.info.embeddingLength} for this model (it cannot be reduced)`);
    }
    const { embeddings: vectors, promptTokens } = await model.embed(input);
    if (!ex.open) return 499;
    const data = vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: encodingFormat === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
    }));
    ex.json(200, { object: 'list', data, model: name, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
    return 200;
  });
}
