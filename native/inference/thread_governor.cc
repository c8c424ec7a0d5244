#include "thread_governor.h"

#include <algorithm>

namespace shimmy {

ThreadGovernor::ThreadGovernor(int max_threads)
    : max_threads_(std::max(max_threads, 1)), threads_(max_threads_), best_per_token_(static_cast<size_t>(max_threads_) + 1, 0.0) {
  recent_.reserve(kWindow);
  probe_.reserve(kWindow);
}

double ThreadGovernor::per_token(const std::vector<Step>& steps) {
  double seconds = 0;
  int64_t tokens = 0;
  for (const Step& s : steps) {
    seconds += s.seconds;
    tokens += s.tokens;
  }
  return tokens > 0 ? seconds / static_cast<double>(tokens) : 0;
}

void ThreadGovernor::record(int32_t tokens, double seconds) {
  if (max_threads_ == 1 || tokens <= 0) return;
  if (probing_) {
    probe_.push_back({tokens, seconds});
    // A probe that is clearly losing stops early: with a core taken, one more thread can make a
    // step ten times longer, and a whole window of those would cost more than the probe can win.
    const bool losing = probe_.size() >= 2 && per_token(probe_) > kLosing * per_token(recent_);
    if (probe_.size() == kWindow || losing) end_probe();
    return;
  }
  if (recent_.size() < kWindow) {
    recent_.push_back({tokens, seconds});
  } else {
    recent_[recent_next_] = {tokens, seconds};
    recent_next_ = (recent_next_ + 1) % kWindow;
  }
  if (recent_.size() < kWindow) return;
  const double now = per_token(recent_);
  double& best = best_per_token_[static_cast<size_t>(threads_)];
  if (best == 0 || now < best) best = now;
  // Decoding got much slower at this count (another process took cores, most likely): look now.
  const bool stalled = now > kSlowdown * best && steps_to_probe_ > kWindow;
  if (--steps_to_probe_ <= 0 || stalled) start_probe();
}

void ThreadGovernor::start_probe() {
  const bool can_down = threads_ > 1;
  const bool can_up = threads_ < max_threads_;
  const bool down = can_down && (probe_down_next_ || !can_up);
  probe_threads_ = down ? threads_ - 1 : threads_ + 1;
  probe_down_next_ = !down;
  probing_ = true;
  probe_.clear();
}

void ThreadGovernor::end_probe() {
  probing_ = false;
  const double probed = per_token(probe_);
  if (probed < kBetter * per_token(recent_)) {
    threads_ = probe_threads_;
    recent_ = probe_;  // what is known of the new count
    recent_next_ = 0;
    gap_ = kFirstGap;  // and look again soon: the other direction may be better still
  } else {
    gap_ = std::min(gap_ * 2, kMaxGap);
    // The count held its own: what it decodes at now (a heavier workload, say) is its new best,
    // so that a lasting slowdown does not trigger probe after probe.
    best_per_token_[static_cast<size_t>(threads_)] = per_token(recent_);
  }
  steps_to_probe_ = gap_;
}

}  // namespace shimmy
