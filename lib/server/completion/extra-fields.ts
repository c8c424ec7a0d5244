// llama-server's sampling extensions, which its users send on every dialect (extra body fields
// the official clients pass through): a logit bias, the repeat penalty, min_p, a seed, ignore_eos,
// the LoRA adapters' scales.
import { generationFields } from '../../engine/options.js';
import { loraField } from '../../engine/lora.js';
import { fail } from '../../engine/schema.js';

export function logitBias(value: unknown, name: string): Record<number, number> {
  const bias: Record<number, number> = {};
  for (const [token, b] of Object.entries(value as Record<string, unknown>)) {
    if (!/^\d+$/.test(token) || typeof b !== 'number' || !(b >= -100 && b <= 100)) fail(name, 'maps token ids to numbers from -100 to 100');
    bias[Number(token)] = b;
  }
  return bias;
}

/** For the dialects whose own fields do not spell them (Messages, Responses); min_p off unless given. */
export const extraSamplingFields = {
  logitBias: { type: 'object', wire: ['logit_bias'], check: logitBias, shape: '{token id: bias}', doc: 'llama-server\'s: added to the token\'s logit, from -100 to 100 (-100 bans it)' },
  repeatPenalty: { ...generationFields.repeatPenalty, doc: 'llama-server\'s: penalise repeated tokens; 1 = off' },
  minP: { ...generationFields.minP, default: 0, doc: 'llama-server\'s: drop tokens below min_p × the top probability; 0 = off' },
  seed: { ...generationFields.seed, doc: 'llama-server\'s: sampling seed; -1 = random' },
  ignoreEos: { ...generationFields.ignoreEos, doc: 'llama-server\'s: keep generating past end-of-sequence' },
  lora: loraField,
} as const;
