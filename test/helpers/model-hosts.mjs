// Stand-ins for the hosts `shimmy pull` fetches from, on 127.0.0.1: an Ollama registry (v2
// manifests, blobs redirected to a blob host) and a Hugging Face endpoint (the repo's revision,
// resolve URLs redirected to a CDN, with X-Linked-Etag and X-Linked-Size on the redirect). Files
// honour Range unless told not to; one transfer can be cut at a fraction; every request is logged.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * `models`: Ollama names ('library/tiny:latest') → { layers: [{ mediaType, bytes, digest? (to lie) , size? (to lie) }] }.
 * `repos`: 'org/repo' → { sha, files: { name: bytes } }.
 */
export async function startModelHost({ models = {}, repos = {} } = {}) {
  const blobs = new Map(); // path → bytes
  const manifests = new Map();
  for (const [name, { layers }] of Object.entries(models)) {
    const [path, tag] = name.split(':');
    const entries = layers.map((l) => {
      const digest = l.digest ?? `sha256:${sha256(l.bytes)}`;
      blobs.set(`/blobhost/${digest}`, l.bytes);
      return { mediaType: l.mediaType, digest, size: l.size ?? l.bytes.length };
    });
    manifests.set(`/v2/${path}/manifests/${tag}`, { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', layers: entries });
  }
  const lfs = new Map(); // resolve path → { sha, size, cdn }
  for (const [repo, { sha, files }] of Object.entries(repos)) {
    for (const [file, bytes] of Object.entries(files)) {
      const cdn = `/cdn/${repo}/${file}`;
      blobs.set(cdn, bytes);
      lfs.set(`/${repo}/resolve/${sha}/${file}`, { sha: sha256(bytes), size: bytes.length, cdn });
    }
  }
  const state = {
    requests: [],
    /** path → fraction: the next transfer of that file stops there and the connection drops. */
    cutAt: new Map(),
    /** paths answered whole (200) whatever Range asks. */
    ignoreRange: new Set(),
    /** path → fraction: the next transfer of that file stops there and the connection stays open, silent. */
    stallAt: new Map(),
  };
  const silent = new Set();
  const server = createServer((req, res) => {
    const path = req.url.split('?')[0];
    state.requests.push({ method: req.method, path, range: req.headers.range, authorization: req.headers.authorization });
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (manifests.has(path)) return json(200, manifests.get(path));
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (blob) {
      if (!blobs.has(`/blobhost/${blob[2]}`)) return json(404, { errors: [{ code: 'BLOB_UNKNOWN' }] });
      res.writeHead(307, { location: `/blobhost/${blob[2]}` });
      return res.end();
    }
    const revision = /^\/api\/models\/(.+)\/revision\/main$/.exec(path);
    if (revision) {
      const repo = repos[revision[1]];
      if (!repo) return json(404, { error: 'Repository not found' });
      return json(200, { id: revision[1], sha: repo.sha, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
    }
    if (lfs.has(path)) {
      const { sha, size, cdn } = lfs.get(path);
      res.writeHead(302, { location: cdn, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(size), etag: '"not-the-sha"' });
      return res.end();
    }
    if (!blobs.has(path)) return json(404, { error: 'not found' });
    const bytes = blobs.get(path);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = range && !state.ignoreRange.has(path) ? Number(range[1]) : 0;
    if (from >= bytes.length && range) {
      res.writeHead(416, { 'content-range': `bytes */${bytes.length}` });
      return res.end();
    }
    const body = bytes.subarray(from);
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), ...(from > 0 ? { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}) };
    res.writeHead(from > 0 ? 206 : 200, headers);
    if (req.method === 'HEAD') return res.end();
    const stall = state.stallAt.get(path);
    if (stall !== undefined) {
      state.stallAt.delete(path);
      silent.add(res);
      res.write(body.subarray(0, Math.max(0, Math.floor(bytes.length * stall) - from)));
      return;
    }
    const cut = state.cutAt.get(path);
    if (cut !== undefined) {
      state.cutAt.delete(path);
      const upTo = Math.floor(bytes.length * cut) - from;
      res.write(body.subarray(0, Math.max(0, upTo)), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${server.address().port}`;
  const close = () => {
    for (const res of silent) res.destroy();
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(resolve));
  };
  return { host, url: `http://${host}`, state, close, sha256 };
}
