// Ring orders on a switchless full mesh (AMD Infinity Fabric / xGMI): rings that share no link, so that the
// channels of a ring collective carry traffic on every link at once (RCCL lays its MI300X rings out this way:
// per-channel ring orders over the 7 links of each GPU, docs/validation-nccl.md).
#pragma once

#include <cstdint>
#include <vector>

namespace lcsim::net {

/// Directed Hamiltonian cycles over local indices 0..m-1 of a full mesh, no two using the same directed link, as
/// many as a deterministic backtracking search finds (m - 1 where it finds a full decomposition: m = 2, 3, 5, 7, 8,
/// 9, 10, 11; two for m = 4 and four for m = 6, where none exists (Tillson, 1980)). Each cycle starts at 0. m = 2:
/// the one cycle 0 -> 1 -> 0; m = 1: none. Computed once per m; safe from several threads.
const std::vector<std::vector<uint32_t>>& mesh_rings(uint32_t m);

}  // namespace lcsim::net
