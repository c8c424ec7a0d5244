// The hostile suite (test/suites/hostile.mjs) over node:http + ws.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/hostile.mjs');
