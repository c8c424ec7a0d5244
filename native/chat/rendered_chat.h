// One chat request as the model's template rendered it, kept on the native side: the prompt's
// tokens, the grammar and triggers that constrain the reply, and the parser that reads it back.
// JavaScript holds it as an opaque handle (RenderedChat) that the engine's submit() and the
// ChatParser accept, so none of it is serialised or re-read on the way.
#pragma once

#include "prompt_image.h"
#include "sampling_params.h"

#include <chat.h>
#include <llama.h>
#include <napi.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace shimmy {

struct RenderedChatData {
  // Whose vocabulary the tokens are in. Weak: a chat kept past its model's close must not match a
  // later model that happens to get the same address.
  std::weak_ptr<const llama_model> model;
  std::string prompt;
  std::vector<llama_token> prompt_tokens;  // an image's positions hold kImageToken
  std::vector<PromptImage> images;         // in prompt order
  size_t image_bytes = 0;                  // about what their preprocessed pixels take (V8 is told, so it collects a chat it holds)
  std::vector<std::string> stops;  // stop strings the format needs besides end-of-generation
  std::string format_name;
  bool template_fallback = false;  // the model's template did not parse: ChatML was used

  // The grammar fields of SamplingParams (grammar, kind, lazy triggers, preserved tokens,
  // generation prompt); empty grammar = unconstrained.
  SamplingParams constraint;

  common_chat_parser_params parser;
  // The reply is its content, verbatim: the format has no reasoning or tool-call markers.
  bool content_only = false;
  // Free text (content or reasoning) is read only by `until` parsers, so text appended inside it
  // extends it unless it holds a byte that starts one of their delimiters (chat_parser.cc).
  bool incremental = false;
  std::array<bool, 256> delimiter_starts{};

  void constrain(SamplingParams& p) const;
};

// Whether a chat format's PEG parser (its serialised arena) reads every reply as plain content:
// the generation prompt, then content up to the end and nothing else.
bool content_only_parser(const std::string& arena_json, const std::string& generation_prompt);

// Sets `incremental` and `delimiter_starts` from the format's parser (its serialised arena).
void analyse_free_text(const std::string& arena_json, RenderedChatData& chat);

class RenderedChat : public Napi::ObjectWrap<RenderedChat> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<const RenderedChatData> data);
  // The handle's data when `value` is a RenderedChat, else null.
  static std::shared_ptr<const RenderedChatData> from(Napi::Env env, Napi::Value value);

  explicit RenderedChat(const Napi::CallbackInfo& info);
  void Finalize(Napi::Env env) override;
  const std::shared_ptr<const RenderedChatData>& data() const { return data_; }

 private:
  std::shared_ptr<const RenderedChatData> data_;
};

}  // namespace shimmy
