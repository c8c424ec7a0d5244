// llama.cpp's default sampling chain (logit bias, penalties, top-k, top-p, min-p, temperature,
// seeded draw; or greedy) for requests without a grammar, computed on the logits in place.
// llama.cpp's samplers first copy the whole vocabulary into a candidate array and the penalty
// sampler then looks every token up in a hash map: 32 streams of a 32k-vocabulary model spent
// longer sampling than decoding. Here only the tokens a bias or penalty touches are adjusted
// (in the logits, restored before anyone else reads them) and top-k is selected in one pass; the
// rest works on those k candidates. The arithmetic and the order of operations are llama.cpp's,
// down to how top-k's heap breaks ties, so a seed gives the tokens llama.cpp's chain gives.
#pragma once

#include <llama.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace shimmy {

struct SamplingParams;

// The biases a request's chain applies: its own, then the vocabulary's suppressed tokens at -inf,
// as common_sampler adds them; ids outside the vocabulary dropped, as llama.cpp's logit_bias does.
std::vector<llama_logit_bias> chain_biases(const llama_vocab* vocab, const SamplingParams& p);

class ChainSampler {
 public:
  // llama.cpp's top-k switches to a bucket sort above this k; the equivalence holds up to it.
  static constexpr int32_t kMaxTopK = 128;

  // Whether this chain can serve `p` (no grammar; greedy, or top-k between 1 and kMaxTopK).
  static bool serves(const SamplingParams& p, int32_t n_vocab);

  ChainSampler(const llama_vocab* vocab, const SamplingParams& p);

  // Samples from one row of logits (modified during the call, restored before it returns) and
  // records the token for the penalties.
  llama_token sample_and_accept(float* logits);
  // Records a token sampled elsewhere, for the penalties.
  void accept(llama_token token);

 private:
  void adjust(float* logits);     // bias and penalties, saving what they overwrite
  void restore(float* logits);    // undoes adjust(), latest change first
  void select_top_k(const float* logits);
  llama_token draw();             // top-p, min-p, temperature and the seeded draw over top_k_

  int32_t n_vocab_;
  bool greedy_;
  int32_t top_k_;
  float top_p_, min_p_, temperature_;
  std::vector<llama_logit_bias> biases_;  // the request's, then the vocabulary's suppressed tokens
  float repeat_penalty_, frequency_penalty_, presence_penalty_;
  int32_t penalty_last_n_;  // 0: no penalties
  std::vector<llama_token> recent_;  // ring of the last penalty_last_n_ generated tokens
  size_t recent_next_ = 0;
  std::unordered_map<llama_token, int32_t> recent_counts_;
  std::mt19937 rng_;

  std::vector<std::pair<llama_token, float>> saved_;  // logits adjust() overwrote
  std::vector<llama_token_data> candidates_;          // top-k, then what survives the filters
};

}  // namespace shimmy
