// Encodes prompt images with a projector on a thread of its own: a large image takes a CPU
// projector seconds, and the scheduler's running streams keep stepping meanwhile. Jobs run one at
// a time, in the order given; a job whose request went away is skipped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct mtmd_input_chunk;

namespace shimmy {

class Projector;

struct EncodeJob {
  std::shared_ptr<const mtmd_input_chunk> chunk;
  std::atomic<bool> done{false};       // set once embd or error is final
  std::atomic<bool> abandoned{false};  // its request ended: not started, or its result dropped
  std::vector<float> embd;             // n_tokens × the text model's input width
  std::string error;
};

class ImageEncoder {
 public:
  // `on_done` runs on the encoder's thread after each job, to wake whoever waits for it.
  ImageEncoder(std::shared_ptr<Projector> projector, size_t n_embd, std::function<void()> on_done);
  ~ImageEncoder();  // waits for the job in progress
  ImageEncoder(const ImageEncoder&) = delete;
  ImageEncoder& operator=(const ImageEncoder&) = delete;

  std::shared_ptr<EncodeJob> encode(std::shared_ptr<const mtmd_input_chunk> chunk);

 private:
  void run();

  std::shared_ptr<Projector> projector_;
  size_t n_embd_;
  std::function<void()> on_done_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<EncodeJob>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace shimmy
