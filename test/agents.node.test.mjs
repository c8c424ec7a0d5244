// The agents' dialects suite (test/suites/agents.mjs) over node:http.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/agents.mjs');
