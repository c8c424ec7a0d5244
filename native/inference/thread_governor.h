// How many of the context's CPU threads decode. ggml's threads meet at a barrier after every
// operation, so when another process takes one of their cores, all of them wait for the thread
// that lost it: on 2 cores with one kept busy elsewhere, 2 threads decoded at a fifth of their
// speed, 1 thread at three quarters (bench/RESULTS.md). No fixed count is right both when the
// machine is idle and when it is not, so the governor measures: now and then a few decode steps
// run with one thread fewer or more (a probe), and the count that decoded faster per token stays.
// Probes back off while they lose; a step much slower than this count's best probes at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace shimmy {

class ThreadGovernor {
 public:
  explicit ThreadGovernor(int max_threads);

  // The thread count for the next decode.
  int threads() const { return probing_ ? probe_threads_ : threads_; }
  // Records the decode just done with threads(): `tokens` tokens in `seconds`.
  void record(int32_t tokens, double seconds);

 private:
  static constexpr int kWindow = 16;           // steps compared: the last ones before a probe, and the probe
  static constexpr int kFirstGap = 64;         // steps between probes after a change of count
  static constexpr int kMaxGap = 1024;         // … at most, while probes keep losing
  static constexpr double kBetter = 0.9;       // a probe wins below this share of the current time per token
  static constexpr double kLosing = 1.5;       // a probe this much slower after two steps has lost
  static constexpr double kSlowdown = 2.0;     // a window this much slower than the count's best probes early

  struct Step {
    int32_t tokens;
    double seconds;
  };
  static double per_token(const std::vector<Step>& steps);
  void start_probe();
  void end_probe();

  int max_threads_;
  int threads_;
  bool probing_ = false;
  int probe_threads_ = 0;
  bool probe_down_next_ = true;
  int gap_ = kFirstGap;
  int steps_to_probe_ = kFirstGap;
  std::vector<Step> recent_;  // the last kWindow steps at threads_ (a ring)
  size_t recent_next_ = 0;
  std::vector<Step> probe_;
  std::vector<double> best_per_token_;  // by thread count; 0 = not measured yet
};

}  // namespace shimmy
