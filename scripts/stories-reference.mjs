// What llama.cpp's own llama-completion prints for stories260K at the vendored commit with
// `-p "Once upon a time" -n 40 --temp 0` (shared/models/README.md): the text every check of real
// greedy output compares against (test/stories.test.mjs, scripts/test-pack.mjs).
export const STORIES_GREEDY_40 = ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.';

// With the LoRA adapter the tests generate for stories260K (scripts/make-fixture-model.mjs
// makeFixtureLora(out, stories260K.gguf): rank 4 on each layer's attention projections, seed 7),
// `llama-completion -m stories260K.gguf -p "Once upon a time" -n 40 --temp 0 --lora-scaled OUT:SCALE`
// prints these at the vendored commit (scale 0 prints STORIES_GREEDY_40; at scale 1 the story ends
// after 28 tokens).
export const STORIES_LORA_GREEDY_40 = {
  1: ', there wasoo a coakinging. oon. I sing was an. Sam.. udning.. ream was',
  0.5: ", there was a little girl named Lily. She loved to play outsacine and sing all day long. One day, Lily's mom",
};

// Grammar-constrained text on stories260K, 40 tokens after "Once upon a time", recorded with
// llama.cpp's common_sampler applying the grammar to the whole vocabulary (this tree before
// vendor/patches/0008 narrowed it to the likeliest candidates), one request at a time.
export const STORIES_GRAMMARS = {
  story: 'root ::= "{" ws "\\"story\\":" ws "\\"" [a-zA-Z ,.]* "\\"" ws "}"\nws ::= " "?',
  words: 'root ::= (" " [a-z]+)+ "."',
};
export const STORIES_GRAMMAR_40 = [
  { grammar: 'story', sampling: { temperature: 0 }, text: "{ \"story\": \"I can make a big box.\" }" },
  { grammar: 'story', sampling: { temperature: 0, repeatPenalty: 1.3 }, text: "{ \"story\": \"I can make a big blueber. It will be fun and shine it" },
  { grammar: 'story', sampling: { temperature: 0.8, topK: 40, topP: 0.95, seed: 3 }, text: "{ \"story\": \"Can you please pick pretty spect past splash" },
  { grammar: 'story', sampling: { temperature: 1, topK: 10, seed: 5, frequencyPenalty: 0.5 }, text: "{ \"story\": \"Thank you for my zoop. It is pretty. It will be" },
  { grammar: 'words', sampling: { temperature: 0 }, text: " there was a little girl named outside." },
  { grammar: 'words', sampling: { temperature: 0, repeatPenalty: 1.3 }, text: " there was a little girl named outside." },
  { grammar: 'words', sampling: { temperature: 0.8, topK: 40, topP: 0.95, seed: 3 }, text: " there was a little girl named outside." },
  { grammar: 'words', sampling: { temperature: 1, topK: 10, seed: 5, frequencyPenalty: 0.5 }, text: " there was a little girl who was very hungry." },
];

// With the vision projector the tests generate for stories260K (scripts/make-fixture-projector.mjs:
// width 64, seed 11) and 32 × 32 images of scripts/make-fixture-image.mjs's patterns, llama.cpp's
// `llama-mtmd-cli -m stories260K.gguf --mmproj P --image I.png -p "Once upon a time" -n 40 --temp 0
// --chat-template chatml` prints these at the vendored commit (between a newline of its own before
// and two after).
export const STORIES_IMAGE_GREEDY_40 = {
  gradient: '" Joy.\nThey was angel and didncurryththttttttttttt',
  checker: '" reek.\nHexply, “Iththatel, Ittel.”\nHelssers',
};
