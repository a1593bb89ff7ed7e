#include "workloads/rendezvous.h"

#include <algorithm>

namespace lcsim::wl {

std::vector<uint32_t> members_not_in(const std::vector<uint32_t>& members, std::vector<uint32_t> arrived) {
  std::sort(arrived.begin(), arrived.end());
  std::vector<uint32_t> out;
  for (uint32_t m : members) {
    if (!std::binary_search(arrived.begin(), arrived.end(), m)) out.push_back(m);
  }
  return out;
}

std::string member_list(const std::vector<uint32_t>& members, size_t shown) {
  std::string out;
  for (size_t i = 0; i < members.size() && i < shown; ++i)
    out += (i ? ", " : "") + std::to_string(members[i]);
  if (members.size() > shown) out += " and " + std::to_string(members.size() - shown) + " more";
  return out;
}

}  // namespace lcsim::wl
