#include "text_stream.h"

namespace shimmy {

size_t utf8_complete_prefix(const std::string& s) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back >= need ? n : n - back;
  }
  return n;  // only stray continuation bytes: nothing to wait for
}

std::string TextStream::push(const std::string& bytes) {
  if (stopped_) return {};
  pending_ += bytes;

  // A complete stop string ends the text right before it.
  size_t first_stop = std::string::npos;
  const std::string* first = nullptr;
  for (const auto& stop : stops_) {
    const size_t at = pending_.find(stop);
    if (at < first_stop) {
      first_stop = at;
      first = &stop;
    }
  }
  if (first != nullptr) {
    stopped_ = true;
    matched_ = *first;
    std::string out = pending_.substr(0, first_stop);
    pending_.clear();
    return out;
  }

  // Hold back the longest tail that is the beginning of some stop string.
  size_t hold = 0;
  for (const auto& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, pending_.size()); len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  const size_t ready = utf8_complete_prefix(pending_.substr(0, pending_.size() - hold));
  std::string out = pending_.substr(0, ready);
  pending_.erase(0, ready);
  return out;
}

std::string TextStream::flush() {
  std::string out;
  out.swap(pending_);
  return stopped_ ? std::string() : out;
}

}  // namespace shimmy
