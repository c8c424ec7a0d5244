// What llama.cpp's own llama-completion prints for stories260K at the vendored commit with
// `-p "Once upon a time" -n 40 --temp 0` (shared/models/README.md): the text every check of real
// greedy output compares against (test/stories.test.mjs, scripts/test-pack.mjs).
export const STORIES_GREEDY_40 = ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.';
