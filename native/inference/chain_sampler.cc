#include "chain_sampler.h"

#include <algorithm>
#include <cmath>

#include "sampling_params.h"

namespace shimmy {

namespace {

// llama.cpp's candidate order: most likely first.
bool more_likely(const llama_token_data& a, const llama_token_data& b) { return a.logit > b.logit; }

// One replacement step of std::partial_sort's heap selection (libstdc++'s __pop_heap with the
// new value, then __adjust_heap from the root), so that equal logits at the top-k boundary keep
// the tokens llama.cpp's std::partial_sort keeps.
void replace_heap_top(llama_token_data* heap, ptrdiff_t len, llama_token_data value) {
  ptrdiff_t hole = 0;
  ptrdiff_t child = 0;
  while (child < (len - 1) / 2) {
    child = 2 * (child + 1);
    if (more_likely(heap[child], heap[child - 1])) child--;
    heap[hole] = heap[child];
    hole = child;
  }
  if ((len & 1) == 0 && child == (len - 2) / 2) {
    child = 2 * (child + 1);
    heap[hole] = heap[child - 1];
    hole = child - 1;
  }
  ptrdiff_t parent = (hole - 1) / 2;
  while (hole > 0 && more_likely(heap[parent], value)) {
    heap[hole] = heap[parent];
    hole = parent;
    parent = (hole - 1) / 2;
  }
  heap[hole] = value;
}

// Calls found(id), in order, for each id in [from, to) whose logit is above threshold() at that
// moment. Most tokens are not: blocks of them are ruled out with one vectorizable comparison.
template <typename Threshold, typename Found>
void for_each_above(const float* logits, llama_token from, llama_token to, Threshold threshold, Found found) {
  constexpr llama_token kBlock = 16;
  llama_token id = from;
  for (; id + kBlock <= to; id += kBlock) {
    const float t = threshold();
    bool any = false;
    for (llama_token j = 0; j < kBlock; ++j) any |= logits[id + j] > t;
    if (!any) continue;
    for (llama_token j = id; j < id + kBlock; ++j) {
      if (logits[j] > threshold()) found(j);
    }
  }
  for (; id < to; ++id) {
    if (logits[id] > threshold()) found(id);
  }
}

}  // namespace

std::vector<llama_logit_bias> chain_biases(const llama_vocab* vocab, const SamplingParams& p) {
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_logit_bias> biases = p.logit_bias;
  int32_t n_suppress = 0;
  const llama_token* suppress = llama_vocab_get_suppress_tokens(vocab, &n_suppress);
  for (int32_t i = 0; i < n_suppress; ++i) biases.push_back({suppress[i], -INFINITY});
  biases.erase(std::remove_if(biases.begin(), biases.end(), [&](const llama_logit_bias& b) { return b.token < 0 || b.token >= n_vocab; }), biases.end());
  return biases;
}

bool ChainSampler::serves(const SamplingParams& p, int32_t n_vocab) {
  if (!p.grammar.empty()) return false;
  return p.temperature <= 0.0f || (p.top_k >= 1 && p.top_k <= kMaxTopK && p.top_k < n_vocab);
}

ChainSampler::ChainSampler(const llama_vocab* vocab, const SamplingParams& p)
    : n_vocab_(llama_vocab_n_tokens(vocab)),
      greedy_(p.temperature <= 0.0f),
      top_k_(p.top_k),
      top_p_(p.top_p),
      min_p_(p.min_p),
      temperature_(p.temperature),
      biases_(chain_biases(vocab, p)),
      repeat_penalty_(p.repeat_penalty),
      frequency_penalty_(p.frequency_penalty),
      presence_penalty_(p.presence_penalty),
      penalty_last_n_(p.penalized() ? std::max(p.penalty_last_n, 0) : 0),
      // llama.cpp's dist sampler: a random seed unless one is given.
      rng_(p.seed == LLAMA_DEFAULT_SEED ? std::random_device{}() : p.seed) {
  if (!greedy_) candidates_.reserve(static_cast<size_t>(top_k_) + 1);
}

llama_token ChainSampler::sample_and_accept(float* logits) {
  adjust(logits);
  llama_token token;
  if (greedy_) {
    token = 0;  // the first of equal logits, as llama.cpp's greedy sampler
    for_each_above(logits, 1, n_vocab_, [&] { return logits[token]; }, [&](llama_token id) { token = id; });
    restore(logits);
  } else {
    select_top_k(logits);
    restore(logits);
    token = draw();
  }
  accept(token);
  return token;
}

void ChainSampler::adjust(float* logits) {
  saved_.clear();
  for (const auto& b : biases_) {
    saved_.emplace_back(b.token, logits[b.token]);
    logits[b.token] += b.bias;
  }
  for (const auto& [token, count] : recent_counts_) {
    saved_.emplace_back(token, logits[token]);
    float& logit = logits[token];
    // llama.cpp's penalties: multiplying a negative logit makes it less likely, as dividing a positive one does.
    if (logit <= 0) logit *= repeat_penalty_;
    else logit /= repeat_penalty_;
    logit -= float(count) * frequency_penalty_ + float(count > 0) * presence_penalty_;
  }
}

void ChainSampler::restore(float* logits) {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) logits[it->first] = it->second;
}

