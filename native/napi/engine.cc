#include "engine.h"

#include "grammar_check.h"
#include "log_router.h"
#include "model.h"
#include "napi_util.h"
#include "promise_worker.h"
#include "rendered_chat.h"
#include "rpc.h"
#include "projector.h"
#include "tokenize.h"

#include <mtmd.h>

#include <cmath>

namespace shimmy {

namespace {

Napi::Object event_to_js(Napi::Env env, const Event& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", e.id);
  o.Set("kind", static_cast<int32_t>(e.kind));  // 0 text, 1 done, 2 error
  o.Set("text", Napi::String::New(env, e.text));
  if (!e.logprobs.empty()) {
    Napi::Array list = Napi::Array::New(env, e.logprobs.size());
    for (size_t i = 0; i < e.logprobs.size(); ++i) {
      const TokenLogprob& lp = e.logprobs[i];
      Napi::Object item = Napi::Object::New(env);
      item.Set("token", lp.token);
      item.Set("text", Napi::String::New(env, lp.piece));
      item.Set("logprob", lp.logprob);
      Napi::Array top = Napi::Array::New(env, lp.top.size());
      for (size_t k = 0; k < lp.top.size(); ++k) {
        Napi::Object alt = Napi::Object::New(env);
        alt.Set("token", lp.top[k].token);
        alt.Set("text", Napi::String::New(env, lp.top[k].piece));
        alt.Set("logprob", lp.top[k].logprob);
        top.Set(static_cast<uint32_t>(k), alt);
      }
      item.Set("top", top);
      list.Set(static_cast<uint32_t>(i), item);
    }
    o.Set("logprobs", list);
  }
  if (e.kind == EventKind::Done) {
    o.Set("promptTokens", e.prompt_tokens);
    o.Set("completionTokens", e.completion_tokens);
    o.Set("cachedTokens", e.cached_tokens);
    o.Set("promptMs", e.prompt_ms);
    o.Set("generationMs", e.generation_ms);
    if (!e.stop_sequence.empty()) o.Set("stopSequence", e.stop_sequence);
  }
  return o;
}

void deliver_events(Napi::Env env, Napi::Function fn, Scheduler* scheduler) {
  std::vector<Event> events = scheduler->take_events();
  if (events.empty()) return;
  Napi::Array array = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); ++i) array.Set(static_cast<uint32_t>(i), event_to_js(env, events[i]));
  fn.Call({array});
}

// Joins the scheduler thread off the main thread (it may be inside a decode step).
class CloseWorker : public PromiseWorker<> {
 public:
  CloseWorker(Napi::Env env, std::shared_ptr<Scheduler> s, Napi::ThreadSafeFunction tsfn, Napi::Function on_events)
      : PromiseWorker(env, ErrorCode::GenerationFailed), scheduler_(std::move(s)), tsfn_(tsfn) {
    on_events_ = Napi::Persistent(on_events);
  }
  void Execute() override { scheduler_->stop(); }
  Napi::Value result(Napi::Env env) override {
    // The final "cancelled" events reach JavaScript before close() resolves.
    deliver_events(env, on_events_.Value(), scheduler_.get());
    tsfn_.Release();
    return env.Undefined();
  }

 private:
  std::shared_ptr<Scheduler> scheduler_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference on_events_;
};

// Prompts longer than this (bytes of text) are tokenized off the main thread.
constexpr size_t kSyncTokenizeBytes = 16384;

// One request as submit() read it, and the work that may run off the main thread: tokenizing a
// prompt given as text, the checks that need its tokens, and building the sampler (a grammar's
// parse may take ~0.1 s on what check_grammar lets through).
struct Submission {
  Request req;
  SamplingParams sampling;
  std::string text;  // the prompt when given as text (req.prompt is then filled by prepare)
  bool from_text = false;
  bool on_backend = false;

  bool heavy() const { return (from_text && text.size() > kSyncTokenizeBytes) || !sampling.grammar.empty(); }

