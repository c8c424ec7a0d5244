// llama-server's small utility routes, which editors and scripts call: POST /tokenize,
// POST /detokenize, POST /apply-template and GET /props, in its shapes. Each takes an optional
// `model` (the body's, or /props?model=), the default model otherwise.
import type { ChatMessage } from '../../engine/chat.js';
import { generationFields } from '../../engine/options.js';
import { fail, parseFields, requestBody } from '../../engine/schema.js';
import type { ServerContext } from '../context.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Pieces are made on the main thread: bounded. */
const MAX_PIECES = 100_000;

const modelField = { type: 'string', wire: ['model'], default: 'default', doc: 'model id (default: the default model)' } as const;

export const tokenizeFields = {
  model: modelField,
  content: { type: 'string', wire: ['content'], required: true, doc: 'the text to tokenize' },
  addSpecial: { type: 'boolean', wire: ['add_special'], default: false, doc: 'add the model\'s BOS (and EOS) tokens' },
  parseSpecial: { type: 'boolean', wire: ['parse_special'], default: true, doc: 'read special-token text (<|im_start|>) as those tokens' },
  withPieces: { type: 'boolean', wire: ['with_pieces'], default: false, doc: 'return {id, piece} pairs; a piece that is not whole UTF-8 is its bytes' },
} as const;

function tokenIds(value: unknown, name: string): number[] {
  const list = value as unknown[];
  list.forEach((t, i) => {
    if (!Number.isInteger(t) || (t as number) < 0 || (t as number) > 0x7fffffff) fail(`${name}[${i}]`, 'must be a token id');
  });
  return list as number[];
}

export const detokenizeFields = {
  model: modelField,
  tokens: { type: 'array', wire: ['tokens'], required: true, max: 1 << 20, check: tokenIds, doc: 'token ids' },
} as const;

export const applyTemplateFields = {
  model: modelField,
  messages: { type: 'array', wire: ['messages'], required: true, doc: 'the conversation, as chat completions takes it' },
  templateKwargs: { type: 'object', wire: ['chat_template_kwargs'], doc: 'extra variables for the model\'s template' },
} as const;

/** A token's piece as llama-server gives it: text when it is whole UTF-8, else its bytes. */
function pieceOf(bytes: Buffer): string | number[] {
  try {
    return utf8.decode(bytes);
  } catch {
    return [...bytes];
  }
}

async function tokenize(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(tokenizeFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  const tokens = await ctx.registry.use(f.model, async (model) => {
    const ids = [...(await model.tokenizeAsync(f.content, f.addSpecial, f.parseSpecial))];
    if (f.withPieces && ids.length > MAX_PIECES) fail('with_pieces', `takes at most ${MAX_PIECES} tokens (this content has ${ids.length})`);
    if (!f.withPieces) return ids;
    const pieces = model.pieces(ids);
    return ids.map((id, i) => ({ id, piece: pieceOf(pieces[i]!) }));
  });
  ex.json(200, { tokens });
  return 200;
}

async function detokenize(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(detokenizeFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  const content = await ctx.registry.use(f.model, (model) => {
    const outside = f.tokens.findIndex((t) => t >= model.info.vocabSize);
    if (outside >= 0) fail(`tokens[${outside}]`, `must be below the vocabulary size (${model.info.vocabSize})`);
    return model.detokenize(f.tokens);
  });
  ex.json(200, { content });
  return 200;
}

async function applyTemplate(ctx: ServerContext, ex: Exchange): Promise<number> {
  const f = parseFields(applyTemplateFields, requestBody(await ex.readJson(ctx.bodyLimit)), { wire: true });
  const rendered = await ctx.registry.use(f.model, (model) => model.renderChat({ messages: f.messages as ChatMessage[], templateKwargs: f.templateKwargs }));
  ex.json(200, { prompt: rendered.prompt });
  return 200;
}

/** The library's sampling defaults (llama-server's), in llama-server's names. */
function defaultParams(): Record<string, unknown> {
  const d = parseFields(generationFields, {});
  return {
    n_predict: -1,
    temperature: d.temperature,
    top_k: d.topK,
    top_p: d.topP,
    min_p: d.minP,
    repeat_penalty: d.repeatPenalty,
    repeat_last_n: d.penaltyLastN,
    frequency_penalty: d.frequencyPenalty,
    presence_penalty: d.presencePenalty,
    seed: d.seed,
    stop: d.stop,
    ignore_eos: d.ignoreEos,
  };
}

async function props(ctx: ServerContext, ex: Exchange): Promise<number> {
  const name = new URLSearchParams(ex.req.query).get('model') ?? 'default';
  const body = await ctx.registry.use(name, (model) => {
    const { info } = model;
    const special = (token: number) => (token >= 0 ? model.detokenize([token], true) : '');
    return {
      default_generation_settings: { n_ctx: info.contextSize, params: defaultParams() },
      total_slots: info.parallel,
      model_path: info.path,
      model_alias: ctx.registry.resolve(name)?.id ?? name,
      n_ctx: info.contextSize,
      chat_template: info.chatTemplate ?? '',
      bos_token: special(info.bosToken),
      eos_token: special(info.eosToken),
      modalities: { vision: info.modalities.includes('vision'), audio: info.modalities.includes('audio') },
      build_info: `shimmy ${ctx.version}`,
    };
  });
  ex.json(200, body);
  return 200;
}

export const llamaServerRoutes: Route[] = [
  { method: 'POST', path: '/tokenize', handler: tokenize },
  { method: 'POST', path: '/detokenize', handler: detokenize },
  { method: 'POST', path: '/apply-template', handler: applyTemplate },
  { method: 'GET', path: '/props', handler: props },
];
