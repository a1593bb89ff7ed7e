// The policy API on the wire: ClusterSnapshot and Decisions to and from their protobuf messages
// (proto/policy_api.proto), so that a policy server and a real control plane speak the simulator's types.
#pragma once

#include "policies/scheduling.h"
#include "proto/policy_api.pb.h"

namespace lcsim::policy {

void to_proto(const ClusterSnapshot& s, policy_api::ClusterSnapshot* out);
ClusterSnapshot from_proto(const policy_api::ClusterSnapshot& s);
void to_proto(const Decisions& d, policy_api::Decisions* out);
Decisions from_proto(const policy_api::Decisions& d);

/// Why a snapshot from outside cannot be scheduled (an index out of range, more free GPUs than GPUs, a
/// placement on a node that does not exist), or "" when it can. Policies index by these fields unchecked.
std::string snapshot_problem(const ClusterSnapshot& s);

}  // namespace lcsim::policy
