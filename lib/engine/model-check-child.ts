// Run by model-check.ts in a child process: loads a model (with the LoRA adapters given after it,
// each at scale 1), generates one token and renders its chat
// template, so a file that makes llama.cpp abort (GGML_ASSERT) or crash, or whose template
// crashes or runs away, takes down this process, not the caller's.
// Prints one JSON line: {"ok":true} or {"ok":false,"error":"…"} for a load that failed cleanly.
import { loadModel } from './model.js';

const path = process.argv[2] ?? '';
const lora = process.argv.slice(3).map((adapter) => ({ path: adapter }));
try {
  // On the CPU: the check is about the file, and a model split over RPC workers or meant for a GPU
  // may not fit this machine's GPU, which would fail the load for the wrong reason.
  const model = await loadModel(path, { contextSize: 64, parallel: 1, threads: 1, gpuLayers: 0, lora, check: false });
  // Generation errors (an embedding-only model, say) are not what this looks for: only crashes.
  await model.complete({ prompt: 'Hello', maxTokens: 1, temperature: 0 }).catch(() => {});
  // The chat template is code from the file: render it once, with and without tools. Only a
  // template stopped by the Jinja engine's limits (invalid_model) fails the check; one that raises
  // an error for this sample conversation may still render real ones.
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Hi.' }, { role: 'user', content: 'Bye' }];
  const tools = [{ type: 'function' as const, function: { name: 'lookup', description: 'Looks a word up', parameters: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] } } }];
  for (const request of [{ messages }, { messages, tools }]) {
    await model.renderChat(request).catch((error: { code?: string }) => {
      if (error.code === 'invalid_model') throw error;
    });
  }
  await model.close();
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
}
