// A linear, non-recursive check of a GBNF grammar before llama.cpp's parser sees it (on the main
// thread, when a request is submitted). That parser recurses once per nesting level (a grammar
// nested 24,000 deep overflows the stack), loops for ever on a repetition {m,n} with n < m (n - m
// wraps around), generates a rule per repeat ("a"{0,1999} a thousand times: 4 s and 400 MB), and
// accepts character ranges that match nothing ([z-a]), which then fail on the sampling thread,
// and repetitions nested in repeated groups make its sampling explode. This check refuses all five.
#pragma once

#include <string>

namespace shimmy {

// Deepest nesting of ( … ) accepted: far beyond what JSON-schema grammars need.
constexpr int kMaxGrammarDepth = 64;
// Most repeats {m,n} may add up to (n, or m when unbounded): about 0.1 s of llama.cpp's parsing.
constexpr long kMaxGrammarRepetitions = 50000;
// The most that a repeated group's count times the repetitions inside it may come to
// ((("a"{0,30}){0,30}){0,30} comes to 27,000): each level multiplies the ways one text can
// match, and so llama.cpp's parse stacks.
// Smaller shapes that still explode, and those split over rules, meet llama.cpp's own work limit
// while sampling (vendor/patches/0006).
constexpr long kMaxNestedRepetitions = 10000;

// Returns "" when the grammar may be handed to llama.cpp, otherwise the reason it may not.
std::string check_grammar(const std::string& gbnf);

}  // namespace shimmy
