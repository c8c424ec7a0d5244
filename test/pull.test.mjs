// `shimmy pull` against stand-in hosts on 127.0.0.1 (test/helpers/model-hosts.mjs), all offline:
// an Ollama registry pull cut at 40% and continued with Range, verified, listed by discovery; a
// cached pull that downloads nothing and an --offline one that makes no request; wrong digests,
// 404s, a 1 TB manifest and a tarball refused without leaving anything discovery would load; a
// Hugging Face pull into the hub cache's layout that @huggingface/hub reads, through a server
// that ignores Range; hostile names; rm; and /api/pull and /api/delete with the ollama client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanCacheDir } from '@huggingface/hub';
import { Ollama } from 'ollama';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { pull } from '../dist/pull/pull.js';
import { removeModel } from '../dist/pull/remove.js';
import { parseSource } from '../dist/pull/source.js';
import { startServer } from '../dist/server/app.js';
import { fixtureModel, root } from './helpers/fixtures.mjs';
import { scratchDir } from './helpers/scratch.mjs';

const gguf = readFileSync(fixtureModel());
const template = Buffer.from('{{ .Prompt }}');
const tarball = Buffer.concat([Buffer.from('ustar\0'), Buffer.alloc(4096, 7)]);
const commit = 'c0ffee'.padEnd(40, '0');

let host;
before(async () => {
  const { startModelHost } = await import('./helpers/model-hosts.mjs');
  host = await startModelHost({
    models: {
      'library/tiny:latest': { layers: [{ mediaType: 'application/vnd.ollama.image.model', bytes: gguf }, { mediaType: 'application/vnd.ollama.image.template', bytes: template }] },
      'library/liar:latest': { layers: [{ mediaType: 'application/vnd.ollama.image.model', bytes: gguf, digest: `sha256:${'ab'.repeat(32)}` }] },
      'library/huge:latest': { layers: [{ mediaType: 'application/vnd.ollama.image.model', bytes: gguf, size: 2 ** 40 }] },
      'library/tar:latest': { layers: [{ mediaType: 'application/vnd.ollama.image.model', bytes: tarball }] },
    },
    repos: {
      'org/tiny-GGUF': { sha: commit, files: { 'tiny-Q8_0.gguf': gguf, 'tiny-Q4_K_M.gguf': gguf.subarray(0), 'README.md': Buffer.from('# tiny') } },
      'org/split-GGUF': {
        sha: commit,
        files: { 'big-Q4_K_M-00001-of-00002.gguf': gguf, 'big-Q4_K_M-00002-of-00002.gguf': Buffer.from('second part'), 'big-Q8_0.gguf': Buffer.from('other'), 'mmproj-big-f16.gguf': Buffer.concat([gguf, Buffer.from('mmproj')]) },
      },
    },
  });
});
after(() => host.close());

const stores = (name) => {
  const dir = scratchDir(`pull-${name}`);
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const env = { OLLAMA_MODELS: join(dir, 'ollama'), HF_HUB_CACHE: join(dir, 'hf'), HF_ENDPOINT: host.url };
  return { dir, home, env, cwd: dir, discover: () => discoverModels({ env, home, cwd: dir }) };
};
const requestsSince = (n) => host.state.requests.slice(n);

