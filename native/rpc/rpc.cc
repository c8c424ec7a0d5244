#include "rpc.h"

#include "napi_util.h"
#include "promise_worker.h"

#include <ggml-rpc.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace shimmy {

namespace {

using AddServer = ggml_backend_reg_t(const char*);
using GetError = const char*(const char*);
using StartServer = decltype(ggml_backend_rpc_start_server);
using SetMemoryLimit = void(size_t);

// A function of the RPC backend, looked up by name (the backend may be a loaded module).
template <typename Fn>
Fn* rpc_proc(const char* name) {
  ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
  Fn* fn = reg ? reinterpret_cast<Fn*>(ggml_backend_reg_get_proc_address(reg, name)) : nullptr;
  if (!fn) throw std::runtime_error("this shimmy binary was built without ggml's RPC backend (SHIMMY_RPC=0)");
  return fn;
}

// Asked after every decode step of a model with workers, so the lookup by name happens once.
std::string error_of(const std::string& endpoint) {
  static GetError* const get_error = rpc_proc<GetError>("ggml_backend_rpc_get_error");
  const char* why = get_error(endpoint.c_str());
  return why ? why : "";
}

Napi::Object device_to_js(Napi::Env env, const RpcDevice& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", d.name);
  o.Set("description", d.description);
  o.Set("memoryFree", Napi::Number::New(env, static_cast<double>(d.memory_free)));
  o.Set("memoryTotal", Napi::Number::New(env, static_cast<double>(d.memory_total)));
  return o;
}

Napi::Array workers_to_js(Napi::Env env, const std::vector<RpcWorker>& workers, const std::string& lost_endpoint, const std::string& why) {
  Napi::Array out = Napi::Array::New(env, workers.size());
  for (uint32_t i = 0; i < workers.size(); ++i) {
    Napi::Object w = Napi::Object::New(env);
    w.Set("endpoint", workers[i].endpoint);
    Napi::Array devices = Napi::Array::New(env, workers[i].reported.size());
    for (uint32_t k = 0; k < workers[i].reported.size(); ++k) devices.Set(k, device_to_js(env, workers[i].reported[k]));
    w.Set("devices", devices);
    w.Set("error", workers[i].endpoint == lost_endpoint ? Napi::Value(Napi::String::New(env, why)) : env.Null());
    out.Set(i, w);
  }
  return out;
}

// The devices a worker serves: those named, or (like llama.cpp's rpc-server) every accelerator,
// or the CPU where there is none.
std::vector<ggml_backend_dev_t> worker_devices(Napi::Env env, const std::vector<std::string>& names) {
  std::vector<ggml_backend_dev_t> out;
  for (const auto& name : names) {
    ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
    if (!dev) {
      std::string known;
      for (size_t i = 0; i < ggml_backend_dev_count(); ++i) known += (i ? ", " : "") + std::string(ggml_backend_dev_name(ggml_backend_dev_get(i)));
      throw_coded(env, ErrorCode::InvalidArgument, "no device named '" + name + "' (this machine has: " + known + ")");
    }
    out.push_back(dev);
  }
  if (out.empty()) {
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) out.push_back(dev);
    }
  }
  if (out.empty()) {
    if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) out.push_back(cpu);
  }
  return out;
}

// Runs ggml's RPC server on its own thread. The server only returns when it could not start (the
// address is taken, say); `done` then rejects with what it printed.
class WorkerThread {
 public:
  WorkerThread(Napi::Env env, std::string endpoint, size_t threads, std::vector<ggml_backend_dev_t> devices)
      : deferred_(Napi::Promise::Deferred::New(env)), endpoint_(std::move(endpoint)), threads_(threads), devices_(std::move(devices)) {
    // The function stays referenced while the server runs, which keeps the process alive.
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "shimmy-worker", 0, 1);
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  static void start(std::unique_ptr<WorkerThread> self, StartServer* serve) {
    std::thread([self = std::move(self), serve]() mutable {
      serve(self->endpoint_.c_str(), nullptr, self->threads_, self->devices_.size(), self->devices_.data());
      std::fflush(stdout);
      WorkerThread* raw = self.release();
      raw->tsfn_.BlockingCall([raw](Napi::Env env, Napi::Function) {
        raw->deferred_.Reject(coded_error(env, ErrorCode::InvalidRequest,
            "the RPC server could not listen on " + raw->endpoint_ + " (address in use, or not an address of this machine)"));
        raw->tsfn_.Release();
        delete raw;
      });
    }).detach();
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction tsfn_;
  std::string endpoint_;
  size_t threads_;
  std::vector<ggml_backend_dev_t> devices_;
};

// Connects to workers on a libuv thread and reports what they have.
class ProbeWorker : public PromiseWorker<> {
 public:
  ProbeWorker(Napi::Env env, std::vector<std::string> endpoints)
      : PromiseWorker(env, ErrorCode::WorkerUnavailable), endpoints_(std::move(endpoints)) {}
  void Execute() override {
    attempt([&] { workers_ = rpc_connect(endpoints_); });
  }
  Napi::Value result(Napi::Env env) override { return workers_to_js(env, workers_, "", ""); }

