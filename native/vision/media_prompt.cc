#include "media_prompt.h"

#include "projector.h"

#include <mtmd-helper.h>
#include <mtmd.h>

#include <memory>
#include <stdexcept>

namespace shimmy {

namespace {

struct BitmapFree {
  void operator()(mtmd_bitmap* b) const { mtmd_bitmap_free(b); }
};
struct ChunksFree {
  void operator()(mtmd_input_chunks* c) const { mtmd_input_chunks_free(c); }
};

// The text between markers, and which image each marker names, in prompt order.
struct Cut {
  std::vector<std::string> texts;
  std::vector<size_t> order;
};

Cut cut_at_markers(const std::string& text, const std::string& marker, size_t images) {
  static const std::string kEnd = "__>";
  Cut cut;
  std::vector<bool> placed(images, false);
  size_t from = 0;
  for (size_t at; (at = text.find(marker, from)) != std::string::npos;) {
    size_t digits = at + marker.size(), end = digits;
    while (end < text.size() && end - digits < 4 && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == digits || text.compare(end, kEnd.size(), kEnd) != 0) throw std::invalid_argument("the model's chat template changed an image's marker");
    const size_t k = std::stoul(text.substr(digits, end - digits));
    // A template may drop a message or render one twice: each image must be in the prompt once.
    if (k >= images || placed[k]) throw std::invalid_argument("the model's chat template placed image " + std::to_string(k + 1) + " more than once");
    placed[k] = true;
    cut.texts.push_back(text.substr(from, at - from));
    cut.order.push_back(k);
    from = end + kEnd.size();
  }
  cut.texts.push_back(text.substr(from));
  if (cut.order.size() != images) {
    throw std::invalid_argument("the model's chat template placed " + std::to_string(cut.order.size()) + " of the request's " + std::to_string(images) +
                                " images (it leaves out some messages)");
  }
  return cut;
}

}  // namespace

size_t tokenize_with_images(const Projector& projector, const std::string& prompt, const std::string& marker,
                            const std::vector<std::string>& images, std::vector<llama_token>& tokens,
                            std::vector<PromptImage>& out) {
  if (!projector.vision()) throw std::invalid_argument("this model's projector takes no images");
  const Cut cut = cut_at_markers(prompt, marker, images.size());
  const std::vector<std::string>& texts = cut.texts;
  if (texts.back().empty()) throw std::invalid_argument("the prompt must not end with an image");

  std::vector<std::unique_ptr<mtmd_bitmap, BitmapFree>> bitmaps;
  size_t bytes = 0;
  for (size_t i : cut.order) {
    const auto& file = images[i];
    // The caller checked the format and the pixel count from the file's header (lib/engine/image-check.ts).
    mtmd_helper_bitmap_wrapper decoded = mtmd_helper_bitmap_init_from_buf(
        projector.context(), reinterpret_cast<const unsigned char*>(file.data()), file.size(), false, mtmd_helper_init_opt_default());
    if (!decoded.bitmap) throw std::invalid_argument("image " + std::to_string(i + 1) + " could not be decoded");
    bitmaps.emplace_back(decoded.bitmap);
    if (mtmd_bitmap_is_audio(decoded.bitmap)) throw std::invalid_argument("image " + std::to_string(i + 1) + " is audio");
    // mtmd keeps the pixels as f32 RGB, resized to what the projector takes: the decoded size
    // bounds it for the images that are scaled down, which large ones are.
    bytes += std::min<size_t>(size_t{mtmd_bitmap_get_nx(decoded.bitmap)} * mtmd_bitmap_get_ny(decoded.bitmap), size_t{2048} * 2048) * 3 * sizeof(float);
  }

  std::vector<mtmd_input_text> text_inputs(texts.size());
  std::vector<mtmd_input_part> parts;
  for (size_t i = 0; i < texts.size(); ++i) {
    text_inputs[i] = {texts[i].c_str(), texts[i].size(), false, true};
    if (!texts[i].empty()) parts.push_back({&text_inputs[i], nullptr});
    if (i < bitmaps.size()) parts.push_back({nullptr, bitmaps[i].get()});
  }
  std::vector<const mtmd_input_part*> part_ptrs;
  for (const auto& p : parts) part_ptrs.push_back(&p);
  std::unique_ptr<mtmd_input_chunks, ChunksFree> chunks(mtmd_input_chunks_init());
  const int32_t rc = mtmd_tokenize_from_parts(projector.context(), chunks.get(), part_ptrs.data(), part_ptrs.size(), true);
  if (rc != 0) throw std::invalid_argument("the images could not be prepared for the model (mtmd_tokenize returned " + std::to_string(rc) + ")");

  tokens.clear();
  out.clear();
  for (size_t i = 0; i < mtmd_input_chunks_size(chunks.get()); ++i) {
    const mtmd_input_chunk* chunk = mtmd_input_chunks_get(chunks.get(), i);
    const auto type = mtmd_input_chunk_get_type(chunk);
    if (type == MTMD_INPUT_CHUNK_TYPE_TEXT) {
      size_t n = 0;
      const llama_token* text = mtmd_input_chunk_get_tokens_text(chunk, &n);
      tokens.insert(tokens.end(), text, text + n);
      continue;
    }
    if (type != MTMD_INPUT_CHUNK_TYPE_IMAGE) throw std::invalid_argument("only images are accepted in a prompt");
    // Slices of one image share its id; each is told apart by where it sits.
    PromptImage image;
    image.at = tokens.size();
    image.n_tokens = mtmd_input_chunk_get_n_tokens(chunk);
    const char* id = mtmd_input_chunk_get_id(chunk);
    image.id = id ? id : "";
    image.chunk = std::shared_ptr<const mtmd_input_chunk>(mtmd_input_chunk_copy(chunk), [](const mtmd_input_chunk* c) {
      mtmd_input_chunk_free(const_cast<mtmd_input_chunk*>(c));
    });
    if (image.n_tokens == 0 || image.id.empty()) throw std::invalid_argument("the projector made no tokens of an image");
    tokens.insert(tokens.end(), image.n_tokens, kImageToken);
    out.push_back(std::move(image));
  }
  if (out.size() < images.size()) throw std::invalid_argument("the projector did not take every image");
  // Logits come from the last prompt token: it must be text (a tokenizer can make nothing of the text after the last image).
  if (tokens.empty() || tokens.back() == kImageToken) throw std::invalid_argument("the prompt must not end with an image");
  return bytes;
}

}  // namespace shimmy
