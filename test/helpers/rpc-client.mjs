// A model split over RPC workers, in its own process (the namespace tests run it inside the
// client namespace). Prints one JSON line per event:
//   node rpc-client.mjs MODEL ENDPOINTS greedy  → {text, workers}
//   node rpc-client.mjs MODEL ENDPOINTS long    → {generating: true} after a few tokens, then
//                                                 {code, message, chunks} once it fails
import { loadModel } from '../../dist/index.js';

const [path, endpoints, mode] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const model = await loadModel(path, { parallel: 1, contextSize: 4096, rpc: endpoints.split(',') });
try {
  if (mode === 'greedy') {
    const { text } = await model.complete({ prompt: 'Once upon a time', maxTokens: 40, temperature: 0 });
    print({ text, workers: model.workers() });
  } else {
    let chunks = 0;
    try {
      for await (const _ of model.generate({ prompt: 'Once upon a time', maxTokens: 4000, temperature: 0, ignoreEos: true })) {
        if (++chunks === 10) print({ generating: true });
      }
      print({ finished: true, chunks });
    } catch (error) {
      print({ code: error.code, message: error.message, chunks, broken: model.brokenBecause });
    }
  }
} finally {
  await model.close();
}
