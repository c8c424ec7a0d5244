// The agents' dialects suite (test/suites/agents.mjs) over uWebSockets.js.
process.env.SHIMMY_TEST_TRANSPORT = 'uws';
await import('./suites/agents.mjs');
