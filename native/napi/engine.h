// The JavaScript face of a Scheduler: submit/cancel/pause from the main thread, and one thread-safe
// function call per decode step that hands JavaScript every event of that step at once.
#pragma once

#include "scheduler.h"

#include <napi.h>

#include <memory>

namespace shimmy {

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new Engine(model, {contextSize, parallel, batchSize, threads, queueLimit}, onEvents(events[]))
  explicit Engine(const Napi::CallbackInfo& info);
  ~Engine() override;

 private:
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Scheduler& scheduler(Napi::Env env);
  static void StopAtExit(void* self);

  std::shared_ptr<Scheduler> scheduler_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference on_events_;
  const llama_model* model_ = nullptr;  // kept alive by the scheduler
  int32_t vocab_size_ = 0;
  bool closing_ = false;
};

}  // namespace shimmy
