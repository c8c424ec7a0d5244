// ggml's RPC backend as shimmy uses it: the server side (`shimmy worker`, which lends this
// machine's devices to others) and the client side (a model whose layers live on workers).
// Everything goes through the RPC backend's registry entry, so a portable build that loads the
// backend as a module behaves like a static one. vendor/patches/0004 makes a lost worker an
// error the caller can see instead of an abort of the process.
#pragma once

#include <ggml-backend.h>
#include <napi.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace shimmy {

// One worker as a model sees it: its devices, with the memory they reported when it connected.
struct RpcDevice {
  std::string name, description;
  size_t memory_free = 0, memory_total = 0;
};
struct RpcWorker {
  std::string endpoint;
  std::vector<ggml_backend_dev_t> devices;
  std::vector<RpcDevice> reported;
};

// Connects to each endpoint (blocking: call off the event loop). Throws std::runtime_error naming
// the worker that could not be reached.
std::vector<RpcWorker> rpc_connect(const std::vector<std::string>& endpoints);

// One model's connections to its workers. Once one is lost the model stays broken, even after a
// later load has reconnected to the same worker (ggml keeps the failed connection with the
// buffers made on it).
class RpcLinks {
 public:
  explicit RpcLinks(std::vector<RpcWorker> workers) : workers_(std::move(workers)) {}
  // "" while every connection works, then why the first one failed. Cheap (no I/O).
  std::string broken();
  // [{endpoint, devices: [{name, description, memoryFree, memoryTotal}], error: string | null}]
  Napi::Array to_js(Napi::Env env);

 private:
  std::vector<RpcWorker> workers_;
  std::mutex mutex_;
  std::string lost_endpoint_, lost_why_;
};

// startWorker({endpoint, threads, devices, memoryLimit}) -> {devices, done: Promise<never>}
Napi::Value StartWorker(const Napi::CallbackInfo& info);
// probeWorkers(endpoints) -> Promise<worker list>: connects, reports devices and memory, lets go.
Napi::Value ProbeWorkers(const Napi::CallbackInfo& info);
// exitProcess(code): flushes stdio and ends the process without running static destructors,
// which would unload ggml's backends under a worker thread that is still serving.
Napi::Value ExitProcess(const Napi::CallbackInfo& info);

}  // namespace shimmy
