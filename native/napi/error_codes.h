// The codes native errors carry (as the JavaScript error's `code`). lib/engine/errors.ts, the registry,
// lists the same names with their meanings; test/unit/errors.test.mjs keeps the two in sync.
#pragma once

namespace shimmy {

enum class ErrorCode {
  InvalidModel,
  InvalidRequest,
  ContextOverflow,
  QueueFull,
  Aborted,
  ModelClosed,
  GenerationFailed,
  ContextFailed,
  InvalidArgument,
  WorkerUnavailable,
};

inline const char* code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidModel: return "invalid_model";
    case ErrorCode::InvalidRequest: return "invalid_request";
    case ErrorCode::ContextOverflow: return "context_overflow";
    case ErrorCode::QueueFull: return "queue_full";
    case ErrorCode::Aborted: return "aborted";
    case ErrorCode::ModelClosed: return "model_closed";
    case ErrorCode::GenerationFailed: return "generation_failed";
    case ErrorCode::ContextFailed: return "context_failed";
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::WorkerUnavailable: return "worker_unavailable";
  }
  return "generation_failed";
}

}  // namespace shimmy
