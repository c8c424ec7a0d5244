// A multimodal projector (an "mmproj" GGUF) loaded for its text model through llama.cpp's
// tools/mtmd: it turns images (and audio, where it has an audio encoder) into embeddings in the
// text model's input space.
#pragma once

#include <llama.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

struct mtmd_context;

namespace shimmy {

class Projector {
 public:
  // Throws std::runtime_error with llama.cpp's reason when the file cannot be loaded or does not
  // fit `model` (another embedding width, an unsupported architecture).
  Projector(const std::string& path, const llama_model* model, bool use_gpu, int threads);
  ~Projector();
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  mtmd_context* context() const { return ctx_; }
  bool vision() const { return vision_; }
  bool audio() const { return audio_; }

  // While set, an encode stops at the next piece of its graph once the flag is true (the request
  // it was for went away). Set and cleared by the one thread that encodes.
  void stop_encoding_when(const std::atomic<bool>* flag);

 private:
  mtmd_context* ctx_ = nullptr;
  bool vision_ = false;
  bool audio_ = false;
  std::atomic<const std::atomic<bool>*> stop_when_{nullptr};
  std::chrono::steady_clock::time_point last_check_{};

  // ggml's scheduler asks, node by node, whether to show it a node (where the graph is cut and
  // an abandoned encode stops), then shows it.
  static bool between_nodes(struct ggml_tensor* node, bool ask, void* self);
};

}  // namespace shimmy
