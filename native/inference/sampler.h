// The sampler built from a request's settings (llama.cpp's common_sampler, so grammars, lazy
// tool-call grammars and their triggers behave exactly as in llama-server).
#pragma once

#include "sampling_params.h"

#include <llama.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct common_sampler;

namespace shimmy {

class ChainSampler;

// One request's sampler: without a grammar, llama.cpp's default chain computed on the logits in
// place (ChainSampler); with one, or settings that chain does not cover, llama.cpp's
// common_sampler, as llama-server uses it.
class Sampler {
 public:
  // Throws std::exception when the grammar does not parse. `on_backend`: also make the chain to
  // run inside the decode graph (backend_chain.h), when there is no grammar.
  Sampler(const llama_model* model, const SamplingParams& params, bool on_backend = false);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  llama_token sample_and_accept(llama_context* ctx, int32_t logits_index);
  // A sampler without a grammar reads nothing but its row of logits, so it may run on any thread.
  bool reads_logits_only() const { return chain_ != nullptr; }
  llama_token sample_and_accept(float* logits);

  // The chain to attach to the context for this request's sequence, or null. Owned here: detach
  // it before this sampler is destroyed.
  llama_sampler* backend_chain() const { return backend_; }
  // Records a token the backend chain sampled (its penalties and draw advance; so does the CPU
  // chain's penalty history, in case the request has to continue on the CPU).
  void accept_backend(llama_token token);

 private:
  std::unique_ptr<ChainSampler> chain_;
  common_sampler* common_ = nullptr;
  llama_sampler* backend_ = nullptr;
};
using SamplerPtr = std::unique_ptr<Sampler>;

}  // namespace shimmy
