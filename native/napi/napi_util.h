// Small helpers for the N-API boundary. TypeScript validates options with precise messages;
// these re-check types cheaply so a wrong call from JavaScript is an exception, never a crash.
#pragma once

#include <napi.h>

#include "error_codes.h"

#include <string>
#include <vector>

namespace shimmy {

// Throws a JavaScript Error carrying `code` (native/error_codes.h).
[[noreturn]] inline void throw_coded(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code_name(code)));
  throw error;
}

inline Napi::Value coded_error(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code_name(code)));
  return error.Value();
}

inline Napi::Object require_object(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsObject()) throw_coded(info.Env(), ErrorCode::InvalidArgument, std::string(what) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline std::string require_string(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw_coded(info.Env(), ErrorCode::InvalidArgument, std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Function require_function(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsFunction()) throw_coded(info.Env(), ErrorCode::InvalidArgument, std::string(what) + " must be a function");
  return info[i].As<Napi::Function>();
}

inline double number_or(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// Options TypeScript always sends (lib/engine/defaults.ts holds their defaults, not C++).
inline double required_number(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool required_bool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string required_string(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline bool bool_or(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string string_or(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw_coded(o.Env(), ErrorCode::InvalidArgument, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// An array of strings; absent or null is empty.
inline std::vector<std::string> string_array(Napi::Object o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw_coded(o.Env(), ErrorCode::InvalidRequest, std::string(key) + " must be an array of strings");
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value item = arr.Get(i);
    if (!item.IsString()) throw_coded(o.Env(), ErrorCode::InvalidRequest, std::string(key) + " must be an array of strings");
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

}  // namespace shimmy
