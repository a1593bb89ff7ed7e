#include "workloads/inference/kv_cache.h"

#include "sim/error.h"

namespace lcsim::inf {

const std::vector<std::string>& eviction_policy_names() {
  static const std::vector<std::string> names = {"lru", "fifo", "lfu"};
  return names;
}

KvTier::KvTier(std::string name, uint64_t capacity_blocks, std::string eviction, double bandwidth_bytes_per_s,
               double latency_s, bool persistent)
    : name_(std::move(name)),
      capacity_(capacity_blocks),
      policy_(eviction == "lru" ? 0 : eviction == "fifo" ? 1 : 2),
      bandwidth_(bandwidth_bytes_per_s),
      latency_(latency_s),
      persistent_(persistent) {
  LCSIM_ASSERT(eviction == "lru" || eviction == "fifo" || eviction == "lfu", "unknown eviction policy " + eviction);
}

KvTier::Key KvTier::key(uint64_t id, const Entry& e) const {
  if (policy_ == 0) return {0, e.last_use, id};
  if (policy_ == 1) return {0, e.stored, id};
  return {e.freq, e.last_use, id};
}

void KvTier::touch(uint64_t id) {
  auto it = entries_.find(id);
  LCSIM_ASSERT(it != entries_.end(), "touch of a block the tier does not hold");
  order_.erase(key(id, it->second));
  ++it->second.freq;
  it->second.last_use = ++clock_;
  order_.insert(key(id, it->second));
}

bool KvTier::insert(uint64_t id, uint64_t* victim) {
  if (capacity_ == 0) return false;
  if (contains(id)) {
    touch(id);
    return false;
  }
  bool evicted = false;
  if (entries_.size() >= capacity_) {
    const Key first = *order_.begin();
    *victim = std::get<2>(first);
    order_.erase(order_.begin());
    entries_.erase(*victim);
    ++evictions;
    evicted = true;
  }
  Entry e;
  e.freq = 1;
  e.last_use = e.stored = ++clock_;
  entries_[id] = e;
  order_.insert(key(id, e));
  return evicted;
}

void KvTier::erase(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  order_.erase(key(id, it->second));
  entries_.erase(it);
}

std::vector<uint64_t> KvTier::eviction_order() const {
  std::vector<uint64_t> out;
  for (const Key& k : order_) out.push_back(std::get<2>(k));
  return out;
}

void PrefixCache::put(size_t tier, uint64_t id) {
  for (size_t t = tier; t < tiers_.size(); ++t) {
    if (tiers_[t]->capacity() == 0) continue;
    uint64_t victim = 0;
    if (!tiers_[t]->insert(id, &victim)) return;
    // The victim spills to the next tier that is on (or is dropped after the last).
    id = victim;
  }
}

PrefixCache::Lookup PrefixCache::lookup(const std::vector<uint64_t>& ids) {
  Lookup out;
  out.per_tier.assign(tiers_.size(), 0);
  looked_up += ids.size();
  for (uint64_t id : ids) {
    size_t t = 0;
    while (t < tiers_.size() && !tiers_[t]->contains(id)) ++t;
    if (t == tiers_.size()) break;
    ++out.blocks;
    ++out.per_tier[t];
    ++tiers_[t]->hits;
    tiers_[t]->touch(id);
    if (t > 0) {
      if (!tiers_[t]->persistent()) tiers_[t]->erase(id);
      put(0, id);
    }
  }
  for (size_t t = 1; t < tiers_.size(); ++t) {
    if (out.per_tier[t] == 0) continue;
    out.load_s += tiers_[t]->latency() + out.per_tier[t] * block_bytes_ / tiers_[t]->bandwidth();
  }
  return out;
}

void PrefixCache::store(const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) put(0, id);
}

}  // namespace lcsim::inf
