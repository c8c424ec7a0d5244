// The server's model registry: loads shared by concurrent requests, the cap on loaded models,
// and holds (use()) that keep a model loaded under a request between its steps.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { fixtureModel } from './helpers/fixtures.mjs';
import { scratchDir } from './helpers/scratch.mjs';

function twoModels(maxLoaded) {
  const dir = scratchDir('registry');
  copyFileSync(fixtureModel('f32', 'phi-3'), join(dir, 'chatty.gguf'));
  copyFileSync(fixtureModel('q8_0'), join(dir, 'other.gguf'));
  const discovery = discoverModels({ modelDirs: [dir], env: {}, cwd: '/nonexistent', home: '/nonexistent' });
  return new ModelRegistry(discovery, { parallel: 1, contextSize: 256 }, maxLoaded);
}

test('a model is not unloaded under a request that is rendering its chat; the cap returns when the request ends', async () => {
  const registry = twoModels(1);
  try {
    const text = await registry.use('chatty', async (model) => {
      await registry.get('other'); // a second model over the cap of one, loaded meanwhile
      assert.equal(registry.loadedCount, 2);
      const rendered = await model.renderChat({ messages: [{ role: 'user', content: 'Hello' }] });
      return (await model.complete({ prompt: rendered.prompt, maxTokens: 4, temperature: 0 })).text;
    });
    assert.equal(typeof text, 'string');
    for (let i = 0; i < 100 && registry.loadedCount > 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(registry.loadedCount, 1);
    assert.equal(registry.peek('chatty'), undefined, 'the least recently used model is the one unloaded');
    assert.ok(registry.peek('other'));
  } finally {
    await registry.closeAll();
  }
});

test('concurrent first uses share one load; an unknown name is model_not_found', async () => {
  const registry = twoModels(2);
  try {
    const [a, b] = await Promise.all([registry.use('other', (m) => m), registry.use('other', (m) => m)]);
    assert.equal(a, b);
    await assert.rejects(registry.use('nope', () => 1), { code: 'model_not_found' });
  } finally {
    await registry.closeAll();
  }
});