  // "" when the request can be queued; else why not, with `code` set.
  std::string prepare(const llama_model* model, size_t context_size, ErrorCode& code) {
    code = ErrorCode::InvalidRequest;
    const llama_vocab* vocab = llama_model_get_vocab(model);
    if (from_text && !tokenize_text(vocab, text, true, true, req.prompt)) return "the prompt could not be tokenized";
    if (req.prompt.empty()) return "the prompt is empty";
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    // A chat's images hold their positions with kImageToken; a prompt of tokens has no images.
    for (llama_token t : req.prompt) {
      if ((t < 0 || t >= n_vocab) && !(t == kImageToken && !req.images.empty())) return "prompt token id out of range";
    }
    const size_t needed = req.prompt.size() + static_cast<size_t>(req.max_tokens > 0 ? req.max_tokens : 1);
    if (needed > context_size) {
      code = ErrorCode::ContextOverflow;
      return "the prompt (" + std::to_string(req.prompt.size()) + " tokens) plus max_tokens (" +
             std::to_string(req.max_tokens < 0 ? 0 : req.max_tokens) + ") does not fit the context of " +
             std::to_string(context_size) + " tokens";
    }
    try {
      req.sampler = std::make_unique<Sampler>(model, sampling, on_backend);
    } catch (const std::exception& e) {
      return std::string(sampling.grammar.empty() ? "the sampler could not be created: " : "the grammar could not be parsed: ") + e.what();
    }
    return "";
  }
};

const char* const kQueueFull = "all slots are busy and the wait queue is full";

// A submission whose preparation is heavy, prepared on a libuv worker, then queued.
class SubmitWorker : public PromiseWorker<> {
 public:
  SubmitWorker(Napi::Env env, std::shared_ptr<Scheduler> scheduler, const llama_model* model, Submission submission)
      : PromiseWorker(env, ErrorCode::InvalidRequest), scheduler_(std::move(scheduler)), model_(model),
        submission_(std::move(submission)) {}
  void Execute() override {
    ErrorCode code;
    if (std::string why = submission_.prepare(model_, scheduler_->config().context_size, code); !why.empty()) fail(code, why);
  }
  void OnOK() override {
    if (scheduler_->submit(std::move(submission_.req))) return deferred().Resolve(Env().Undefined());
    reject(ErrorCode::QueueFull, kQueueFull);
  }

 private:
  std::shared_ptr<Scheduler> scheduler_;  // keeps the model alive too
  const llama_model* model_;
  Submission submission_;
};

uint32_t positive_u32(Napi::Object o, const char* key, uint32_t max) {
  const double v = required_number(o, key);
  if (!(v >= 1 && v <= max) || std::floor(v) != v) {
    throw_coded(o.Env(), ErrorCode::InvalidRequest, std::string(key) + " must be an integer from 1 to " + std::to_string(max));
  }
  return static_cast<uint32_t>(v);
}

// A KV cache type by ggml's name, among those llama-server's --cache-type-k takes.
ggml_type kv_cache_type(Napi::Object o, const char* key) {
  const std::string name = required_string(o, key);
  for (ggml_type t : {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
                      GGML_TYPE_IQ4_NL, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1}) {
    if (name == ggml_type_name(t)) return t;
  }
  throw_coded(o.Env(), ErrorCode::InvalidRequest, std::string(key) + ": unknown KV cache type '" + name + "'");
}

