// Per-request sampling settings, the sampler chain built from them, and the text side of a
// generation: UTF-8-safe streaming and stop strings.
#pragma once

#include <llama.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shimmy {

struct SamplingParams {
  float temperature = 0.8f;  // 0 = greedy
  int32_t top_k = 40;        // 0 = off
  float top_p = 0.95f;       // 1 = off
  float min_p = 0.05f;       // 0 = off
  float repeat_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t penalty_last_n = 64;
  uint32_t seed = LLAMA_DEFAULT_SEED;  // LLAMA_DEFAULT_SEED = random
  std::vector<llama_logit_bias> logit_bias;
  std::string grammar;  // GBNF; empty = unconstrained
};

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// Builds llama.cpp's sampler chain for one request. Returns null when the grammar does not parse.
SamplerPtr make_sampler(const llama_vocab* vocab, const SamplingParams& params);

// Turns detokenized bytes into the text a client may see now. Holds back an incomplete UTF-8
// sequence and any tail that could still become a stop string; reports a completed stop string.
class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Appends bytes; returns the text that is safe to emit. Sets stopped() when a stop string
  // appears (the returned text then ends right before it, and nothing after it is emitted).
  std::string push(const std::string& bytes);
  // Whatever is held back at the end of generation (an incomplete stop string is plain text).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(const std::string& s);

}  // namespace shimmy
