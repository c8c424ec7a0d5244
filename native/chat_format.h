// Chat formats, through llama.cpp's common/: the model's own Jinja template renders an OpenAI-style
// request into a prompt plus whatever the format needs to constrain and parse the reply (grammar,
// lazy-grammar triggers, extra stop strings, a PEG parser for tool calls and reasoning).
#pragma once

#include <llama.h>
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>

struct common_chat_templates;

namespace shimmy {

class ChatTemplates {
 public:
  explicit ChatTemplates(std::shared_ptr<llama_model> model) : model_(std::move(model)) {}
  ~ChatTemplates();

  // request: JSON {messages, tools?, tool_choice?, parallel_tool_calls?, json_schema?,
  // add_generation_prompt?, chat_template_kwargs?}. Returns JSON (see lib/native.ts,
  // NativeRenderedChat). A user's own GBNF grammar does not pass through here: it goes straight
  // to the sampler.
  // Throws std::exception with a message meant for the client.
  std::string render(const std::string& request_json);

 private:
  void ensure_parsed();

  std::shared_ptr<llama_model> model_;
  std::mutex mutex_;
  common_chat_templates* templates_ = nullptr;
  bool fallback_ = false;  // the model's template did not parse: ChatML is used instead
};

// Renders on a libuv worker (a long conversation through Jinja is not free). Resolves to JSON text.
Napi::Promise render_chat_async(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request_json);

// Parses a generated reply (content, reasoning, tool calls) with the parser a rendered chat
// returned, and reports what changed since the last call, for streaming deltas.
class ChatParser : public Napi::ObjectWrap<ChatParser> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new ChatParser({format, parser, generationPrompt, parseToolCalls})
  explicit ChatParser(const Napi::CallbackInfo& info);
  ~ChatParser() override;

 private:
  // update(newText, isPartial) -> JSON {diffs}, and when not partial also {content, reasoning,
  // toolCalls}: the text is appended to what came before, and the whole reply parsed again
  Napi::Value Update(const Napi::CallbackInfo& info);

  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shimmy
