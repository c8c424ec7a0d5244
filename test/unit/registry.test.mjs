// The model registry's loading and eviction with a stand-in loader (no addon, no model): one load
// for concurrent first requests, the least recently used model unloaded past the cap, never one
// that a request holds.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelRegistry } from '../../dist/models/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'shimmy-registry-'));
const entries = ['a', 'b', 'c'].map((id) => {
  const path = join(dir, `${id}.gguf`);
  writeFileSync(path, 'GGUF');
  return { id, path, source: 'directory', sizeBytes: 4 };
});
const discovery = { base: entries[0], models: entries, searched: [] };

function standIn() {
  const log = [];
  const load = async (path) => {
    log.push(`load ${path.split('/').pop()}`);
    await new Promise((r) => setTimeout(r, 5));
    return { path, activeRequests: 0, brokenBecause: undefined, close: async () => void log.push(`close ${path.split('/').pop()}`) };
  };
  return { log, load };
}

test('concurrent first requests share one load; an unknown name is model_not_found', async () => {
  const { log, load } = standIn();
  const registry = new ModelRegistry(discovery, {}, 2, load);
  const [x, y] = await Promise.all([registry.get('a'), registry.get('default')]);
  assert.equal(x, y);
  assert.deepEqual(log, ['load a.gguf']);
  await assert.rejects(registry.get('nope'), { code: 'model_not_found' });
});

test('past the cap the least recently used model goes, not one a request holds', async () => {
  const { log, load } = standIn();
  const registry = new ModelRegistry(discovery, {}, 1, load);
  let release;
  const held = registry.use('a', () => new Promise((r) => (release = r)));
  await new Promise((r) => setTimeout(r, 20));
  await registry.get('b'); // a is held: both stay loaded for now
  assert.equal(registry.loadedCount, 2);
  release();
  await held; // the hold ends: a, the least recently used, goes
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['load a.gguf', 'load b.gguf', 'close a.gguf']);
  await registry.get('c');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log.slice(3), ['load c.gguf', 'close b.gguf']);
  await registry.closeAll();
  assert.equal(log.at(-1), 'close c.gguf');
});

test('idle unload: a model other than the default one goes keepAliveMs after its last request, listings do not touch the timer, the next request loads it again', async () => {
  const { log, load } = standIn();
  const registry = new ModelRegistry(discovery, {}, 3, load);
  registry.keepAliveMs = 40;
  await registry.use('default', () => {});
  await registry.use('b', () => {});
  assert.ok(registry.expiresAt('b') > Date.now(), 'b has an expiry');
  assert.equal(registry.expiresAt('default'), undefined, 'the default model stays');
  for (let i = 0; i < 3; i++) {
    registry.summaries();
    registry.peek('b');
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(log, ['load a.gguf', 'load b.gguf', 'close b.gguf']);
  assert.equal(registry.peek('b'), undefined);
  await registry.use('b', () => {}, { keepAliveMs: -1 });
  assert.equal(registry.expiresAt('b'), undefined, 'a request may keep it until evicted');
  await registry.use('default', () => {}, { keepAliveMs: 0 });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(log.slice(3), ['load b.gguf', 'close a.gguf'], 'keep_alive 0 unloads even the default one');
  let release;
  const held = registry.use('c', () => new Promise((r) => (release = r)), { keepAliveMs: 0 });
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(registry.peek('c'), 'not unloaded under a request');
  release();
  await held;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(registry.peek('c'), undefined);
  await registry.closeAll();
});

test("a request's keep_alive is its own (the next request without one gets the default); refresh drops a vanished model once its last request ends", async () => {
  const { log, load } = standIn();
  const registry = new ModelRegistry(discovery, {}, 3, load);
  registry.keepAliveMs = -1;
  await registry.use('b', () => {}, { keepAliveMs: 0 });
  await new Promise((r) => setTimeout(r, 10));
  await registry.use('b', () => {});
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(registry.peek('b'), 'a keep_alive of 0 does not stick to the model');
  const closes = () => log.filter((l) => l === 'close b.gguf').length;
  const before = closes();
  let release;
  const held = registry.use('b', () => new Promise((r) => (release = r)));
  await new Promise((r) => setTimeout(r, 10));
  await registry.refresh({ ...discovery, models: entries.filter((e) => e.id !== 'b') });
  assert.equal(registry.resolve('b'), undefined, 'no longer listed');
  assert.equal(closes(), before, 'but not closed under its request');
  release();
  await held;
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(closes(), before + 1, 'closed once its request ended');
  await registry.refresh(discovery);
  assert.ok(registry.resolve('b'), 'listed again');
  await registry.closeAll();
});
