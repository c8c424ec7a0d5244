// Route matching and the API-key rule, without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasApiKey } from '../../dist/server/auth.js';
import { match } from '../../dist/server/routes.js';

const routes = [
  { method: 'GET', path: '/v1/models', handler: () => 200 },
  { method: 'GET', path: '/v1/models/:id', handler: () => 200 },
  { method: 'POST', path: '/api/generate', handler: () => 200 },
];

test('routes match by method and path; parameters come raw; other methods are listed', () => {
  assert.equal(match(routes, 'GET', '/v1/models').route, routes[0]);
  assert.deepEqual(match(routes, 'GET', '/v1/models/a%2Fb').params, ['a%2Fb']);
  assert.deepEqual(match(routes, 'GET', '/api/generate'), { methods: ['POST'] });
  assert.deepEqual(match(routes, 'GET', '/v1/models/'), { methods: [] }); // an empty parameter is no match
  assert.deepEqual(match(routes, 'GET', '/nope'), { methods: [] });
  assert.deepEqual(match(routes, 'GET', '/v1/models/a/b'), { methods: [] });
});

test('the API key: Bearer or X-Api-Key, and ?api_key= on a WebSocket upgrade only', () => {
  assert.equal(hasApiKey(undefined, {}, ''), true);
  assert.equal(hasApiKey('k', { authorization: 'Bearer k' }, ''), true);
  assert.equal(hasApiKey('k', { 'x-api-key': 'k' }, ''), true);
  assert.equal(hasApiKey('k', {}, 'a=1&api_key=k'), true); // a WebSocket upgrade's query
  assert.equal(hasApiKey('k', {}), false); // an HTTP route passes none
  assert.equal(hasApiKey('k', { authorization: 'Bearer wrong', 'x-api-key': 'k' }, ''), true);
  assert.equal(hasApiKey('k', {}, ''), false);
  assert.equal(hasApiKey('k', { authorization: 'k' }, ''), false);
  assert.equal(hasApiKey('k', { authorization: 'Bearer kk' }, ''), false);
  assert.equal(hasApiKey('k', { 'x-api-key': '' }, 'api_key='), false);
});