llama_flash_attn_type flash_attn_type(Napi::Object o) {
  const std::string v = required_string(o, "flashAttention");
  if (v == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (v == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  if (v == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  throw_coded(o.Env(), ErrorCode::InvalidRequest, "flashAttention must be auto, on or off");
}

// A user's own GBNF; a chat's grammar comes with its RenderedChat instead.
void read_grammar(Napi::Object o, SamplingParams& p) {
  p.grammar = string_or(o, "grammar", "");
  // llama.cpp aborts the process on this prefix when built without llguidance.
  if (p.grammar.rfind("%llguidance", 0) == 0) throw_coded(o.Env(), ErrorCode::InvalidRequest, "llguidance grammars are not supported");
}

SamplingParams read_sampling(Napi::Env env, Napi::Object o, int32_t n_vocab) {
  SamplingParams p;
  p.temperature = static_cast<float>(required_number(o, "temperature"));
  p.top_k = static_cast<int32_t>(required_number(o, "topK"));
  p.top_p = static_cast<float>(required_number(o, "topP"));
  p.min_p = static_cast<float>(required_number(o, "minP"));
  p.repeat_penalty = static_cast<float>(required_number(o, "repeatPenalty"));
  p.frequency_penalty = static_cast<float>(required_number(o, "frequencyPenalty"));
  p.presence_penalty = static_cast<float>(required_number(o, "presencePenalty"));
  p.penalty_last_n = static_cast<int32_t>(required_number(o, "penaltyLastN"));
  const double seed = required_number(o, "seed");
  p.seed = seed >= 0 ? static_cast<uint32_t>(static_cast<uint64_t>(seed) & 0xFFFFFFFFu) : LLAMA_DEFAULT_SEED;
  read_grammar(o, p);
  Napi::Value bias = o.Get("logitBias");
  if (bias.IsArray()) {
    auto pairs = bias.As<Napi::Array>();
    for (uint32_t i = 0; i < pairs.Length(); ++i) {
      Napi::Value pair = pairs.Get(i);
      if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2) throw_coded(env, ErrorCode::InvalidRequest, "logitBias entries must be [token, bias]");
      const double token = pair.As<Napi::Array>().Get(0u).ToNumber().DoubleValue();
      const double value = pair.As<Napi::Array>().Get(1u).ToNumber().DoubleValue();
      if (!(token >= 0 && token < n_vocab)) throw_coded(env, ErrorCode::InvalidRequest, "logitBias token id out of range");
      // -Infinity bans a token; NaN would poison the comparisons every sampler relies on.
      if (std::isnan(value)) throw_coded(env, ErrorCode::InvalidRequest, "logitBias values must be numbers, not NaN");
      p.logit_bias.push_back({static_cast<llama_token>(token), static_cast<float>(value)});
    }
  }
  return p;
}

// lora: a scale per adapter of the model (TypeScript fills in the defaults), or [] for a model
// without any; a set of zeros is no set at all, so such requests step with those without.
std::vector<float> read_lora(Napi::Object o, size_t adapters) {
  Napi::Value v = o.Get("lora");
  if (!v.IsArray()) throw_coded(o.Env(), ErrorCode::InvalidArgument, "lora must be an array of numbers");
  auto list = v.As<Napi::Array>();
  if (list.Length() != adapters) throw_coded(o.Env(), ErrorCode::InvalidRequest, "lora must hold a scale for each of the model's " + std::to_string(adapters) + " adapters");
  std::vector<float> scales;
  bool any = false;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    const float scale = item.IsNumber() ? item.As<Napi::Number>().FloatValue() : NAN;
    if (!std::isfinite(scale)) throw_coded(o.Env(), ErrorCode::InvalidRequest, "lora scales must be finite numbers");
    scales.push_back(scale);
    any = any || scales.back() != 0.0f;
  }
  if (!any) scales.clear();
  return scales;
}

}  // namespace

Napi::Function Engine::Define(Napi::Env env) {
  return DefineClass(env, "Engine", {
    InstanceMethod<&Engine::Submit>("submit"),
    InstanceMethod<&Engine::Cancel>("cancel"),
    InstanceMethod<&Engine::Pause>("pause"),
    InstanceMethod<&Engine::Stats>("stats"),
    InstanceMethod<&Engine::Ref>("ref"),
    InstanceMethod<&Engine::Unref>("unref"),
    InstanceMethod<&Engine::Close>("close"),
  });
}

