// Which backend the tests run on: `npm run test:vulkan` loads the Vulkan package's binary, every
// layer offloaded. There a batched decode is not bit-identical to a single one (other kernels and
// summation orders, as in llama-server), so tests of "batched = alone" do not apply.
import { native } from '../../dist/index.js';

const info = native().systemInfo();
/** Whether the layers run on a GPU backend's device (test:vulkan), not on the CPU. */
export const offloaded = info.gpuBackend !== 'cpu' && info.devices.some((d) => d.type === 'gpu');

/** A skip reason for tests that need batched decoding to equal single decoding, or false on the CPU. */
export const batchingChangesResults = offloaded ? `on ${info.gpuBackend}, batching changes the float sums (as in llama-server)` : false;
