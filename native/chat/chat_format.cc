#include "chat_format.h"

#include "media_prompt.h"
#include "model.h"
#include "napi_util.h"
#include "promise_worker.h"
#include "rendered_chat.h"
#include "tokenize.h"

#include <chat.h>
#include <jinja/limits.h>
#include <json.h>

#include <stdexcept>
#include <vector>

namespace shimmy {

namespace {

// llama-server's default: reasoning goes to `reasoning_content`, also in streamed deltas.
constexpr common_reasoning_format kReasoningFormat = COMMON_REASONING_FORMAT_DEEPSEEK;

// How jinja::limit_exceeded's message begins (vendor/llama.cpp/common/jinja/limits.h).
constexpr const char* kTemplateLimitMessage = "chat template exceeded its ";

// "chat template exceeded its … limit" when a Jinja limit stopped the template, else "". llama.cpp
// rewraps some exceptions on the way out, so the limit is recognised by its message.
std::string template_limit(const std::string& what) {
  const size_t at = what.find(kTemplateLimitMessage);
  if (at == std::string::npos) return "";
  const size_t end = what.find(" limit", at);
  return what.substr(at, end == std::string::npos ? end : end + 6 - at);
}

}  // namespace

ChatTemplates::~ChatTemplates() {
  if (templates_) common_chat_templates_free(templates_);
}

void ChatTemplates::ensure_parsed() {
  if (templates_) return;
  if (!refused_.empty()) throw std::runtime_error(refused_);
  try {
    jinja::render_scope budget;  // the capability probes render the template too
    templates_ = common_chat_templates_init(model_.get(), "").release();
  } catch (const std::exception& e) {
    // A template that runs away while it is analysed is refused for good, not replaced.
    if (!template_limit(e.what()).empty()) {
      refused_ = e.what();
      throw;
    }
    // A template the Jinja engine cannot parse: ChatML, as llama-server falls back to.
    templates_ = common_chat_templates_init(model_.get(), "chatml").release();
    fallback_ = true;
  }
}

std::shared_ptr<const RenderedChatData> ChatTemplates::render(const std::string& request_json, const ChatImages& images) {
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
    // One budget for every render llama.cpp makes of the template for this request (its
    // format analysis renders it several times): a runaway is stopped once, not once per render.
    jinja::render_scope budget;
    p = common_chat_templates_apply(templates_, in);
  }

  auto out = std::make_shared<RenderedChatData>();
  out->model = model_;
  out->prompt = p.prompt;
  if (!images.files.empty()) {
    if (!projector_) throw std::invalid_argument("this model takes no images: it was loaded without a projector (mmproj)");
    out->image_bytes = tokenize_with_images(*projector_, p.prompt, images.marker, images.files, out->prompt_tokens, out->images);
  } else if (!tokenize_text(llama_model_get_vocab(model_.get()), p.prompt, true, true, out->prompt_tokens)) {
    throw std::runtime_error("the rendered prompt could not be tokenized");
  }
  out->stops = p.additional_stops;
  out->format_name = common_chat_format_name(p.format);
  out->template_fallback = fallback;

  const bool tool_calls = !in.tools.empty() && in.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
  SamplingParams& c = out->constraint;
  c.grammar = p.grammar;
  c.grammar_kind = tool_calls ? GrammarKind::ToolCalls : GrammarKind::OutputFormat;
  c.grammar_lazy = p.grammar_lazy;
  c.generation_prompt = p.generation_prompt;
  for (const auto& t : p.grammar_triggers) {
    // A token trigger is kept as its text: the sampler matches a word that is one preserved
    // token as that token, as llama-server does.
    const int32_t type = t.type == COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN ? COMMON_GRAMMAR_TRIGGER_TYPE_WORD : t.type;
    c.grammar_triggers.push_back({type, t.value});
  }
  for (const std::string& text : p.preserved_tokens) {
    std::vector<llama_token> ids;
    if (tokenize_text(llama_model_get_vocab(model_.get()), text, false, true, ids) && ids.size() == 1) {
      c.preserved_tokens.push_back(ids[0]);
    }
  }

  common_chat_parser_params& parser = out->parser;
  parser.format = p.format;
  parser.reasoning_format = kReasoningFormat;
  parser.generation_prompt = p.generation_prompt;
  parser.parse_tool_calls = tool_calls;
  if (!p.parser.empty()) parser.parser.load(p.parser);
  const bool peg_mapper = p.format == COMMON_CHAT_FORMAT_CONTENT_ONLY || p.format == COMMON_CHAT_FORMAT_PEG_SIMPLE ||
                          p.format == COMMON_CHAT_FORMAT_PEG_NATIVE;
  out->content_only = p.parser.empty() ? p.format == COMMON_CHAT_FORMAT_CONTENT_ONLY
                                       : peg_mapper && content_only_parser(p.parser, p.generation_prompt);
  analyse_free_text(p.parser, *out);
  return out;
}

namespace {

class RenderWorker : public PromiseWorker<> {
 public:
  RenderWorker(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request, ChatImages images)
      : PromiseWorker(env, ErrorCode::InvalidRequest), templates_(std::move(templates)), request_(std::move(request)), images_(std::move(images)) {}

  void Execute() override {
    try {
      result_ = templates_->render(request_, images_);
    } catch (const std::exception& e) {
      // A template stopped by the Jinja engine's limits (vendor/patches/0005) is the model's
      // fault, not the request's.
      if (const std::string limit = template_limit(e.what()); !limit.empty()) {
        fail(ErrorCode::InvalidModel, "the model's " + limit);
      } else {
        fail(ErrorCode::InvalidRequest, std::string("the chat request could not be rendered: ") + e.what());
      }
    }
  }
  Napi::Value result(Napi::Env env) override { return RenderedChat::New(env, std::move(result_)); }

 private:
  std::shared_ptr<ChatTemplates> templates_;
  std::string request_;
  ChatImages images_;
  std::shared_ptr<const RenderedChatData> result_;
};

}  // namespace

Napi::Promise render_chat_async(Napi::Env env, std::shared_ptr<ChatTemplates> templates, std::string request_json, ChatImages images) {
  return (new RenderWorker(env, std::move(templates), std::move(request_json), std::move(images)))->start();
}

}  // namespace shimmy