describe('shimmy pull from an Ollama registry', () => {
  test('a transfer cut at 40% is continued with Range, verified, and listed; progress never goes backwards', async () => {
    const s = stores('ollama');
    const blob = `/blobhost/sha256:${host.sha256(gguf)}`;
    host.state.cutAt.set(blob, 0.4);
    await assert.rejects(pull(`${host.host}/library/tiny`, { ...s, insecure: true }), (e) => e.code === 'network' && /pull again/.test(e.message));
    assert.equal(s.discover().models.length, 0, 'nothing discovery would load');
    const partial = join(s.env.OLLAMA_MODELS, 'blobs', `sha256-${host.sha256(gguf)}.partial`);
    // What arrived before the cut (a reset connection may lose the last bytes the host wrote).
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept <= Math.floor(gguf.length * 0.4), `${kept} bytes kept`);
    const statuses = [];
    const from = host.state.requests.length;
    const result = await pull(`${host.host}/library/tiny:latest`, { ...s, insecure: true, onStatus: (st) => statuses.push(st) });
    const ranged = requestsSince(from).find((r) => r.path === blob);
    assert.match(ranged.range, /^bytes=\d+-$/, 'the transfer continued where it stopped');
    assert.equal(Number(ranged.range.slice(6, -1)), kept);
    assert.equal(result.id, 'tiny:latest');
    assert.deepEqual(readFileSync(result.path), gguf);
    const progress = statuses.filter((st) => st.digest === `sha256:${host.sha256(gguf)}`).map((st) => st.completed);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'never backwards');
    assert.equal(progress.at(-1), gguf.length);
    assert.deepEqual(statuses.filter((st) => !st.digest).map((st) => st.status), ['pulling manifest', 'verifying sha256 digest', 'writing manifest', 'success']);
    const listed = s.discover().models.find((m) => m.id === 'tiny:latest');
    assert.equal(listed.path, result.path);

    const again = host.state.requests.length;
    assert.equal((await pull(`${host.host}/library/tiny`, { ...s, insecure: true })).downloaded, false);
    assert.deepEqual(requestsSince(again).map((r) => r.path), ['/v2/library/tiny/manifests/latest'], 'up to date: only the manifest is asked for');
    const offline = host.state.requests.length;
    assert.equal((await pull(`${host.host}/library/tiny`, { ...s, offline: true })).path, result.path);
    assert.equal(host.state.requests.length, offline, '--offline makes no request');

    removeModel(listed, { ollama: s.env.OLLAMA_MODELS });
    assert.equal(s.discover().models.length, 0);
    assert.ok(!existsSync(result.path), 'its blobs went with it');
  });

  test('a server that goes silent mid-transfer fails the pull after the stall limit; the next pull continues', async () => {
    const s = stores('stall');
    const blob = `/blobhost/sha256:${host.sha256(gguf)}`;
    host.state.stallAt.set(blob, 0.5);
    await assert.rejects(pull(`${host.host}/library/tiny`, { ...s, insecure: true, stallMs: 300 }), (e) => e.code === 'network' && /sent nothing for 0.3 s/.test(e.message));
    const kept = statSync(join(s.env.OLLAMA_MODELS, 'blobs', `sha256-${host.sha256(gguf)}.partial`)).size;
    assert.ok(kept > 0, 'what arrived is kept');
    const from = host.state.requests.length;
    const result = await pull(`${host.host}/library/tiny`, { ...s, insecure: true });
    assert.equal(Number(requestsSince(from).find((r) => r.path === blob).range.slice(6, -1)), kept);
    assert.deepEqual(readFileSync(result.path), gguf);
  });

  test('a wrong digest, a 404, a 1 TB manifest and a tarball are refused, leaving nothing to load', async () => {
    const s = stores('refused');
    const opts = { ...s, insecure: true };
    await assert.rejects(pull(`${host.host}/library/liar`, opts), (e) => e.code === 'corrupt' && /sha256/.test(e.message));
    await assert.rejects(pull(`${host.host}/library/nope`, opts), { code: 'not_found' });
    await assert.rejects(pull(`${host.host}/library/huge`, opts), { code: 'no_space' });
    await assert.rejects(pull(`${host.host}/library/tar`, opts), (e) => e.code === 'corrupt' && /not a GGUF/.test(e.message));
    assert.deepEqual(s.discover().models, []);
    await assert.rejects(pull(`${host.host}/library/tiny`, { ...s, offline: true }), { code: 'offline' });
    await assert.rejects(pull(`${host.host}/library/tiny`, s), { code: 'network' }, 'https by default: the plain-http host does not answer it');
  });
});

