// A linear, non-recursive check of a GBNF grammar before llama.cpp's parser sees it (on the main
// thread, when a request is submitted). That parser recurses once per nesting level (a grammar
// nested 24,000 deep overflows the stack), loops for ever on a repetition {m,n} with n < m (n - m
// wraps around), generates a rule per repeat ("a"{0,1999} a thousand times: 4 s and 400 MB), and
// accepts character ranges that match nothing ([z-a]), which then fail on the sampling thread.
// This check refuses all four.
#pragma once

#include <string>

namespace shimmy {

// Deepest nesting of ( … ) accepted: far beyond what JSON-schema grammars need.
constexpr int kMaxGrammarDepth = 64;
// Most repeats {m,n} may add up to (n, or m when unbounded): about 0.1 s of llama.cpp's parsing.
constexpr long kMaxGrammarRepetitions = 50000;

// Returns "" when the grammar may be handed to llama.cpp, otherwise the reason it may not.
std::string check_grammar(const std::string& gbnf);

}  // namespace shimmy
