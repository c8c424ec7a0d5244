#include "rendered_chat.h"

#include "addon_data.h"
#include "napi_util.h"

#include <json.h>

#include <numeric>

namespace shimmy {

void RenderedChatData::constrain(SamplingParams& p) const {
  p.grammar = constraint.grammar;
  p.grammar_kind = constraint.grammar_kind;
  p.grammar_lazy = constraint.grammar_lazy;
  p.grammar_triggers = constraint.grammar_triggers;
  p.preserved_tokens = constraint.preserved_tokens;
  p.generation_prompt = constraint.generation_prompt;
}

namespace {

// Flattens nested sequences into their leaves, in order; false on a node that is not a plain
// sequence member (rules, references and anything else make the parser more than content).
bool leaves(const common_json& parsers, size_t id, std::vector<const common_json*>& out, int depth = 0) {
  if (depth > 16 || id >= parsers.size()) return false;
  const common_json& node = parsers.at(id);
  if (node.value("type", "") != "sequence") {
    out.push_back(&node);
    return true;
  }
  for (const auto& child : node.at("children")) {
    if (!child.is_number_integer() || child.get<long long>() < 0 || !leaves(parsers, child.get<size_t>(), out, depth + 1)) return false;
  }
  return true;
}

}  // namespace

bool content_only_parser(const std::string& arena_json, const std::string& generation_prompt) {
  if (arena_json.empty()) return true;  // common_chat_parse then reads everything as content
  try {
    const common_json arena = common_json::parse(arena_json);
    const common_json& parsers = arena.at("parsers");
    if (!arena.value("rules", common_json::object()).empty()) return false;
    std::vector<const common_json*> seq;
    if (!leaves(parsers, arena.at("root").get<size_t>(), seq)) return false;
    // Expected: [literal(generation prompt)] epsilon* tag(content, until()) epsilon* [end]
    size_t i = 0;
    if (i < seq.size() && seq[i]->value("type", "") == "literal") {
      if (seq[i]->value("literal", "") != generation_prompt) return false;
      ++i;
    }
    bool content = false;
    for (; i < seq.size(); ++i) {
      const common_json& n = *seq[i];
      const std::string type = n.value("type", "");
      if (type == "epsilon") continue;
      if (type == "end" && content && i + 1 == seq.size()) continue;
      if (type != "tag" || content || n.value("tag", "") != "content") return false;
      const size_t child = n.at("child").get<size_t>();
      if (child >= parsers.size()) return false;
      const common_json& until = parsers.at(child);
      if (until.value("type", "") != "until" || !until.value("delimiters", common_json::array()).empty()) return false;
      content = true;
    }
    return content;
  } catch (const std::exception&) {
    return false;
  }
}

void analyse_free_text(const std::string& arena_json, RenderedChatData& chat) {
  chat.incremental = false;
  chat.delimiter_starts.fill(false);
  const auto f = chat.parser.format;
  // Only the base mapper (content and reasoning concatenated as parsed) is understood here.
  if (arena_json.empty() || !(f == COMMON_CHAT_FORMAT_PEG_SIMPLE || f == COMMON_CHAT_FORMAT_PEG_NATIVE)) return;
  try {
    const common_json parsers = common_json::parse(arena_json).at("parsers");
    for (size_t i = 0; i < parsers.size(); ++i) {
      const common_json& n = parsers.at(i);
      const std::string type = n.value("type", "");
      if (type == "tag") {
        const std::string tag = n.value("tag", "");
        if (tag != "content" && tag != "reasoning") continue;
        const size_t child = n.at("child").get<size_t>();
        if (child >= parsers.size() || parsers.at(child).value("type", "") != "until") return;
      } else if (type == "until" || type == "ac") {
        for (const std::string& d : n.at("delimiters").get<std::vector<std::string>>()) {
          if (!d.empty()) chat.delimiter_starts[static_cast<unsigned char>(d[0])] = true;
        }
      }
    }
    chat.incremental = true;
  } catch (const std::exception&) {
    chat.incremental = false;
  }
}

Napi::Function RenderedChat::Define(Napi::Env env) { return DefineClass(env, "RenderedChat", {}); }

Napi::Object RenderedChat::New(Napi::Env env, std::shared_ptr<const RenderedChatData> data) {
  auto* held = new std::shared_ptr<const RenderedChatData>(std::move(data));
  auto external = Napi::External<std::shared_ptr<const RenderedChatData>>::New(
      env, held, [](Napi::Env, std::shared_ptr<const RenderedChatData>* p) { delete p; });
  return AddonData::of(env).rendered_chat_class.New({external});
}

std::shared_ptr<const RenderedChatData> RenderedChat::from(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(AddonData::of(env).rendered_chat_class.Value())) return nullptr;
  return RenderedChat::Unwrap(value.As<Napi::Object>())->data();
}

// Only model.renderChat() makes these; what JavaScript may read is set once, as plain properties.
RenderedChat::RenderedChat(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RenderedChat>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw_coded(env, ErrorCode::InvalidArgument, "a RenderedChat comes from model.renderChat()");
  data_ = *info[0].As<Napi::External<std::shared_ptr<const RenderedChatData>>>().Data();
  const RenderedChatData& d = *data_;
  if (d.image_bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(d.image_bytes));
  Napi::Array stops = Napi::Array::New(env, d.stops.size());
  for (uint32_t i = 0; i < d.stops.size(); ++i) stops.Set(i, d.stops[i]);
  const auto readonly = [](const char* name, Napi::Value v) {
    return Napi::PropertyDescriptor::Value(name, v, napi_enumerable);
  };
  info.This().As<Napi::Object>().DefineProperties({
      readonly("prompt", Napi::String::New(env, d.prompt)),
      readonly("promptTokens", Napi::Number::New(env, static_cast<double>(d.prompt_tokens.size()))),
      readonly("imageTokens", Napi::Number::New(env, static_cast<double>(std::accumulate(
                                  d.images.begin(), d.images.end(), size_t{0}, [](size_t n, const PromptImage& i) { return n + i.n_tokens; })))),
      readonly("stop", stops),
      readonly("format", Napi::String::New(env, d.format_name)),
      readonly("constrained", Napi::Boolean::New(env, !d.constraint.grammar.empty())),
      readonly("parseToolCalls", Napi::Boolean::New(env, d.parser.parse_tool_calls)),
      readonly("contentOnly", Napi::Boolean::New(env, d.content_only)),
      readonly("templateFallback", Napi::Boolean::New(env, d.template_fallback)),
  });
}

void RenderedChat::Finalize(Napi::Env env) {
  if (data_ && data_->image_bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(data_->image_bytes));
}

}  // namespace shimmy
