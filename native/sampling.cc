#include "sampling.h"

#include <algorithm>

namespace shimmy {

SamplerPtr make_sampler(const llama_vocab* vocab, const SamplingParams& p) {
  auto chain_params = llama_sampler_chain_default_params();
  chain_params.no_perf = true;
  SamplerPtr chain(llama_sampler_chain_init(chain_params));
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);

  // The grammar goes first so every later stage only sees tokens the grammar allows.
  if (!p.grammar.empty()) {
    llama_sampler* grammar = llama_sampler_init_grammar(vocab, p.grammar.c_str(), "root");
    if (!grammar) return nullptr;
    llama_sampler_chain_add(chain.get(), grammar);
  }
  if (!p.logit_bias.empty()) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_logit_bias(
        n_vocab, static_cast<int32_t>(p.logit_bias.size()), p.logit_bias.data()));
  }
  if (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_penalties(
        n_vocab, p.penalty_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty));
  }
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  if (p.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(p.seed));
  return chain;
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
