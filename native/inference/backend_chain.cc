#include "backend_chain.h"

#include "chain_sampler.h"
#include "sampling_params.h"

#include <cmath>
#include <vector>

namespace shimmy {

llama_sampler* make_backend_chain(const llama_vocab* vocab, const SamplingParams& p) {
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
  const std::vector<llama_logit_bias> biases = chain_biases(vocab, p);
  if (!biases.empty()) llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(n_vocab, static_cast<int32_t>(biases.size()), biases.data()));
  if (p.penalized() && p.penalty_last_n > 0) {
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(n_vocab, p.penalty_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty));
  }
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    return chain;
  }
  // A k past the vocabulary keeps every token, as on the CPU; ggml's top_k would abort the process.
  if (p.top_k > 0 && p.top_k < n_vocab) llama_sampler_chain_add(chain, llama_sampler_init_top_k(p.top_k));
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(p.top_p, 1));
  if (p.min_p > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(p.min_p, 1));
  llama_sampler_chain_add(chain, llama_sampler_init_temp_ext(p.temperature, 0.0f, 1.0f));
  llama_sampler_chain_add(chain, llama_sampler_init_dist(p.seed));
  return chain;
}

}  // namespace shimmy
