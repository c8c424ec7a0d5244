#include "projector.h"

#include "log_router.h"

#include <mtmd.h>

#include <stdexcept>

namespace shimmy {

namespace {
// A ViT's graph has some 20 nodes per layer: a check every 32 costs a few synchronisations per
// image and stops an abandoned one within a layer or two.
constexpr uint32_t kStopCheckNodes = 32;
}  // namespace

bool Projector::between_nodes(struct ggml_tensor*, bool ask, void* self) {
  auto* p = static_cast<Projector*>(self);
  if (ask) return ++p->nodes_seen_ % kStopCheckNodes == 0;
  const std::atomic<bool>* stop = p->stop_when_.load();
  return !(stop && stop->load());
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
