#include "embedder.h"

#include "napi_util.h"
#include "promise_worker.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace shimmy {

namespace {

constexpr uint32_t kMaxSequences = 16;  // inputs pooled in one decode

}  // namespace

Embedder::Turn::Turn(Embedder& e) : e_(e) {
  std::unique_lock<std::mutex> lock(e_.mutex_);
  const uint64_t ticket = e_.next_ticket_++;
  e_.turn_changed_.wait(lock, [&] { return e_.serving_ == ticket; });
}

Embedder::Turn::~Turn() {
  {
    std::lock_guard<std::mutex> lock(e_.mutex_);
    ++e_.serving_;
  }
  e_.turn_changed_.notify_all();
}

Embedder::~Embedder() {
  if (ctx_) {
    llama_batch_free(batch_);
    llama_free(ctx_);
  }
}

void Embedder::ensure_context() {
  if (ctx_) return;
  const uint32_t trained = static_cast<uint32_t>(std::max(0, llama_model_n_ctx_train(model_.get())));
  if (trained > 0) n_ctx_ = std::min(n_ctx_, trained);
  auto params = llama_context_default_params();
  params.embeddings = true;
  params.n_ctx = n_ctx_;
  params.n_batch = n_ctx_;
  params.n_ubatch = n_ctx_;  // pooling needs every token of a sequence in one micro-batch
  params.n_seq_max = kMaxSequences;
  params.kv_unified = true;  // any input may use the whole context
  params.no_perf = true;
  if (threads_ > 0) {
    params.n_threads = threads_;
    params.n_threads_batch = threads_;
  }
  llama_context* ctx = llama_init_from_model(model_.get(), params);
  if (ctx && llama_pooling_type(ctx) == LLAMA_POOLING_TYPE_NONE) {
    // A generative model names no pooling: mean over the tokens, as Ollama and most clients expect.
    llama_free(ctx);
    params.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    ctx = llama_init_from_model(model_.get(), params);
  }
  if (!ctx) throw std::runtime_error("llama.cpp could not create the embedding context (out of memory?)");
  ctx_ = ctx;
  batch_ = llama_batch_init(static_cast<int32_t>(n_ctx_), 0, 1);
}

std::vector<std::vector<float>> Embedder::embed(const std::vector<std::vector<llama_token>>& inputs, bool normalize) {
  {
    Turn turn(*this);
    ensure_context();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) throw std::invalid_argument("input " + std::to_string(i) + " is empty");
    if (inputs[i].size() > n_ctx_) {
      throw std::invalid_argument("input " + std::to_string(i) + " is " + std::to_string(inputs[i].size()) +
                                  " tokens, more than the embedding context of " + std::to_string(n_ctx_));
    }
  }
  std::vector<std::vector<float>> out(inputs.size());
  size_t from = 0;
  while (from < inputs.size()) {
    // As many whole inputs as fit one decode.
    size_t to = from;
    size_t tokens = 0;
    while (to < inputs.size() && to - from < kMaxSequences && tokens + inputs[to].size() <= n_ctx_) tokens += inputs[to++].size();
    // A turn per decode, not per request: a small request is not stuck behind all of a big one's.
    Turn turn(*this);
    decode_group(inputs, from, to, normalize, out);
    from = to;
  }
  return out;
}

void Embedder::decode_group(const std::vector<std::vector<llama_token>>& inputs, size_t from, size_t to, bool normalize,
                            std::vector<std::vector<float>>& out) {
  if (llama_memory_t mem = llama_get_memory(ctx_)) llama_memory_clear(mem, true);
  batch_.n_tokens = 0;
  for (size_t i = from; i < to; ++i) {
    const auto seq = static_cast<llama_seq_id>(i - from);
    for (size_t k = 0; k < inputs[i].size(); ++k) {
      const int32_t at = batch_.n_tokens++;
      batch_.token[at] = inputs[i][k];
      batch_.pos[at] = static_cast<llama_pos>(k);
      batch_.n_seq_id[at] = 1;
      batch_.seq_id[at][0] = seq;
      batch_.logits[at] = true;  // pooled embeddings read every token's output
    }
  }
  if (llama_decode(ctx_, batch_) != 0) throw std::runtime_error("llama.cpp failed to compute the embeddings");
  const int32_t n_embd = llama_model_n_embd_out(model_.get());
  for (size_t i = from; i < to; ++i) {
    const float* e = llama_get_embeddings_seq(ctx_, static_cast<llama_seq_id>(i - from));
    if (!e) throw std::runtime_error("llama.cpp returned no embedding");
    std::vector<float> v(e, e + n_embd);
    if (normalize) {
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      norm = std::sqrt(norm);
      if (norm > 0) for (float& x : v) x = static_cast<float>(x / norm);
    }
    out[i] = std::move(v);
  }
}

namespace {

class EmbedWorker : public PromiseWorker<> {
 public:
  EmbedWorker(Napi::Env env, std::shared_ptr<Embedder> embedder, std::vector<std::vector<llama_token>> inputs, bool normalize)
      : PromiseWorker(env, ErrorCode::GenerationFailed), embedder_(std::move(embedder)),
        inputs_(std::move(inputs)), normalize_(normalize) {}

  void Execute() override {
    try {
      result_ = embedder_->embed(inputs_, normalize_);
    } catch (const std::invalid_argument& e) {
      fail(ErrorCode::ContextOverflow, e.what());
    } catch (const std::exception& e) {
      fail(ErrorCode::GenerationFailed, e.what());
    }
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Array array = Napi::Array::New(env, result_.size());
    for (size_t i = 0; i < result_.size(); ++i) {
      auto v = Napi::Float32Array::New(env, result_[i].size());
      std::copy(result_[i].begin(), result_[i].end(), v.Data());
      array.Set(static_cast<uint32_t>(i), v);
    }
    return array;
  }

 private:
  std::shared_ptr<Embedder> embedder_;
  std::vector<std::vector<llama_token>> inputs_;
  bool normalize_;
  std::vector<std::vector<float>> result_;
};

}  // namespace

Napi::Promise embed_async(Napi::Env env, std::shared_ptr<Embedder> embedder, std::vector<std::vector<llama_token>> inputs,
                          bool normalize) {
  return (new EmbedWorker(env, std::move(embedder), std::move(inputs), normalize))->start();
}

}  // namespace shimmy
