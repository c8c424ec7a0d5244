// llama.cpp and ggml log through one callback. We never print from native code: messages go to
// a JavaScript handler when one is set (lib/native.ts), and the latest error is kept so a failed
// model load can say why.
#pragma once

#include <napi.h>

#include <string>

namespace shimmy {

void install_log_router();
// setLogHandler(fn | null, minLevel): fn(level: number, text: string) on the main thread.
Napi::Value SetLogHandler(const Napi::CallbackInfo& info);
// The last error llama.cpp logged on this thread, then cleared.
std::string take_last_error();

}  // namespace shimmy
