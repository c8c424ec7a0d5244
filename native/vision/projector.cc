#include "projector.h"

#include "log_router.h"

#include <mtmd.h>

#include <stdexcept>

namespace shimmy {

namespace {
// Each node shown cuts the graph there (ggml computes the pieces apart, synchronising between
// them, which costs milliseconds on the CPU), so one is shown only once this long has passed
// since the last check: a short encode is not cut at all, a long one stops within this much.
constexpr auto kStopCheckInterval = std::chrono::milliseconds(50);
}  // namespace

bool Projector::between_nodes(struct ggml_tensor*, bool ask, void* self) {
  auto* p = static_cast<Projector*>(self);
  if (ask) {
    const auto now = std::chrono::steady_clock::now();
    if (now - p->last_check_ < kStopCheckInterval) return false;
    p->last_check_ = now;
    return true;
  }
  const std::atomic<bool>* stop = p->stop_when_.load();
  return !(stop && stop->load());
}

void Projector::stop_encoding_when(const std::atomic<bool>* flag) {
  last_check_ = std::chrono::steady_clock::now();
  stop_when_.store(flag);
}

Projector::Projector(const std::string& path, const llama_model* model, bool use_gpu, int threads) {
  mtmd_context_params params = mtmd_context_params_default();
  params.use_gpu = use_gpu;
  params.print_timings = false;
  params.warmup = false;  // a load must not run the encoder: the first image pays for its graph
  if (threads > 0) params.n_threads = threads;
  params.cb_eval = between_nodes;
  params.cb_eval_user_data = this;
  take_last_error();
  ctx_ = mtmd_init_from_file(path.c_str(), model, params);
  if (!ctx_) {
    const std::string why = take_last_error();
    throw std::runtime_error(why.empty() ? "llama.cpp could not load it" : why);
  }
  // M-RoPE models (Qwen2-VL and later) place an image's tokens on a 2D grid of positions, which
  // the scheduler's one-position-per-token cache bookkeeping does not follow yet.
  if (mtmd_decode_use_mrope(ctx_)) {
    mtmd_free(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("its model places image tokens by M-RoPE (the Qwen2-VL family), which shimmy does not support yet");
  }
  vision_ = mtmd_support_vision(ctx_);
  audio_ = mtmd_support_audio(ctx_);
}

Projector::~Projector() {
  if (ctx_) mtmd_free(ctx_);
}

}  // namespace shimmy
