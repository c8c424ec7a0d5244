// Text to tokens with a model's vocabulary: used by the model's tokenize() and by submit(), which
// tokenizes a prompt given as text itself.
#pragma once

#include <llama.h>

#include <string>
#include <vector>

namespace shimmy {

// llama_tokenize into a vector; false when the text cannot be tokenized.
bool tokenize_text(const llama_vocab* v, const std::string& text, bool add_special, bool parse_special, std::vector<llama_token>& tokens);

}  // namespace shimmy