Engine::Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_coded(env, ErrorCode::InvalidArgument, "model must be a Model");
  Model* model_object = Model::Unwrap(info[0].As<Napi::Object>());
  auto model = model_object->shared(env);
  Napi::Object opts = require_object(info, 1, "options");
  Napi::Function on_events = require_function(info, 2, "onEvents");

  SchedulerConfig config;
  config.context_size = positive_u32(opts, "contextSize", 1u << 20);
  config.parallel = positive_u32(opts, "parallel", 256);
  config.batch_size = positive_u32(opts, "batchSize", 1u << 16);
  config.queue_limit = positive_u32(opts, "queueLimit", 1u << 20);
  config.threads = static_cast<int32_t>(positive_u32(opts, "threads", 1024));
  config.adapt_threads = required_bool(opts, "adaptThreads");
  config.backend_sampling = required_bool(opts, "backendSampling");
  config.cache_type_k = kv_cache_type(opts, "cacheTypeK");
  config.cache_type_v = kv_cache_type(opts, "cacheTypeV");
  config.flash_attn = flash_attn_type(opts);
  config.kv_unified = required_bool(opts, "kvUnified");
  config.kv_size = positive_u32(opts, "kvSize", 1u << 24);
  if (config.kv_unified && config.kv_size < config.context_size) throw_coded(env, ErrorCode::InvalidRequest, "kvSize must hold at least contextSize tokens");
  if (auto links = model_object->rpc_links()) config.broken = [links] { return links->broken(); };
  config.adapters = model_object->adapters();
  config.projector = model_object->projector();
  model_ = model.get();  // the scheduler keeps the model alive
  vocab_size_ = llama_vocab_n_tokens(llama_model_get_vocab(model_));
  on_events_ = Napi::Persistent(on_events);

  // The wake-up needs the thread-safe function, which needs the scheduler as its context: the
  // cell is filled right after construction, before any request can produce an event.
  auto tsfn_cell = std::make_shared<Napi::ThreadSafeFunction>();
  scheduler_ = std::make_shared<Scheduler>(model, config, [tsfn_cell](Scheduler* s) {
    tsfn_cell->NonBlockingCall(s, [](Napi::Env env, Napi::Function fn, Scheduler* sched) { deliver_events(env, fn, sched); });
  });
  if (!scheduler_->ok()) {
    scheduler_.reset();
    const std::string why = take_last_error();
    throw_coded(env, ErrorCode::ContextFailed, "llama.cpp could not create a context: " + (why.empty() ? "out of memory?" : why));
  }
  // The function's finalizer holds the last reference, so a queued call never outlives its scheduler.
  auto* keep = new std::shared_ptr<Scheduler>(scheduler_);
  tsfn_ = Napi::ThreadSafeFunction::New(env, on_events, "shimmy-engine", 0, 1, keep,
                                        [](Napi::Env, std::shared_ptr<Scheduler>* k) { delete k; });
  *tsfn_cell = tsfn_;
  tsfn_.Unref(env);  // lib/engine refs it while requests are in flight
  napi_add_env_cleanup_hook(env, StopAtExit, scheduler_.get());
}

Engine::~Engine() {
  if (scheduler_ && !closing_) {
    napi_remove_env_cleanup_hook(Env(), StopAtExit, scheduler_.get());
    scheduler_->stop();
    tsfn_.Release();
  }
}

void Engine::StopAtExit(void* self) { static_cast<Scheduler*>(self)->stop(); }

Scheduler& Engine::scheduler(Napi::Env env) {
  if (!scheduler_ || closing_) throw_coded(env, ErrorCode::ModelClosed, "the engine was closed");
  return *scheduler_;
}

