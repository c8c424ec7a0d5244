// The framing suite (test/suites/framing.mjs) over uWebSockets.js (skipped, with the reason, where no uWS binary loads).
process.env.SHIMMY_TEST_TRANSPORT = 'uws';
await import('./suites/framing.mjs');
