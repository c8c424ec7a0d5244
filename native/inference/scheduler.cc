#include "scheduler.h"

#include "backends.h"
#include "projector.h"

#include <common.h>
#include <mtmd.h>
#include "../src/llama-ext.h"  // llama_get_memory_breakdown (llama.cpp's staging API, as common/fit.cpp uses it)

#include <algorithm>
#include <cmath>
#include <cstring>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace shimmy {

namespace {

// log-softmax of one token's logits: the chosen token's log-probability and the `n` likeliest.
TokenLogprob token_logprob(const llama_vocab* vocab, const float* logits, llama_token chosen, std::string piece, int32_t n) {
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  const float max = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const float log_z = max + static_cast<float>(std::log(sum));
  TokenLogprob out{chosen, std::move(piece), logits[chosen] - log_z, {}};
  if (n > 0) {
    std::vector<llama_token> ids(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) ids[i] = i;
    const auto k = std::min<size_t>(static_cast<size_t>(n), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [logits](llama_token a, llama_token b) { return logits[a] > logits[b]; });
    for (size_t i = 0; i < k; ++i) out.top.push_back({ids[i], common_token_to_piece(vocab, ids[i], false), logits[ids[i]] - log_z});
  }
  return out;
}
using Clock = std::chrono::steady_clock;
constexpr auto kMinWakeInterval = std::chrono::microseconds(1000);
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Where a prompting request's prefill cut at `at` would fall inside an image, the image's start:
// an image's cells are computed whole or again.
size_t before_image(const std::vector<PromptImage>& images, size_t at) {
  for (const auto& image : images) {
    if (at > image.at && at < image.at + image.n_tokens) return image.at;
  }
  return at;
}

// The image whose cells a prompting request is to compute next (null when its next token is text).
const PromptImage* image_at(const std::vector<PromptImage>& images, size_t done) {
  for (const auto& image : images) {
    if (done >= image.at && done < image.at + image.n_tokens) return &image;
  }
  return nullptr;
}

// How far a prompting request may batch text tokens: up to its next image, which step_image() decodes.
size_t text_until(const std::vector<PromptImage>& images, size_t done, size_t end) {
  for (const auto& image : images) {
    if (image.at + image.n_tokens > done) return std::max(image.at, done);
  }
  return end;
}

// A sampling attempt's token, or why it failed: nothing may escape a helper thread.
template <typename Sample>
Scheduler::Sampled sampled(Sample sample) {
  try {
    return {sample(), "", nullptr};
  } catch (const std::exception& e) {
    return {0, e.what(), nullptr};
  }
}
}  // namespace

struct Scheduler::Active {
  Active(Request r, uint64_t order) : req(std::move(r)), text(req.stops), arrival(order), prefill(req.prompt) {}
  ~Active() {
    if (encoding) encoding->abandoned = true;
  }
  Request req;
  TextStream text;
  uint64_t arrival;  // the older request goes first, however often it lost its slot
  // Tokens to put in the KV cache before generating: the prompt, or, once the request gave its
  // cells up to an older one in a shared pool, the prompt and what it generated so far.
  std::vector<llama_token> prefill;
  bool resuming = false;       // prefilling again after giving its cells up: no logits wanted
  bool assigned_before = false;
  uint64_t last_step = 0;      // the step it last had tokens in: adapter sets take turns by it
  bool backend_off = false;    // its backend chain was detached (it gave its slot up): sampled on the CPU
  bool cancelled = false;
  bool paused = false;         // its client cannot take more text: no decode steps until resumed
  bool generating = false;     // prompt fully decoded
  size_t prompt_done = 0;      // prefill tokens already in the KV cache
  llama_token next_token = 0;  // sampled, not yet decoded
  int32_t generated = 0;
  int32_t cached_tokens = 0;   // prompt tokens reused from an earlier request
  int32_t batch_from = -1, batch_count = 0, logits_at = -1;  // this step's share of the batch
  std::vector<TokenLogprob> logprobs;  // of tokens whose text is still held back
  std::shared_ptr<EncodeJob> encoding;  // req.images[encoding_for] on the encoder's thread, then while its cells are computed
  size_t encoding_for = SIZE_MAX;
  Clock::time_point started = Clock::now();
  Clock::time_point first_token{};
};

