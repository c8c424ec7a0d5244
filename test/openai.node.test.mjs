// The openai suite (test/suites/openai.mjs) over node:http + ws.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/openai.mjs');
