#include "log_router.h"

#include <ggml.h>
#include <llama.h>
#include <mtmd.h>

#include <mutex>

namespace shimmy {

namespace {
std::mutex log_mutex;
Napi::ThreadSafeFunction log_handler;  // guarded by log_mutex
int min_level = GGML_LOG_LEVEL_WARN;
thread_local std::string last_error;
thread_local std::string line_buffer;  // ggml may log one line in several calls
thread_local int line_level = GGML_LOG_LEVEL_INFO;

void route(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_CONT) {
    line_buffer += text;
  } else {
    line_buffer = text;
    line_level = level;
  }
  if (line_buffer.empty() || line_buffer.back() != '\n') return;
  std::string line = line_buffer.substr(0, line_buffer.size() - 1);
  line_buffer.clear();
  if (line_level == GGML_LOG_LEVEL_ERROR) last_error = line;

  std::lock_guard<std::mutex> lock(log_mutex);
  if (!log_handler || line_level < min_level) return;
  const int lvl = line_level;
  log_handler.NonBlockingCall([lvl, line = std::move(line)](Napi::Env env, Napi::Function fn) {
    // A handler that throws loses its line; thrown out of this callback it would end the process.
    try {
      fn.Call({Napi::Number::New(env, lvl), Napi::String::New(env, line)});
    } catch (const Napi::Error&) {
    }
  });
}
}  // namespace

void install_log_router() {
  llama_log_set(route, nullptr);
  mtmd_log_set(route, nullptr);  // the projectors' (tools/mtmd, clip) own logger
}

std::string take_last_error() {
  std::string e;
  e.swap(last_error);
  return e;
}

Napi::Value SetLogHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(log_mutex);
  if (log_handler) {
    log_handler.Release();
    log_handler = Napi::ThreadSafeFunction();
  }
  if (info.Length() > 0 && info[0].IsFunction()) {
    log_handler = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "shimmy-log", 0, 1);
    log_handler.Unref(env);  // logging alone never keeps the process alive
  }
  if (info.Length() > 1 && info[1].IsNumber()) min_level = info[1].As<Napi::Number>().Int32Value();
  return env.Undefined();
}

}  // namespace shimmy