Scheduler::Scheduler(std::shared_ptr<llama_model> model, SchedulerConfig config,
                     std::function<void(Scheduler*)> wake)
    : model_(std::move(model)), vocab_(llama_model_get_vocab(model_.get())),
      config_(config), wake_(std::move(wake)) {
  auto params = llama_context_default_params();
  params.n_ctx = config_.kv_unified ? config_.kv_size : config_.context_size * config_.parallel;
  params.n_batch = config_.batch_size;
  params.n_ubatch = std::min<uint32_t>(config_.batch_size, 512);
  params.n_seq_max = config_.parallel;
  params.kv_unified = config_.kv_unified;
  params.type_k = config_.cache_type_k;
  params.type_v = config_.cache_type_v;
  params.flash_attn_type = config_.flash_attn;
  params.no_perf = true;
  // One output per sequence per step, which the backend penalty sampler requires.
  if (config_.backend_sampling) params.n_outputs_max_per_seq = 1;
  if (config_.threads > 0) {
    params.n_threads = config_.threads;
    params.n_threads_batch = config_.threads;
  }
  ctx_ = llama_init_from_model(model_.get(), params);
  if (!ctx_) return;
  if (config_.kv_unified) config_.kv_size = llama_n_ctx(ctx_);  // rounded up to llama.cpp's padding
  for (const auto& [buft, bytes] : llama_get_memory_breakdown(ctx_)) {
    kv_bytes_ += bytes.context;
    memory_.push_back({ggml_backend_buft_name(buft), bytes.model, bytes.context, bytes.compute});
  }
  // A persistent thread pool, as llama-server and llama-bench use. Without one, ggml starts and
  // joins its worker threads on every decode, which costs more than a small model's whole step.
  decode_threads_ = static_cast<int>(params.n_threads);
  use_threads(decode_threads_);
  batch_ = llama_batch_init(static_cast<int32_t>(config_.batch_size), 0, 1);
  if (config_.projector) {
    n_embd_inp_ = llama_model_n_embd_inp(model_.get());
    image_batch_ = llama_batch_init(static_cast<int32_t>(config_.batch_size), n_embd_inp_, 1);
    encoder_ = std::make_unique<ImageEncoder>(config_.projector, static_cast<size_t>(n_embd_inp_), [this] {
      {
        std::lock_guard<std::mutex> lock(in_mutex_);
        images_encoded_ = true;
      }
      in_cv_.notify_one();
    });
  }
  slots_.resize(config_.parallel);
  for (uint32_t i = 0; i < config_.parallel; ++i) slots_[i].seq = static_cast<llama_seq_id>(i);
  // As many threads sample as decode (ggml's wait between decodes meanwhile), at most one per slot.
  const auto samplers = std::min<uint32_t>(static_cast<uint32_t>(std::max(llama_n_threads(ctx_), 1)), config_.parallel);
  helpers_ = std::make_unique<HelperThreads>(samplers - 1);
  if (config_.adapt_threads) governor_ = std::make_unique<ThreadGovernor>(decode_threads_);
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  stop();  // the encoder goes too: its thread wakes this one through in_mutex_ and in_cv_, which go after it
  if (ctx_) {
    llama_batch_free(batch_);
    if (config_.projector) llama_batch_free(image_batch_);
    llama_free(ctx_);
  }
  for (ggml_threadpool* pool : pools_) free_cpu_threadpool(pool);
}

bool Scheduler::submit(Request request) {
  {
    std::lock_guard<std::mutex> lock(in_mutex_);
    if (stopping_ || queued_.load() >= config_.queue_limit + config_.parallel) return false;
    incoming_.push_back(std::move(request));
    queued_++;
  }
  in_cv_.notify_one();
  return true;
}

void Scheduler::cancel(int32_t id) {
  {
    std::lock_guard<std::mutex> lock(in_mutex_);
    incoming_cancels_.push_back(id);
  }
  in_cv_.notify_one();
}

void Scheduler::pause(int32_t id, bool paused) {
  {
    std::lock_guard<std::mutex> lock(in_mutex_);
    incoming_pauses_.emplace_back(id, paused);
  }
  in_cv_.notify_one();
}

std::vector<Event> Scheduler::take_events() {
  std::vector<Event> events;
  std::lock_guard<std::mutex> lock(out_mutex_);
  events.swap(outbox_);
  wake_pending_ = false;
  return events;
}

SchedulerStats Scheduler::stats() {
  return {busy_.load(), paused_.load(), queued_.load() - busy_.load(), steps_.load(), tokens_generated_.load(),
          backend_sampled_tokens_.load(), llama_n_ctx(ctx_), kv_cells_used_.load(), kv_bytes_};
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(in_mutex_);
    stopping_ = true;
  }
  in_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // The requests are gone, so their encodes stop within one check (Projector): no thread of the
  // engine's may outlive stop(), which also runs as the process exits.
  encoder_.reset();
}

void Scheduler::emit(Event event) { step_events_.push_back(std::move(event)); }

// One wake-up per step at most: if JavaScript has not yet drained the previous step's events,
// they are appended to and no new call is queued. The engine never waits for JavaScript.
void Scheduler::publish(bool flush) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(out_mutex_);
    if (!step_events_.empty()) {
      if (outbox_.empty()) {
        outbox_.swap(step_events_);
      } else {
        for (auto& e : step_events_) outbox_.push_back(std::move(e));
      }
      step_events_.clear();
    }
    // Waking JavaScript costs this thread ~30 µs (the woken event loop preempts it on a busy
    // CPU), more than a tiny model's whole step. So while tokens come faster than one per
    // kMinWakeInterval, a wake carries several steps' events; an idle engine flushes at once.
    if (!outbox_.empty() && !wake_pending_) {
      const auto now = Clock::now();
      const bool idle = busy_.load() == 0 && waiting_.empty();
      if (flush || idle || now - last_wake_ >= kMinWakeInterval) {
        wake_pending_ = true;
        last_wake_ = now;
        wake = true;
      }
    }
  }
  if (wake) wake_(this);
}

