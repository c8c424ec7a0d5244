// Per-request sampling settings, the sampler built from them (llama.cpp's common_sampler, so
// grammars, lazy tool-call grammars and their triggers behave exactly as in llama-server), and
// the text side of a generation: UTF-8-safe streaming and stop strings.
#pragma once

#include <llama.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct common_sampler;

namespace shimmy {

class ChainSampler;

// Who wrote a grammar decides whether the chat template's generation prompt is fed to it first.
enum class GrammarKind : uint8_t { User, OutputFormat, ToolCalls };

// A lazy grammar starts constraining once one of these appears in the output (common_grammar_trigger).
struct GrammarTrigger {
  int32_t type;  // common_grammar_trigger_type: 0 token, 1 word, 2 pattern, 3 full pattern
  std::string value;
};

// Every request sets all of these (their defaults live in lib/engine/options.ts, not here).
struct SamplingParams {
  float temperature = 0;  // 0 = greedy
  int32_t top_k = 0;      // 0 = off
  float top_p = 1;        // 1 = off
  float min_p = 0;        // 0 = off
  float repeat_penalty = 1;
  float frequency_penalty = 0;
  float presence_penalty = 0;
  int32_t penalty_last_n = 0;
  uint32_t seed = LLAMA_DEFAULT_SEED;  // LLAMA_DEFAULT_SEED = random
  std::vector<llama_logit_bias> logit_bias;
  std::string grammar;  // GBNF; empty = unconstrained
  GrammarKind grammar_kind = GrammarKind::User;
  bool grammar_lazy = false;
  std::vector<GrammarTrigger> grammar_triggers;
  std::vector<llama_token> preserved_tokens;  // rendered as text and usable as trigger tokens
  std::string generation_prompt;              // what the chat template already put after the prompt

  bool penalized() const { return repeat_penalty != 1.0f || frequency_penalty != 0.0f || presence_penalty != 0.0f; }
};

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
