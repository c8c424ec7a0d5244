// Reads a generated chat reply back into content, reasoning and tool calls with the parser its
// RenderedChat carries, and reports what changed since the last call, for streaming deltas.
#pragma once

#include <napi.h>

#include <memory>

namespace shimmy {

class ChatParser : public Napi::ObjectWrap<ChatParser> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ChatParser(renderedChat, {incremental?: boolean}); incremental: false parses the whole
  // reply at every update (what the incremental path is checked against)
  explicit ChatParser(const Napi::CallbackInfo& info);
  ~ChatParser() override;

 private:
  // update(newText, isPartial) -> JSON {diffs}, and when not partial also {content, reasoning,
  // toolCalls}. The text is appended to the reply so far. Text that continues free content or
  // reasoning extends it in place; anything that may hold a marker has the whole reply parsed
  // again, as llama-server does at every token.
  Napi::Value Update(const Napi::CallbackInfo& info);

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shimmy
