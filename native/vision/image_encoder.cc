#include "image_encoder.h"

#include "projector.h"

#include <mtmd.h>

namespace shimmy {

ImageEncoder::ImageEncoder(std::shared_ptr<Projector> projector, size_t n_embd, std::function<void()> on_done)
    : projector_(std::move(projector)), n_embd_(n_embd), on_done_(std::move(on_done)), thread_([this] { run(); }) {}

ImageEncoder::~ImageEncoder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

std::shared_ptr<EncodeJob> ImageEncoder::encode(std::shared_ptr<const mtmd_input_chunk> chunk) {
  auto job = std::make_shared<EncodeJob>();
  job->chunk = std::move(chunk);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(job);
  }
  cv_.notify_one();
  return job;
}

void ImageEncoder::run() {
  while (true) {
    std::shared_ptr<EncodeJob> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (job->abandoned.load()) continue;
    // Nothing may escape this thread (it would abort the process).
    try {
      mtmd_context* ctx = projector_->context();
      projector_->stop_encoding_when(&job->abandoned);
      const int32_t rc = mtmd_encode_chunk(ctx, job->chunk.get());
      projector_->stop_encoding_when(nullptr);
      if (job->abandoned.load()) {
        // stopped part way: the output is no image's
      } else if (rc != 0) {
        job->error = "the projector could not encode the image";
      } else {
        const float* embd = mtmd_get_output_embd(ctx);
        job->embd.assign(embd, embd + mtmd_input_chunk_get_n_tokens(job->chunk.get()) * n_embd_);
      }
    } catch (const std::exception& e) {
      job->error = std::string("the projector failed: ") + e.what();
    }
    job->done = true;
    on_done_();
  }
}

}  // namespace shimmy
