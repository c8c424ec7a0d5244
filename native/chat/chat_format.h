// Chat templates, through llama.cpp's common/: the model's own Jinja template renders an OpenAI-style
// request into a prompt plus whatever the format needs to constrain and parse the reply (grammar,
// lazy-grammar triggers, extra stop strings, a PEG parser for tool calls and reasoning), kept
// together in a RenderedChat (rendered_chat.h).
#pragma once

#include <llama.h>
#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct common_chat_templates;

namespace shimmy {

struct RenderedChatData;

class Projector;

// The images of one chat request: the files' bytes, and the marker its messages hold where each goes.
struct ChatImages {
  std::vector<std::string> files;
  std::string marker;
};

class ChatTemplates {
 public:
  // `projector` (null: the model takes no images) tokenizes a prompt's images.
  ChatTemplates(std::shared_ptr<llama_model> model, std::shared_ptr<Projector> projector)
      : model_(std::move(model)), projector_(std::move(projector)) {}
  ~ChatTemplates();

  // request: JSON {messages, tools?, tool_choice?, parallel_tool_calls?, json_schema?,
  // add_generation_prompt?, chat_template_kwargs?}. A user's own GBNF grammar does not pass
  // through here: it goes straight to the sampler.
  // Throws std::exception with a message meant for the client.
  std::shared_ptr<const RenderedChatData> render(const std::string& request_json, const ChatImages& images);

 private:
  void ensure_parsed();

  std::shared_ptr<llama_model> model_;
  std::shared_ptr<Projector> projector_;
  std::mutex mutex_;
  common_chat_templates* templates_ = nullptr;
  bool fallback_ = false;  // the model's template did not parse: ChatML is used instead
  std::string refused_;    // the model's template ran over a Jinja limit while being analysed
};

// Renders (and tokenizes the prompt) on a libuv worker: a long conversation through Jinja is not
// free. Resolves to a RenderedChat handle.
Napi::Promise render_chat_async(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request_json, ChatImages images);

}  // namespace shimmy
