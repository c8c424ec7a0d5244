// An image inside a prompt: its tokens are not text but the projector's embeddings, computed when
// the scheduler reaches them. In the prompt's token list each of its positions holds kImageToken.
#pragma once

#include <llama.h>

#include <cstddef>
#include <memory>
#include <string>

struct mtmd_input_chunk;

namespace shimmy {

constexpr llama_token kImageToken = LLAMA_TOKEN_NULL;

struct PromptImage {
  size_t at = 0;        // index of its first token in the prompt
  size_t n_tokens = 0;
  std::string id;       // SHA-256 of the image file: a cached prefix holds this image's cells only under the same id
  std::shared_ptr<const mtmd_input_chunk> chunk;  // the preprocessed pixels, encoded when reached
};

}  // namespace shimmy
