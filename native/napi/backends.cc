#include "backends.h"

#include <ggml-backend.h>

#include <algorithm>
#include <cctype>

#ifdef GGML_BACKEND_DL
#include <dlfcn.h>
#endif

namespace shimmy {

namespace {

ggml_backend_reg_t cpu_reg() {
  ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
  return dev ? ggml_backend_dev_backend_reg(dev) : nullptr;
}

template <typename Fn>
Fn* cpu_proc(const char* name) {
  ggml_backend_reg_t reg = cpu_reg();
  return reg ? reinterpret_cast<Fn*>(ggml_backend_reg_get_proc_address(reg, name)) : nullptr;
}

}  // namespace

void load_backends() {
#ifdef GGML_BACKEND_DL
  // Node loads the addon from its own path; the modules are in the same directory.
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&load_backends), &info) && info.dli_fname) {
    std::string dir(info.dli_fname);
    dir.erase(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/'));
    ggml_backend_load_all_from_path(dir.empty() ? "." : dir.c_str());
  }
#endif
}

ggml_threadpool* new_cpu_threadpool(int n_threads) {
  using New = ggml_threadpool*(ggml_threadpool_params*);
  New* make = cpu_proc<New>("ggml_threadpool_new");
  if (!make) return nullptr;
  ggml_threadpool_params params = ggml_threadpool_params_default(n_threads);
  return make(&params);
}

void free_cpu_threadpool(ggml_threadpool* pool) {
  using Free = void(ggml_threadpool*);
  if (Free* release = cpu_proc<Free>("ggml_threadpool_free"); pool && release) release(pool);
}

void pause_cpu_threadpool(ggml_threadpool* pool) {
  using Pause = void(ggml_threadpool*);
  if (Pause* pause = cpu_proc<Pause>("ggml_threadpool_pause"); pool && pause) pause(pool);
}

std::vector<std::pair<std::string, std::string>> cpu_features() {
  std::vector<std::pair<std::string, std::string>> out;
  using GetFeatures = ggml_backend_feature*(ggml_backend_reg_t);
  GetFeatures* get = cpu_proc<GetFeatures>("ggml_backend_get_features");
  if (!get) return out;
  for (ggml_backend_feature* f = get(cpu_reg()); f && f->name; ++f) {
    std::string name(f->name);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    out.emplace_back(std::move(name), f->value ? f->value : "");
  }
  return out;
}

}  // namespace shimmy
