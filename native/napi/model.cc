#include "model.h"

#include "addon_data.h"
#include "chat_format.h"
#include "embedder.h"
#include "log_router.h"
#include "napi_util.h"
#include "projector.h"
#include "promise_worker.h"
#include "tokenize.h"
#include "rpc.h"

#include <common.h>
#include <ggml-rpc.h>

#include <algorithm>
#include <atomic>
#include <regex>
#include <string>
#include <vector>

namespace shimmy {

namespace {

// llama.cpp's -ot rules: each pattern to a device's buffer type.
struct TensorOverrides {
  std::vector<std::string> patterns;
  std::vector<ggml_backend_buffer_type_t> buffers;

  // Null-terminated, as llama_model_params wants; points into `patterns`, which must outlive it.
  std::vector<llama_model_tensor_buft_override> rules() const {
    std::vector<llama_model_tensor_buft_override> out;
    for (size_t i = 0; i < patterns.size(); ++i) out.push_back({patterns[i].c_str(), buffers[i]});
    out.push_back({nullptr, nullptr});
    return out;
  }
};

// overrideTensor: [{pattern, buffer}]; a pattern must compile as llama.cpp will compile it
// (std::regex) and a buffer must name a device's buffer type, as `shimmy diag` lists them.
TensorOverrides read_tensor_overrides(Napi::Object opts) {
  Napi::Env env = opts.Env();
  TensorOverrides out;
  Napi::Value v = opts.Get("overrideTensor");
  if (!v.IsArray()) return out;
  auto list = v.As<Napi::Array>();
  if (list.Length() > 4096 + 64) throw_coded(env, ErrorCode::InvalidArgument, "too many tensor overrides");
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw_coded(env, ErrorCode::InvalidArgument, "overrideTensor entries must be {pattern, buffer}");
    std::string pattern = string_or(item.As<Napi::Object>(), "pattern", "");
    const std::string buffer = string_or(item.As<Napi::Object>(), "buffer", "");
    try {
      std::regex check(pattern);
    } catch (const std::regex_error& e) {
      throw_coded(env, ErrorCode::InvalidRequest, "tensor override '" + pattern + "' is not a regular expression: " + e.what());
    }
    ggml_backend_buffer_type_t buft = nullptr;
    std::string known;
    for (size_t d = 0; d < ggml_backend_dev_count(); ++d) {
      ggml_backend_buffer_type_t candidate = ggml_backend_dev_buffer_type(ggml_backend_dev_get(d));
      if (!candidate) continue;
      if (buffer == ggml_backend_buft_name(candidate)) buft = candidate;
      known += std::string(known.empty() ? "" : ", ") + ggml_backend_buft_name(candidate);
    }
    if (!buft) throw_coded(env, ErrorCode::InvalidRequest, "tensor override buffer '" + buffer + "' is not one of this machine's: " + known);
    out.patterns.push_back(std::move(pattern));
    out.buffers.push_back(buft);
  }
  return out;
}

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};

// Loads on a libuv worker thread; llama.cpp's progress callback feeds JS (coalesced to the latest
// value) and returns false once abort() was called, which makes llama.cpp stop reading.
// With RPC endpoints, the workers are connected first and their devices come before this
// machine's GPUs (llama.cpp's own order: fewer transfers over the network).
class LoadWorker : public PromiseWorker<Napi::AsyncProgressWorker<float>> {
 public:
  LoadWorker(Napi::Env env, std::string path, llama_model_params params, std::vector<std::string> endpoints,
             std::vector<float> tensor_split, TensorOverrides overrides, std::vector<std::string> lora,
             std::string mmproj, int mmproj_threads, Napi::Function on_progress)
      : PromiseWorker(env, ErrorCode::InvalidModel),
        path_(std::move(path)), params_(params), endpoints_(std::move(endpoints)),
        tensor_split_(std::move(tensor_split)), overrides_(std::move(overrides)), lora_(std::move(lora)),
        mmproj_(std::move(mmproj)), mmproj_threads_(mmproj_threads),
        aborted_(std::make_shared<std::atomic<bool>>(false)) {
    if (!on_progress.IsEmpty()) progress_fn_ = Napi::Persistent(on_progress);
  }

