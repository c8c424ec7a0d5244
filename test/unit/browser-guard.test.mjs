// The browser guard: Host and Origin checks against DNS rebinding and pages on other origins.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { browserRefusal, corsHeaders, preflightHeaders } from '../../dist/server/browser-guard.js';

const none = { allowOrigins: [], allowHosts: [] };

test('IP addresses, loopback names and this machine are allowed Hosts; other names are not', () => {
  for (const host of [undefined, '127.0.0.1:11435', '[::1]:80', 'localhost', 'app.localhost:3000', '10.0.0.5', hostname()]) {
    assert.equal(browserRefusal(none, host, undefined), undefined, String(host));
  }
  assert.match(browserRefusal(none, 'evil.example:11435', undefined), /--allow-host/);
  assert.equal(browserRefusal({ ...none, allowHosts: ['evil.example'] }, 'EVIL.example', undefined), undefined);
  assert.equal(browserRefusal({ ...none, allowHosts: ['*'] }, 'anything', undefined), undefined);
});

test('loopback pages and listed origins are allowed; others, "null" and other schemes are not', () => {
  for (const origin of ['http://localhost:5173', 'http://127.0.0.1', 'https://[::1]:8443', '']) {
    assert.equal(browserRefusal(none, '127.0.0.1', origin), undefined, origin);
  }
  for (const origin of ['https://evil.example', 'null', 'file://', 'chrome-extension://abc', 'http://127.0.0.1.evil.example']) {
    assert.match(browserRefusal(none, '127.0.0.1', origin), /--allow-origin/, origin);
  }
  assert.equal(browserRefusal({ ...none, allowOrigins: ['https://app.example'] }, '127.0.0.1', 'https://app.example'), undefined);
});

test('CORS headers echo only the origin asked about', () => {
  assert.deepEqual(corsHeaders(undefined), {});
  assert.equal(corsHeaders('http://localhost')['Access-Control-Allow-Origin'], 'http://localhost');
  assert.match(preflightHeaders('http://localhost', undefined)['Access-Control-Allow-Headers'], /X-Api-Key/);
});
