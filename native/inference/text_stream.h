// The text side of a generation: UTF-8-safe streaming and stop strings.
#pragma once

#include <string>
#include <vector>

namespace shimmy {

// Turns detokenized bytes into the text a client may see now. Holds back an incomplete UTF-8
// sequence and any tail that could still become a stop string; reports a completed stop string.
class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Appends bytes; returns the text that is safe to emit. Sets stopped() when a stop string
  // appears (the returned text then ends right before it, and nothing after it is emitted).
  std::string push(const std::string& bytes);
  // Whatever is held back at the end of generation (an incomplete stop string is plain text).
  std::string flush();
  bool stopped() const { return stopped_; }
  // The stop string that ended the text (empty until one did).
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(const std::string& s);

}  // namespace shimmy
