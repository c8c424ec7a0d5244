// A multimodal projector (an "mmproj" GGUF) loaded for its text model through llama.cpp's
// tools/mtmd: it turns images (and audio, where it has an audio encoder) into embeddings in the
// text model's input space.
#pragma once

#include <llama.h>

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

 private:
  mtmd_context* ctx_ = nullptr;
  bool vision_ = false;
  bool audio_ = false;
};

}  // namespace shimmy
