// The scheduler: one thread that alone owns a llama_context and runs continuous batching over
// `parallel` slots. Knows nothing of N-API: requests come in through submit()/cancel(), results
// leave as Events through take_events(), and `wake` is called when the outbox has events and
// JavaScript is not already due to take them: at most once per decode step, however many requests
// moved, and no more than once per millisecond while steps are faster than that.
#pragma once

#include "helper_threads.h"
#include "image_encoder.h"
#include "prompt_image.h"
#include "sampler.h"
#include "text_stream.h"
#include "thread_governor.h"
#include "step_timings.h"

#include <llama.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace shimmy {

class Projector;

// Set in full by the Engine from what TypeScript sends (defaults: lib/engine/defaults.ts).
struct SchedulerConfig {
  uint32_t context_size = 0;   // per slot: prompt + generated tokens of one request
  uint32_t parallel = 0;       // slots decoded together
  uint32_t batch_size = 0;     // tokens per llama_decode (generating slots first, then prompts)
  int32_t threads = 0;         // at most this many decode
  bool adapt_threads = false;  // decode with fewer while that is faster (ThreadGovernor); else always `threads`
  uint32_t queue_limit = 0;    // requests waiting for a slot before submit() refuses
  ggml_type cache_type_k = GGML_TYPE_F16;
  ggml_type cache_type_v = GGML_TYPE_F16;
  llama_flash_attn_type flash_attn = LLAMA_FLASH_ATTN_TYPE_AUTO;
  // One pool of kv_size cells shared by the slots; else context_size cells per slot. In a shared
  // pool, idle slots' cached prefixes give their cells up when a step needs them.
  bool kv_unified = false;
  uint32_t kv_size = 0;
  // The model's LoRA adapters; each request gives its scale for each (Request::lora).
  std::vector<llama_adapter_lora*> adapters;
  // Encodes the images of requests that have them (null: the model takes none).
  std::shared_ptr<Projector> projector;
  // Requests without a grammar or logprobs sample inside the decode graph (llama.cpp's backend
  // sampling, backend_chain.h): their logits stay on the device.
  bool backend_sampling = false;
  // Why the model can no longer compute (an RPC worker holding some of its layers was lost), or
  // "" while it can; asked after every decode, whose output is garbage once it says so.
  std::function<std::string()> broken;
};

struct Request {
  int32_t id = 0;
  int32_t logprobs = -1;  // -1: none; n >= 0: each token's log-probability and the n likeliest alternatives
  std::vector<llama_token> prompt;  // an image's positions hold kImageToken
  std::vector<PromptImage> images;  // in prompt order
  int32_t max_tokens = -1;  // -1 = until the slot's context is full
  bool ignore_eos = false;
  std::vector<std::string> stops;
  std::unordered_set<llama_token> visible_special;  // special tokens rendered into the text
  // A scale per adapter of SchedulerConfig::adapters, or empty: none applied. llama.cpp applies
  // one set per decode, so a step holds only requests with equal sets.
  std::vector<float> lora;
  SamplerPtr sampler;
};

enum class EventKind : uint8_t { Text, Done, Error };

// A generated token's log-probability under the model (softmax of the raw logits), with the
// likeliest alternatives when asked for.
struct TokenLogprob {
  struct Alternative {
    llama_token token;
    std::string piece;
    float logprob;
  };
  llama_token token;
  std::string piece;  // the token's text as generated (a lone token can be part of a UTF-8 character)
  float logprob;
  std::vector<Alternative> top;
};

struct Event {
  int32_t id;
  EventKind kind;
  std::string text;           // Text: new text; Done: finish reason; Error: message
  int32_t prompt_tokens = 0;  // Done only, from here on
  int32_t completion_tokens = 0;
  int32_t cached_tokens = 0;
  double prompt_ms = 0;
  double generation_ms = 0;
  std::vector<TokenLogprob> logprobs;  // Text: the tokens this text came from (when asked for)
  std::string stop_sequence;           // Done: the stop string that ended it, if one did
};

struct SchedulerStats {
  uint32_t slots_busy;
  uint32_t slots_paused;  // of those, held back by their pause at the last step
  uint32_t queued;
  uint64_t steps;
  uint64_t tokens_generated;
  uint64_t backend_sampled_tokens;  // of those, sampled inside the decode graph
  uint32_t kv_cells;       // in the context
  uint32_t kv_cells_used;  // holding a running request's or a cached prefix's tokens
  uint64_t kv_bytes;       // the KV cache on every device
};

// What the model and its context hold in one kind of buffer (a device's memory, or the host's).
struct BufferMemory {
  std::string buffer;  // the buffer type's name: CPU, CUDA0, Vulkan0, …
  uint64_t model, context, compute;
};

class Scheduler {
 public:
  struct Sampled {
    llama_token token = 0;
    std::string error;        // why sampling failed ("" when it did not)
    float* logits = nullptr;  // the slot's row, for samplers that read nothing else
    bool on_cpu_from_now = false;  // the backend sampled nothing: decode the token again
  };

  Scheduler(std::shared_ptr<llama_model> model, SchedulerConfig config, std::function<void(Scheduler*)> wake);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Context creation can fail (out of memory): check before use.
  bool ok() const { return ctx_ != nullptr; }
  const SchedulerConfig& config() const { return config_; }
  uint32_t ubatch() const { return llama_n_ubatch(ctx_); }  // the most tokens one decode computes at once

