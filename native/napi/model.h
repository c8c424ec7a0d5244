// A loaded GGUF model: asynchronous load (progress, abort), metadata, tokenizer, chat templates.
// The llama_model is shared with the engines built on it, so it lives until the last one closes.
#pragma once

#include "rpc.h"

#include <llama.h>
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace shimmy {

class ChatTemplates;
class Embedder;
class Projector;

// What a load hands to the Model it creates.
struct LoadedModel {
  std::shared_ptr<llama_model> model;
  std::shared_ptr<RpcLinks> links;  // null unless loaded with RPC endpoints
  // Its LoRA adapters, in the order given; llama.cpp frees them with the model.
  std::vector<llama_adapter_lora*> adapters;
  std::shared_ptr<Projector> projector;  // null unless loaded with one (mmproj)
};

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env);
  // loadModel(path, {gpuLayers, useMmap, rpc, tensorSplit, overrideTensor, lora, mmproj, mmprojThreads}, onProgress(fraction)) -> {promise, abort()}
  static Napi::Value Load(const Napi::CallbackInfo& info);

  explicit Model(const Napi::CallbackInfo& info);
  // Throws model_closed when close() was called.
  std::shared_ptr<llama_model> shared(Napi::Env env) const;
  // The connections to RPC workers (null for a local model), for the engine to notice one is lost.
  const std::shared_ptr<RpcLinks>& rpc_links() const { return links_; }
  const std::vector<llama_adapter_lora*>& adapters() const { return adapters_; }
  const std::shared_ptr<Projector>& projector() const { return projector_; }

 private:
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenizeAsync(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value Pieces(const Napi::CallbackInfo& info);
  Napi::Value RenderChat(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value Workers(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  const llama_vocab* vocab(Napi::Env env) const;

  std::shared_ptr<llama_model> model_;
  std::shared_ptr<ChatTemplates> chat_;  // parsed on first use
  std::shared_ptr<Embedder> embedder_;   // created on first use
  std::shared_ptr<RpcLinks> links_;
  std::vector<llama_adapter_lora*> adapters_;
  std::shared_ptr<Projector> projector_;
};

}  // namespace shimmy