  std::shared_ptr<std::atomic<bool>> abort_flag() const { return aborted_; }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    struct Ctx { const ExecutionProgress* progress; std::atomic<bool>* aborted; } ctx{&progress, aborted_.get()};
    params_.progress_callback = [](float p, void* user) {
      auto* c = static_cast<Ctx*>(user);
      c->progress->Send(&p, 1);
      return !c->aborted->load();
    };
    params_.progress_callback_user_data = &ctx;
    if (!tensor_split_.empty()) params_.tensor_split = tensor_split_.data();
    const auto rules = overrides_.rules();
    if (!overrides_.patterns.empty()) params_.tensor_buft_overrides = rules.data();
    std::vector<ggml_backend_dev_t> devices;
    if (!endpoints_.empty()) {
      try {
        auto workers = rpc_connect(endpoints_);
        devices = model_devices(workers);
        loaded_.links = std::make_shared<RpcLinks>(std::move(workers));
      } catch (const std::exception& e) {
        worker_error_ = e.what();
        return;
      }
      params_.devices = devices.data();
    }
    llama_model* model = llama_model_load_from_file(path_.c_str(), params_);
    if (model) loaded_.model.reset(model, ModelDeleter());
    // A worker lost during the load leaves a model with holes in it.
    if (loaded_.links) worker_error_ = loaded_.links->broken();
    if (!worker_error_.empty()) loaded_.model.reset();
    if (!loaded_.model) {
      error_ = take_last_error();
      return;
    }
    load_adapters();
    if (loaded_.model && !mmproj_.empty()) load_projector();
  }

  // tools/mtmd checks the projector against the model (embedding width, architecture) and
  // reports a misfit as an error, not an abort.
  void load_projector() {
    try {
      loaded_.projector = std::make_shared<Projector>(mmproj_, loaded_.model.get(), params_.n_gpu_layers != 0, mmproj_threads_);
    } catch (const std::exception& e) {
      adapter_error_ = "projector '" + mmproj_ + "' does not fit the model '" + path_ + "': " + e.what();
      loaded_.adapters.clear();
      loaded_.model.reset();
    }
  }

  // llama.cpp checks an adapter against its model (architecture, tensor names and shapes) and
  // throws, which it reports as null.
  void load_adapters() {
    for (const std::string& lora : lora_) {
      llama_adapter_lora* adapter = llama_adapter_lora_init(loaded_.model.get(), lora.c_str());
      std::string why;
      if (!adapter) why = take_last_error();
      else if (llama_adapter_get_alora_n_invocation_tokens(adapter) > 0) why = "activated LoRA (aLoRA) adapters are not supported";
      if (adapter && why.empty()) {
        loaded_.adapters.push_back(adapter);
        continue;
      }
      adapter_error_ = "LoRA adapter '" + lora + "' does not fit the model '" + path_ + "': " + (why.empty() ? "llama.cpp could not load it" : why);
      loaded_.adapters.clear();
      loaded_.model.reset();  // frees the adapters loaded so far
      return;
    }
  }

  // The workers' devices, then this machine's GPUs (integrated ones only where there is no other);
  // null-terminated, as llama_model_params.devices wants.
  static std::vector<ggml_backend_dev_t> model_devices(const std::vector<RpcWorker>& workers) {
    std::vector<ggml_backend_dev_t> out, integrated;
    for (const auto& w : workers) out.insert(out.end(), w.devices.begin(), w.devices.end());
    const size_t remote = out.size();
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_GPU) out.push_back(dev);
      if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_IGPU) integrated.push_back(dev);
    }
    if (out.size() == remote) out.insert(out.end(), integrated.begin(), integrated.end());
    out.push_back(nullptr);
    return out;
  }

  void OnProgress(const float* data, size_t count) override {
    if (count == 0 || progress_fn_.IsEmpty()) return;
    Napi::HandleScope scope(Env());
    progress_fn_.Call({Napi::Number::New(Env(), data[count - 1])});
  }

  void OnOK() override {
    if (!worker_error_.empty()) return reject(ErrorCode::WorkerUnavailable, worker_error_);
    if (!adapter_error_.empty()) return reject(ErrorCode::InvalidModel, adapter_error_);
    if (!loaded_.model) {
      if (aborted_->load()) return reject(ErrorCode::Aborted, "model load was aborted");
      std::string why = error_.empty() ? "llama.cpp could not load it" : error_;
      return reject(ErrorCode::InvalidModel, "invalid GGUF model '" + path_ + "': " + why);
    }
    PromiseWorker::OnOK();
  }
  Napi::Value result(Napi::Env env) override {
    auto external = Napi::External<LoadedModel>::New(env, new LoadedModel(std::move(loaded_)));
    return AddonData::of(env).model_class.New({external});
  }

 private:
  std::string path_;
  llama_model_params params_;
  std::vector<std::string> endpoints_;
  std::vector<float> tensor_split_;
  TensorOverrides overrides_;
  std::vector<std::string> lora_;
  std::string mmproj_;
  int mmproj_threads_;
  std::shared_ptr<std::atomic<bool>> aborted_;
  Napi::FunctionReference progress_fn_;
  LoadedModel loaded_;
  std::string error_, worker_error_, adapter_error_;
};

