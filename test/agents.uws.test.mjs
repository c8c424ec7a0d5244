// The agents' dialects suite (test/suites/agents.mjs) over uWebSockets.js (skipped, with the reason, where no uWS binary loads).
process.env.SHIMMY_TEST_TRANSPORT = 'uws';
await import('./suites/agents.mjs');