 private:
  std::vector<std::string> endpoints_;
  std::vector<RpcWorker> workers_;
};

}  // namespace

std::vector<RpcWorker> rpc_connect(const std::vector<std::string>& endpoints) {
  auto* add_server = rpc_proc<AddServer>("ggml_backend_rpc_add_server");
  std::vector<RpcWorker> out;
  for (const auto& endpoint : endpoints) {
    // A registered server's devices are cached by ggml; a connection that was lost since is
    // re-made by the first command, so its state is read after asking for memory.
    ggml_backend_reg_t reg = add_server(endpoint.c_str());
    RpcWorker worker{endpoint, {}, {}};
    for (size_t i = 0; reg && i < ggml_backend_reg_dev_count(reg); ++i) {
      ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, i);
      RpcDevice d{ggml_backend_dev_name(dev), ggml_backend_dev_description(dev)};
      ggml_backend_dev_memory(dev, &d.memory_free, &d.memory_total);
      worker.devices.push_back(dev);
      worker.reported.push_back(std::move(d));
    }
    std::string why = error_of(endpoint);
    if (why.empty() && worker.devices.empty()) why = endpoint + " has no devices to lend";
    if (!why.empty()) throw std::runtime_error("RPC worker " + endpoint + " is unavailable: " + why);
    out.push_back(std::move(worker));
  }
  return out;
}

std::string RpcLinks::broken() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < workers_.size() && lost_why_.empty(); ++i) {
    if (std::string why = error_of(workers_[i].endpoint); !why.empty()) {
      lost_endpoint_ = workers_[i].endpoint;
      lost_why_ = why;
    }
  }
  return lost_why_.empty() ? "" : "RPC worker " + lost_endpoint_ + " was lost: " + lost_why_;
}

Napi::Array RpcLinks::to_js(Napi::Env env) {
  broken();
  std::lock_guard<std::mutex> lock(mutex_);
  return workers_to_js(env, workers_, lost_endpoint_, lost_why_);
}

Napi::Value StartWorker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = require_object(info, 0, "options");
  const std::string endpoint = string_or(opts, "endpoint", "127.0.0.1:50052");
  const double threads = number_or(opts, "threads", std::max(1u, std::thread::hardware_concurrency() / 2));
  const double memory_limit = number_or(opts, "memoryLimit", 0);
  if (!(threads >= 1 && threads <= 1024)) throw_coded(env, ErrorCode::InvalidArgument, "threads must be between 1 and 1024");
  if (!(memory_limit >= 0)) throw_coded(env, ErrorCode::InvalidArgument, "memoryLimit must be a number of bytes");
  StartServer* serve;
  try {
    serve = rpc_proc<StartServer>("ggml_backend_rpc_start_server");
    rpc_proc<SetMemoryLimit>("ggml_backend_rpc_server_set_memory_limit")(static_cast<size_t>(memory_limit));
  } catch (const std::exception& e) {
    throw_coded(env, ErrorCode::InvalidArgument, e.what());
  }
  auto devices = worker_devices(env, string_array(opts, "devices"));
  if (devices.empty()) throw_coded(env, ErrorCode::InvalidArgument, "this machine has no device to lend");

  Napi::Array described = Napi::Array::New(env, devices.size());
  for (uint32_t i = 0; i < devices.size(); ++i) {
    RpcDevice d{ggml_backend_dev_name(devices[i]), ggml_backend_dev_description(devices[i])};
    ggml_backend_dev_memory(devices[i], &d.memory_free, &d.memory_total);
    described.Set(i, device_to_js(env, d));
  }
  // ggml prints its own progress to C's stdout; line buffering keeps it in step with Node's.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto worker = std::make_unique<WorkerThread>(env, endpoint, static_cast<size_t>(threads), std::move(devices));
  Napi::Object out = Napi::Object::New(env);
  out.Set("devices", described);
  out.Set("done", worker->promise());
  WorkerThread::start(std::move(worker), serve);
  return out;
}

Napi::Value ProbeWorkers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> endpoints;
  if (info.Length() < 1 || !info[0].IsArray()) throw_coded(env, ErrorCode::InvalidArgument, "endpoints must be an array of strings");
  auto arr = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) throw_coded(env, ErrorCode::InvalidArgument, "endpoints must be an array of strings");
    endpoints.push_back(v.As<Napi::String>().Utf8Value());
  }
  return (new ProbeWorker(env, std::move(endpoints)))->start();
}

Napi::Value ExitProcess(const Napi::CallbackInfo& info) {
  const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  std::fflush(nullptr);
  _exit(code);
}

}  // namespace shimmy