  // Returns false when the wait queue is full.
  bool submit(Request request);
  void cancel(int32_t id);
  // A paused request keeps its slot and KV cells but takes no part in decode steps until resumed
  // (its client's socket is congested), as long as no other request waits for a slot. Unknown
  // ids are ignored.
  void pause(int32_t id, bool paused);
  std::vector<Event> take_events();
  SchedulerStats stats();
  const StepTimings& timings() const { return timings_; }
  // As the context was made (compute buffers may grow later, as graphs need).
  const std::vector<BufferMemory>& memory() const { return memory_; }
  // Cancels everything, finishes the thread. Blocks for at most one decode step.
  void stop();

 private:
  struct Active;
  struct Slot {
    llama_seq_id seq;
    std::unique_ptr<Active> active;     // null when idle
    std::vector<llama_token> cached;    // tokens whose KV cells this sequence holds
    std::vector<float> cached_lora;     // the adapter set they were computed with
    std::vector<PromptImage> cached_images;  // the images among them (without their pixels)
    uint64_t last_used = 0;             // when last assigned: idle caches go least recently used first
    bool sampler_attached = false;      // active's backend chain samples this sequence in the graph
  };

  void run();
  void use_threads(int n);
  void take_incoming(std::vector<int32_t>& cancels, std::vector<std::pair<int32_t, bool>>& pauses);
  void apply_cancels(const std::vector<int32_t>& cancels);
  void apply_pauses(const std::vector<std::pair<int32_t, bool>>& pauses);
  void assign_slots();
  bool build_batch();
  void after_decode();
  bool step_image();
  bool decode_image_piece(Slot& slot, const PromptImage& image);
  size_t shared_prefix(const Slot& slot, const Active& a) const;
  void keep_cached(Slot& slot, size_t keep);
  void deliver(Slot& slot, llama_token token);
  void finish(Slot& slot, const char* reason);
  void fail_batch(const std::string& message);
  void fail_all(const std::string& message);
  void fail_slot(Slot& slot, const std::string& message);
  void end_slot(Slot& slot);
  void attach_sampler(Slot& slot);
  void detach_sampler(Slot& slot);
  void sample_on_cpu_from_now(Slot& slot);
  void release_cells(Slot& slot);
  bool build_batch_for(const std::vector<float>* set, bool honour_pauses);
  std::vector<std::pair<std::vector<float>, uint32_t>> adapter_sets_by_turn(bool honour_pauses) const;
  void apply_adapter_set(const std::vector<float>& lora);
  bool make_room(uint32_t needed, uint64_t keep_older);
  void requeue(Slot& slot);
  uint32_t cells_used() const;
  void emit(Event event);
  Event done_event(const Active& a, const char* reason);
  void publish(bool flush = false);

  std::shared_ptr<llama_model> model_;
  const llama_vocab* vocab_;
  SchedulerConfig config_;
  std::function<void(Scheduler*)> wake_;
  llama_context* ctx_ = nullptr;
  std::vector<ggml_threadpool*> pools_;  // by thread count, made when first used
  llama_batch batch_{};
  llama_batch image_batch_{};  // embeddings of one image piece (only with a projector)
  int32_t n_embd_inp_ = 0;
  std::vector<Slot> slots_;
  std::deque<std::unique_ptr<Active>> waiting_;  // owned by the thread
  std::unique_ptr<HelperThreads> helpers_;      // sample slots beside the thread
  std::unique_ptr<ImageEncoder> encoder_;       // the projector's thread (null without one)
  std::unique_ptr<ThreadGovernor> governor_;    // how many threads decode (null: always config_.threads)
  int decode_threads_ = 0;                      // threads decoding: all of pools_[decode_threads_]
  std::vector<Slot*> due_;                      // this step's slots with logits to sample
  std::vector<Sampled> sampled_;                // and what came of it
  std::vector<size_t> in_parallel_;             // which of them the helpers may sample

  std::mutex in_mutex_;
  std::condition_variable in_cv_;
  std::deque<Request> incoming_;
  std::vector<int32_t> incoming_cancels_;
  std::vector<std::pair<int32_t, bool>> incoming_pauses_;
  bool stopping_ = false;
  bool images_encoded_ = false;  // the encoder finished a job since the thread last looked
  std::atomic<uint32_t> queued_{0};

  std::mutex out_mutex_;
  std::vector<Event> outbox_;
  std::vector<Event> step_events_;  // collected during a step, published once at its end
  bool wake_pending_ = false;                         // JavaScript was woken and has not taken the outbox yet
  std::chrono::steady_clock::time_point last_wake_{};

  std::atomic<uint32_t> busy_{0};
  std::atomic<uint32_t> paused_{0};
  std::atomic<uint64_t> steps_{0};
  std::atomic<uint64_t> tokens_generated_{0};
  std::atomic<uint64_t> backend_sampled_tokens_{0};
  std::atomic<uint32_t> kv_cells_used_{0};
  uint64_t kv_bytes_ = 0;
  std::vector<BufferMemory> memory_;
  StepTimings timings_;
  uint64_t use_clock_ = 0;
  uint64_t arrivals_ = 0;  // requests taken in, for their order
  std::vector<float> applied_lora_;  // the adapter set on the context now
  bool honouring_pauses_ = false;    // this step leaves paused requests out
  std::vector<float> turn_set_;      // the adapter set whose turn it is, for turn_left_ more steps
  uint32_t turn_left_ = 0;
  std::thread thread_;
};

}  // namespace shimmy