void Scheduler::run() {
  std::vector<int32_t> cancels;
  std::vector<std::pair<int32_t, bool>> pauses;
  bool stalled = false;  // the last step found nothing to decode: every request it holds is paused
  while (true) {
    {
      std::unique_lock<std::mutex> lock(in_mutex_);
      const bool idle = busy_.load() == 0 && waiting_.empty();
      if (idle || stalled) {
        PhaseTimer waiting(timings_, StepPhase::Idle);
        in_cv_.wait(lock, [&] { return stopping_ || images_encoded_ || !incoming_.empty() || !incoming_cancels_.empty() || !incoming_pauses_.empty(); });
      }
      if (stopping_) break;
    }
    take_incoming(cancels, pauses);
    apply_cancels(cancels);
    apply_pauses(pauses);
    // A broken model is not decoded again: ggml would try to reconnect to a lost worker.
    if (std::string why = config_.broken ? config_.broken() : ""; !why.empty()) {
      fail_all(why);
      publish();
      continue;
    }
    assign_slots();
    stalled = false;
    // Nothing may escape this thread (it would abort the process): a throw fails only the
    // requests of the step it happened in, and the engine keeps serving the others.
    try {
      // An image's cells are computed beside the text step, a piece per step, so running streams
      // keep producing tokens while it is prefilled; first, so that an older request's image
      // takes the cells a shared pool has before younger requests' text does.
      bool image_step = false;
      if (config_.projector) {
        honouring_pauses_ = waiting_.empty();
        for (auto& slot : slots_) {
          if (slot.active) slot.active->batch_count = 0;  // none is in this step's text batch yet
        }
        image_step = step_image();
      }
      const bool text_step = build_batch();
      if (text_step) {
        int32_t rc;
        {
          PhaseTimer decoding(timings_, StepPhase::Decode);
          if (governor_ && governor_->threads() != decode_threads_) use_threads(governor_->threads());
          const auto started = Clock::now();
          rc = llama_decode(ctx_, batch_);
          // GPU and RPC backends return before their work is done: the wait belongs here, not to
          // the sampling that would meet it when it reads the logits.
          if (rc == 0) llama_synchronize(ctx_);
          if (governor_) governor_->record(batch_.n_tokens, std::chrono::duration<double>(Clock::now() - started).count());
        }
        steps_++;
        if (std::string why = config_.broken ? config_.broken() : ""; !why.empty()) {
          fail_all(why);
        } else if (rc == 0) {
          PhaseTimer sampling(timings_, StepPhase::Sample);
          after_decode();
        } else {
          fail_batch("llama_decode failed with status " + std::to_string(rc));
        }
      }
      stalled = !text_step && !image_step && busy_.load() > 0;
    } catch (const std::exception& e) {
      fail_batch(std::string("the engine failed: ") + e.what());
    }
    kv_cells_used_ = cells_used();
    PhaseTimer delivering(timings_, StepPhase::Deliver);
    // Before a stall, what the throttle held back must go: the clients may be waiting for it.
    publish(stalled);
  }

  // Shutting down: every request still here ends as cancelled.
  take_incoming(cancels, pauses);
  for (auto& slot : slots_) {
    if (slot.active) finish(slot, "cancelled");
  }
  for (auto& w : waiting_) {
    emit(done_event(*w, "cancelled"));
  }
  waiting_.clear();
  queued_ = 0;
  publish();
}

// A pool of exactly n threads: the idle workers of a larger one would spin between decodes (ggml
// polls for new work) on the very cores the governor just gave up. The CPU backend pauses the
// pool it switches away from (its workers sleep) and resumes one it gets back, so each size is
// made once and kept.
void Scheduler::use_threads(int n) {
  if (pools_.size() <= static_cast<size_t>(n)) pools_.resize(static_cast<size_t>(n) + 1, nullptr);
  ggml_threadpool*& pool = pools_[static_cast<size_t>(n)];
  if (!pool) pool = new_cpu_threadpool(n);
  if (!pool) return;  // keep decoding as before
  llama_attach_threadpool(ctx_, pool, pool);
  llama_set_n_threads(ctx_, n, n);
  decode_threads_ = n;
}

void Scheduler::take_incoming(std::vector<int32_t>& cancels, std::vector<std::pair<int32_t, bool>>& pauses) {
  cancels.clear();
  pauses.clear();
  std::lock_guard<std::mutex> lock(in_mutex_);
  images_encoded_ = false;
  while (!incoming_.empty()) {
    waiting_.push_back(std::make_unique<Active>(std::move(incoming_.front()), ++arrivals_));
    incoming_.pop_front();
  }
  cancels.swap(incoming_cancels_);
  pauses.swap(incoming_pauses_);
}

void Scheduler::apply_pauses(const std::vector<std::pair<int32_t, bool>>& pauses) {
  for (const auto& [id, paused] : pauses) {
    for (auto& slot : slots_) {
      if (slot.active && slot.active->req.id == id) slot.active->paused = paused;
    }
    for (auto& w : waiting_) {
      if (w->req.id == id) w->paused = paused;
    }
  }
}

