// `shimmy bench` as a user runs it: a child process on a real model, its table and its JSON.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fixtureModel, root, storiesModel } from './helpers/fixtures.mjs';

const run = promisify(execFile);
const cli = join(root, 'bin', 'shimmy.js');
const model = storiesModel() ?? fixtureModel();

async function failure(args) {
  const error = await run(process.execPath, [cli, 'bench', ...args]).then(() => assert.fail(`bench ${args.join(' ')} succeeded`), (e) => e);
  assert.equal(error.code, 1);
  const lines = error.stderr.trim().split('\n').filter((l) => !l.startsWith('loading '));
  assert.equal(lines.length, 1, error.stderr);
  return lines[0];
}

describe('shimmy bench', () => {
  test('-o json: prompt and generation at 1 and --parallel streams, each with its timed runs', async () => {
    const { stdout, stderr } = await run(process.execPath, [cli, 'bench', '--model', model, '-p', '48', '-n', '24', '-r', '3', '--parallel', '3', '-o', 'json']);
    const rows = JSON.parse(stdout);
    assert.deepEqual(rows.map((r) => [r.test, r.n_streams, r.n_prompt, r.n_gen]), [['pp48', 1, 48, 0], ['tg24', 1, 0, 24], ['pp48', 3, 48, 0], ['tg24', 3, 0, 24]]);
    for (const r of rows) {
      assert.equal(r.samples_ts.length, 3);
      assert.ok(r.samples_ts.every((v) => Number.isFinite(v) && v > 0), JSON.stringify(r.samples_ts));
      assert.ok(Math.abs(r.avg_ts - r.samples_ts.reduce((a, b) => a + b) / 3) < 1e-6 * r.avg_ts);
      assert.ok(r.stddev_ts >= 0);
      assert.equal(r.n_threads, null); // the adaptive default, as serve's
      assert.ok(r.model_n_params > 0 && r.model_size > 0);
      assert.equal(r.type_k, 'f16');
    }
    // The progress names each test as it starts.
    for (const test of ['pp48 at 1 stream', 'tg24 at 1 stream', 'pp48 at 3 streams', 'tg24 at 3 streams']) assert.ok(stderr.includes(`bench: ${test}`), stderr);
  });

  test('the table: a header, one row per test and what the model was loaded with; the memory flags reach the load', async () => {
    const { stdout } = await run(process.execPath, [cli, 'bench', '--model', model, '-p', '16', '-n', '0', '-r', '1', '--parallel', '1', '-t', '1', '--kv-unified']);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^\| model +\| +size \| +params \| backend \| threads \| streams \| +test \| +t\/s \|$/);
    assert.match(lines[1], /^\| -+ \| -+: \|/);
    assert.equal(lines.filter((l) => l.startsWith('| ')).length, 3, stdout); // header, rule, pp16 once (1 stream = --parallel)
    assert.match(lines[2], /\| +1 \| +1 \| +pp16 \| +\d+\.\d\d ± \d+\.\d\d \|$/);
    assert.match(stdout, /KV f16\/f16, one pool of \d+/);
  });

  test('bad flags and unknown models are one line and exit 1, before anything loads', async () => {
    assert.match(await failure(['--model', model, '-o', 'xml']), /--output must be md or json/);
    assert.match(await failure(['--model', model, '-r', '0']), /--repetitions must be a whole number from 1/);
    assert.match(await failure(['--model', model, '-p', '0', '-n', '0']), /nothing to measure/);
    assert.match(await failure(['--model', model, '--parallel', '1.5']), /--parallel must be a whole number/);
    assert.match(await failure(['--model', model, '--cache-type-k', 'q9']), /--cache-type-k must be one of/);
    assert.match(await failure(['--model', model, '-p', String(1 << 20)]), /--n-prompt must be a whole number from 0 to 1048575/);
    assert.match(await failure(['--model', model, '--kv-unified', '--kv-size', '64', '-p', '100']), /--kv-size 64 is smaller than the \d+ tokens of context a stream needs/);
    assert.match(await failure(['no-such-model', '--model', model]), /model 'no-such-model' not found/);
  });
});
