#include "grammar_check.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace shimmy {

namespace {

// Reads one character of a literal or a class (an escape or a UTF-8 sequence) as a code point,
// as llama.cpp's parse_char does. Returns false at the end of the text.
bool read_char(const std::string& s, size_t& i, uint32_t& out) {
  if (i >= s.size()) return false;
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == '\\') {
    if (i + 1 >= s.size()) return false;
    const char e = s[i + 1];
    i += 2;
    size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0) {
      out = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : static_cast<unsigned char>(e);
      return true;
    }
    out = 0;
    for (; digits > 0 && i < s.size(); --digits, ++i) {
      const char h = s[i];
      const int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (v < 0) break;
      out = out * 16 + static_cast<uint32_t>(v);
    }
    return true;
  }
  const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  out = len == 1 ? c : c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len && i + k < s.size(); ++k) out = (out << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Blanks and comments, as llama.cpp's parse_space skips them (newlines too: where it would not,
// the grammar does not parse anyway).
void skip_blank(const std::string& s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '#')) {
    if (s[i] == '#') {
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
    } else {
      ++i;
    }
  }
}

// Reads up to 9 digits (bigger counts are refused by llama.cpp anyway); -1 when there are none.
long read_count(const std::string& s, size_t& i) {
  if (i >= s.size() || !is_digit(s[i])) return -1;
  long n = 0;
  for (int k = 0; i < s.size() && is_digit(s[i]); ++i, ++k) {
    if (k < 9) n = n * 10 + (s[i] - '0');
  }
  return n;
}

}  // namespace

std::string check_grammar(const std::string& s) {
  int depth = 0;
  long repetitions = 0;  // rules llama.cpp will generate for {m,n}: about n (or m) each
  // For each open group, the largest product of repetition counts nested inside it; the group
  // just closed, until a repetition after it (or anything else) settles what it multiplies.
  std::vector<int64_t> nested{1};
  int64_t closed = 0;
  const auto settle = [&](int64_t product) { nested.back() = std::max(nested.back(), product); };
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '#') {  // comment to the end of the line
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
    } else if (c == '"') {
      ++i;
      uint32_t ignored;
      while (i < s.size() && s[i] != '"') {
        if (!read_char(s, i, ignored)) break;
      }
      ++i;
    } else if (c == '[') {
      ++i;
      if (i < s.size() && s[i] == '^') ++i;
      while (i < s.size() && s[i] != ']') {
        uint32_t lo, hi;
        if (!read_char(s, i, lo)) break;
        if (i + 1 < s.size() && s[i] == '-' && s[i + 1] != ']') {
          ++i;
          if (!read_char(s, i, hi)) break;
          if (hi < lo) return "the character range at offset " + std::to_string(i) + " is empty (its end comes before its start)";
        }
      }
      ++i;
    } else if (c == '(') {
      if (++depth > kMaxGrammarDepth) return "groups are nested more than " + std::to_string(kMaxGrammarDepth) + " deep";
      nested.push_back(1);
      ++i;
    } else if (c == ')') {
      --depth;
      if (nested.size() > 1) {
        closed = nested.back();
        nested.pop_back();
      }
      ++i;
      skip_blank(s, i);
      if (i >= s.size() || s[i] != '{') settle(std::exchange(closed, 0));  // * + ? loop or once: no product
    } else if (c == '{') {
      const size_t at = i++;
      skip_blank(s, i);
      const long min = read_count(s, i);
      skip_blank(s, i);
      long max = min;
      if (i < s.size() && s[i] == ',') {
        ++i;
        skip_blank(s, i);
        max = read_count(s, i);  // -1: no upper bound
      }
      if (min >= 0 && max >= 0 && max < min) {
        return "the repetition at offset " + std::to_string(at) + " has a maximum (" + std::to_string(max) +
               ") below its minimum (" + std::to_string(min) + ")";
      }
      repetitions += (max >= 0 ? max : min) + 1;
      const int64_t times = std::max<int64_t>(max >= 0 ? max : min, 1);
      if (closed > 1) {  // a group with repetitions inside, repeated: the same text matches in ~product ways
        const int64_t product = times * closed;  // at most 10^9 * kMaxNestedRepetitions
        if (product > kMaxNestedRepetitions) {
          return "the repetition at offset " + std::to_string(at) + " repeats a group that repeats: " +
                 std::to_string(product) + " repeats nested (at most " + std::to_string(kMaxNestedRepetitions) +
                 ", as the ways to match one text multiply)";
        }
        settle(product);
      } else {
        settle(times);
      }
      closed = 0;
      if (repetitions > kMaxGrammarRepetitions) {
        return "its repetitions {m,n} add up to more than " + std::to_string(kMaxGrammarRepetitions) +
               " (each costs llama.cpp a rule per repeat)";
      }
    } else {
      ++i;
    }
  }
  return "";
}

}  // namespace shimmy
