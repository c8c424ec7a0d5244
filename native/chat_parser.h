// Reads a generated chat reply back into content, reasoning and tool calls with the parser its
// RenderedChat carries, and reports what changed since the last call, for streaming deltas.
#pragma once

#include <napi.h>

#include <memory>

namespace shimmy {

class ChatParser : public Napi::ObjectWrap<ChatParser> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ChatParser(renderedChat)
  explicit ChatParser(const Napi::CallbackInfo& info);
  ~ChatParser() override;

 private:
  // update(newText, isPartial) -> JSON {diffs}, and when not partial also {content, reasoning,
  // toolCalls}. The text is appended to the reply so far, which is parsed again as a whole, as
  // llama-server does: formats with reasoning or tool-call markers have no incremental parser.
  Napi::Value Update(const Napi::CallbackInfo& info);

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shimmy