// std::partial_sort(all, k) without the array of all candidates: a heap of the first k tokens,
// where a later token replaces the least likely when it is strictly more likely, then sorted.
void ChainSampler::select_top_k(const float* logits) {
  candidates_.clear();
  for (llama_token id = 0; id < top_k_; ++id) candidates_.push_back({id, logits[id], 0.0f});
  llama_token_data* heap = candidates_.data();
  std::make_heap(heap, heap + top_k_, more_likely);
  for_each_above(logits, top_k_, n_vocab_, [&] { return heap[0].logit; },
                 [&](llama_token id) { replace_heap_top(heap, top_k_, {id, logits[id], 0.0f}); });
  std::sort_heap(heap, heap + top_k_, more_likely);
}

// llama.cpp's top_p, min_p, temperature and dist samplers on sorted candidates, in its order and
// precision (float sums for top-p, a double sum and one uniform double per token for the draw).
llama_token ChainSampler::draw() {
  size_t size = candidates_.size();
  llama_token_data* c = candidates_.data();
  if (top_p_ < 1.0f) {
    const float max_logit = c[0].logit;
    float sum = 0.0f;
    for (size_t i = 0; i < size; ++i) {
      c[i].p = expf(c[i].logit - max_logit);
      sum += c[i].p;
    }
    for (size_t i = 0; i < size; ++i) c[i].p /= sum;
    float cumulative = 0.0f;
    for (size_t i = 0; i < size; ++i) {
      cumulative += c[i].p;
      if (cumulative >= top_p_) {
        size = i + 1;
        break;
      }
    }
  }
  if (min_p_ > 0.0f) {
    const float min_logit = c[0].logit + logf(min_p_);
    size_t keep = 1;
    while (keep < size && !(c[keep].logit < min_logit)) ++keep;
    size = keep;
  }
  for (size_t i = 0; i < size; ++i) c[i].logit /= temperature_;

  std::uniform_real_distribution<double> uniform(0.0f, 1.0f);
  if (size == 1) {
    uniform(rng_);  // llama.cpp draws for a single candidate too
    return c[0].id;
  }
  const float max_logit = c[0].logit;
  double sum = 0.0f;
  for (size_t i = 0; i < size; ++i) {
    c[i].p = expf(c[i].logit - max_logit);
    sum += c[i].p;
  }
  const double target = sum * uniform(rng_);
  double running = 0.0f;
  for (size_t i = 0; i < size; ++i) {
    running += c[i].p;
    if (running >= target) return c[i].id;
  }
  return c[size - 1].id;
}

void ChainSampler::accept(llama_token token) {
  if (penalty_last_n_ == 0) return;
  recent_counts_[token]++;
  if (recent_.size() < static_cast<size_t>(penalty_last_n_)) {
    recent_.push_back(token);
    return;
  }
  llama_token& oldest = recent_[recent_next_];
  if (--recent_counts_[oldest] == 0) recent_counts_.erase(oldest);
  oldest = token;
  recent_next_ = (recent_next_ + 1) % recent_.size();
}

}  // namespace shimmy
