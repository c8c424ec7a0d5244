// The sampler chain a request runs inside the decode graph (llama.cpp's backend sampling), for
// `backendSampling` models: on a GPU, the logits then never cross to the host and no CPU thread
// samples. The same samplers in the same order as ChainSampler (logit bias, penalties, then greedy,
// or top-k, top-p, min-p, temperature and a seeded draw), computed by ggml: greedy picks the same
// token, while a seeded draw is reproducible but not the CPU chain's token for that seed.
#pragma once

#include <llama.h>

namespace shimmy {

struct SamplingParams;

// A llama_sampler chain for `p` (no grammar: the caller checks), owned by the caller
// (llama_sampler_free), to attach with llama_set_sampler.
llama_sampler* make_backend_chain(const llama_vocab* vocab, const SamplingParams& p);

}  // namespace shimmy
