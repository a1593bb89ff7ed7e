// The per-rank order of forward and backward passes: Megatron-LM's GPipe, 1F1B and interleaved 1F1B, and
// DeepSeek-V3's DualPipe.
#include "workloads/training/megatron.h"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::wl {

namespace {

// DualPipe (DeepSeek-V3 technical report, arXiv 2412.19437, section 3.2.1 and figure 5; the order of the public
// deepseek-ai/DualPipe repository's DualPipe.step, its eight steps below). Rank r of P holds model stage r (chunk
// 0: micro-batches 0..N-1 enter at rank 0) and stage P-1-r (chunk 1: micro-batches N..2N-1 enter at rank P-1).
// Phase 0 is the direction in which r lies in the first half of the pipeline (chunk 0 on ranks below P/2, chunk
// 1 above). Backward passes marked zero-bubble compute input gradients only; their weight gradients run later as
// W tasks, first in, first out.
std::vector<MegatronTraining::Task> dualpipe(int P, int r, int m) {
  using Task = MegatronTraining::Task;
  using Part = MegatronTraining::Part;
  const int half = P / 2, h = std::min(r, P - 1 - r), n = m / 2;
  const int second = r >= half ? 1 : 0;
  const bool middle = h == half - 1;
  int next_f[2] = {0, 0}, next_b[2] = {0, 0};
  std::deque<std::pair<int, int>> weights;  // zero-bubble backward passes whose weight gradients wait
  std::vector<Task> out;
  auto chunk = [&](int phase) { return phase ^ second; };
  auto f = [&](int phase) {
    const int c = chunk(phase);
    return Task{true, c * n + next_f[c]++, c};
  };
  auto b = [&](int phase, bool zb) {
    const int c = chunk(phase), mb = c * n + next_b[c]++;
    if (zb) weights.push_back({mb, c});
    return Task{false, mb, c, zb ? Part::kInput : Part::kWhole};
  };
  auto w = [&] {
    const auto [mb, c] = weights.front();
    weights.pop_front();
    out.push_back(Task{false, mb, c, Part::kWeight});
  };
  auto pair = [&](int fp, int bp) {
    Task t = f(fp);
    const Task back = b(bp, false);
    t.b_micro_batch = back.micro_batch;
    t.b_chunk = back.chunk;
    out.push_back(t);
  };
  for (int i = 0; i < (half - h - 1) * 2; ++i) out.push_back(f(0));  // 1: nF0
  for (int i = 0; i < h + 1; ++i) {                                   // 2: nF0F1
    out.push_back(f(0));
    out.push_back(f(1));
  }
  for (int i = 0; i < half - h - 1; ++i) {  // 3: nB1W1F1 (zero bubble)
    out.push_back(b(1, true));
    w();
    out.push_back(f(1));
  }
  for (int i = 0; i < n - P + h + 1; ++i) {  // 4: nF0B1F1B0, the main step: F&B pairs
    if (i == 0 && middle) {  // the middle ranks do not overlap their first pair (a smaller bubble)
      out.push_back(f(0));
      out.push_back(b(1, false));
    } else {
      pair(0, 1);
    }
    pair(1, 0);
  }
  for (int i = 0; i < half - h - 1; ++i) {  // 5: nB1F1B0
    out.push_back(b(1, false));
    pair(1, 0);
  }
  bool zb = false;  // 6: nB1B0, the second half zero bubble
  for (int i = 0; i < h + 1; ++i) {
    if (i == (h + 1) / 2 && h % 2 == 1) zb = true;
    out.push_back(b(1, zb));
    if (i == (h + 1) / 2 && h % 2 == 0) zb = true;
    out.push_back(b(0, zb));
  }
  for (int i = 0; i < half - h - 1; ++i) {  // 7: nWB0 (zero bubble)
    w();
    out.push_back(b(0, true));
  }
  while (!weights.empty()) w();  // 8: nW
  return out;
}

}  // namespace

