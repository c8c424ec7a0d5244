// A rendered chat prompt with images in it: the template placed one marker per image, image k's
// being `marker` + k + "__>" (`marker` made for this request, so text a user typed can never
// become an image slot); here the prompt is cut at the markers, the images are decoded, and
// tools/mtmd tokenizes text and images together (the projector's own begin/end-of-image tokens
// included; a projector that slices an image makes several image chunks of it).
#pragma once

#include "prompt_image.h"

#include <llama.h>

#include <string>
#include <vector>

namespace shimmy {

class Projector;

// `images` are the image files' bytes, image k's marker naming images[k]. Fills `tokens` (each
// image's positions hold kImageToken) and `out`, in prompt order. Throws std::invalid_argument
// with a message for the client.
// Returns about the bytes the images' preprocessed pixels take.
size_t tokenize_with_images(const Projector& projector, const std::string& prompt, const std::string& marker,
                            const std::vector<std::string>& images, std::vector<llama_token>& tokens,
                            std::vector<PromptImage>& out);

}  // namespace shimmy
