// Megatron-LM's per-rank order of forward and backward passes: GPipe, 1F1B and interleaved 1F1B.
#include "workloads/training/megatron.h"

#include <algorithm>
#include <string>
#include <vector>

namespace lcsim::wl {

std::vector<MegatronTraining::Task> MegatronTraining::schedule(const std::string& kind, int stages, int stage,
                                                               int m, int chunks) {
  std::vector<Task> out;
  if (kind == "gpipe") {
    for (int i = 0; i < m; ++i) out.push_back({true, i, 0});
    for (int i = 0; i < m; ++i) out.push_back({false, i, 0});
    return out;
  }
  if (kind == "1f1b" || chunks == 1) {
    const int warmup = std::min(m, stages - stage - 1);
    for (int i = 0; i < warmup; ++i) out.push_back({true, i, 0});
    for (int i = 0; i < m - warmup; ++i) {
      out.push_back({true, warmup + i, 0});
      out.push_back({false, i, 0});
    }
    for (int i = m - warmup; i < m; ++i) out.push_back({false, i, 0});
    return out;
  }
  // Interleaved 1F1B (Narayanan et al. SC'21; Megatron's forward_backward_pipelining_with_interleaving): the k-th
  // virtual micro-batch is micro-batch (k / (p v)) p + k % p of chunk (k / p) % v (backward: chunks reversed).
  const int total = m * chunks;
  const int warmup = std::min(total, (stages - stage - 1) * 2 + (chunks - 1) * stages);
  auto mb = [&](int k) { return (k / (stages * chunks)) * stages + k % stages; };
  auto f = [&](int k) { return Task{true, mb(k), (k / stages) % chunks}; };
  auto b = [&](int k) { return Task{false, mb(k), chunks - 1 - (k / stages) % chunks}; };
  for (int k = 0; k < warmup; ++k) out.push_back(f(k));
  for (int i = 0; i < total - warmup; ++i) {
    out.push_back(f(warmup + i));
    out.push_back(b(i));
  }
  for (int k = total - warmup; k < total; ++k) out.push_back(b(k));
  return out;
}

}  // namespace lcsim::wl
