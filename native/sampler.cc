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

Sampler::Sampler(const llama_model* model, const SamplingParams& p, bool on_backend) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  if (ChainSampler::serves(p, llama_vocab_n_tokens(vocab))) {
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

llama_token Sampler::sample_and_accept(llama_context* ctx, int32_t logits_index) {
  if (chain_) return sample_and_accept(llama_get_logits_ith(ctx, logits_index));
  const llama_token token = common_sampler_sample(common_, ctx, logits_index);
  common_sampler_accept(common_, token, true);
  return token;
}

llama_token Sampler::sample_and_accept(float* logits) { return chain_->sample_and_accept(logits); }

void Sampler::accept_backend(llama_token token) {
  llama_sampler_accept(backend_, token);
  if (chain_) chain_->accept(token);
  else if (common_) common_sampler_accept(common_, token, false);
}

size_t utf8_complete_prefix(const std::string& s) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back >= need ? n : n - back;
  }
  return n;  // only stray continuation bytes: nothing to wait for
}

std::string TextStream::push(const std::string& bytes) {
  if (stopped_) return {};
  pending_ += bytes;

  // A complete stop string ends the text right before it.
  size_t first_stop = std::string::npos;
  for (const auto& stop : stops_) {
    const size_t at = pending_.find(stop);
    if (at != std::string::npos) first_stop = std::min(first_stop, at);
  }
  if (first_stop != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, first_stop);
    pending_.clear();
    return out;
  }

  // Hold back the longest tail that is the beginning of some stop string.
  size_t hold = 0;
  for (const auto& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, pending_.size()); len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  const size_t ready = utf8_complete_prefix(pending_.substr(0, pending_.size() - hold));
  std::string out = pending_.substr(0, ready);
  pending_.erase(0, ready);
  return out;
}

std::string TextStream::flush() {
  std::string out;
  out.swap(pending_);
  return stopped_ ? std::string() : out;
}

}  // namespace shimmy
