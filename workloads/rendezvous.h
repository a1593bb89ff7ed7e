// Rendezvous: where the members of a group wait for one another (the ranks of a communicator each issuing its
// k-th collective, every rank finishing its backward pass) and, once the last one has arrived, go on together
// with what each of them brought. Groups are named by a key; nothing here knows about time or the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::wl {

/// What a member brings when there is nothing to bring.
struct NoValue {};

/// Members of `members` not in `arrived`, in the order of `members`.
std::vector<uint32_t> members_not_in(const std::vector<uint32_t>& members, std::vector<uint32_t> arrived);

/// "3, 5, 9 and 12 more": members for a message, the first `shown` of them named.
std::string member_list(const std::vector<uint32_t>& members, size_t shown = 8);

/// Groups named by `Key` (ordered with std::less), each waiting for a number of members. A group opens with
/// its first arrival and closes with its last: every arrival, in arrival order, goes to the callback of the
/// arrival that completed it, and the key is free again (a communicator's next collective may use it). Each
/// member arrives at most once per group.
template <typename Key, typename Value = NoValue>
class Rendezvous {
 public:
  struct Arrival {
    uint32_t member;
    Value value;
  };
  using Arrivals = std::vector<Arrival>;

  /// `member` arrives at group `key`, which waits for `expected` members, bringing `value`. The last arrival
  /// closes the group and calls `all_arrived(Arrivals)` before returning; the group is closed by then, so the
  /// callback may arrive here again. Earlier arrivals return at once. True when this arrival closed the
  /// group.
  template <typename AllArrived>
  bool arrive(const Key& key, uint32_t member, Value value, size_t expected, AllArrived&& all_arrived) {
    auto it = open_.try_emplace(key).first;
    it->second.push_back({member, std::move(value)});
    if (it->second.size() < expected) return false;
    Arrivals arrivals = std::move(it->second);
    open_.erase(it);
    std::forward<AllArrived>(all_arrived)(std::move(arrivals));
    return true;
  }

  /// Those of `members` that have not arrived at group `key`, in the order of `members` (all of them when the
  /// group is not open): who a deadlocked rank waits for.
  std::vector<uint32_t> missing(const Key& key, const std::vector<uint32_t>& members) const {
    auto it = open_.find(key);
    if (it == open_.end()) return members;
    std::vector<uint32_t> here;
    here.reserve(it->second.size());
    for (const auto& a : it->second) here.push_back(a.member);
    return members_not_in(members, std::move(here));
  }
  /// Members that arrived at group `key` so far; 0 when it is not open.
  size_t arrived(const Key& key) const {
    auto it = open_.find(key);
    return it == open_.end() ? 0 : it->second.size();
  }
  /// Groups with some but not all of their members.
  size_t open_groups() const { return open_.size(); }
  /// Forgets every open group and what their members brought.
  void clear() { open_.clear(); }

 private:
  std::map<Key, Arrivals> open_;
};

}  // namespace lcsim::wl