// A model's or an adapter's GGUF metadata as {key: value} (llama.cpp's scalar values as text).
template <typename Owner, typename KeyAt, typename ValueAt>
Napi::Object metadata_object(Napi::Env env, const Owner* owner, int32_t count, KeyAt key_at, ValueAt value_at) {
  Napi::Object out = Napi::Object::New(env);
  char key[512];
  for (int32_t i = 0; i < count; ++i) {
    if (key_at(owner, i, key, sizeof key) < 0) continue;
    const int32_t len = value_at(owner, i, nullptr, 0);
    if (len < 0) continue;
    std::string value(static_cast<size_t>(len) + 1, '\0');
    value_at(owner, i, value.data(), value.size());
    value.resize(static_cast<size_t>(len));
    out.Set(key, value);
  }
  return out;
}

Napi::Int32Array to_int32_array(Napi::Env env, const std::vector<llama_token>& tokens) {
  auto out = Napi::Int32Array::New(env, tokens.size());
  std::copy(tokens.begin(), tokens.end(), out.Data());
  return out;
}

// Tokenizes a large text on a libuv worker: a 4 MB prompt takes about a second of CPU.
class TokenizeWorker : public PromiseWorker<> {
 public:
  TokenizeWorker(Napi::Env env, std::shared_ptr<llama_model> model, std::string text, bool add_special, bool parse_special)
      : PromiseWorker(env, ErrorCode::InvalidRequest), model_(std::move(model)),
        text_(std::move(text)), add_special_(add_special), parse_special_(parse_special) {}
  void Execute() override {
    if (!tokenize_text(llama_model_get_vocab(model_.get()), text_, add_special_, parse_special_, tokens_)) {
      SetError("the text could not be tokenized");
    }
  }
  Napi::Value result(Napi::Env env) override { return to_int32_array(env, tokens_); }

 private:
  std::shared_ptr<llama_model> model_;
  std::string text_;
  bool add_special_, parse_special_;
  std::vector<llama_token> tokens_;
};

}  // namespace

Napi::Function Model::Define(Napi::Env env) {
  return DefineClass(env, "Model", {
    InstanceMethod<&Model::Metadata>("metadata"),
    InstanceMethod<&Model::Tokenize>("tokenize"),
    InstanceMethod<&Model::TokenizeAsync>("tokenizeAsync"),
    InstanceMethod<&Model::Detokenize>("detokenize"),
    InstanceMethod<&Model::Pieces>("pieces"),
    InstanceMethod<&Model::RenderChat>("renderChat"),
    InstanceMethod<&Model::Embed>("embed"),
    InstanceMethod<&Model::Workers>("workers"),
    InstanceMethod<&Model::Close>("close"),
  });
}

Napi::Value Model::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = require_string(info, 0, "path");
  Napi::Object opts = require_object(info, 1, "options");
  auto params = llama_model_default_params();
  params.n_gpu_layers = static_cast<int32_t>(number_or(opts, "gpuLayers", params.n_gpu_layers));
  if (!bool_or(opts, "useMmap", true)) params.load_mode = LLAMA_LOAD_MODE_NONE;
  std::vector<std::string> endpoints = string_array(opts, "rpc");
  if (endpoints.size() > GGML_RPC_MAX_SERVERS) throw_coded(env, ErrorCode::InvalidArgument, "at most 16 RPC workers");
  std::vector<float> tensor_split;
  if (Napi::Value v = opts.Get("tensorSplit"); v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    if (arr.Length() > llama_max_devices()) throw_coded(env, ErrorCode::InvalidArgument, "tensorSplit has more entries than devices");
    tensor_split.assign(llama_max_devices(), 0.0f);
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value item = arr.Get(i);
      if (!item.IsNumber() || !(item.As<Napi::Number>().DoubleValue() >= 0)) throw_coded(env, ErrorCode::InvalidArgument, "tensorSplit must hold numbers >= 0");
      tensor_split[i] = item.As<Napi::Number>().FloatValue();
    }
  }
  Napi::Function on_progress;
  if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();

  TensorOverrides overrides = read_tensor_overrides(opts);
  std::vector<std::string> lora = string_array(opts, "lora");
  std::string mmproj = string_or(opts, "mmproj", "");
  const double mmproj_threads = number_or(opts, "mmprojThreads", 0);
  if (!(mmproj_threads >= 0 && mmproj_threads <= 1024)) throw_coded(env, ErrorCode::InvalidArgument, "mmprojThreads must be from 0 to 1024");
  auto* worker = new LoadWorker(env, path, params, std::move(endpoints), std::move(tensor_split), std::move(overrides), std::move(lora),
                                std::move(mmproj), static_cast<int>(mmproj_threads), on_progress);
  Napi::Object result = Napi::Object::New(env);
  auto flag = worker->abort_flag();
  result.Set("abort", Napi::Function::New(env, [flag](const Napi::CallbackInfo& i) {
    flag->store(true);
    return i.Env().Undefined();
  }));
  result.Set("promise", worker->start());
  return result;
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    throw_coded(info.Env(), ErrorCode::InvalidArgument, "Model is created by loadModel()");
  }
  auto* holder = info[0].As<Napi::External<LoadedModel>>().Data();
  model_ = std::move(holder->model);
  links_ = std::move(holder->links);
  adapters_ = std::move(holder->adapters);
  projector_ = std::move(holder->projector);
  delete holder;
}

