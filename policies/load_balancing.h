// Load-balancing policies: which of the equal-cost paths a flow takes. Pure functions of the flow and the
// candidate set (no engine headers), so a real control plane can call the same code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/registry.h"
#include "sim/rng.h"

namespace lcsim::policy {

/// What a switch's hash sees of a flow: endpoints and a label (e.g. the collective channel / QP number, as
/// collective libraries open several connections between the same pair).
struct FlowKey {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint64_t label = 0;
};

/// A share of a flow's bytes sent over one candidate path.
struct PathShare {
  uint32_t path_index;
  double fraction;
};

/// What a load-aware policy may read of the network: how busy a link is now (flows in flight on it).
class LinkLoads {
 public:
  virtual ~LinkLoads() = default;
  virtual double load(uint32_t link) const = 0;
};

using Path = std::vector<uint32_t>;  // link ids

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  /// Splits a flow over the equal-cost candidate `paths` (at least one); fractions sum to 1. `loads` may be null
  /// (then load-aware policies fall back to hashing).
  virtual void choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
                      std::vector<PathShare>& out) const = 0;
  /// Whether a flow's shares move at one rate (per-packet splitting: every path's share arrives together), rather
  /// than as independent sub-flows that each get their own fair rate. Only meaningful for equal shares.
  virtual bool one_rate() const { return false; }
  /// Whether choose() reads `loads` (so the same flow may take another path when the network is busier): a
  /// policy that does not is a function of the flow and its candidate paths, which lets a transfer model reuse
  /// a batch's routes.
  virtual bool reads_loads() const { return false; }
};

/// Per-flow ECMP: a seeded hash of (src, dst, label) picks one path; collisions are what they are.
class EcmpHash final : public LoadBalancer {
 public:
  explicit EcmpHash(uint64_t hash_seed) : rng_(hash_seed) {}
  void choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
              std::vector<PathShare>& out) const override;

 private:
  RngFactory rng_;
};

/// Per-packet spraying, modelled as the flow split evenly over every equal-cost path.
class Spray final : public LoadBalancer {
 public:
  /// `max_paths` > 0: each flow is sprayed over that many of its paths (consecutive, from a hashed start), as
  /// when a NIC sprays over a limited set of queue pairs; 0: over every path.
  /// `independent_paths`: each path's share is its own max-min flow (shares on lightly loaded paths finish
  /// early), the model before Dec 2026; otherwise the shares move at one rate (one_rate()).
  explicit Spray(int max_paths = 0, uint64_t hash_seed = 0, bool independent_paths = false)
      : max_paths_(max_paths), independent_paths_(independent_paths), rng_(hash_seed) {}
  void choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
              std::vector<PathShare>& out) const override;
  bool one_rate() const override { return !independent_paths_; }

 private:
  int max_paths_;
  bool independent_paths_;
  RngFactory rng_;
};

/// Static pinning (destination-mod-k, as fat-tree routing tables do): the path is a function of the
/// destination alone, whatever the flow.
class Pinned final : public LoadBalancer {
 public:
  void choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
              std::vector<PathShare>& out) const override;
};

/// Adaptive (flowlet-style, decided at flow start): the path whose busiest link carries the fewest flows now;
/// ties broken by the ECMP hash, so equal states give equal choices.
class Adaptive final : public LoadBalancer {
 public:
  explicit Adaptive(uint64_t hash_seed) : rng_(hash_seed) {}
  void choose(const FlowKey& key, const std::vector<Path>& paths, const LinkLoads* loads,
              std::vector<PathShare>& out) const override;
  bool reads_loads() const override { return true; }

 private:
  RngFactory rng_;
};

/// Every load-balancing policy's own keys (a typed slot, as SST's subcomponent parameters): each policy declares
/// only those it reads. Written as `policies.load_balancing: {type: spray, max_paths: 4}`; a bare name takes
/// every default.
struct LoadBalancerParams {
  int64_t hash_seed = 0;  // ecmp, spray, adaptive: the hash's seed; 0 = derived from simulation.seed
  int max_paths = 0;      // spray: paths each flow is sprayed over; 0 = all
  bool independent_paths = false;  // spray: each path's share its own max-min flow (flow fidelity)
  bool operator==(const LoadBalancerParams&) const = default;
};

/// A registered policy: how to read its keys and how to build it. `seed` is the hash seed derived from the
/// scenario's seed (used unless hash_seed is set).
struct LoadBalancerFactory {
  void (*visit)(Section& s, LoadBalancerParams& p);
  std::unique_ptr<LoadBalancer> (*make)(const LoadBalancerParams& p, uint64_t seed);
};
void register_load_balancers(Registry<LoadBalancerFactory>& r);

}  // namespace lcsim::policy
