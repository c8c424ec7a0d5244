#include "sampler.h"

#include "backend_chain.h"
#include "chain_sampler.h"

#include <common.h>
#include <json-schema-to-grammar.h>
#include <sampling.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace shimmy {

namespace {

common_sampler* common_chain(const llama_model* model, const SamplingParams& p) {
  common_params_sampling c;
  c.no_perf = true;
  c.seed = p.seed;
  c.temp = p.temperature;
  c.top_k = p.top_k;
  c.top_p = p.top_p;
  c.min_p = p.min_p;
  c.penalty_repeat = p.repeat_penalty;
  c.penalty_freq = p.frequency_penalty;
  c.penalty_present = p.presence_penalty;
  c.penalty_last_n = p.penalty_last_n;
  c.logit_bias = p.logit_bias;
  if (p.temperature <= 0.0f) {
    // Greedy under a grammar: a zero temperature keeps only the most likely allowed token.
    c.samplers = {COMMON_SAMPLER_TYPE_PENALTIES, COMMON_SAMPLER_TYPE_TEMPERATURE};
  }
  const common_grammar_type kind = p.grammar_kind == GrammarKind::OutputFormat ? COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT
                                   : p.grammar_kind == GrammarKind::ToolCalls  ? COMMON_GRAMMAR_TYPE_TOOL_CALLS
                                                                               : COMMON_GRAMMAR_TYPE_USER;
  if (!p.grammar.empty()) c.grammar = {kind, p.grammar};
  c.grammar_lazy = p.grammar_lazy;
  c.generation_prompt = p.generation_prompt;
  c.preserved_tokens.insert(p.preserved_tokens.begin(), p.preserved_tokens.end());
  const llama_vocab* vocab = llama_model_get_vocab(model);
  for (const auto& t : p.grammar_triggers) {
    const auto type = static_cast<common_grammar_trigger_type>(t.type);
    if (type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
      // A trigger word that is one preserved special token is matched as that token, as in llama-server.
      const auto ids = common_tokenize(vocab, t.value, false, true);
      if (ids.size() == 1 && c.preserved_tokens.count(ids[0])) {
        c.grammar_triggers.push_back({COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN, t.value, ids[0]});
        continue;
      }
    }
    c.grammar_triggers.push_back({type, t.value, LLAMA_TOKEN_NULL});
  }
  return common_sampler_init(model, c);
}

}  // namespace

namespace {

// common_sampler feeds the chat template's generation prompt to a format grammar token by token
// ("prefill"), skipping a first token that starts with a space. With a SentencePiece vocabulary
// and a prompt that is not special tokens (ChatML on a model without ChatML tokens), that first
// token is " <", so the grammar sees "|im_start|>…" and fails. The same grammar without the
// prompt's literal at the start of `root`, and no prefill, constrains the reply identically.
std::optional<SamplingParams> without_prefill(const SamplingParams& p) {
  if (p.grammar_kind == GrammarKind::User || p.generation_prompt.empty()) return std::nullopt;
  const std::string head = "root ::= " + gbnf_format_literal(p.generation_prompt);
  const size_t at = p.grammar.find(head);
  if (at == std::string::npos || (at > 0 && p.grammar[at - 1] != '\n')) return std::nullopt;
  SamplingParams q = p;
  q.grammar.replace(at, head.size(), "root ::= ");
  q.generation_prompt.clear();
  return q;
}

}  // namespace

Sampler::Sampler(const llama_model* model, const SamplingParams& p, bool on_backend)
    : n_vocab_(llama_vocab_n_tokens(llama_model_get_vocab(model))) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  if (ChainSampler::serves(p, n_vocab_)) {
    chain_ = std::make_unique<ChainSampler>(vocab, p);
  } else {
    try {
      common_ = common_chain(model, p);
    } catch (const std::exception&) {
      const auto retry = without_prefill(p);
      if (!retry) throw;
      common_ = common_chain(model, *retry);
    }
    if (!common_) throw std::runtime_error("the sampler could not be created");
  }
  if (on_backend && p.grammar.empty()) backend_ = make_backend_chain(vocab, p);
}

Sampler::~Sampler() {
  if (common_) common_sampler_free(common_);
  if (backend_) llama_sampler_free(backend_);
}

llama_token Sampler::sample_and_accept(float* logits) {
  if (chain_) return chain_->sample_and_accept(logits);
  const llama_token token = common_sampler_sample_logits(common_, logits, n_vocab_);
  common_sampler_accept(common_, token, true);
  return token;
}

void Sampler::accept_backend(llama_token token) {
  llama_sampler_accept(backend_, token);
  if (chain_) chain_->accept(token);
  else if (common_) common_sampler_accept(common_, token, false);
}

}  // namespace shimmy
