#!/usr/bin/env bash
# npm run bench:gpu — the GPU benchmark in one call, for a GPU host (CUDA toolkit, cmake, ninja and a
# node binary on PATH; no registry needed once node_modules and dist/ are there: a host reached
# through ../shared/scripts/pack-for-gpu-host.sh has them). Builds the CUDA addon and llama.cpp's
# llama-bench and llama-batched-bench in the same build directory (CUDA compiles once: ~5 min on
# 16 cores), checks the stories260K greedy text when the model is there, makes the 0.85B Q4_0
# fixture, and runs scripts/bench/batched.mjs fully offloaded at 1/8/32/64 streams, greedy and
# with real sampling settings, sampled on the CPU and inside the decode graph (backendSampling),
# against llama-batched-bench (and llama-bench for one stream).
#   SHIMMY_GPU=cuda (default) | vulkan     STREAMS=1,8,32,64     TOKENS=256     ROUNDS=3
#   SAMPLING_ON=cpu,backend
set -euo pipefail
cd "$(dirname "$0")/../.."
export SHIMMY_GPU=${SHIMMY_GPU:-cuda}
started=$(date +%s)
say() { echo "[bench:gpu $(( $(date +%s) - started ))s] $*"; }

command -v nvidia-smi > /dev/null && nvidia-smi -L
say "building the $SHIMMY_GPU addon and llama.cpp's tools in build/"
mkdir -p bench/.work
SHIMMY_LLAMA_TOOLS=1 node scripts/build-native.mjs > bench/.work/gpu-build.log 2>&1 || { tail -30 bench/.work/gpu-build.log; exit 1; }
tools=$(dirname "$(find build -type f -name llama-batched-bench -perm -u+x | head -1)")
[ -x "$tools/llama-bench" ] || { echo "no llama-bench beside llama-batched-bench in build/"; exit 1; }
say "built (log: bench/.work/gpu-build.log); tools in $tools"

stories=${SHIMMY_TEST_MODEL:-stories260K.gguf}
if [ -f "$stories" ]; then
  node --input-type=module -e "
    import { loadModel } from './dist/index.js';
    import { STORIES_GREEDY_40 } from './scripts/stories-reference.mjs';
    for (const backendSampling of [false, true]) {
      const model = await loadModel(process.argv[1], { contextSize: 512, parallel: 1, backendSampling });
      const { text } = await model.complete({ prompt: 'Once upon a time', maxTokens: 40, temperature: 0 });
      const inGraph = model.stats().backendSampledTokens;
      await model.close();
      console.log('stories260K greedy text on the GPU, sampled', backendSampling ? \`in the graph (\${inGraph} tokens)\` : 'on the CPU',
        text === STORIES_GREEDY_40 ? 'is' : 'is NOT', \"llama.cpp's CPU text\");
    }
  " "$stories"
fi

model=bench/.work/bench-q4_0.gguf
[ -f "$model" ] || node scripts/make-fixture-model.mjs "$model" --preset bench --type q4_0 > /dev/null
say "benchmarking $model"
node scripts/bench/batched.mjs --model "$model" --tools "$tools" --gpu-layers 99 --llama-bench \
  --streams "${STREAMS:-1,8,32,64}" --tokens "${TOKENS:-256}" --rounds "${ROUNDS:-3}" --sampling-on "${SAMPLING_ON:-cpu,backend}"
say "done"