// submit(id, prompt: string | Int32Array | RenderedChat, options) — the one way in for a request.
// A prompt given as text is tokenized here (with the model's special tokens, as llama-server);
// a rendered chat brings its tokens, stop strings and grammar with it. Throws context_overflow,
// queue_full or invalid_request at once, or, for a long text or a grammar (prepared off the main
// thread), returns a promise that settles once the request is queued or refused.
Napi::Value Engine::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Scheduler& s = scheduler(env);
  const auto chat = info.Length() > 1 ? RenderedChat::from(env, info[1]) : nullptr;
  const bool tokens_given = info.Length() > 1 && info[1].IsTypedArray() && info[1].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
  const bool text_given = info.Length() > 1 && info[1].IsString();
  if (info.Length() < 3 || !info[0].IsNumber() || !(chat || tokens_given || text_given) || !info[2].IsObject()) {
    throw_coded(env, ErrorCode::InvalidArgument, "submit(id: number, prompt: string | Int32Array | RenderedChat, options: object)");
  }
  Napi::Object opts = info[2].As<Napi::Object>();
  Submission sub;
  Request& req = sub.req;
  req.id = info[0].As<Napi::Number>().Int32Value();
  if (chat) {
    if (chat->model.lock().get() != model_) throw_coded(env, ErrorCode::InvalidRequest, "the chat was rendered by another model");
    req.prompt = chat->prompt_tokens;
    req.images = chat->images;
    // Some projectors' images attend to themselves both ways (Gemma 3) and are decoded in one piece.
    const uint32_t ubatch = s.ubatch();
    for (const PromptImage& image : req.images) {
      if (mtmd_decode_use_non_causal(s.config().projector->context(), image.chunk.get()) && image.n_tokens > ubatch) {
        throw_coded(env, ErrorCode::InvalidRequest, "an image of " + std::to_string(image.n_tokens) + " tokens is more than this model's batch of " +
                                                        std::to_string(ubatch) + " takes at once: load it with a larger batchSize");
      }
    }
  } else if (text_given) {
    sub.text = info[1].As<Napi::String>().Utf8Value();
    sub.from_text = true;
  } else {
    auto tokens = info[1].As<Napi::Int32Array>();
    req.prompt.assign(tokens.Data(), tokens.Data() + tokens.ElementLength());
  }
  req.max_tokens = static_cast<int32_t>(required_number(opts, "maxTokens"));
  req.ignore_eos = required_bool(opts, "ignoreEos");
  req.logprobs = static_cast<int32_t>(required_number(opts, "logprobs"));
  if (req.logprobs < -1 || req.logprobs > 20) throw_coded(env, ErrorCode::InvalidRequest, "logprobs must be from 0 to 20");
  for (std::string& stop : string_array(opts, "stop")) {
    if (!stop.empty()) req.stops.push_back(std::move(stop));
  }
  req.lora = read_lora(opts, s.config().adapters.size());
  SamplingParams& sampling = sub.sampling;
  sampling = read_sampling(env, opts, vocab_size_);
  if (chat) {
    if (!chat->constraint.grammar.empty() && !sampling.grammar.empty()) {
      throw_coded(env, ErrorCode::InvalidRequest, "a grammar cannot be combined with a chat's own (response format or tools)");
    }
    if (!chat->constraint.grammar.empty()) chat->constrain(sampling);
    for (const std::string& stop : chat->stops) {
      if (!stop.empty()) req.stops.push_back(stop);
    }
  }
  req.visible_special.insert(sampling.preserved_tokens.begin(), sampling.preserved_tokens.end());
  if (const std::string why = check_grammar(sampling.grammar); !why.empty()) {
    throw_coded(env, ErrorCode::InvalidRequest, "the grammar cannot be used: " + why);
  }
  // Logprobs are computed from the raw logits, which a backend-sampled step does not copy out.
  sub.on_backend = s.config().backend_sampling && req.logprobs < 0 && sampling.grammar.empty();
  if (sub.heavy()) return (new SubmitWorker(env, scheduler_, model_, std::move(sub)))->start();
  ErrorCode code;
  if (std::string why = sub.prepare(model_, s.config().context_size, code); !why.empty()) throw_coded(env, code, why);
  if (!s.submit(std::move(req))) throw_coded(env, ErrorCode::QueueFull, kQueueFull);
  return env.Undefined();
}

// pause(id, paused): a paused request keeps its slot but is not decoded (its client is congested).
Napi::Value Engine::Pause(const Napi::CallbackInfo& info) {
  if (scheduler_ && !closing_ && info.Length() > 1 && info[0].IsNumber()) {
    scheduler_->pause(info[0].As<Napi::Number>().Int32Value(), info[1].ToBoolean());
  }
  return info.Env().Undefined();
}

