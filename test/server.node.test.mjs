// The server suite (test/suites/server.mjs) over node:http + ws.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/server.mjs');
