// Rank placement for Megatron-style parallelism: rank r of the job runs on GPU r of the cluster (GPUs numbered
// node by node), and r decomposes into tensor (tp), context (cp), data (dp) and pipeline (pp) coordinates in a
// configurable order, innermost first. Megatron-LM's default "tp-cp-ep-dp-pp" keeps tensor parallelism inside a
// node (the scale-up domain) and gives the k-th GPU of every node the same tp coordinate, so data-parallel and
// pipeline traffic between nodes stays on one rail.
// Expert parallelism is carved out of the data-parallel ranks, as Megatron does for expert layers: the ranks that
// share (tp, pp) are sorted by rank and cut into blocks of ep consecutive ranks (the EP groups); ranks at the same
// offset in their blocks form the expert-data-parallel group that reduces expert gradients.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lcsim::wl {

enum class Dim { kTp = 0, kCp = 1, kDp = 2, kPp = 3 };

/// Communicator kinds a rank belongs to.
/// kEmbedding: the first and last stage (or the stages set_embedding_stages gives); kMirror: stages s and PP-1-s (DualPipe's two copies of a stage).
// kCpA2a, kCpP2p: hierarchical context parallelism's two levels (cp_comm_type a2a+p2p,
// hierarchical_context_parallel_sizes [A, P]): the A consecutive CP ranks of the all-to-all, the P ranks A apart of
// the ring (Megatron-core's create_hierarchical_groups: the first size innermost).
// kTpEp: the experts' TP x EP group (Megatron-core's tp_ep_group: the allgather token dispatcher's), the EP group
// itself where the experts fold over TP. kEtp: the experts' own tensor-parallel group (Megatron-core's expt_tp_group:
// the alltoall dispatcher gathers the routed tokens over it), the TP group where the experts keep the dense split.
// kDpCpIntra, kDpCpInter, kEdpIntra, kEdpInter: Megatron's partial distributed optimizer
// (num_distributed_optimizer_instances N > 1; set_optimizer_instances): the DP x CP group (the expert-DP group) cut
// into N consecutive blocks, one optimizer instance each (intra), and the ranks at the same offset in every block
// (inter; parallel_state's intra_partial_data_parallel_group_with_cp and create_hierarchical_groups over the
// expert-DP group). With N = 1 the intra group is the whole group and the inter group the rank alone.
enum class GroupKind {
  kTp, kCp, kDp, kDpCp, kPp, kEp, kEdp, kEmbedding, kMirror, kCpA2a, kCpP2p, kTpEp, kEtp,
  kDpCpIntra, kDpCpInter, kEdpIntra, kEdpInter,
  kWorld,  // every rank of the job (Megatron's rerun check, the distributed optimizer's gradient statistics)
  kMp      // Megatron's model-parallel group: the TP x PP ranks of one data-parallel and context-parallel coordinate
};
inline constexpr size_t kGroupKinds = 19;

struct Coord {
  int tp = 0, cp = 0, dp = 0, pp = 0;
  int operator[](Dim d) const { return d == Dim::kTp ? tp : d == Dim::kCp ? cp : d == Dim::kDp ? dp : pp; }
};

class Placement {
 public:
  /// `order` lists tp, cp, dp, pp (and optionally ep, which only marks Megatron's spelling) innermost first,
  /// separated by '-'. Returns an error message for a bad order string, empty if fine.
  static std::string check_order(const std::string& order);
  Placement() = default;
  /// etp: the experts' tensor parallelism (expert_tensor_parallel_size; 0 = tp). Equal to tp, the experts keep the
  /// dense split: the EP groups are drawn from the DP x CP ranks that share a TP rank. Otherwise (MoE parallel
  /// folding: 1 under TP > 1, or any other size) the stage's ranks over TP x CP x DP, in rank order, are cut as
  /// Megatron-core's expert rank generator cuts them (its order tp-ep-dp-pp with the experts' own sizes): runs of etp
  /// consecutive ranks are the expert TP groups, etp x ep the TP x EP groups, and within one of those the ranks at
  /// the same offset in the expert TP groups are an EP group.
  Placement(int tp, int cp, int dp, int pp, int ep, const std::string& order, int etp = 0);

  int size() const { return tp_ * cp_ * dp_ * pp_; }
  int size(Dim d) const { return sizes_[static_cast<int>(d)]; }
  int ep() const { return ep_; }
  Coord coord(uint32_t rank) const;
  uint32_t rank(const Coord& c) const;
  /// The ranks of `rank`'s communicator of this kind, sorted.
  std::vector<uint32_t> group(GroupKind kind, uint32_t rank) const;
  /// Hierarchical context parallelism: the size of its all-to-all level (kCpA2a; 1: none).
  void set_cp_a2a(int a2a) { cp_a2a_ = a2a; }
  /// The pipeline ranks of the embedding group (kEmbedding; default: the first and the last).
  void set_embedding_stages(std::vector<int> stages) { embedding_stages_ = std::move(stages); }
  /// Megatron's distributed optimizer instances (kDpCpIntra ... kEdpInter; 1: one instance over the whole group).
  void set_optimizer_instances(int n) { optimizer_instances_ = std::max(1, n); }

 private:
  int tp_ = 1, cp_ = 1, dp_ = 1, pp_ = 1, ep_ = 1, cp_a2a_ = 1, optimizer_instances_ = 1;
  int etp_ = 1;  // the experts' tensor parallelism (expert_tensor_parallel_size; tp_ where they keep the dense split)
  std::vector<int> embedding_stages_;  // empty: {0, PP - 1}
  std::array<int, 4> sizes_{1, 1, 1, 1};
  std::array<uint32_t, 4> stride_{1, 1, 1, 1};
};

const char* group_kind_name(GroupKind k);

}  // namespace lcsim::wl
