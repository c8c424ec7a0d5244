// Chat templating. The model's own template (GGUF `tokenizer.chat_template`) is applied by
// llama.cpp's built-in matcher, which recognises the common families (Llama 2/3, ChatML, Mistral,
// Gemma, Phi, DeepSeek, Command-R, …) by their markers. A model without a template, or with one
// llama.cpp does not recognise, gets ChatML, as llama-server does.
import type { NativeModel } from '../native.js';
import { ShimmyError } from './errors.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export function renderChat(handle: NativeModel, template: string | null, messages: ChatMessage[], addAssistant: boolean): string {
  if (!Array.isArray(messages) || messages.length === 0) throw new ShimmyError('invalid_request', "'messages' must be a non-empty array");
  for (const m of messages) {
    if (typeof m?.role !== 'string' || typeof m.content !== 'string') {
      throw new ShimmyError('invalid_request', "each message needs a string 'role' and 'content'");
    }
  }
  if (template) {
    try {
      return handle.applyChatTemplate(template, messages, addAssistant);
    } catch {
      // not recognised: fall through to ChatML
    }
  }
  return handle.applyChatTemplate('chatml', messages, addAssistant);
}
