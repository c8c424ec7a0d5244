// Embeddings of the same model on a context of their own (embeddings on, pooled per sequence),
// created on first use and shared by every embedding request, one decode at a time (requests
// take turns decode by decode). Its KV cache
// holds context_size tokens in all, shared by the inputs of one decode.
#pragma once

#include <llama.h>
#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace shimmy {

class Embedder {
 public:
  // context_size: tokens per input at most (and per decode), capped by the model's training context.
  Embedder(std::shared_ptr<llama_model> model, int32_t threads, uint32_t context_size)
      : model_(std::move(model)), threads_(threads), n_ctx_(context_size) {}
  ~Embedder();

  // One pooled vector per input (L2-normalized when asked). Throws std::exception with a
  // message meant for the client (an input longer than the context, a failed decode).
  std::vector<std::vector<float>> embed(const std::vector<std::vector<llama_token>>& inputs, bool normalize);

 private:
  // The context for one decode, handed out in the order asked for: std::mutex is not fair, and
  // the worker that just released it would take it straight back for its next group.
  class Turn {
   public:
    explicit Turn(Embedder& e);
    ~Turn();
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

   private:
    Embedder& e_;
  };

  void ensure_context();
  void decode_group(const std::vector<std::vector<llama_token>>& inputs, size_t from, size_t to, bool normalize,
                    std::vector<std::vector<float>>& out);

  std::shared_ptr<llama_model> model_;
  int32_t threads_;
  std::mutex mutex_;
  std::condition_variable turn_changed_;
  uint64_t next_ticket_ = 0;
  uint64_t serving_ = 0;
  llama_context* ctx_ = nullptr;
  llama_batch batch_{};
  uint32_t n_ctx_;
};

// embed(embedder, [Int32Array...], normalize) on a libuv worker -> Promise<Float32Array[]>
Napi::Promise embed_async(Napi::Env env, std::shared_ptr<Embedder> embedder, std::vector<std::vector<llama_token>> inputs,
                          bool normalize);

}  // namespace shimmy
