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

  // Reads nothing but the row of logits the scheduler took from the context after the decode
  // (which may be changed in place), so the samplers of a step's rows run on several threads at once,
  // those with a grammar too (vendor/patches/0008).
  llama_token sample_and_accept(float* logits);
  // llama.cpp's common_sampler (a grammar, say): milliseconds per token where the chain takes microseconds.
  bool slow() const { return common_ != nullptr; }

  // The chain to attach to the context for this request's sequence, or null. Owned here: detach
  // it before this sampler is destroyed.
  llama_sampler* backend_chain() const { return backend_; }
  // Records a token the backend chain sampled (its penalties and draw advance; so does the CPU
  // chain's penalty history, in case the request has to continue on the CPU).
  void accept_backend(llama_token token);

 private:
  std::unique_ptr<ChainSampler> chain_;
  common_sampler* common_ = nullptr;
  int32_t n_vocab_;
  llama_sampler* backend_ = nullptr;
};
using SamplerPtr = std::unique_ptr<Sampler>;

}  // namespace shimmy