void Scheduler::apply_cancels(const std::vector<int32_t>& cancels) {
  for (int32_t id : cancels) {
    for (auto& slot : slots_) {
      if (slot.active && slot.active->req.id == id) {
        release_cells(slot);  // a cancelled request's cells are freed at once
        finish(slot, "cancelled");
      }
    }
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if ((*it)->req.id == id) {
        emit(done_event(**it, "cancelled"));
        waiting_.erase(it);
        queued_--;
        break;
      }
    }
  }
}

void Scheduler::release_cells(Slot& slot) {
  llama_memory_seq_rm(llama_get_memory(ctx_), slot.seq, -1, -1);
  slot.cached.clear();
  slot.cached_images.clear();
}

// The length of the prefix a slot's cached cells share with a request's prefill: equal tokens
// under the same adapter set, and where an image sits, the same image.
size_t Scheduler::shared_prefix(const Slot& slot, const Active& a) const {
  if (slot.cached_lora != a.req.lora) return 0;
  const size_t limit = std::min(slot.cached.size(), a.prefill.size());
  size_t common = 0;
  while (common < limit && slot.cached[common] == a.prefill[common]) ++common;
  for (const auto& image : a.req.images) {
    if (image.at >= common) break;
    const bool same = std::any_of(slot.cached_images.begin(), slot.cached_images.end(), [&](const PromptImage& c) {
      return c.at == image.at && c.n_tokens == image.n_tokens && c.id == image.id;
    });
    if (!same) return image.at;
  }
  return before_image(a.req.images, common);
}

// What a slot holds once its cells from `keep` on were dropped from llama.cpp's memory.
void Scheduler::keep_cached(Slot& slot, size_t keep) {
  slot.cached.resize(keep);
  slot.cached_images.erase(std::remove_if(slot.cached_images.begin(), slot.cached_images.end(),
                                          [keep](const PromptImage& c) { return c.at + c.n_tokens > keep; }),
                           slot.cached_images.end());
}

// Gives each waiting request the idle slot whose cached tokens share the longest prefix with its
// prompt (ties: least recently used), and drops the cells past that prefix.
void Scheduler::assign_slots() {
  while (!waiting_.empty()) {
    Active& next = *waiting_.front();
    const std::vector<llama_token>& prefill = next.prefill;
    Slot* best = nullptr;
    size_t best_common = 0;
    for (auto& slot : slots_) {
      if (slot.active) continue;
      const size_t common = shared_prefix(slot, next);
      if (!best || common > best_common || (common == best_common && slot.last_used < best->last_used)) {
        best = &slot;
        best_common = common;
      }
    }
    if (!best) return;
    // In a shared pool a request starts only when its tokens fit beside the running requests'
    // cells (idle caches give theirs up): one that gave its cells up waits until they are free
    // again rather than take them back at once from the request it gave them to.
    if (config_.kv_unified) {
      size_t running = 0;
      for (const auto& slot : slots_) running += slot.active ? slot.cached.size() : 0;
      if (running + prefill.size() + 1 - best_common > config_.kv_size) return;
    }

    // The last prompt token is always decoded again: its logits start the generation. A resumed
    // request has its next token already.
    size_t keep = next.resuming ? best_common : std::min(best_common, prefill.size() - 1);
    if (!llama_memory_seq_rm(llama_get_memory(ctx_), best->seq, static_cast<llama_pos>(keep), -1)) {
      keep = 0;  // this memory type cannot drop a tail: start the sequence afresh
      llama_memory_seq_rm(llama_get_memory(ctx_), best->seq, -1, -1);
    }
    keep_cached(*best, keep);
    best->cached_lora = next.req.lora;
    best->active = std::move(waiting_.front());
    waiting_.pop_front();
    Active& a = *best->active;
    a.prompt_done = keep;
    if (a.resuming && keep == prefill.size()) {
      a.resuming = false;
      a.generating = true;
    }
    if (!a.assigned_before) {
      a.assigned_before = true;
      a.cached_tokens = static_cast<int32_t>(keep);
      a.started = Clock::now();
    }
    best->last_used = ++use_clock_;
    busy_++;
    attach_sampler(*best);
  }
}

// Attaching or detaching makes llama.cpp rebuild its graph reservation at the next decode (as in
// llama-server, per request).
void Scheduler::attach_sampler(Slot& slot) {
  if (slot.active->backend_off) return;  // detached before: see detach_sampler
  if (llama_sampler* chain = slot.active->req.sampler->backend_chain()) slot.sampler_attached = llama_set_sampler(ctx_, slot.seq, chain);
}

// llama.cpp initialises a chain once: a request whose chain was detached samples on the CPU from
// then on (its CPU chain kept up with the backend's).
void Scheduler::detach_sampler(Slot& slot) {
  if (!slot.sampler_attached) return;
  llama_set_sampler(ctx_, slot.seq, nullptr);
  slot.sampler_attached = false;
  if (slot.active) slot.active->backend_off = true;
}

