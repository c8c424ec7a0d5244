// One request's sampling settings, as submit() reads them: the samplers (sampler.h,
// chain_sampler.h, backend_chain.h) and the chat constraint (rendered_chat.h) all take this.
#pragma once

#include <llama.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shimmy {

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

}  // namespace shimmy
