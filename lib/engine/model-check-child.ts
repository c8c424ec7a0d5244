// Run by model-check.ts in a child process: loads a model (with the LoRA adapters given after it,
// each at scale 1, or with a projector: --mmproj=PATH), generates one token (about an image, with
// a projector: its encoder runs only then) and renders its chat template, so a file that makes
// llama.cpp abort (GGML_ASSERT) or crash, or whose template crashes or runs away, takes down this
// process, not the caller's.
// Prints one JSON line: {"ok":true} or {"ok":false,"error":"…"} for a load that failed cleanly.
import { loadModel } from './model.js';

// A 16 × 16 PNG: enough for a projector to resize, encode and hand to the model.
const probeImage = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABlklEQVR42hXRURVEIQhFUSMYgQhGMAIRiGCEE8EIRiACEYhABCLMG7/ZrMt1jMEcyGAN9kAHNjgDBnfwBj6IQQ5q0IMxJnMikzXZE53Y5EyY3Mmb+CQmOalJzw8IUxBhCVtQwYQjIFzhCS6EkEIJLR9YzIUs1mIvdGGLs2BxF2/hi1jkoha9PrCZG9mszd7oxjZnw+Zu3sY3sclNbXp/QJmKKEvZiiqmHAXlKk9xJZRUSmn9gDENMZaxDTXMOAbGNZ7hRhhplNH2gcM8yGEd9kEPdjgHDvfwDn6IQx7q0OcD/wK/Sr4jv9hfkG/1N/x/Fx44BCQU9Pc94zIvclmXfdGLXc79j9/Lu/glLnmpS98PPOZDHuuxH/qwx3n/5ffxHv6IRz7q0e8DznTEWc521DHn+D/KdZ7jTjjplNP+gWAGEqxgBxpYcOIf/AYv8CCCDCro+EAyE0lWshNNLDn5P/MmL/Ekkkwq6fxAMQspVrELLaw49S/lFq/wIoosquj6QDMbaVazG22sOf2v8Dav8SaabKrp5geIAnAQC3NfwAAAAABJRU5ErkJggg==',
  'base64',
);

const path = process.argv[2] ?? '';
const companions = process.argv.slice(3);
const mmproj = companions.find((a) => a.startsWith('--mmproj='))?.slice('--mmproj='.length);
const lora = companions.filter((a) => !a.startsWith('--mmproj=')).map((adapter) => ({ path: adapter }));
try {
  // On the CPU: the check is about the file, and a model split over RPC workers or meant for a GPU
  // may not fit this machine's GPU, which would fail the load for the wrong reason.
  const model = await loadModel(path, { contextSize: mmproj ? 4096 : 64, parallel: 1, threads: 1, gpuLayers: 0, lora, mmproj, check: false });
  // Generation errors (an embedding-only model, say) are not what this looks for: only crashes.
  await model.complete({ prompt: 'Hello', maxTokens: 1, temperature: 0 }).catch(() => {});
  if (mmproj) {
    // A template that cannot place the image (it leaves the message out) refuses requests with
    // images, not the file; an image that renders must encode and decode.
    const messages = [{ role: 'user', content: [{ type: 'image' as const, data: probeImage }, { type: 'text' as const, text: 'What is this?' }] }];
    const chat = await model.renderChat({ messages }).catch((error: { code?: string }) => {
      if (error.code === 'invalid_model') throw error;
    });
    if (chat) await model.complete({ chat, maxTokens: 1, temperature: 0 });
  }
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
