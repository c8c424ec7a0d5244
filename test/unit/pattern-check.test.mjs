// The nested-repetition count of JSON-schema patterns (lib/engine/pattern-check.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NESTED_REPETITIONS, nestedRepetitions, patternRefusal } from '../../dist/engine/pattern-check.js';

test('repetitions multiply only where a repeated group has repetitions inside', () => {
  assert.equal(nestedRepetitions('^((a{0,100}){0,100}){0,100}$'), 1_000_000);
  assert.equal(nestedRepetitions('^(?:a{0,30}){0,30}$'), 900);
  assert.equal(nestedRepetitions('^(a(b{2}){5}){1000}$'), 10_000);
  assert.equal(nestedRepetitions('^([a-z]{1,63}\\.){1,127}$'), 8001);
  // Flat repetitions, escapes and classes that look like groups do not multiply.
  assert.equal(nestedRepetitions('^[a-z]{0,50000}$'), 1);
  assert.equal(nestedRepetitions('^\\({5}[(]{5}(x){9}$'), 1);
  assert.equal(nestedRepetitions('^(\\d{1,3}\\.){3}\\d{1,3}$'), 9);
  // Read as llama.cpp's converter reads them: numbers as std::stoi does, classes up to the first ']'.
  assert.equal(nestedRepetitions('^((a{0,100}){0,100x}){ +0, 100x}$'), 1_000_000);
  assert.equal(nestedRepetitions('^[]((a{0,30}){0,30}){0,30}]$'), 27_000);
  assert.equal(nestedRepetitions('^((a{0,30}){0,}){30}$'), 900);
  // Unbalanced or truncated patterns are counted, not thrown on: the converter refuses them itself.
  assert.equal(nestedRepetitions('((a{5}){5}'), 25);
  assert.equal(nestedRepetitions('(a{99999999999999}){3}'), (2 ** 31 - 1) * 3); // std::stoi refuses it, too
});

test('patterns anywhere in a schema are found, however it nests', () => {
  let deep = { type: 'string', pattern: '^((a{0,200}){0,200})$' };
  for (let i = 0; i < 60; i++) deep = { type: 'array', items: deep };
  assert.match(patternRefusal(deep), new RegExp(`40000 times over \\(at most ${MAX_NESTED_REPETITIONS}`));
  assert.equal(patternRefusal({ type: 'object', properties: { pattern: { type: 'string', pattern: '^[a-z]+$' } } }), undefined);
  // Data that happens to hold a "pattern" key is not a schema.
  assert.equal(patternRefusal({ type: 'object', default: { pattern: '^((a{0,200}){0,200})$' }, examples: [{ pattern: '((a{99}){99}){99}' }] }), undefined);
});
