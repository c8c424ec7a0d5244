// Why lib/engine/model.ts withholds backendSampling on Vulkan: llama.cpp's backend sampling API
// alone, no shimmy code. A greedy chain samples 8 tokens on sequence 0 and is detached; then a
// logit-bias + greedy chain is attached to the same sequence and decodes on. On Debian 12's
// lavapipe (Mesa 22.3, fusion on or off) the second part crashes 4 runs in 5 (heap corruption in
// the driver's queue thread); the second chain alone never does, nor does either order on the CPU.
// Run it on a real Vulkan GPU, or after a llama.cpp update, before lifting the restriction:
//   V=gpu-packages/linux-x64-vulkan; L=vendor/llama.cpp
//   g++ -O1 -g -std=c++17 scripts/repro/vulkan-backend-sampling-reattach.cpp -I$L/include -I$L/ggml/include \
//     $V/libllama.so.0 $V/libggml.so.0 $V/libggml-base.so.0 -Wl,-rpath,$V -o /tmp/reattach
//   for i in 1 2 3 4 5; do BACKENDS=$V /tmp/reattach test/.fixtures/tiny-llama-spm-f32.gguf > /dev/null 2>&1; echo $?; done
//   (B_ONLY=1: the second chain alone; GGML_VK_VISIBLE_DEVICES= : the CPU)
#include <llama.h>
#include <ggml-backend.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cmath>

static void run(llama_context* ctx, llama_sampler* chain, int& pos, llama_token& last, bool first) {
  llama_batch batch = llama_batch_init(16, 0, 1);
  std::vector<llama_token> prompt = {1, 15043};
  if (first) {
    for (size_t i = 0; i < prompt.size(); ++i) {
      batch.token[i] = prompt[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = i + 1 == prompt.size();
    }
    batch.n_tokens = prompt.size();
    pos = prompt.size();
  } else {
    batch.token[0] = last; batch.pos[0] = pos++; batch.n_seq_id[0] = 1; batch.seq_id[0][0] = 0; batch.logits[0] = 1; batch.n_tokens = 1;
  }
  for (int step = 0; step < 8; ++step) {
    if (llama_decode(ctx, batch) != 0) { puts("decode failed"); exit(1); }
    llama_token t = llama_get_sampled_token_ith(ctx, batch.n_tokens - 1);
    llama_sampler_accept(chain, t);
    printf("%d ", t); fflush(stdout);
    last = t;
    batch.token[0] = t; batch.pos[0] = pos++; batch.n_seq_id[0] = 1; batch.seq_id[0][0] = 0; batch.logits[0] = 1; batch.n_tokens = 1;
  }
  pos--;  // the last sampled token is not decoded yet
  puts("");
  llama_batch_free(batch);
}

int main(int argc, char** argv) {
  llama_backend_init();
  ggml_backend_load_all_from_path(getenv("BACKENDS"));
  auto mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  auto cp = llama_context_default_params();
  cp.n_ctx = 1024; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_seq_max = 4; cp.kv_unified = false; cp.n_outputs_max_per_seq = 1;
  llama_context* ctx = llama_init_from_model(model, cp);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  int pos = 0; llama_token last = 0;

  const bool b_only = getenv("B_ONLY") != nullptr;
  llama_sampler* a = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(a, llama_sampler_init_greedy());
  if (!b_only) {
    printf("attach a: %d\n", llama_set_sampler(ctx, 0, a));
    run(ctx, a, pos, last, true);
    llama_set_sampler(ctx, 0, nullptr);
  }
  llama_sampler_free(a);

  llama_sampler* b = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_logit_bias bias{3186, 3.0f};
  llama_sampler_chain_add(b, llama_sampler_init_logit_bias(n_vocab, 1, &bias));
  llama_sampler_chain_add(b, llama_sampler_init_greedy());
  printf("attach b: %d\n", llama_set_sampler(ctx, 0, b));
  run(ctx, b, pos, last, b_only);
  llama_set_sampler(ctx, 0, nullptr);
  llama_sampler_free(b);
  llama_free(ctx);
  llama_model_free(model);
  puts("clean exit");
}