Napi::Value Engine::Cancel(const Napi::CallbackInfo& info) {
  if (scheduler_ && !closing_ && info.Length() > 0 && info[0].IsNumber()) {
    scheduler_->cancel(info[0].As<Napi::Number>().Int32Value());
  }
  return info.Env().Undefined();
}

Napi::Value Engine::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Scheduler& s = scheduler(env);
  const SchedulerStats st = s.stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("slotsBusy", st.slots_busy);
  o.Set("slotsPaused", st.slots_paused);
  o.Set("queued", st.queued);
  o.Set("steps", Napi::Number::New(env, static_cast<double>(st.steps)));
  o.Set("tokensGenerated", Napi::Number::New(env, static_cast<double>(st.tokens_generated)));
  o.Set("backendSampledTokens", Napi::Number::New(env, static_cast<double>(st.backend_sampled_tokens)));
  o.Set("parallel", s.config().parallel);
  o.Set("contextSize", s.config().context_size);
  o.Set("kvCells", st.kv_cells);
  o.Set("kvCellsUsed", st.kv_cells_used);
  o.Set("kvBytes", Napi::Number::New(env, static_cast<double>(st.kv_bytes)));
  Napi::Array memory = Napi::Array::New(env, s.memory().size());
  for (size_t i = 0; i < s.memory().size(); ++i) {
    const BufferMemory& m = s.memory()[i];
    Napi::Object b = Napi::Object::New(env);
    b.Set("buffer", m.buffer);
    b.Set("model", Napi::Number::New(env, static_cast<double>(m.model)));
    b.Set("context", Napi::Number::New(env, static_cast<double>(m.context)));
    b.Set("compute", Napi::Number::New(env, static_cast<double>(m.compute)));
    memory.Set(static_cast<uint32_t>(i), b);
  }
  o.Set("memory", memory);
  // phases: {decode|sample|deliver|idle: {seconds, counts}}, counts per bucket of phaseBuckets
  // (upper bounds in seconds) and one more for longer steps.
  const StepTimings& t = s.timings();
  Napi::Object phases = Napi::Object::New(env);
  for (size_t p = 0; p < kStepPhases; ++p) {
    Napi::Object phase = Napi::Object::New(env);
    phase.Set("seconds", Napi::Number::New(env, static_cast<double>(t.total_us(p)) / 1e6));
    Napi::Array counts = Napi::Array::New(env, kStepBucketsUs.size() + 1);
    for (uint32_t b = 0; b <= kStepBucketsUs.size(); ++b) counts.Set(b, Napi::Number::New(env, static_cast<double>(t.count(p, b))));
    phase.Set("counts", counts);
    phases.Set(kStepPhaseNames[p], phase);
  }
  o.Set("phases", phases);
  Napi::Array bounds = Napi::Array::New(env, kStepBucketsUs.size());
  for (uint32_t b = 0; b < kStepBucketsUs.size(); ++b) bounds.Set(b, Napi::Number::New(env, static_cast<double>(kStepBucketsUs[b]) / 1e6));
  o.Set("phaseBuckets", bounds);
  return o;
}

Napi::Value Engine::Ref(const Napi::CallbackInfo& info) {
  if (scheduler_ && !closing_) tsfn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Engine::Unref(const Napi::CallbackInfo& info) {
  if (scheduler_ && !closing_) tsfn_.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Engine::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!scheduler_ || closing_) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  closing_ = true;
  napi_remove_env_cleanup_hook(env, StopAtExit, scheduler_.get());
  // The engine lets go of its scheduler here, not when it is garbage-collected: the context and
  // model are freed as soon as the last queued delivery ran (an RPC model's connections with them).
  return (new CloseWorker(env, std::move(scheduler_), tsfn_, on_events_.Value()))->start();
}

}  // namespace shimmy
