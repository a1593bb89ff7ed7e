#include "models/network/mesh_rings.h"

#include <map>
#include <mutex>

namespace lcsim::net {
namespace {

// Depth-first search for edge-disjoint directed Hamiltonian cycles of the complete digraph on m vertices: cycles in
// lexicographic order, backtracking over earlier choices, within a budget of extension steps (beyond it, the
// most cycles found so far). Deterministic: no randomness, no dependence on timing.
class Search {
 public:
  explicit Search(uint32_t m) : m_(m), used_(m * m, 0), visited_(m, 0) {}

  std::vector<std::vector<uint32_t>> run() {
    extend();
    return best_;
  }

 private:
  static constexpr uint64_t kBudget = 200000;

  bool exhausted() const { return steps_ > kBudget; }
  char& used(uint32_t a, uint32_t b) { return used_[a * m_ + b]; }

  // Adds cycles to chosen_ until m - 1 are found (true) or every choice is exhausted.
  bool extend() {
    if (chosen_.size() > best_.size()) best_ = chosen_;
    if (chosen_.size() + 1 >= m_ || exhausted()) return true;
    path_.assign(1, 0);
    visited_.assign(m_, 0);
    visited_[0] = 1;
    return next_vertex();
  }

  // Grows path_ into a Hamiltonian cycle over unused links; for each one found, takes it and recurses.
  bool next_vertex() {
    const uint32_t last = path_.back();
    if (path_.size() == m_) {
      if (used(last, 0)) return false;
      const std::vector<uint32_t> cycle = path_;
      set_links(cycle, true);
      chosen_.push_back(cycle);
      if (extend()) return true;
      chosen_.pop_back();
      set_links(cycle, false);
      path_ = cycle;  // extend() reset the path: restore this level's state
      visited_.assign(m_, 1);
      return false;
    }
    for (uint32_t v = 1; v < m_; ++v) {
      if (++steps_ > kBudget) return false;
      if (visited_[v] || used(last, v)) continue;
      visited_[v] = 1;
      path_.push_back(v);
      if (next_vertex()) return true;
      path_.pop_back();
      visited_[v] = 0;
    }
    return false;
  }

  void set_links(const std::vector<uint32_t>& cycle, bool on) {
    for (size_t i = 0; i < cycle.size(); ++i) used(cycle[i], cycle[(i + 1) % cycle.size()]) = on ? 1 : 0;
  }

  uint32_t m_;
  std::vector<char> used_, visited_;  // flags (not vector<bool>: used() hands out references)
  std::vector<uint32_t> path_;
  std::vector<std::vector<uint32_t>> chosen_, best_;
  uint64_t steps_ = 0;
};

}  // namespace

const std::vector<std::vector<uint32_t>>& mesh_rings(uint32_t m) {
  static std::mutex mutex;
  static std::map<uint32_t, std::vector<std::vector<uint32_t>>> memo;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = memo.find(m);
  if (it == memo.end()) {
    std::vector<std::vector<uint32_t>> rings;
    if (m == 2) rings = {{0, 1}};
    else if (m > 2) rings = Search(m).run();
    it = memo.emplace(m, std::move(rings)).first;
  }
  return it->second;
}

}  // namespace lcsim::net