describe('shimmy pull from Hugging Face', () => {
  test('the quant asked for (Q4_K_M when none is) lands in the hub cache layout @huggingface/hub reads; a server that ignores Range starts over cleanly', async () => {
    const s = stores('hf');
    const q8 = await pull('hf:org/tiny-GGUF:Q8_0', s);
    assert.equal(q8.id, 'org/tiny-GGUF/tiny-Q8_0');
    const repoDir = join(s.env.HF_HUB_CACHE, 'models--org--tiny-GGUF');
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), commit);
    const link = join(repoDir, 'snapshots', commit, 'tiny-Q8_0.gguf');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), `../../blobs/${host.sha256(gguf)}`);
    assert.deepEqual(readFileSync(link), gguf);
    const cache = await scanCacheDir(s.env.HF_HUB_CACHE);
    const repo = [...cache.repos].find((r) => r.id.name === 'org/tiny-GGUF');
    assert.ok(repo, '@huggingface/hub lists the repo');
    assert.equal([...repo.revisions][0].commitOid, commit);
    assert.ok(s.discover().models.some((m) => m.id === 'org/tiny-GGUF/tiny-Q8_0'));

    // A stale partial file and a server that answers 200 to Range: the file starts over.
    const cdn = '/cdn/org/tiny-GGUF/tiny-Q4_K_M.gguf';
    host.state.ignoreRange.add(cdn);
    const s2 = stores('hf-norange');
    const blobDir = join(s2.env.HF_HUB_CACHE, 'models--org--tiny-GGUF', 'blobs');
    mkdirSync(blobDir, { recursive: true });
    writeFileSync(join(blobDir, `${host.sha256(gguf)}.partial`), Buffer.alloc(100, 1));
    const q4 = await pull('hf.co/org/tiny-GGUF', s2);
    assert.equal(q4.id, 'org/tiny-GGUF/tiny-Q4_K_M');
    assert.deepEqual(readFileSync(q4.path), gguf);
    const from = host.state.requests.length;
    assert.equal((await pull('hf:org/tiny-GGUF', s2)).downloaded, false);
    assert.deepEqual(requestsSince(from).map((r) => r.path), ['/api/models/org/tiny-GGUF/revision/main'], 'a cached file is not fetched again');
    await assert.rejects(pull('hf:org/missing-GGUF', s2), { code: 'not_found' });
    await assert.rejects(pull('hf:org/tiny-GGUF:Q2_K', s2), (e) => e.code === 'not_found' && /Q2_K/.test(e.message));
    removeModel(s2.discover().models.find((m) => m.id === q4.id), { ollama: s2.env.OLLAMA_MODELS });
    assert.ok(!s2.discover().models.some((m) => m.id === q4.id));
  });
});

test('a split GGUF is fetched whole with the mmproj beside it; two pulls of one file share one transfer', async () => {
  const s = stores('split');
  const from = host.state.requests.length;
  const [a, b] = await Promise.all([pull('hf:org/split-GGUF', s), pull('hf:org/split-GGUF:Q4_K_M', s)]);
  assert.equal(a.path, b.path);
  assert.equal(a.id, 'org/split-GGUF/big-Q4_K_M-00001-of-00002');
  const snapshot = join(s.env.HF_HUB_CACHE, 'models--org--split-GGUF', 'snapshots', commit);
  for (const file of ['big-Q4_K_M-00001-of-00002.gguf', 'big-Q4_K_M-00002-of-00002.gguf', 'mmproj-big-f16.gguf']) assert.ok(existsSync(join(snapshot, file)), file);
  assert.ok(!existsSync(join(snapshot, 'big-Q8_0.gguf')), 'only the quant asked for');
  const transfers = requestsSince(from).filter((r) => r.method === 'GET' && r.path === '/cdn/org/split-GGUF/big-Q4_K_M-00001-of-00002.gguf');
  assert.equal(transfers.length, 1, 'one transfer for both pulls');
  assert.deepEqual(s.discover().models.filter((m) => m.id.startsWith('org/split-GGUF/big')).map((m) => m.id), ['org/split-GGUF/big-Q4_K_M-00001-of-00002'], 'discovery lists the first part only');
});