// The backend produced no token for this slot (a device without an op the chain needs; llama.cpp
// then copies no raw logits for it either): its last token is decoded again next step and sampled
// on the CPU from then on.
void Scheduler::sample_on_cpu_from_now(Slot& slot) {
  detach_sampler(slot);
  Active& a = *slot.active;
  const auto last = static_cast<llama_pos>(slot.cached.size() - 1);
  if (!llama_memory_seq_rm(llama_get_memory(ctx_), slot.seq, last, -1)) {
    fail_slot(slot, "the backend did not sample and this model's memory cannot decode a token again");
    return;
  }
  slot.cached.pop_back();
  if (!a.generating) a.prompt_done--;
}

// Generating slots first (one token each, so running streams never stall), then prompt chunks
// of new requests in arrival order until the batch is full.
//
// With adapters, a step holds the requests of one adapter set: the sets take turns, the one
// whose request waited longest for a step first, each for as many steps as it has requests, and
// a set whose requests can do nothing (their cells are taken) gives its turn to the next.
bool Scheduler::build_batch() {
  // A paused request waits only while no other request waits for its slot: a client that reads
  // slowly must not keep others from being served (its text then queues up in JavaScript, where
  // the server's buffer limit bounds it).
  const bool honour_pauses = waiting_.empty();
  honouring_pauses_ = honour_pauses;
  if (config_.adapters.empty()) return build_batch_for(nullptr, honour_pauses);
  auto sets = adapter_sets_by_turn(honour_pauses);
  // A set keeps its turn for as many steps as it has requests, so each request gets an equal
  // share of the steps' time: one request with a set of its own takes one step in n+1 from the n
  // requests of another, not every other step.
  auto current = std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.first == turn_set_; });
  if (turn_left_ > 0 && current != sets.end()) std::rotate(sets.begin(), current, current + 1);
  for (const auto& [set, requests] : sets) {
    if (!build_batch_for(&set, honour_pauses)) continue;
    if (set != turn_set_ || turn_left_ == 0) {
      turn_set_ = set;
      turn_left_ = requests;
    }
    turn_left_--;
    apply_adapter_set(set);
    return true;
  }
  return false;
}

// The adapter sets of the requests that may step, with how many requests each has: the set whose
// request had tokens in a step longest ago (the older request on a tie) first.
std::vector<std::pair<std::vector<float>, uint32_t>> Scheduler::adapter_sets_by_turn(bool honour_pauses) const {
  std::vector<const Active*> order;
  for (const auto& slot : slots_) {
    if (slot.active && !(slot.active->paused && honour_pauses)) order.push_back(slot.active.get());
  }
  std::sort(order.begin(), order.end(), [](const Active* a, const Active* b) {
    return a->last_step != b->last_step ? a->last_step < b->last_step : a->arrival < b->arrival;
  });
  std::vector<std::pair<std::vector<float>, uint32_t>> sets;
  for (const Active* a : order) {
    auto it = std::find_if(sets.begin(), sets.end(), [&](const auto& s) { return s.first == a->req.lora; });
    if (it == sets.end()) sets.emplace_back(a->req.lora, 1);
    else it->second++;
  }
  return sets;
}

bool Scheduler::build_batch_for(const std::vector<float>* set, bool honour_pauses) {
  batch_.n_tokens = 0;
  auto add = [&](Slot& slot, llama_token token, bool logits) {
    const int32_t i = batch_.n_tokens++;
    batch_.token[i] = token;
    batch_.pos[i] = static_cast<llama_pos>(slot.cached.size() + slot.active->batch_count);
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = slot.seq;
    batch_.logits[i] = logits;
    if (slot.active->batch_count++ == 0) slot.active->batch_from = i;
    if (logits) slot.active->logits_at = i;
  };
  for (auto& slot : slots_) {
    if (!slot.active) continue;
    slot.active->batch_count = 0;
    slot.active->logits_at = -1;
  }
  const auto in_step = [&](const Slot& slot) { return !set || slot.active->req.lora == *set; };
  uint32_t held = 0;
  std::vector<Slot*> stepping;  // generating slots, oldest first
  for (auto& slot : slots_) {
    if (!slot.active) continue;
    if (slot.active->paused && honour_pauses) held++;
    else if (slot.active->generating && in_step(slot)) stepping.push_back(&slot);
  }
  paused_ = held;
  const auto by_arrival = [](Slot* a, Slot* b) { return a->active->arrival < b->active->arrival; };
  std::sort(stepping.begin(), stepping.end(), by_arrival);
  // A shared pool may lack a cell for every running stream: the oldest take theirs first, from
  // younger requests if need be, which wait in line to compute their cells again.
  for (Slot* slot : stepping) {
    if (slot->active && make_room(1 + batch_.n_tokens, slot->active->arrival)) add(*slot, slot->active->next_token, true);
  }

  // Prompt slots by arrival.
  std::vector<Slot*> prompting;
  for (auto& slot : slots_) {
    if (slot.active && !slot.active->generating && !(slot.active->paused && honour_pauses) && in_step(slot)) prompting.push_back(&slot);
  }
  std::sort(prompting.begin(), prompting.end(), by_arrival);
  for (Slot* slot : prompting) {
    if (!slot->active) continue;  // sent back to wait for cells by an older request's make_room
    Active& a = *slot->active;
    const int32_t room = static_cast<int32_t>(config_.batch_size) - batch_.n_tokens;
    if (room <= 0) break;
    const size_t left = text_until(a.req.images, a.prompt_done, a.prefill.size()) - a.prompt_done;
    if (left == 0) continue;  // at an image: step_image() computes its cells
    size_t take = std::min(left, static_cast<size_t>(room));
    if (config_.kv_unified) {
      make_room(static_cast<uint32_t>(take) + batch_.n_tokens, a.arrival);
      const int64_t free = static_cast<int64_t>(config_.kv_size) - cells_used() - batch_.n_tokens;
      take = std::min<size_t>(take, static_cast<size_t>(std::max<int64_t>(free, 0)));
    }
    for (size_t k = 0; k < take; ++k) {
      const size_t index = a.prompt_done + k;
      add(*slot, a.prefill[index], index + 1 == a.prefill.size() && !a.resuming);
    }
  }
  return batch_.n_tokens > 0;
}