std::shared_ptr<llama_model> Model::shared(Napi::Env env) const {
  if (!model_) throw_coded(env, ErrorCode::ModelClosed, "the model was closed");
  return model_;
}

const llama_vocab* Model::vocab(Napi::Env env) const { return llama_model_get_vocab(shared(env).get()); }

Napi::Value Model::Metadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  llama_model* m = shared(env).get();
  const llama_vocab* v = llama_model_get_vocab(m);
  Napi::Object out = Napi::Object::New(env);
  char buf[512];

  out.Set("keys", metadata_object(env, m, llama_model_meta_count(m), llama_model_meta_key_by_index, llama_model_meta_val_str_by_index));
  llama_model_desc(m, buf, sizeof buf);
  out.Set("description", std::string(buf));
  out.Set("parameters", Napi::Number::New(env, static_cast<double>(llama_model_n_params(m))));
  out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(llama_model_size(m))));
  out.Set("contextLength", llama_model_n_ctx_train(m));
  out.Set("embeddingLength", llama_model_n_embd(m));
  out.Set("layers", llama_model_n_layer(m));
  out.Set("vocabSize", llama_vocab_n_tokens(v));
  out.Set("bos", llama_vocab_bos(v));
  out.Set("eos", llama_vocab_eos(v));
  // Each adapter's GGUF metadata (adapter.lora.alpha, general.name, …).
  Napi::Array adapters = Napi::Array::New(env, adapters_.size());
  for (size_t a = 0; a < adapters_.size(); ++a) {
    const llama_adapter_lora* adapter = adapters_[a];
    adapters.Set(static_cast<uint32_t>(a), metadata_object(env, adapter, llama_adapter_meta_count(adapter), llama_adapter_meta_key_by_index,
                                                           llama_adapter_meta_val_str_by_index));
  }
  out.Set("adapters", adapters);
  out.Set("vision", projector_ && projector_->vision());
  out.Set("audio", projector_ && projector_->audio());
  const char* tmpl = llama_model_chat_template(m, nullptr);
  out.Set("chatTemplate", tmpl ? Napi::Value(Napi::String::New(env, tmpl)) : env.Null());
  return out;
}

// tokenize(text, addSpecial, parseSpecial) -> Int32Array
Napi::Value Model::Tokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string text = require_string(info, 0, "text");
  std::vector<llama_token> tokens;
  if (!tokenize_text(vocab(env), text, info.Length() > 1 && info[1].ToBoolean(), info.Length() > 2 && info[2].ToBoolean(), tokens)) {
    throw_coded(env, ErrorCode::InvalidRequest, "the text could not be tokenized");
  }
  return to_int32_array(env, tokens);
}

// tokenizeAsync(text, addSpecial, parseSpecial) -> Promise<Int32Array>, off the main thread.
Napi::Value Model::TokenizeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string text = require_string(info, 0, "text");
  return (new TokenizeWorker(env, shared(env), std::move(text), info.Length() > 1 && info[1].ToBoolean(),
                              info.Length() > 2 && info[2].ToBoolean()))->start();
}

// detokenize(Int32Array, renderSpecial) -> string
Napi::Value Model::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_coded(env, ErrorCode::InvalidArgument, "tokens must be an Int32Array");
  }
  auto tokens = info[0].As<Napi::Int32Array>();
  const bool special = info.Length() > 1 && info[1].ToBoolean();
  const llama_vocab* v = vocab(env);
  const int32_t n_vocab = llama_vocab_n_tokens(v);
  for (size_t i = 0; i < tokens.ElementLength(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) throw_coded(env, ErrorCode::InvalidArgument, "token id out of range");
  }
  std::string text(tokens.ElementLength() * 8 + 16, '\0');
  const int32_t count = static_cast<int32_t>(tokens.ElementLength());
  int32_t n = llama_detokenize(v, tokens.Data(), count, text.data(), static_cast<int32_t>(text.size()), false, special);
  if (n < 0) {
    text.resize(static_cast<size_t>(-n));
    n = llama_detokenize(v, tokens.Data(), count, text.data(), -n, false, special);
  }
  text.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return Napi::String::New(env, text);
}