double MegatronTraining::peak_in_flight(const std::vector<Task>& tasks, const std::vector<int>& chunk_layers) {
  std::vector<double> live(chunk_layers.size(), 0.0);
  double now = 0, peak = 0, layers = 0;
  for (int l : chunk_layers) layers += l;
  auto add = [&](int chunk, double d) {
    live[static_cast<size_t>(chunk)] += d;
    now += d * chunk_layers[static_cast<size_t>(chunk)];
    peak = std::max(peak, now);
  };
  for (const Task& t : tasks) {
    if (t.forward) add(t.chunk, 1);
    if (t.has_backward() && t.part != Part::kInput) add(t.backward_chunk(), -1);
  }
  return layers > 0 ? peak / layers : 0;
}

std::shared_ptr<const std::vector<std::vector<MegatronTraining::Task>>> MegatronTraining::make_schedules() const {
  const int pp = config_.pipeline_model_parallel_size;
  auto out = std::make_shared<std::vector<std::vector<Task>>>();
  for (int s = 0; s < pp; ++s) {
    out->push_back(schedule(config_.schedule(), pp, s, micro_batches_, chunks_,
                            config_.microbatch_group_size_per_virtual_pipeline_stage));
  }
  if (config_.defer_embedding_wgrad_compute) {
    // The output layer's first wgrad_deferral_limit backward passes (0: all) leave their weight gradients to the
    // flush (Megatron-core fills its grad_output_buffer while it holds fewer than the limit); a chunk's backward
    // passes go through its micro-batches in order.
    const auto [stage, chunk] = place_of(model_stages() - 1, 0);
    for (Task& t : (*out)[static_cast<size_t>(stage)]) {
      if (!t.forward && t.part == Part::kWhole && t.chunk == chunk && t.micro_batch < deferred_micro_batches()) {
        t.part = Part::kDeferOutput;
      }
    }
  }
  return out;
}

std::vector<MegatronTraining::Task> MegatronTraining::schedule(const std::string& kind, int stages, int stage,
                                                               int m, int chunks, int group) {
  if (kind == "dualpipe") return dualpipe(stages, stage, m);
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
  // Interleaved 1F1B (Narayanan et al. SC'21; Megatron's forward_backward_pipelining_with_interleaving): virtual
  // micro-batches in groups of G micro-batches (microbatch_group_size_per_vp_stage, default p), each group's
  // micro-batches on chunk 0, then chunk 1, ...; the last group takes the micro-batches left (Megatron-core's
  // get_schedule_table). With G = p and p dividing m the k-th is micro-batch (k / (p v)) p + k % p of chunk
  // (k / p) % v. Backward walks the same table with the chunks reversed. Warm-up: (p - stage - 1) x 2 + (v - 1) G.
  const int total = m * chunks, G = group > 0 ? group : stages;
  const int warmup = interleaved_warmup(stages, stage, m, chunks, group);
  std::vector<std::pair<int, int>> table;  // (micro-batch, chunk) of each virtual micro-batch
  for (int first = 0; first < m; first += G) {
    const int last = first + G >= m ? m : first + G;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      for (int i = first; i < last; ++i) table.push_back({i, chunk});
    }
  }
  auto f = [&](int k) { return Task{true, table[static_cast<size_t>(k)].first, table[static_cast<size_t>(k)].second}; };
  auto b = [&](int k) {
    return Task{false, table[static_cast<size_t>(k)].first, chunks - 1 - table[static_cast<size_t>(k)].second};
  };
  for (int k = 0; k < warmup; ++k) out.push_back(f(k));
  for (int i = 0; i < total - warmup; ++i) {
    out.push_back(f(warmup + i));
    out.push_back(b(i));
  }
  for (int k = total - warmup; k < total; ++k) out.push_back(b(k));
  return out;
}