// Set only when it changes: llama.cpp then builds its next graph afresh (and, the first time an
// adapter is used, reserves its buffers again: vendor/patches/0007).
void Scheduler::apply_adapter_set(const std::vector<float>& lora) {
  if (lora == applied_lora_) return;
  std::vector<llama_adapter_lora*> adapters = config_.adapters;
  std::vector<float> scales = lora;
  scales.resize(adapters.size(), 0.0f);
  llama_set_adapters_lora(ctx_, adapters.data(), adapters.size(), scales.data());
  applied_lora_ = lora;
}

// The cells the slots' tokens hold, running or cached (a sequence's cells are its own: none are shared).
uint32_t Scheduler::cells_used() const {
  size_t n = 0;
  for (const auto& slot : slots_) n += slot.cached.size();
  return static_cast<uint32_t>(n);
}

// Frees cells of a shared pool until `needed` new ones (this step's tokens) fit: idle slots'
// cached prefixes first (least recently used first), then the cells of requests with no tokens in
// this step that are held by their pause or arrived after `keep_older` (youngest first), which go
// back to wait in line. Returns whether the cells fit; a per-slot pool always has them.
bool Scheduler::make_room(uint32_t needed, uint64_t keep_older) {
  if (!config_.kv_unified) return true;
  while (cells_used() + needed > config_.kv_size) {
    Slot* victim = nullptr;
    for (auto& slot : slots_) {
      if (!slot.active && !slot.cached.empty() && (!victim || slot.last_used < victim->last_used)) victim = &slot;
    }
    if (victim) {
      release_cells(*victim);
      continue;
    }
    // A request held back by its slow client counts as younger than any: it must not keep the
    // streams that can step from their cells.
    const auto age = [this](const Active& a) { return a.paused && honouring_pauses_ ? UINT64_MAX : a.arrival; };
    for (auto& slot : slots_) {
      if (slot.active && age(*slot.active) > keep_older && slot.active->batch_count == 0 && !slot.cached.empty() &&
          (!victim || age(*slot.active) > age(*victim->active))) victim = &slot;
    }
    if (!victim) return false;
    requeue(*victim);
  }
  return true;
}

// A request gives its slot up and waits in line by its arrival; its cells become the slot's
// cache, which make_room goes on to free as far as it needs. What it already generated is decoded
// again when it gets a slot back (assign_slots waits until its tokens fit); its sampler, text and
// counts go with it, so its stream continues where it was.
void Scheduler::requeue(Slot& slot) {
  detach_sampler(slot);
  std::unique_ptr<Active> a = std::move(slot.active);
  if (a->generating) {
    a->prefill = slot.cached;
    a->generating = false;
    a->resuming = true;
  }
  a->prompt_done = 0;
  auto at = std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& w) { return w->arrival > a->arrival; });
  waiting_.insert(at, std::move(a));
  busy_--;
}

