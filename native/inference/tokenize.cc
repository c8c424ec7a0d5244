#include "tokenize.h"

namespace shimmy {

// llama_tokenize into a vector, growing it once when the first guess is too small.
bool tokenize_text(const llama_vocab* v, const std::string& text, bool add_special, bool parse_special, std::vector<llama_token>& tokens) {
  const int32_t text_len = static_cast<int32_t>(text.size());
  tokens.resize(text.size() + 2);
  int32_t n = llama_tokenize(v, text.data(), text_len, tokens.data(), static_cast<int32_t>(tokens.size()), add_special, parse_special);
  if (n < 0) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(v, text.data(), text_len, tokens.data(), -n, add_special, parse_special);
  }
  if (n < 0) return false;
  tokens.resize(static_cast<size_t>(n));
  return true;
}

}  // namespace shimmy
