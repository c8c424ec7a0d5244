// Threads that help the scheduler's thread run one step's independent jobs (sampling each slot),
// then sleep until the next step: while ggml's own threads wait for the next decode, the CPU
// would otherwise sample 32 or 64 slots one after another on a single core.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shimmy {

class HelperThreads {
 public:
  explicit HelperThreads(unsigned count);
  ~HelperThreads();
  HelperThreads(const HelperThreads&) = delete;
  HelperThreads& operator=(const HelperThreads&) = delete;

  // Calls job(0) … job(n - 1), each once, on this thread and whichever of the first `helpers`
  // helpers wake in time; returns when all are done. `job` must not throw.
  void for_each(size_t n, const std::function<void(size_t)>& job, unsigned helpers);

 private:
  void help(unsigned index);
  void take_jobs(const std::function<void(size_t)>& job, size_t n);

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable helpers_out_;
  const std::function<void(size_t)>* job_ = nullptr;  // null between calls
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  unsigned wanted_ = 0;    // helpers the current call may use
  uint64_t call_ = 0;      // which call job_ belongs to
  unsigned helping_ = 0;   // helpers inside the current call
  bool stopping_ = false;
};

}  // namespace shimmy