// pieces(Int32Array) -> Buffer[]: each token's own text as it is generated (a leading space kept,
// special tokens rendered), as bytes: a token may hold part of a UTF-8 character.
Napi::Value Model::Pieces(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_coded(env, ErrorCode::InvalidArgument, "tokens must be an Int32Array");
  }
  auto tokens = info[0].As<Napi::Int32Array>();
  const llama_vocab* v = vocab(env);
  const int32_t n_vocab = llama_vocab_n_tokens(v);
  Napi::Array out = Napi::Array::New(env, tokens.ElementLength());
  for (size_t i = 0; i < tokens.ElementLength(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) throw_coded(env, ErrorCode::InvalidArgument, "token id out of range");
    const std::string piece = common_token_to_piece(v, tokens[i], true);
    out.Set(static_cast<uint32_t>(i), Napi::Buffer<char>::Copy(env, piece.data(), piece.size()));
  }
  return out;
}

// renderChat(requestJson, images?: Uint8Array[], marker?) -> Promise<RenderedChat>: the model's Jinja
// template applied off the main thread; each image goes where the messages hold `marker`.
Napi::Value Model::RenderChat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string request = require_string(info, 0, "request");
  ChatImages images;
  if (info.Length() > 1 && info[1].IsArray()) {
    auto files = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < files.Length(); ++i) {
      Napi::Value file = files.Get(i);
      if (!file.IsTypedArray() || file.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw_coded(env, ErrorCode::InvalidArgument, "images must be Uint8Arrays");
      }
      auto bytes = file.As<Napi::Uint8Array>();
      images.files.emplace_back(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
    }
    images.marker = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    if (!images.files.empty() && images.marker.size() < 16) throw_coded(env, ErrorCode::InvalidArgument, "images need a marker of at least 16 characters");
  }
  if (!chat_) chat_ = std::make_shared<ChatTemplates>(shared(env), projector_);
  return render_chat_async(env, chat_, std::move(request), std::move(images));
}

// embed([Int32Array...], {normalize, threads, contextSize}) -> Promise<Float32Array[]>
Napi::Value Model::Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = shared(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw_coded(env, ErrorCode::InvalidArgument, "inputs must be an array of Int32Array");
  Napi::Object opts = require_object(info, 1, "options");
  auto array = info[0].As<Napi::Array>();
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
  std::vector<std::vector<llama_token>> inputs(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsTypedArray() || item.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw_coded(env, ErrorCode::InvalidArgument, "inputs must be an array of Int32Array");
    }
    auto tokens = item.As<Napi::Int32Array>();
    for (size_t k = 0; k < tokens.ElementLength(); ++k) {
      if (tokens[k] < 0 || tokens[k] >= n_vocab) throw_coded(env, ErrorCode::InvalidRequest, "token id out of range");
    }
    inputs[i].assign(tokens.Data(), tokens.Data() + tokens.ElementLength());
  }
  if (!embedder_) {
    const double context = number_or(opts, "contextSize", 2048);
    if (!(context >= 1 && context <= (1u << 20))) throw_coded(env, ErrorCode::InvalidArgument, "contextSize out of range");
    embedder_ = std::make_shared<Embedder>(model, static_cast<int32_t>(number_or(opts, "threads", 0)), static_cast<uint32_t>(context));
  }
  return embed_async(env, embedder_, std::move(inputs), bool_or(opts, "normalize", true));
}

// workers() -> [{endpoint, devices: [{name, description, memoryFree, memoryTotal}], error}]:
// the memory each device reported at load, and why the connection failed since, if it did.
Napi::Value Model::Workers(const Napi::CallbackInfo& info) {
  return links_ ? links_->to_js(info.Env()) : Napi::Array::New(info.Env());
}

// Drops this handle's share of the model; engines built on it keep theirs until they close.
Napi::Value Model::Close(const Napi::CallbackInfo& info) {
  projector_.reset();  // before the model it was made for
  model_.reset();
  adapters_.clear();
  chat_.reset();  // a render or embedding in flight holds its own reference
  embedder_.reset();
  return info.Env().Undefined();
}

}  // namespace shimmy
