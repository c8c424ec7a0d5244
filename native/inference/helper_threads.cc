#include "helper_threads.h"

namespace shimmy {

HelperThreads::HelperThreads(unsigned count) {
  for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this, i] { help(i); });
}

HelperThreads::~HelperThreads() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void HelperThreads::take_jobs(const std::function<void(size_t)>& job, size_t n) {
  for (size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) job(i);
}

void HelperThreads::for_each(size_t n, const std::function<void(size_t)>& job, unsigned helpers) {
  if (threads_.empty() || helpers == 0 || n < 2) {
    for (size_t i = 0; i < n; ++i) job(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &job;
    n_ = n;
    wanted_ = helpers;
    next_.store(0);
    ++call_;
  }
  wake_.notify_all();
  take_jobs(job, n);
  // Closing the call: a helper that wakes from now on finds nothing to do, so only those already
  // inside (at most finishing their last job) are waited for, not the ones still waking up.
  std::unique_lock<std::mutex> lock(mutex_);
  job_ = nullptr;
  helpers_out_.wait(lock, [&] { return helping_ == 0; });
}

void HelperThreads::help(unsigned index) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || (job_ && call_ != seen && index < wanted_); });
    if (stopping_) return;
    seen = call_;
    const auto* job = job_;
    const size_t n = n_;
    ++helping_;
    lock.unlock();
    take_jobs(*job, n);
    lock.lock();
    if (--helping_ == 0) helpers_out_.notify_one();
  }
}

}  // namespace shimmy
