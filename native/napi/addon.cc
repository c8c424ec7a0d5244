// Module init: llama.cpp backend, log routing, and what this build and machine can do.
#include "addon_data.h"
#include "backends.h"
#include "chat_parser.h"
#include "engine.h"
#include "log_router.h"
#include "model.h"
#include "rendered_chat.h"
#include "rpc.h"

#include <ggml-backend.h>
#include <log.h>
#include <llama.h>
#include <napi.h>

namespace shimmy {

namespace {

Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("gpuBackend", SHIMMY_GPU);
  out.Set("rpc", ggml_backend_reg_by_name("RPC") != nullptr);
  out.Set("supportsMmap", llama_supports_mmap());
  out.Set("llamaSystemInfo", llama_print_system_info());

  Napi::Object cpu = Napi::Object::New(env);
  for (const auto& [name, value] : cpu_features()) cpu.Set(name, !value.empty() && value != "0");
  out.Set("cpuFeatures", cpu);

  Napi::Array devices = Napi::Array::New(env);
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ggml_backend_dev_name(dev));
    d.Set("description", ggml_backend_dev_description(dev));
    // The name a tensor override (--override-tensor REGEX=BUFFER) gives it, as llama.cpp's -ot.
    ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
    d.Set("bufferType", buft ? Napi::Value(Napi::String::New(env, ggml_backend_buft_name(buft))) : env.Null());
    const auto type = ggml_backend_dev_type(dev);
    d.Set("type", type == GGML_BACKEND_DEVICE_TYPE_CPU ? "cpu" : type == GGML_BACKEND_DEVICE_TYPE_GPU ? "gpu" : "other");
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    d.Set("memoryFree", Napi::Number::New(env, static_cast<double>(free)));
    d.Set("memoryTotal", Napi::Number::New(env, static_cast<double>(total)));
    devices.Set(static_cast<uint32_t>(i), d);
  }
  out.Set("devices", devices);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  install_log_router();
  // common/ logs through its own printer thread, straight to the terminal; shimmy reports those
  // conditions as errors instead, so its messages are dropped.
  common_log_pause(common_log_main());
  load_backends();
  llama_backend_init();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function model_class = Model::Define(env);
  data->model_class = Napi::Persistent(model_class);
  exports.Set("Model", model_class);
  exports.Set("Engine", Engine::Define(env));
  data->rendered_chat_class = Napi::Persistent(RenderedChat::Define(env));
  exports.Set("ChatParser", ChatParser::Define(env));
  exports.Set("loadModel", Napi::Function::New(env, Model::Load, "loadModel"));
  exports.Set("setLogHandler", Napi::Function::New(env, SetLogHandler, "setLogHandler"));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
  exports.Set("startWorker", Napi::Function::New(env, StartWorker, "startWorker"));
  exports.Set("probeWorkers", Napi::Function::New(env, ProbeWorkers, "probeWorkers"));
  exports.Set("exitProcess", Napi::Function::New(env, ExitProcess, "exitProcess"));
  return exports;
}

}  // namespace

}  // namespace shimmy

static Napi::Object InitShimmy(Napi::Env env, Napi::Object exports) { return shimmy::Init(env, exports); }
NODE_API_MODULE(shimmy, InitShimmy)
