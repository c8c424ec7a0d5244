// Per-environment state of the addon (worker threads each get their own).
#pragma once

#include <napi.h>

namespace shimmy {

struct AddonData {
  Napi::FunctionReference model_class;
  Napi::FunctionReference rendered_chat_class;
  static AddonData& of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace shimmy
