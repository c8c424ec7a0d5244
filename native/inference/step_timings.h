// Where the scheduler's time goes, per phase of a step: decoding (llama_decode until the backend
// has finished), sampling (every slot's token, stop strings, text), delivering (handing the step's
// events to JavaScript) and idle (waiting for requests). Totals and a histogram per phase, written
// by the scheduler thread and read by anyone without locks, so a slow step explains itself in
// model.stats() and on /metrics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace shimmy {

enum class StepPhase : uint8_t { Decode, Sample, Deliver, Idle };
inline constexpr size_t kStepPhases = 4;
inline constexpr const char* kStepPhaseNames[kStepPhases] = {"decode", "sample", "deliver", "idle"};

// Histogram bucket upper bounds in microseconds (a last, unbounded bucket follows).
inline constexpr std::array<uint64_t, 12> kStepBucketsUs = {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 1000000};

class StepTimings {
 public:
  void record(StepPhase phase, std::chrono::steady_clock::duration elapsed) {
    const auto us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    Phase& p = phases_[static_cast<size_t>(phase)];
    p.total_us.fetch_add(us, std::memory_order_relaxed);
    size_t bucket = 0;
    while (bucket < kStepBucketsUs.size() && us > kStepBucketsUs[bucket]) ++bucket;
    p.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t total_us(size_t phase) const { return phases_[phase].total_us.load(std::memory_order_relaxed); }
  uint64_t count(size_t phase, size_t bucket) const { return phases_[phase].counts[bucket].load(std::memory_order_relaxed); }

 private:
  struct Phase {
    std::atomic<uint64_t> total_us{0};
    std::array<std::atomic<uint64_t>, kStepBucketsUs.size() + 1> counts{};
  };
  std::array<Phase, kStepPhases> phases_{};
};

// Times the rest of a scope as one phase.
class PhaseTimer {
 public:
  PhaseTimer(StepTimings& timings, StepPhase phase) : timings_(timings), phase_(phase), start_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() { timings_.record(phase_, std::chrono::steady_clock::now() - start_); }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  StepTimings& timings_;
  StepPhase phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace shimmy
