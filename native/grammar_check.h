// A linear, non-recursive check of a GBNF grammar before llama.cpp's parser sees it. That parser
// recurses once per nesting level (a grammar nested 24,000 deep overflows the stack), loops for
// ever on a repetition {m,n} with n < m (n - m wraps around), and accepts character ranges that
// match nothing ([z-a]), which then fail on the sampling thread. This check refuses all three.
#pragma once

#include <string>

namespace shimmy {

// Deepest nesting of ( … ) accepted: far beyond what JSON-schema grammars need.
constexpr int kMaxGrammarDepth = 64;

// Returns "" when the grammar may be handed to llama.cpp, otherwise the reason it may not.
std::string check_grammar(const std::string& gbnf);

}  // namespace shimmy
