// The sampler chain a request runs inside the decode graph (llama.cpp's backend sampling), for
// `backendSampling` models: on a GPU, the logits then never cross to the host and no CPU thread
// samples. The same samplers in the same order as ChainSampler (logit bias, penalties, then greedy,
// or top-k, top-p, min-p, temperature and a seeded draw), computed by ggml: greedy picks the same
// token; a seeded draw is reproducible, and on the CPU backend even the CPU chain's token (same
// random numbers), while a GPU's float sums may tip a draw the other way.
#pragma once

#include <llama.h>

namespace shimmy {

struct SamplingParams;

// A llama_sampler chain for `p` (no grammar: the caller checks), owned by the caller
// (llama_sampler_free), to attach with llama_set_sampler.
llama_sampler* make_backend_chain(const llama_vocab* vocab, const SamplingParams& p);

}  // namespace shimmy
