// llama-server's LoRA routes: GET /lora-adapters lists a model's adapters with their default
// scales, POST /lora-adapters sets those defaults ([{id, scale}], the others off) for the
// requests that name no `lora` of their own. Both take ?model= (the default model otherwise).
import { parseLoraChoices, type LoraAdapter } from '../../engine/lora.js';
import { fail } from '../../engine/schema.js';
import type { ServerContext } from '../context.js';
import type { Exchange } from '../exchange.js';
import type { Route } from '../routes.js';

const modelName = (ex: Exchange) => new URLSearchParams(ex.req.query).get('model') ?? 'default';

/** As llama-server lists them; `name` is the file's stem. */
const listed = (adapters: LoraAdapter[]) => adapters.map(({ id, path, scale }) => ({ id, path, scale, name: path.split(/[\\/]/).pop()!.replace(/\.gguf$/i, '') }));

async function list(ctx: ServerContext, ex: Exchange): Promise<number> {
  ex.json(200, await ctx.registry.use(modelName(ex), (model) => listed(model.loraAdapters())));
  return 200;
}

async function set(ctx: ServerContext, ex: Exchange): Promise<number> {
  const body = await ex.readJson(ctx.bodyLimit);
  if (!Array.isArray(body)) fail('body', 'must be a list of {id, scale}');
  const choices = parseLoraChoices(body, 'body');
  ex.json(200, await ctx.registry.use(modelName(ex), (model) => listed(model.setLoraScales(choices))));
  return 200;
}

export const loraRoutes: Route[] = [
  { method: 'GET', path: '/lora-adapters', handler: list },
  { method: 'POST', path: '/lora-adapters', handler: set },
];
