#include "chat_format.h"

#include "napi_util.h"

#include <chat.h>
#include <json.h>

#include <random>
#include <vector>

namespace shimmy {

namespace {

// llama-server's default: reasoning goes to `reasoning_content`, also in streamed deltas.
constexpr common_reasoning_format kReasoningFormat = COMMON_REASONING_FORMAT_DEEPSEEK;

common_json string_array(const std::vector<std::string>& items) {
  common_json out = common_json::array();
  for (const auto& s : items) out.push_back(s);
  return out;
}

}  // namespace

ChatTemplates::~ChatTemplates() {
  if (templates_) common_chat_templates_free(templates_);
}

void ChatTemplates::ensure_parsed() {
  if (templates_) return;
  try {
    templates_ = common_chat_templates_init(model_.get(), "").release();
  } catch (const std::exception&) {
    // A template the Jinja engine cannot parse: ChatML, as llama-server falls back to.
    templates_ = common_chat_templates_init(model_.get(), "chatml").release();
    fallback_ = true;
  }
}

std::string ChatTemplates::render(const std::string& request_json) {
  const common_json req = common_json::parse(request_json);
  common_chat_templates_inputs in;
  in.use_jinja = true;
  in.reasoning_format = kReasoningFormat;
  in.messages = common_chat_msgs_parse_oaicompat(req.at("messages"));
  if (req.contains("tools") && req.at("tools").is_array() && !req.at("tools").empty()) {
    in.tools = common_chat_tools_parse_oaicompat(req.at("tools"));
  }
  in.tool_choice = common_chat_tool_choice_parse_oaicompat(req.value("tool_choice", std::string("auto")));
  in.parallel_tool_calls = req.value("parallel_tool_calls", false);
  if (req.contains("json_schema") && req.at("json_schema").is_object()) in.json_schema = req.at("json_schema").dump();
  in.add_generation_prompt = req.value("add_generation_prompt", true);
  if (req.contains("chat_template_kwargs") && req.at("chat_template_kwargs").is_object()) {
    for (const auto& [key, value] : req.at("chat_template_kwargs").items()) in.chat_template_kwargs[key] = value.dump();
  }

  common_chat_params p;
  bool fallback;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure_parsed();
    fallback = fallback_;
    p = common_chat_templates_apply(templates_, in);
  }

  common_json out = common_json::object();
  out["prompt"] = p.prompt;
  out["stop"] = string_array(p.additional_stops);
  if (!p.grammar.empty()) {
    // The shape the engine's submit() reads as `constraint` (lib/native.ts, NativeGrammarConstraint).
    common_json constraint = common_json::object();
    const bool tool_grammar = !in.tools.empty() && in.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
    constraint["grammar"] = p.grammar;
    constraint["kind"] = tool_grammar ? "tool_calls" : "output";
    constraint["lazy"] = p.grammar_lazy;
    common_json triggers = common_json::array();
    for (const auto& t : p.grammar_triggers) {
      // A token trigger travels as its text; the engine turns it back into the token.
      const int type = t.type == COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN ? COMMON_GRAMMAR_TRIGGER_TYPE_WORD : t.type;
      triggers.push_back(common_json::object({{"type", type}, {"value", t.value}}));
    }
    constraint["triggers"] = triggers;
    constraint["preservedTokens"] = string_array(p.preserved_tokens);
    constraint["generationPrompt"] = p.generation_prompt;
    out["constraint"] = constraint;
  }
  out["format"] = common_json::object({{"id", static_cast<int>(p.format)}, {"name", common_chat_format_name(p.format)},
                                       {"parser", p.parser}, {"generationPrompt", p.generation_prompt}});
  out["templateFallback"] = fallback;
  return out.dump();
}

namespace {

class RenderWorker : public Napi::AsyncWorker {
 public:
  RenderWorker(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), templates_(std::move(templates)),
        request_(std::move(request)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = templates_->render(request_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::String::New(Env(), result_)); }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(coded_error(Env(), ErrorCode::InvalidRequest, "the chat request could not be rendered: " + e.Message()));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ChatTemplates> templates_;
  std::string request_;
  std::string result_;
};

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

Napi::Promise render_chat_async(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request_json) {
  auto* worker = new RenderWorker(env, std::move(templates), std::move(request_json));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

struct ChatParser::State {
  common_chat_parser_params params;
  std::string text;  // the reply so far: JavaScript sends only what is new
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
  Napi::Object opts = require_object(info, 0, "options");
  auto& p = state_->params;
  const double format = number_or(opts, "format", 0);
  if (!(format >= 0 && format < COMMON_CHAT_FORMAT_COUNT)) throw_coded(info.Env(), ErrorCode::InvalidArgument, "unknown chat format");
  p.format = static_cast<common_chat_format>(format);
  p.reasoning_format = kReasoningFormat;
  p.generation_prompt = string_or(opts, "generationPrompt", "");
  p.parse_tool_calls = bool_or(opts, "parseToolCalls", true);
  const std::string parser = string_or(opts, "parser", "");
  try {
    if (!parser.empty()) p.parser.load(parser);
  } catch (const std::exception& e) {
    throw_coded(info.Env(), ErrorCode::InvalidArgument, std::string("invalid chat parser: ") + e.what());
  }
}

ChatParser::~ChatParser() = default;

Napi::Value ChatParser::Update(const Napi::CallbackInfo& info) {
  State& s = *state_;
  s.text += require_string(info, 0, "text");
  const std::string& text = s.text;
  const bool partial = info.Length() > 1 && info[1].ToBoolean();
  common_chat_msg parsed;
  try {
    parsed = common_chat_parse(text, partial, s.params);
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