int MegatronTraining::interleaved_warmup(int stages, int stage, int m, int chunks, int group) {
  return std::min(m * chunks, (stages - stage - 1) * 2 + (chunks - 1) * (group > 0 ? group : stages));
}

// The layers [first, last) of virtual stage v (plan_stage, the report).
std::pair<int, int> MegatronTraining::layer_range(int v) const {
  const int V = model_stages(), L = config_.model.num_layers;
  const int first = config_.decoder_first_pipeline_num_layers, last = config_.decoder_last_pipeline_num_layers;
  if (!config_.layout.empty()) {  // Megatron-core's layout: the transformer layers of the stages before, then its own
    int l0 = 0;
    for (int s = 0; s < v; ++s) l0 += config_.layout[static_cast<size_t>(s)].decoders;
    return {l0, l0 + config_.layout[static_cast<size_t>(v)].decoders};
  }
  if (config_.split_layers() != L) {
    // Megatron's account_for_embedding/loss_in_pipeline_split: the embedding and the loss take one layer's place
    // each at the two ends of an even split of split_layers() places; a chunk may be left with no layer.
    const int per = config_.split_layers() / V, shift = config_.account_for_embedding_in_pipeline_split ? 1 : 0;
    auto at = [&](int s) { return std::clamp(s * per - shift, 0, L); };
    return {at(v), v == V - 1 ? L : at(v + 1)};
  }
  // The first and last virtual stage may hold fewer layers (Megatron's uneven split; with interleaving lcsim
  // applies it to the first and last model chunk); the others share the rest evenly.
  const int special = (first > 0 ? 1 : 0) + (last > 0 ? 1 : 0);
  const int middle = V - special;
  const int per = middle > 0 ? (L - (first > 0 ? first : 0) - (last > 0 ? last : 0)) / middle : 0;
  auto start = [&](int s) {
    if (s <= 0) return 0;
    return std::min(L, (first > 0 ? first : per) + (s - 1) * per);
  };
  return {start(v), v == V - 1 ? L : start(v + 1)};
}

Bytes MegatronTraining::pipeline_send_bytes(int boundary) const {
  const auto& c = config_;
  const double tp = c.tensor_model_parallel_size, cp = c.context_parallel_size;
  const Bytes one = Bytes::of(1.0 * c.micro_batch_size * c.model.seq_length / cp * c.model.hidden_size * 2 / tp);
  return standalone_mtp() && boundary >= mtp_stage() ? one * (1.0 + c.model.mtp_num_layers) : one;
}

bool MegatronTraining::mtp_embedding_copy() const {
  const auto& c = config_;
  return c.model.mtp_num_layers > 0 && c.pipeline_model_parallel_size > 1 && !dualpipe_ &&
         (c.model.untie_embeddings_and_output_weights || standalone_mtp());
}

std::vector<int> MegatronTraining::embedding_stages() const {
  const auto& c = config_;
  const int pp = c.pipeline_model_parallel_size;
  std::vector<int> out = {0};
  if (pp > 1 && !c.model.untie_embeddings_and_output_weights) out.push_back(pp - 1);
  if (pp > 1 && !dualpipe_ && c.model.mtp_num_layers > 0) out.push_back(place_of(mtp_stage(), 0).first);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int MegatronTraining::mtp_stage() const {
  for (size_t v = 0; v < config_.layout.size(); ++v) {
    if (config_.layout[v].mtp > 0) return static_cast<int>(v);
  }
  return model_stages() - 1;
}

const char* MegatronTraining::op_word(policy::CollectiveOp op) {
  switch (op) {
    case policy::CollectiveOp::kAllReduce: return "all-reduce";
    case policy::CollectiveOp::kAllGather: return "all-gather";
    case policy::CollectiveOp::kReduceScatter: return "reduce-scatter";
    case policy::CollectiveOp::kAllToAll: return "all-to-all";
    case policy::CollectiveOp::kSendRecv: return "send/recv";
    default: return "collective";
  }
}

}  // namespace lcsim::wl
