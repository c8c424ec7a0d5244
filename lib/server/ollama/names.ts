// Ollama's model names as clients send them: `name` and `name:latest` are one model.
import type { ServerContext } from '../context.js';

/** A client's name for a model: its own; `name:latest` for a model named `name`; `name` for one named `name:latest`. */
export function modelName(ctx: ServerContext, name: string): string {
  if (ctx.registry.resolve(name)) return name;
  if (name.endsWith(':latest')) return name.slice(0, -':latest'.length);
  return !name.includes(':') && ctx.registry.resolve(`${name}:latest`) ? `${name}:latest` : name;
}
