// What `shimmy pull SOURCE` (and POST /api/pull) may name, parsed and checked before any request:
// a Hugging Face repo (`hf:org/repo[:QUANT]`, also `hf.co/…` and `huggingface.co/…` as Ollama
// takes them), an `https://…/file.gguf` URL, or an Ollama registry name
// `[host[:port]/][namespace/]name[:tag]`. Every part that becomes a path is checked, so a name
// cannot climb out of the store (`..`, absolute paths, separators).
import { PullError } from './errors.js';

export type Source =
  | { kind: 'huggingface'; repo: string; quant?: string }
  | { kind: 'url'; url: URL }
  | { kind: 'ollama'; host: string; namespace: string; name: string; tag: string };

const part = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const hostPattern = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;

const bad = (source: string, why: string): never => {
  throw new PullError('invalid_source', `'${source}' ${why}`);
};

const safePart = (value: string, source: string, what: string) => {
  if (!part.test(value) || value.includes('..')) bad(source, `has a ${what} that is not a plain name (${JSON.stringify(value)})`);
  return value;
};

export const OLLAMA_REGISTRY = 'registry.ollama.ai';

export function parseSource(source: string): Source {
  if (typeof source !== 'string' || source.length === 0 || source.length > 512) return bad(String(source).slice(0, 64), 'is not a model source');
  if (/^https?:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      return bad(source, 'is not a valid URL');
    }
    if (!/\.gguf$/i.test(url.pathname)) bad(source, 'does not name a .gguf file');
    return { kind: 'url', url };
  }
  const hf = /^(?:hf:|(?:https?:\/\/)?(?:hf\.co|huggingface\.co)\/)(.+)$/i.exec(source);
  if (hf) {
    const [repoPart, quant, ...rest] = hf[1]!.split(':');
    const [org, repo, ...more] = repoPart!.split('/');
    if (rest.length > 0 || more.length > 0 || !org || !repo) bad(source, 'must be hf:org/repo or hf:org/repo:QUANT');
    if (quant !== undefined && !tagPattern.test(quant)) bad(source, 'has a quantization that is not a plain name');
    return { kind: 'huggingface', repo: `${safePart(org!, source, 'organisation')}/${safePart(repo!, source, 'repository')}`, ...(quant ? { quant } : {}) };
  }
  // An Ollama name: a first part with a dot or a port (or localhost) is a registry host.
  const slash = source.indexOf('/');
  const first = slash > 0 ? source.slice(0, slash) : '';
  const hasHost = /[.:]/.test(first) || first === 'localhost';
  const host = hasHost ? first : OLLAMA_REGISTRY;
  if (!hostPattern.test(host) || host.includes('..') || host.startsWith('.')) bad(source, 'has a registry host that is not a host name');
  const [path, tag = 'latest', ...extra] = (hasHost ? source.slice(slash + 1) : source).split(':');
  if (extra.length > 0 || !tagPattern.test(tag)) bad(source, 'must be [host/][namespace/]name[:tag]');
  const parts = path!.split('/');
  if (parts.length > 2) bad(source, 'must be [host/][namespace/]name[:tag]');
  const name = parts.pop()!;
  const namespace = parts.pop() ?? 'library';
  return { kind: 'ollama', host, namespace: safePart(namespace, source, 'namespace'), name: safePart(name, source, 'name'), tag };
}