void Scheduler::after_decode() {
  due_.clear();
  for (auto& slot : slots_) {
    if (!slot.active || slot.active->batch_count == 0) continue;
    Active& a = *slot.active;
    const int32_t from = a.batch_from;
    a.last_step = steps_.load();
    for (int32_t k = 0; k < a.batch_count; ++k) slot.cached.push_back(batch_.token[from + k]);
    if (!a.generating) a.prompt_done += static_cast<size_t>(a.batch_count);
    if (a.resuming && a.prompt_done == a.prefill.size()) {
      a.resuming = false;
      a.generating = true;  // its next token was sampled before it gave its cells up
    }
    if (a.logits_at >= 0) due_.push_back(&slot);
  }
  // A sampler needs only its own row of logits: the helpers take some of the rows, those with a
  // grammar (the slow ones) too. Rows are found here, on this thread (llama_get_logits_ith may
  // reorder the outputs).
  sampled_.assign(due_.size(), {});
  in_parallel_.clear();
  for (size_t i = 0; i < due_.size(); ++i) {
    Active& a = *due_[i]->active;
    if (due_[i]->sampler_attached) {
      const llama_token token = llama_get_sampled_token_ith(ctx_, a.logits_at);
      if (token == LLAMA_TOKEN_NULL) {
        sampled_[i].on_cpu_from_now = true;
      } else {
        a.req.sampler->accept_backend(token);
        sampled_[i].token = token;
        backend_sampled_tokens_++;
      }
    } else {
      in_parallel_.push_back(i);
      sampled_[i].logits = llama_get_logits_ith(ctx_, a.logits_at);
    }
  }
  // No more threads than decode: when the governor gave a core up, a helper on it would stall the
  // step as a ggml thread would. Grammar rows take milliseconds: ggml's workers, which would poll
  // for the next graph on the helpers' cores that long, sleep meanwhile.
  const unsigned helpers = static_cast<unsigned>(std::max(decode_threads_ - 1, 0));
  if (helpers > 0 && in_parallel_.size() > 1 && std::any_of(in_parallel_.begin(), in_parallel_.end(), [this](size_t i) { return due_[i]->active->req.sampler->slow(); })) {
    pause_cpu_threadpool(pools_[static_cast<size_t>(decode_threads_)]);
  }
  helpers_->for_each(in_parallel_.size(), [this](size_t k) {
    Sampled& s = sampled_[in_parallel_[k]];
    Sampler& sampler = *due_[in_parallel_[k]]->active->req.sampler;
    s = sampled([&] {
      if (!s.logits) throw std::runtime_error("llama.cpp has no logits for this slot");
      return sampler.sample_and_accept(s.logits);
    });
  }, helpers);
  for (size_t i = 0; i < due_.size(); ++i) {
    // A grammar that no token can satisfy ("Unexpected empty grammar stack") ends here.
    if (!sampled_[i].error.empty()) fail_slot(*due_[i], "sampling failed: " + sampled_[i].error);
    else if (sampled_[i].on_cpu_from_now) sample_on_cpu_from_now(*due_[i]);
    else deliver(*due_[i], sampled_[i].token);
  }
}

// Images take two stages. Every request that has reached an image has it encoded on the
// encoder's thread (its text steps go on meanwhile); then the oldest whose image is encoded has
// the next piece of its embeddings decoded, up to a batch. Returns whether it decoded anything.
bool Scheduler::step_image() {
  Slot* ready = nullptr;
  const PromptImage* image = nullptr;
  for (auto& s : slots_) {
    if (!s.active || s.active->generating) continue;
    Active& a = *s.active;
    const PromptImage* reached = image_at(a.req.images, a.prompt_done);
    if (!reached) continue;
    const auto index = static_cast<size_t>(reached - a.req.images.data());
    if (a.encoding_for != index) {
      if (a.encoding) a.encoding->abandoned = true;
      a.encoding = encoder_->encode(reached->chunk);
      a.encoding_for = index;
      // ggml's decode workers would poll for the next graph on the cores the projector now
      // computes on; they sleep until the next decode wakes them.
      pause_cpu_threadpool(pools_[static_cast<size_t>(decode_threads_)]);
    }
    if (!a.encoding->done.load() || (a.paused && honouring_pauses_)) continue;
    if (!ready || a.arrival < ready->active->arrival) {
      ready = &s;
      image = reached;
    }
  }
  if (!ready) return false;
  if (!ready->active->encoding->error.empty()) {
    fail_slot(*ready, ready->active->encoding->error);
    return true;
  }
  // What goes wrong here is this request's alone, not the text step's (run() fails those).
  try {
    return decode_image_piece(*ready, *image);
  } catch (const std::exception& e) {
    fail_slot(*ready, std::string("the engine failed on an image: ") + e.what());
    return true;
  }
}

namespace {
// Non-causal attention for one decode, restored however the decode ends.
struct NonCausal {
  NonCausal(llama_context* ctx, bool on) : ctx(on ? ctx : nullptr) {
    if (this->ctx) llama_set_causal_attn(this->ctx, false);
  }
  ~NonCausal() {
    if (ctx) llama_set_causal_attn(ctx, true);
  }
  llama_context* ctx;
};
}  // namespace

