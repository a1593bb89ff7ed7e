#include "models/hardware/collective_calibration.h"

namespace lcsim::hw {

void CollectiveProtocolCalibration::visit(Section& s) {
  s.field("name", name, "the protocol's name (NCCL's ll, ll128, simple, or nvls for NVLS's own)");
  s.field("base_latency", base_latency, "fixed latency of one collective phase with this protocol",
          Range::at_least(0));
  s.field("step_latency", step_latency, "latency of each algorithm step with this protocol", Range::at_least(0));
  s.field("scale_up_efficiency", scale_up_efficiency, "fraction of scale-up bandwidth this protocol reaches",
          Range::fraction());
  s.field("intra_node_only", intra_node_only, "only for calls inside one node (calibrated inside a node only)");
  s.values("algorithms", algorithms, "the collective algorithms that run with it; empty = every algorithm");
  s.field("chunk_channels", chunk_channels,
          "NVLS only: channels a call is split over (NCCL's nvlsChannels); 0 = two steps", Range::at_least(0));
  s.field("max_chunk", max_chunk, "NVLS only: largest chunk per channel and GPU per round (NCCL_NVLS_CHUNKSIZE)",
          Range::positive());
  s.field("floor_latency", floor_latency, "NVLS only: the least time a call takes (launch and synchronisation); 0 = none",
          Range::at_least(0));
  if (s.mode() == Section::Mode::kParse && name.empty()) s.error("name", "must not be empty");
}

void CollectiveCalibration::visit(Section& s) {
  s.list("protocols", "NCCL-style protocols measured on this part's scale-up domain", protocols,
         [](Section& x, CollectiveProtocolCalibration& p) { p.visit(x); });
  s.field("p2p_scale_up_efficiency", p2p_scale_up_efficiency,
          "fraction of scale-up bandwidth a send/recv reaches; 0 = not calibrated", Range::between(0, 1));
  s.field("all_to_all_scale_out_efficiency", all_to_all_scale_out_efficiency,
          "fraction of the NIC's line rate an all-to-all's traffic between nodes reaches (NCCL's grouped sends to "
          "every peer, measured on this part's servers); 0 = not calibrated",
          Range::between(0, 1));
  s.field("all_gather_scale_up_factor", all_gather_scale_up_factor,
          "the fraction of the protocols' scale-up efficiency (fitted on all-reduce) NCCL's all-gather kernels reach "
          "inside a node, measured on this part; 0 = not calibrated (1)",
          Range::between(0, 1));
  s.field("reduce_scatter_scale_up_factor", reduce_scatter_scale_up_factor,
          "the same for reduce-scatter; 0 = not calibrated (1)", Range::between(0, 1));
  s.field("source", source, "where the numbers come from (docs/calibration.md cites each)");
  if (s.mode() != Section::Mode::kParse || protocols.empty()) return;
  bool rings_across_nodes = false;
  for (const auto& p : protocols) {
    bool rings = p.algorithms.empty();
    for (const auto& a : p.algorithms) rings = rings || a == "ring";
    rings_across_nodes = rings_across_nodes || (!p.intra_node_only && rings);
  }
  if (!rings_across_nodes) s.error("protocols", "one protocol must run rings across nodes (not intra_node_only)");
}

}  // namespace lcsim::hw
