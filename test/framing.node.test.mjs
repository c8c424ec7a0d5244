// The framing suite (test/suites/framing.mjs) over node:http + ws.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/framing.mjs');