// The next piece of an encoded image's embeddings into the slot's cells; false when a shared
// pool has no cells for it yet.
bool Scheduler::decode_image_piece(Slot& slot, const PromptImage& image) {
  Active& a = *slot.active;
  mtmd_context* mctx = config_.projector->context();
  PhaseTimer decoding(timings_, StepPhase::Decode);
  // Some projectors' images attend to themselves both ways (Gemma 3): those are decoded whole.
  const bool whole = mtmd_decode_use_non_causal(mctx, image.chunk.get());
  const size_t offset = a.prompt_done - image.at;
  size_t take = image.n_tokens - offset;
  if (!whole) take = std::min<size_t>(take, config_.batch_size);
  if (!make_room(static_cast<uint32_t>(take), a.arrival)) return false;  // waits for cells in a shared pool

  const auto width = static_cast<size_t>(n_embd_inp_);
  image_batch_.n_tokens = static_cast<int32_t>(take);
  std::memcpy(image_batch_.embd, a.encoding->embd.data() + offset * width, take * width * sizeof(float));
  for (size_t k = 0; k < take; ++k) {
    image_batch_.pos[k] = static_cast<llama_pos>(slot.cached.size() + k);
    image_batch_.n_seq_id[k] = 1;
    image_batch_.seq_id[k][0] = slot.seq;
    image_batch_.logits[k] = false;  // a prompt never ends with an image: the text after it starts the generation
  }
  if (!config_.adapters.empty()) apply_adapter_set(a.req.lora);
  int32_t rc;
  {
    NonCausal attention(ctx_, whole);
    rc = llama_decode(ctx_, image_batch_);
    if (rc == 0) llama_synchronize(ctx_);
  }
  steps_++;
  if (rc != 0) {
    fail_slot(slot, "llama_decode failed with status " + std::to_string(rc) + " on an image");
    return true;
  }
  if (offset == 0) slot.cached_images.push_back({image.at, image.n_tokens, image.id, nullptr});
  slot.cached.insert(slot.cached.end(), take, kImageToken);
  a.prompt_done += take;
  a.last_step = steps_.load();
  if (a.prompt_done == image.at + image.n_tokens) {
    a.encoding.reset();  // its embeddings are cells now
    a.encoding_for = SIZE_MAX;
  }
  return true;
}

void Scheduler::deliver(Slot& slot, llama_token token) {
  Active& a = *slot.active;
  if (!a.generating) {
    a.generating = true;
    a.first_token = Clock::now();
  }
  if (!a.req.ignore_eos && llama_vocab_is_eog(vocab_, token)) {
    finish(slot, "stop");
    return;
  }

  a.generated++;
  tokens_generated_++;

  // Special tokens stay invisible, except those a chat format's parser needs to see (tool-call markers).
  std::string piece = common_token_to_piece(vocab_, token, a.req.visible_special.count(token) > 0);
  if (a.req.logprobs >= 0) {
    a.logprobs.push_back(token_logprob(vocab_, llama_get_logits_ith(ctx_, a.logits_at), token, piece, a.req.logprobs));
  }
  std::string text = a.text.push(piece);
  if (!text.empty()) {
    Event e{a.req.id, EventKind::Text, std::move(text)};
    e.logprobs.swap(a.logprobs);  // the tokens whose text this is
    emit(std::move(e));
  }
  if (a.text.stopped()) {
    finish(slot, "stop");
    return;
  }
  const bool context_full = slot.cached.size() >= config_.context_size;
  if ((a.req.max_tokens >= 0 && a.generated >= a.req.max_tokens) || context_full) {
    finish(slot, "length");
    return;
  }
  a.next_token = token;
}

void Scheduler::finish(Slot& slot, const char* reason) {
  Active& a = *slot.active;
  std::string tail = a.text.flush();
  if (!tail.empty() && std::string(reason) != "cancelled") {
    Event e{a.req.id, EventKind::Text, std::move(tail)};
    e.logprobs.swap(a.logprobs);  // the tail's tokens (after a stop string the tail is empty: they go)
    emit(std::move(e));
  }
  emit(done_event(a, reason));
  end_slot(slot);
}

// The end of a request, with its counts and times: a waiting one may have run before (it gave
// its cells up to an older request in a shared pool).
Event Scheduler::done_event(const Active& a, const char* reason) {
  const auto now = Clock::now();
  const bool started_generating = a.first_token != Clock::time_point{};
  Event done{a.req.id, EventKind::Done, reason};
  done.prompt_tokens = static_cast<int32_t>(a.req.prompt.size());
  done.completion_tokens = a.generated;
  done.cached_tokens = a.cached_tokens;
  done.stop_sequence = a.text.matched();
  if (a.assigned_before) {
    done.prompt_ms = std::chrono::duration<double, std::milli>((started_generating ? a.first_token : now) - a.started).count();
    done.generation_ms = started_generating ? ms_since(a.first_token) : 0;
  }
  return done;
}

// The slot's request is over: its sampler goes, detached from the context first.
void Scheduler::end_slot(Slot& slot) {
  detach_sampler(slot);
  slot.active.reset();
  busy_--;
  queued_--;
}

// A broken model fails every request it holds, running or waiting.
void Scheduler::fail_all(const std::string& message) {
  for (auto& slot : slots_) {
    if (slot.active) fail_slot(slot, message);
  }
  for (auto& w : waiting_) emit({w->req.id, EventKind::Error, message});
  queued_ -= static_cast<uint32_t>(waiting_.size());
  waiting_.clear();
}

// A failed decode poisons only the requests that had tokens in it.
void Scheduler::fail_batch(const std::string& message) {
  for (auto& slot : slots_) {
    if (slot.active && slot.active->batch_count > 0) fail_slot(slot, message);
  }
}

void Scheduler::fail_slot(Slot& slot, const std::string& message) {
  emit({slot.active->req.id, EventKind::Error, message});
  release_cells(slot);
  end_slot(slot);
}

}  // namespace shimmy
