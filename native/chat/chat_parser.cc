#include "chat_parser.h"

#include "napi_util.h"
#include "rendered_chat.h"

#include <chat-peg-parser.h>
#include <chat.h>
#include <json.h>

#include <random>
#include <stdexcept>
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

// Valid UTF-8 that ends on a whole character: what an `until` consumes without stopping early.
bool whole_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

enum class FreeText { None, Content, Reasoning };

// common_chat_peg_parse for the base mapper, which also reports whether the reply ends inside
// free text: the parse stopped for more input inside a content or reasoning tag (an `until`,
// rendered_chat.cc) that reaches the end and holds all of it, under no tool-call tag.
common_chat_msg parse_reply(const RenderedChatData& chat, const std::string& text, bool partial, FreeText& tail) {
  tail = FreeText::None;
  if (!chat.incremental) return common_chat_parse(text, partial, chat.parser);
  const std::string input = chat.parser.generation_prompt + text;
  common_peg_parse_context ctx(input, COMMON_PEG_PARSE_FLAG_LENIENT);
  const common_peg_parse_result result = chat.parser.parser.parse(ctx);
  if (result.fail() && !(partial && result.end > 0)) {
    throw std::runtime_error(std::string("the reply does not match the ") + common_chat_format_name(chat.parser.format) + " format");
  }
  common_chat_msg msg;
  msg.role = "assistant";
  common_chat_peg_mapper(msg).from_ast(ctx.ast, result);
  if (!partial || !result.need_more_input()) return msg;

  FreeText found = FreeText::None;
  for (size_t id = 0; id < ctx.ast.size(); ++id) {
    const common_peg_ast_node& node = ctx.ast.get(id);
    if (node.end != input.size() || node.tag.empty() || node.tag == common_chat_peg_builder::REASONING_BLOCK) continue;
    const bool content = node.tag == common_chat_peg_builder::CONTENT;
    if ((!content && node.tag != common_chat_peg_builder::REASONING) || found != FreeText::None || node.start >= node.end) return msg;
    found = content ? FreeText::Content : FreeText::Reasoning;
  }
  // Whitespace-only reasoning is dropped by the mapper: appending to it is not a plain append.
  if (found == FreeText::Reasoning && msg.reasoning_content.empty()) return msg;
  tail = found;
  return msg;
}

}  // namespace

struct ChatParser::State {
  std::shared_ptr<const RenderedChatData> chat;  // holds the parser
  std::string text;                              // the reply so far: JavaScript sends only what is new
  common_chat_msg current;
  FreeText tail = FreeText::None;  // where the reply ended at the last parse
  bool incremental = true;         // false: parse the whole reply at every update
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
  if (info.Length() > 1 && info[1].IsObject()) state_->incremental = bool_or(info[1].As<Napi::Object>(), "incremental", true);
}

ChatParser::~ChatParser() = default;

// Text appended inside free text, holding no byte that could start a delimiter, extends that
// text and nothing else: parsing the whole reply again would give the same message. So a long
// reply costs the same per token as a short one, except where markers may begin.
bool extends_free_text(const RenderedChatData& chat, FreeText tail, const std::string& piece) {
  if (tail == FreeText::None || piece.empty()) return false;
  for (const char c : piece) {
    if (chat.delimiter_starts[static_cast<unsigned char>(c)]) return false;
  }
  return whole_utf8(piece);
}

Napi::Value ChatParser::Update(const Napi::CallbackInfo& info) {
  State& s = *state_;
  const std::string piece = require_string(info, 0, "text");
  const bool partial = info.Length() > 1 && info[1].ToBoolean();
  s.text += piece;
  const std::string& text = s.text;
  if (partial && s.incremental && extends_free_text(*s.chat, s.tail, piece)) {
    common_chat_msg_diff d;
    (s.tail == FreeText::Content ? s.current.content : s.current.reasoning_content) += piece;
    (s.tail == FreeText::Content ? d.content_delta : d.reasoning_content_delta) = piece;
    common_json diffs = common_json::array();
    diffs.push_back(diff_to_json(d));
    return Napi::String::New(info.Env(), common_json::object({{"diffs", diffs}}).dump());
  }
  common_chat_msg parsed;
  try {
    parsed = parse_reply(*s.chat, text, partial, s.tail);
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
    try {
      for (const auto& d : common_chat_msg_diff::compute_diffs(s.current, parsed)) diffs.push_back(diff_to_json(d));
    } catch (const std::exception&) {
      // The parser read text already streamed differently now that more has come (a marker
      // completed what looked like content). A delta cannot take text back: this update sends
      // nothing and later ones continue from the new reading; the final message is exact.
    }
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
