// KV-cache prefix reuse across tiers, Mooncake style: prompts are cut into fixed blocks (512 tokens in the Mooncake
// traces), each named by a hash of its content and everything before it (the trace's hash_ids), so equal ids mean an
// equal prefix. A request reuses the longest run of its leading blocks that some tier holds; blocks below HBM are
// loaded first (bytes / the tier's bandwidth to the GPUs, plus its latency). After a request, its prompt's blocks are
// stored in HBM; a full tier evicts by its policy and the victim spills to the next tier (HBM -> host DRAM -> local
// SSD -> a pooled remote store shared by every instance); the last tier drops it. A hit in DRAM or SSD moves the
// block up to HBM; a hit in the pool copies it (the pool is persistent and shared).
// Eviction: lru (least recently used), fifo (oldest stored), lfu (fewest hits, then least recently used). Victims are
// chosen from ordered keys, never from hash-map order: runs are reproducible.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace lcsim::inf {

const std::vector<std::string>& eviction_policy_names();  // lru, fifo, lfu

/// One tier's blocks and eviction order. Capacity in blocks (0: the tier is off).
class KvTier {
 public:
  KvTier(std::string name, uint64_t capacity_blocks, std::string eviction, double bandwidth_bytes_per_s,
         double latency_s, bool persistent);
  const std::string& name() const { return name_; }
  bool contains(uint64_t id) const { return entries_.count(id) != 0; }
  /// Marks a hit (recency and frequency).
  void touch(uint64_t id);
  /// Stores a block; returns the victim evicted to make room (true), or false when nothing was evicted.
  bool insert(uint64_t id, uint64_t* victim);
  void erase(uint64_t id);
  uint64_t size() const { return entries_.size(); }
  uint64_t capacity() const { return capacity_; }
  double bandwidth() const { return bandwidth_; }
  double latency() const { return latency_; }
  bool persistent() const { return persistent_; }
  /// Blocks in eviction order, first to go first (for tests and reports).
  std::vector<uint64_t> eviction_order() const;

  uint64_t hits = 0, evictions = 0;

 private:
  using Key = std::tuple<uint64_t, uint64_t, uint64_t>;  // (priority, order, id): the smallest goes first
  struct Entry {
    uint64_t freq = 0, last_use = 0, stored = 0;
  };
  Key key(uint64_t id, const Entry& e) const;

  std::string name_;
  uint64_t capacity_;
  int policy_;  // 0 lru, 1 fifo, 2 lfu
  double bandwidth_, latency_;
  bool persistent_;
  uint64_t clock_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;  // looked up only; order comes from order_
  std::set<Key> order_;
};

/// The tiers one instance sees, fastest first; the last may be shared with other instances.
class PrefixCache {
 public:
  explicit PrefixCache(std::vector<KvTier*> tiers, double block_bytes) : tiers_(std::move(tiers)), block_bytes_(block_bytes) {}
  struct Lookup {
    uint32_t blocks = 0;                 // leading blocks found
    std::vector<uint32_t> per_tier;      // of which in each tier
    double load_s = 0;  // uncontended estimate: per tier, latency + bytes / bandwidth (kv_fetch.h moves them)
  };
  /// The longest run of leading `ids` the tiers hold; moves (or copies) the hits to the first tier.
  Lookup lookup(const std::vector<uint64_t>& ids);
  /// Stores `ids` in the first tier, spilling victims down.
  void store(const std::vector<uint64_t>& ids);
  uint64_t looked_up = 0;  // blocks asked for
  const std::vector<KvTier*>& tiers() const { return tiers_; }
  double block_bytes() const { return block_bytes_; }

 private:
  void put(size_t tier, uint64_t id);
  std::vector<KvTier*> tiers_;
  double block_bytes_;
};

}  // namespace lcsim::inf
