// ggml's backends as the addon sees them. In a portable build (SHIMMY_CPU_VARIANTS) the CPU
// backend is a module loaded at runtime, the best variant for this CPU, so everything CPU-specific
// goes through the backend registry rather than a link-time symbol.
#pragma once

#include <ggml.h>

#include <string>
#include <utility>
#include <vector>

namespace shimmy {

// Loads the backend modules that sit next to the addon (portable builds); a no-op otherwise.
void load_backends();
// A persistent thread pool of the CPU backend (null if there is none), and its release.
ggml_threadpool* new_cpu_threadpool(int n_threads);
void free_cpu_threadpool(ggml_threadpool* pool);
// Puts the pool's workers to sleep now instead of letting them poll for the next graph (the next
// decode wakes them): for CPU work between decodes that needs the cores they would spin on.
void pause_cpu_threadpool(ggml_threadpool* pool);
// The CPU backend's features as ggml reports them (name lowercased, e.g. "avx512_vnni").
std::vector<std::pair<std::string, std::string>> cpu_features();

}  // namespace shimmy