test('hostile sources are refused before any request', () => {
  const from = host.state.requests.length;
  for (const source of ['../x', '/etc/passwd', 'hf:../../x', 'hf:org/..', 'hf:org/repo/extra', 'a/b/c', 'library/..:latest', 'x:../../y', 'evil host/x/y', 'https://example.com/notes.txt', '', 'a'.repeat(600), 'name:tag:more']) {
    assert.throws(() => parseSource(source), (e) => e.code === 'invalid_source', source);
  }
  assert.deepEqual(parseSource('qwen2.5:0.5b'), { kind: 'ollama', host: 'registry.ollama.ai', namespace: 'library', name: 'qwen2.5', tag: '0.5b' });
  assert.deepEqual(parseSource('localhost:5000/team/model'), { kind: 'ollama', host: 'localhost:5000', namespace: 'team', name: 'model', tag: 'latest' });
  assert.equal(host.state.requests.length, from);
});

test('POST /api/pull streams progress to the ollama client and lists the model at once; DELETE /api/delete removes it; other hosts are refused', async () => {
  const s = stores('server');
  const registry = new ModelRegistry(s.discover(), { parallel: 1, contextSize: 256 });
  const server = await startServer({ host: '127.0.0.1', port: 0, registry, transport: 'node', ollamaBind: { host: '127.0.0.1', port: 0 }, rediscover: s.discover, pull: { env: s.env, home: s.home, cwd: s.cwd, allowHosts: [host.host] } });
  try {
    const ollama = new Ollama({ host: `http://127.0.0.1:${server.ollamaPort}` });
    const statuses = [];
    for await (const part of await ollama.pull({ model: `${host.host}/library/tiny`, insecure: true, stream: true })) statuses.push(part);
    assert.equal(statuses.at(-1).status, 'success');
    assert.ok(statuses.some((p) => p.total === gguf.length && p.completed === gguf.length));
    assert.ok((await ollama.list()).models.some((m) => m.name === 'tiny:latest'));
    assert.equal((await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], options: { num_predict: 2 }, stream: false })).done, true, 'servable at once, by its short name');
    await ollama.delete({ model: 'tiny' });
    assert.ok(!(await ollama.list()).models.some((m) => m.name === 'tiny:latest'));
    await assert.rejects(ollama.pull({ model: '127.0.0.2:9/library/x', insecure: true }), (e) => e.status_code === 403);
    await assert.rejects(ollama.pull({ model: '../../etc/passwd' }), (e) => e.status_code === 400);
    await assert.rejects(ollama.delete({ model: 'nope' }), (e) => e.status_code === 404);
  } finally {
    await server.close(100);
  }
});

test('the CLI prints progress lines off a terminal, one line on failure', async () => {
  const s = stores('cli');
  const run = (...args) => new Promise((resolve) => execFile(process.execPath, [join(root, 'bin', 'shimmy.js'), ...args], { env: { ...process.env, ...s.env, HOME: s.home }, cwd: s.cwd }, (error, stdout, stderr) => resolve({ code: error?.code ?? 0, stdout, stderr })));
  const ok = await run('pull', `${host.host}/library/tiny`, '--insecure');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^pulled tiny:latest /);
  assert.match(ok.stderr, /pulling manifest\n/);
  assert.match(ok.stderr, /100%/);
  const bad = await run('pull', 'hf:../x');
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const rm = await run('rm', 'tiny:latest');
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal((await run('rm', 'tiny:latest')).code, 1);
});
