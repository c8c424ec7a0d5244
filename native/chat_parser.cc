#include "chat_parser.h"

#include "napi_util.h"
#include "rendered_chat.h"

#include <chat.h>
#include <json.h>

#include <random>
#include <string>
#include <vector>

namespace shimmy {

namespace {

common_json diff_to_json(const common_chat_msg_diff& d) {
  common_json o = common_json::object();
  o["content"] = d.content_delta;
  o["reasoning"] = d.reasoning_content_delta;
  if (d.tool_call_index != std::string::npos) {
    o["toolCallIndex"] = static_cast<int64_t>(d.tool_call_index);
    o["toolCall"] = common_json::object(
        {{"id", d.tool_call_delta.id}, {"name", d.tool_call_delta.name}, {"arguments", d.tool_call_delta.arguments}});
  }
  return o;
}

}  // namespace

struct ChatParser::State {
  std::shared_ptr<const RenderedChatData> chat;  // holds the parser
  std::string text;                              // the reply so far: JavaScript sends only what is new
  common_chat_msg current;
  std::vector<std::string> tool_call_ids;
  std::mt19937_64 rng{std::random_device{}()};

  std::string new_tool_call_id() {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string id = "call_";
    for (int i = 0; i < 24; ++i) id += alphabet[rng() % (sizeof alphabet - 1)];
    return id;
  }
};

Napi::Function ChatParser::Define(Napi::Env env) {
  return DefineClass(env, "ChatParser", {InstanceMethod<&ChatParser::Update>("update")});
}

ChatParser::ChatParser(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChatParser>(info), state_(std::make_unique<State>()) {
  state_->chat = info.Length() > 0 ? RenderedChat::from(info.Env(), info[0]) : nullptr;
  if (!state_->chat) throw_coded(info.Env(), ErrorCode::InvalidArgument, "new ChatParser(renderedChat): not a rendered chat");
}

ChatParser::~ChatParser() = default;

Napi::Value ChatParser::Update(const Napi::CallbackInfo& info) {
  State& s = *state_;
  s.text += require_string(info, 0, "text");
  const std::string& text = s.text;
  const bool partial = info.Length() > 1 && info[1].ToBoolean();
  common_chat_msg parsed;
  try {
    parsed = common_chat_parse(text, partial, s.chat->parser);
  } catch (const std::exception&) {
    // Output that does not follow the format is plain content once it is complete.
    if (!partial) {
      parsed.role = "assistant";
      parsed.content = text;
    }
  }
  common_json diffs = common_json::array();
  if (!parsed.empty()) {
    parsed.set_tool_call_ids(s.tool_call_ids, [&s] { return s.new_tool_call_id(); });
    for (const auto& d : common_chat_msg_diff::compute_diffs(s.current, parsed)) diffs.push_back(diff_to_json(d));
    s.current = std::move(parsed);
  }
  common_json out = common_json::object();
  out["diffs"] = diffs;
  // While streaming only the deltas matter: the whole message (a copy of the reply) comes once.
  if (partial) return Napi::String::New(info.Env(), out.dump());
  common_json tool_calls = common_json::array();
  for (const auto& call : s.current.tool_calls) {
    tool_calls.push_back(common_json::object({{"id", call.id}, {"name", call.name}, {"arguments", call.arguments}}));
  }
  out["content"] = s.current.content;
  out["reasoning"] = s.current.reasoning_content;
  out["toolCalls"] = tool_calls;
  return Napi::String::New(info.Env(), out.dump());
}

}  // namespace shimmy
