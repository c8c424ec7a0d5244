// The one shape of every asynchronous native call: work on a libuv thread, then a promise settled
// on the main thread with the result, or rejected with a coded error (native/error_codes.h).
#pragma once

#include "napi_util.h"

#include <napi.h>

#include <exception>
#include <string>
#include <utility>

namespace shimmy {

template <typename Base = Napi::AsyncWorker>
class PromiseWorker : public Base {
 public:
  // `failure`: the code a failed Execute rejects with unless it names another (fail()).
  PromiseWorker(Napi::Env env, ErrorCode failure) : Base(env), deferred_(Napi::Promise::Deferred::New(env)), code_(failure) {}

  // Queues the work; the worker deletes itself once the promise is settled.
  Napi::Promise start() {
    Napi::Promise promise = deferred_.Promise();
    this->Queue();
    return promise;
  }

 protected:
  // Off the main thread: marks the work failed with `code`.
  void fail(ErrorCode code, const std::string& message) {
    code_ = code;
    this->SetError(message);
  }
  // Runs `work`, turning what it throws into a failure with the default code and `prefix`.
  template <typename Work>
  void attempt(Work&& work, const std::string& prefix = "") {
    try {
      std::forward<Work>(work)();
    } catch (const std::exception& e) {
      this->SetError(prefix + e.what());
    }
  }
  // On the main thread, after a successful Execute: what the promise resolves to.
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }

  void OnOK() override { deferred_.Resolve(result(this->Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(coded_error(this->Env(), code_, e.Message())); }

  // For results that are themselves a refusal found on the main thread (OnOK can still reject).
  void reject(ErrorCode code, const std::string& message) { deferred_.Reject(coded_error(this->Env(), code, message)); }
  Napi::Promise::Deferred& deferred() { return deferred_; }

 private:
  Napi::Promise::Deferred deferred_;
  ErrorCode code_;
};

}  // namespace shimmy
