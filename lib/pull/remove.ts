// `shimmy rm NAME` and DELETE /api/delete: a model removed from the store it came from. An Ollama
// manifest goes with the blobs no other manifest uses; a Hugging Face snapshot file goes with its
// blob when no other snapshot links to it; a file in a models directory goes. The server's
// --model file and LM Studio's folders are not shimmy's to delete.
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, unlinkSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { DiscoveredModel } from '../models/discovery.js';
import { PullError } from './errors.js';

function walk(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  } catch {
    return [];
  }
}

const digestsOf = (manifest: string): string[] => {
  try {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { layers?: { digest?: unknown }[]; config?: { digest?: unknown } };
    return [...(m.layers ?? []), ...(m.config ? [m.config] : [])].map((l) => l?.digest).filter((d): d is string => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d));
  } catch {
    return [];
  }
};

function removeOllama(entry: DiscoveredModel, store: string): void {
  const manifests = walk(join(store, 'manifests'));
  const blobOf = (digest: string) => join(store, 'blobs', digest.replace(':', '-'));
  // The manifest under this name (manifests/<host>/<namespace>/<name>/<tag>) whose model is this file.
  const [name, tag] = entry.id.split(':') as [string, string];
  const suffix = join(name.includes('/') ? name : join('library', name), tag);
  const target = manifests.find((m) => m.endsWith(`${sep}${suffix}`) && digestsOf(m).some((d) => resolve(blobOf(d)) === resolve(entry.path)));
  if (!target) throw new PullError('not_found', `no manifest in ${store} names ${entry.id}`);
  const digests = digestsOf(target);
  unlinkSync(target);
  const stillUsed = new Set(manifests.filter((m) => m !== target).flatMap(digestsOf));
  for (const digest of digests) if (!stillUsed.has(digest) && existsSync(blobOf(digest))) unlinkSync(blobOf(digest));
}

function removeHuggingFace(entry: DiscoveredModel): void {
  const link = entry.path;
  const blob = realpathSync(link);
  unlinkSync(link);
  const repoRoot = resolve(blob, '..', '..');
  const linked = walk(join(repoRoot, 'snapshots')).some((p) => {
    try {
      return realpathSync(p) === blob;
    } catch {
      return false;
    }
  });
  if (!linked && lstatSync(blob, { throwIfNoEntry: false })?.isFile()) unlinkSync(blob);
}

/** Removes `entry` (see the file's head); `ollamaStore` is where Ollama's manifests live. */
export function removeModel(entry: DiscoveredModel, stores: { ollama: string }): void {
  switch (entry.source) {
    case 'ollama':
      return removeOllama(entry, stores.ollama);
    case 'huggingface':
      return removeHuggingFace(entry);
    case 'directory':
      return unlinkSync(entry.path);
    default:
      throw new PullError('invalid_source', `${entry.id} is ${entry.source === 'base' ? "the server's --model file" : "in LM Studio's folder"}: delete ${entry.path} yourself`);
  }
}
