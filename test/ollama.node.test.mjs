// The Ollama suite (test/suites/ollama.mjs) over node:http.
process.env.SHIMMY_TEST_TRANSPORT = 'node';
await import('./suites/ollama.mjs');
