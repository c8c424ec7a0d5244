// Images as the dialects send them (base64 text, URLs), checked where they arrive so that a
// refusal names the field the client wrote, and handed on as the library's content parts. The
// engine checks them again when it renders the chat; that costs a header read, and it is the check
// every caller of the library gets.
import type { ChatImagePart, ChatImageUrlPart } from '../../engine/chat.js';
import { imageFromBase64, imageFromUrl, readImageHeader } from '../../engine/image-check.js';
import { isHttpUrl } from '../../engine/image-fetch.js';

/** Base64 text (Anthropic's `source.data`, Ollama's `images`) as an image part, its header checked. */
export function base64ImagePart(text: unknown, what: string): ChatImagePart {
  const data = imageFromBase64(text, what);
  readImageHeader(data, what);
  return { type: 'image', data };
}


/**
 * An image URL as an image part that keeps the URL. A data URL's bytes are checked now and decoded
 * again when the chat renders: kept as text, a conversation in memory (the Responses store, whose
 * size is counted as JSON) counts it as what it takes, where bytes would count as an object of
 * numbers. An http(s) URL is the engine's to fetch or refuse, by the policy the model was loaded
 * with, exactly as on chat completions.
 */
export function urlImagePart(url: unknown, what: string): ChatImageUrlPart {
  if (isHttpUrl(url)) return { type: 'image_url', image_url: { url } };
  readImageHeader(imageFromUrl(url, what), what);
  return { type: 'image_url', image_url: { url: url as string } };
}
