// The HTTP exchange over a stand-in transport (the RawResponse interface the real transports
// implement): the body reader's limits, and backpressure: a congested socket pauses the generation
// feeding it, a drain resumes it with nothing lost, and only a client stalled past the limit is cut off.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Exchange } from '../../dist/server/exchange.js';

/** A response whose socket takes `room` bytes before it reports congestion. */
function standInResponse({ room = Infinity, body = [] } = {}) {
  const r = {
    written: '',
    ended: false,
    closed: false,
    writable: undefined,
    aborted: undefined,
    onAborted: (fn) => (r.aborted = fn),
    onData: (fn) => body.forEach(([chunk, last]) => fn(Buffer.from(chunk), last)),
    respond: (status, headers, text) => Object.assign(r, { status, headers, written: text, ended: true }),
    begin: (status) => (r.status = status),
    write: (text) => {
      r.written += text;
      return r.written.length <= room;
    },
    onWritable: (fn) => (r.writable = fn),
    end: (text) => Object.assign(r, { written: r.written + text, ended: true }),
    close: () => (r.closed = true),
    /** The client read everything: the socket takes `more` bytes again. */
    drain(more = Infinity) {
      room = r.written.length + more;
      const fn = r.writable;
      r.writable = undefined;
      if (fn && !fn()) r.writable = fn;
    },
  };
  return r;
}

const request = { method: 'POST', path: '/api/generate', query: '', headers: {} };
const limits = (bufferLimit = 1 << 20, stallLimitMs = 60_000) => ({ bufferLimit, stallLimitMs });

describe('exchange', () => {
  test('a congested stream pauses its generation and resumes it on drain, losing nothing', () => {
    const res = standInResponse({ room: 10 });
    const ex = new Exchange(request, res, limits());
    const events = [];
    ex.onCongestion(() => events.push('pause'), () => events.push('resume'));
    ex.beginStream('text/event-stream');
    ex.write('0123456789');
    assert.deepEqual(events, []);
    ex.write('abc'); // past the room: congested
    assert.deepEqual(events, ['pause']);
    ex.write('def'); // held in the backlog
    ex.write('ghi');
    res.drain();
    assert.deepEqual(events, ['pause', 'resume']);
    ex.endStream('!');
    assert.equal(res.written, '0123456789abcdefghi!');
    assert.equal(res.closed, false);
  });

  test('a handler registered while congested pauses at once', () => {
    const res = standInResponse({ room: 0 });
    const ex = new Exchange(request, res, limits());
    ex.beginStream('text/event-stream');
    ex.write('x');
    let paused = false;
    ex.onCongestion(() => (paused = true), () => {});
    assert.equal(paused, true);
  });

  test('a client stalled past the limit is cut off and its generation cancelled', async () => {
    const res = standInResponse({ room: 0 });
    let cutOff = 0;
    const ex = new Exchange(request, res, limits(1 << 20, 30), () => cutOff++);
    let cancelled = false;
    ex.onAbort(() => (cancelled = true));
    ex.beginStream('text/event-stream');
    ex.write('x');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(res.closed, true);
    assert.equal(cancelled, true);
    assert.equal(cutOff, 1);
    assert.equal(ex.open, false);
  });

  test('a client that drains in time is not cut off', async () => {
    const res = standInResponse({ room: 0 });
    const ex = new Exchange(request, res, limits(1 << 20, 40));
    ex.beginStream('text/event-stream');
    ex.write('x');
    res.drain();
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(res.closed, false);
    assert.equal(ex.open, true);
  });

  test('a client that keeps taking a little, however slowly, is not cut off', async () => {
    const res = standInResponse({ room: 0 });
    const ex = new Exchange(request, res, limits(1 << 20, 60));
    ex.beginStream('text/event-stream');
    ex.write('x');
    ex.write('y'.repeat(10));
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 30));
      res.writable(); // the socket took some, not all: still congested
    }
    assert.equal(res.closed, false);
    res.drain();
    assert.equal(ex.open, true);
  });

  test('a backlog past the byte limit is cut off', () => {
    const res = standInResponse({ room: 0 });
    const ex = new Exchange(request, res, limits(100));
    ex.beginStream('text/event-stream');
    ex.write('x');
    ex.write('y'.repeat(101));
    assert.equal(res.closed, true);
  });

  test('the body reader refuses oversized, non-UTF-8, empty and malformed bodies with their codes', async () => {
    const read = (body, limit = 100, headers = {}) => new Exchange({ ...request, headers }, standInResponse({ body }), limits()).readJson(limit);
    assert.deepEqual(await read([['{"a":', false], ['1}', true]]), { a: 1 });
    await assert.rejects(read([['{}', true]], 10, { 'content-length': '11' }), { code: 'payload_too_large' });
    await assert.rejects(read([['x'.repeat(60), false], ['y'.repeat(60), true]]), { code: 'payload_too_large' });
    await assert.rejects(read([[Buffer.from([0xff, 0xfe]), true]]), { code: 'invalid_request', message: /UTF-8/ });
    await assert.rejects(read([[' ', true]]), { code: 'invalid_request', message: /empty/ });
    await assert.rejects(read([['{"a"', true]]), { code: 'invalid_request', message: /malformed JSON/ });
    // Deeper than JSON.stringify could walk: refused before any handler meets it.
    const deep = (n) => `${'['.repeat(n)}${']'.repeat(n)}`;
    await assert.rejects(read([[deep(100_000), true]], 1 << 20), { code: 'invalid_request', message: /nested deeper than 128/ });
    assert.equal((await read([[deep(128), true]], 1 << 20)).length, 1, '128 levels are still a body');
  });
});
