// Model discovery over temporary directories laid out like the real stores, and the CLI as a
// child process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { discoverModels } from '../dist/models/discovery.js';
import { ModelRegistry } from '../dist/models/registry.js';
import { fixtureModel, root, storiesModel } from './helpers/fixtures.mjs';
import { scratchDir } from './helpers/scratch.mjs';

const run = promisify(execFile);
const cli = join(root, 'bin', 'shimmy.js');

function layout() {
  const home = scratchDir('home');
  const model = fixtureModel();
  // Hugging Face cache: blobs + a snapshot symlink
  const repo = join(home, '.cache', 'huggingface', 'hub', 'models--acme--tiny-GGUF');
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(join(repo, 'snapshots', 'abc123'), { recursive: true });
  copyFileSync(model, join(repo, 'blobs', 'deadbeef'));
  symlinkSync(join(repo, 'blobs', 'deadbeef'), join(repo, 'snapshots', 'abc123', 'tiny-q8.gguf'));
  // Ollama: manifest → blob, plus a manifest whose blob is not a GGUF
  const ollama = join(home, '.ollama', 'models');
  mkdirSync(join(ollama, 'blobs'), { recursive: true });
  copyFileSync(model, join(ollama, 'blobs', 'sha256-1111'));
  writeFileSync(join(ollama, 'blobs', 'sha256-2222'), 'not a model');
  for (const [name, digest] of [['tinyllama', '1111'], ['broken', '2222']]) {
    const dir = join(ollama, 'manifests', 'registry.ollama.ai', 'library', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'latest'), JSON.stringify({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` }] }));
  }
  // LM Studio and a plain ./models directory with a split model
  const lms = join(home, '.lmstudio', 'models', 'pub', 'repo');
  mkdirSync(lms, { recursive: true });
  copyFileSync(model, join(lms, 'lm.gguf'));
  const cwd = scratchDir('cwd');
  mkdirSync(join(cwd, 'models'));
  copyFileSync(model, join(cwd, 'models', 'local.gguf'));
  copyFileSync(model, join(cwd, 'models', 'big-00001-of-00002.gguf'));
  copyFileSync(model, join(cwd, 'models', 'big-00002-of-00002.gguf'));
  return { home, cwd };
}

describe('discovery', () => {
  test('finds ./models, the HF cache, Ollama and LM Studio with stable names', () => {
    const { home, cwd } = layout();
    const { models, base, searched } = discoverModels({ home, cwd, env: {} });
    const ids = models.map((m) => `${m.source}:${m.id}`).sort();
    assert.deepEqual(ids, [
      'directory:big-00001-of-00002',
      'directory:local',
      'huggingface:acme/tiny-GGUF/tiny-q8',
      'lmstudio:pub/repo/lm',
      'ollama:tinyllama:latest',
    ]);
    assert.equal(base.id, 'big-00001-of-00002'); // the first one found when none is named
    assert.ok(searched.every((s) => typeof s.exists === 'boolean'));
  });

  test('SHIMMY_BASE_GGUF and SHIMMY_MODEL_PATHS', () => {
    const { home, cwd } = layout();
    const extra = scratchDir('extra');
    copyFileSync(fixtureModel(), join(extra, 'extra.gguf'));
    const { models, base } = discoverModels({ home, cwd, env: { SHIMMY_BASE_GGUF: fixtureModel('q8_0'), SHIMMY_MODEL_PATHS: `${extra};/does/not/exist` } });
    assert.equal(base.id, 'tiny-llama-spm-q8_0');
    assert.ok(models.some((m) => m.id === 'extra'));
  });
});

describe('listing', () => {
  test("a listing reads a model's header again when the file changes, not on every call", () => {
    const dir = scratchDir('list');
    const path = join(dir, 'swapped.gguf');
    copyFileSync(fixtureModel('q8_0'), path);
    const registry = new ModelRegistry(discoverModels({ modelPath: path, env: {}, cwd: dir, home: dir }));
    const quantization = () => registry.summaries().find((m) => m.path === path)?.quantization;
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000); // whole seconds: restorable exactly
    utimesSync(path, mtime, mtime);
    assert.equal(quantization(), 'Q8_0');
    // The header damaged in place, size and mtime as they were: the listing does not read it again.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, 4);
    closeSync(fd);
    utimesSync(path, mtime, mtime);
    assert.equal(quantization(), 'Q8_0');
    utimesSync(path, mtime, new Date(mtime.getTime() + 5000)); // now it is read, and unreadable
    assert.equal(quantization(), undefined);
    copyFileSync(fixtureModel('q4_0'), path); // another size and mtime
    assert.equal(quantization(), 'Q4_0');
  });
});

describe('cli', () => {
  const model = storiesModel() ?? fixtureModel();

  test('-V prints the version; -h lists the seed verbs and flags', async () => {
    const { stdout } = await run(process.execPath, [cli, '-V']);
    assert.match(stdout, /^shimmy \d+\.\d+\.\d+/);
    const help = (await run(process.execPath, [cli, '--help'])).stdout;
    for (const word of ['serve', 'generate', 'list', 'probe', 'diag', '-v, --verbose', '-V, --version', '-h, --help']) assert.ok(help.includes(word), word);
  });

  test('bad flags, commands and models are one line on stderr and a non-zero exit', async () => {
    // A server flag out of the engine's range stops serve at once, rather than start a server that blames every client.
    const badServe = [['--parallel', '0'], ['--ctx-size=-1'], ['--threads', '100000'], ['--body-limit', '0'], ['--max-loaded', '0'],
      ['--cache-type-k', 'q9'], ['--flash-attn', 'maybe'], ['--cache-type-v', 'q8_0', '--flash-attn', 'off'], ['--kv-size', '4096'], ['--kv-unified', '--kv-size', '1'],
      ['--n-cpu-moe=-1'], ['--override-tensor', 'exps'], ['--override-tensor', 'ffn_(=CPU'], ['--override-tensor', 'exps=NoSuchGPU0']].map((flag) => ['serve', '--port', '0', '--model', model, ...flag]);
    // So does an environment variable outside its range.
    const badEnv = [{ SHIMMY_GPU: 'foo' }, { SHIMMY_TRANSPORT: 'foo' }, { SHIMMY_RPC_WORKERS: 'garbage' }, { SHIMMY_RPC_WORKERS: '10.0.0.1:99999' }];
    const cases = [['list', '--bogus'], ['frobnicate'], ['generate', '--prompt', 'x', '--model', '/no/such.gguf'], ['generate', '--model', model], ['probe', 'nope', '--model', model], ...badServe].map((args) => ({ args, env: {} }));
    cases.push(...badEnv.map((env) => ({ args: ['serve', '--port', '0', '--model', model], env })));
    for (const { args, env } of cases) {
      const error = await run(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }).then(() => null, (e) => e);
      assert.ok(error, `${JSON.stringify(env)} ${args.join(' ')} succeeded`);
      assert.notEqual(error.code, 0);
      assert.equal(error.stderr.trim().split('\n').filter((l) => !l.startsWith('loading')).length, 1, error.stderr);
      assert.match(error.stderr, /^shimmy: /m);
    }
  });

  test("generate's sampling flags are the generation options' own declarations, checked the same way", async () => {
    const { cliGenerateFields } = await import('../dist/cli/generate.js');
    const help = (await run(process.execPath, [cli, 'generate', '--help'])).stdout;
    for (const field of Object.values(cliGenerateFields)) {
      if (field.wire.length === 0) continue;
      const shown = typeof field.default === 'number' || typeof field.default === 'boolean' ? ` +\\(default ${field.default}\\)` : '';
      assert.match(help, new RegExp(`--${field.wire[0].replace(/_/g, '-')} +${field.doc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${shown}`));
    }
    assert.equal(cliGenerateFields.maxTokens.default, 100); // the seed's defaults for the CLI
    for (const [flag, value, message] of [['--top-k', '1.5', /'--top-k' must be an integer/], ['--temperature', '9', /'--temperature' must be between 0 and 2/], ['--repeat-last-n', '-1', /'--repeat-last-n' must be between 0/]]) {
      const error = await run(process.execPath, [cli, 'generate', '--prompt', 'x', flag, value, '--model', model]).then(() => null, (e) => e);
      assert.equal(error?.code, 1);
      assert.match(error.stderr, message);
      assert.doesNotMatch(error.stderr, /loading/, 'refused before the model loads');
    }
    const { stdout } = await run(process.execPath, [cli, 'generate', '--prompt', 'Once upon a time', '--max-tokens', '30', '--ignore-eos', '--temperature', '0', '--repeat-last-n', '32', '--presence-penalty', '2', '--model', model]);
    const plain = (await run(process.execPath, [cli, 'generate', '--prompt', 'Once upon a time', '--max-tokens', '30', '--ignore-eos', '--temperature', '0', '--model', model])).stdout;
    assert.notEqual(stdout, plain, 'the penalty flags reached the sampler');
    // llama.cpp's spelling of "a random seed": a negative number after a flag is its value.
    const random = await run(process.execPath, [cli, 'generate', '--prompt', 'Once', '--max-tokens', '4', '--seed', '-1', '--temperature', '0.8', '--model', model]);
    assert.ok(random.stdout.trim().length > 0);
  });

  test('generate streams the completion to stdout', async () => {
    const { stdout } = await run(process.execPath, [cli, 'generate', '--prompt', 'Once upon a time', '--max-tokens', '12', '--temperature', '0', '--model', model]);
    assert.ok(stdout.trim().length > 0);
    if (storiesModel()) assert.ok(stdout.startsWith(', there was a little girl'));
  });

  test("-v passes llama.cpp's own log to stderr; without it there is none", async () => {
    const args = [cli, 'generate', '--prompt', 'Once', '--max-tokens', '2', '--temperature', '0', '--model', model];
    const verbose = await run(process.execPath, [...args, '-v']);
    assert.match(verbose.stderr, /^llama\.cpp: llama_model_loader: /m);
    assert.doesNotMatch((await run(process.execPath, args)).stderr, /llama\.cpp:/);
  });

  test("the seed's global flags work before the command as after it", async () => {
    const gen = ['--prompt', 'Once', '--max-tokens', '2', '--temperature', '0', '--model', model];
    for (const args of [['-v', 'generate', ...gen], ['--verbose', 'generate', ...gen], ['generate', '-v', ...gen], ['generate', ...gen, '--verbose']]) {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
      assert.ok(stdout.trim().length > 0, args.join(' '));
      assert.match(stderr, /^llama\.cpp: /m, `${args.join(' ')}: verbose`);
    }
    for (const args of [['-v', 'diag', '--model', model], ['--verbose', 'diag', '--model', model], ['diag', '-v', '--model', model]]) {
      assert.match((await run(process.execPath, [cli, ...args])).stdout, /cpu features:/, args.join(' '));
    }
    for (const args of [['-h', 'list'], ['--help', 'list'], ['list', '-h'], ['list', '--help']]) {
      assert.match((await run(process.execPath, [cli, ...args])).stdout, /List the available models/, args.join(' '));
    }
    for (const args of [['-V'], ['--version'], ['list', '-V'], ['-V', 'list'], ['generate', '--version']]) {
      assert.match((await run(process.execPath, [cli, ...args])).stdout, /^shimmy \d+\.\d+\.\d+/, args.join(' '));
    }
  });

  test('list --short prints model names only, one per line', async () => {
    const { stdout } = await run(process.execPath, [cli, 'list', '--short', '--model', model]);
    assert.deepEqual(stdout.trim().split('\n'), [basename(model, '.gguf')]);
  });

  test('list, probe and diag report on the model', async () => {
    assert.match((await run(process.execPath, [cli, 'list', '--model', model])).stdout, /\(default\)/);
    assert.match((await run(process.execPath, [cli, 'probe', '--model', model])).stdout, /status:\s+ok/);
    const diag = (await run(process.execPath, [cli, 'diag', '--model', model])).stdout;
    for (const word of ['node:', 'cpu features:', 'binary:', 'backend:', 'memory:', 'model dirs:']) assert.ok(diag.includes(word), word);
  });

  test('serve refuses a port in use with one line', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = blocker.address().port;
    const error = await run(process.execPath, [cli, 'serve', '--bind', `127.0.0.1:${port}`, '--model', model]).then(() => null, (e) => e);
    blocker.close();
    assert.ok(error);
    assert.match(error.stderr, /^shimmy: cannot listen/m);
  });
});
