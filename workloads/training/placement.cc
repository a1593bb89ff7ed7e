#include "workloads/training/placement.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace lcsim::wl {

namespace {
std::vector<std::string> split_order(const std::string& order) {
  std::vector<std::string> out;
  std::stringstream ss(order);
  std::string tok;
  while (std::getline(ss, tok, '-')) out.push_back(tok);
  return out;
}
int dim_index(const std::string& t) {
  if (t == "tp") return 0;
  if (t == "cp") return 1;
  if (t == "dp") return 2;
  if (t == "pp") return 3;
  return -1;
}
}  // namespace

std::string Placement::check_order(const std::string& order) {
  std::set<std::string> seen;
  for (const auto& t : split_order(order)) {
    if (t != "ep" && dim_index(t) < 0) {
      return "unknown dimension '" + t + "' (allowed: tp, cp, ep, dp, pp, innermost first, joined by '-')";
    }
    if (!seen.insert(t).second) return "'" + t + "' appears twice";
  }
  for (const char* d : {"tp", "cp", "dp", "pp"}) {
    if (!seen.count(d)) return std::string("'") + d + "' is missing (every one of tp, cp, dp, pp must appear)";
  }
  return "";
}

Placement::Placement(int tp, int cp, int dp, int pp, int ep, const std::string& order, int etp)
    : tp_(tp), cp_(cp), dp_(dp), pp_(pp), ep_(ep), etp_(etp > 0 ? etp : tp), sizes_{tp, cp, dp, pp} {
  uint32_t stride = 1;
  for (const auto& t : split_order(order)) {
    const int d = dim_index(t);
    if (d < 0) continue;
    stride_[d] = stride;
    stride *= static_cast<uint32_t>(sizes_[d]);
  }
}

Coord Placement::coord(uint32_t r) const {
  auto at = [&](Dim d) { return static_cast<int>(r / stride_[static_cast<int>(d)] % sizes_[static_cast<int>(d)]); };
  return {at(Dim::kTp), at(Dim::kCp), at(Dim::kDp), at(Dim::kPp)};
}

uint32_t Placement::rank(const Coord& c) const {
  return c.tp * stride_[0] + c.cp * stride_[1] + c.dp * stride_[2] + c.pp * stride_[3];
}

std::vector<uint32_t> Placement::group(GroupKind kind, uint32_t r) const {
  const Coord me = coord(r);
  std::vector<uint32_t> out;
  auto vary = [&](std::initializer_list<Dim> dims) {
    // Every combination of the varied dimensions, the others fixed at this rank's coordinates.
    std::vector<Coord> cs{me};
    for (Dim d : dims) {
      std::vector<Coord> next;
      for (const Coord& c : cs) {
        for (int i = 0; i < size(d); ++i) {
          Coord x = c;
          (d == Dim::kTp ? x.tp : d == Dim::kCp ? x.cp : d == Dim::kDp ? x.dp : x.pp) = i;
          next.push_back(x);
        }
      }
      cs = std::move(next);
    }
    for (const Coord& c : cs) out.push_back(rank(c));
    std::sort(out.begin(), out.end());
  };
  // The experts' groups where they do not keep the dense split: the stage's ranks over TP x CP x DP in rank order,
  // index i, cut as Megatron-core's expert rank generator cuts them (tp-ep-dp-pp with the experts' sizes): expert TP
  // i / etp, TP x EP i / (etp x ep), EP the same TP x EP group and offset i % etp, expert DP i % (etp x ep).
  auto expert_group = [&](GroupKind k) {
    vary({Dim::kTp, Dim::kDp, Dim::kCp});
    const auto pos = static_cast<size_t>(std::find(out.begin(), out.end(), r) - out.begin());
    const size_t t = static_cast<size_t>(etp_), te = t * static_cast<size_t>(ep_);
    std::vector<uint32_t> g;
    for (size_t i = 0; i < out.size(); ++i) {
      const bool same = k == GroupKind::kEtp   ? i / t == pos / t
                        : k == GroupKind::kTpEp ? i / te == pos / te
                        : k == GroupKind::kEp   ? i / te == pos / te && i % t == pos % t
                                                : i % te == pos % te;  // kEdp
      if (same) g.push_back(out[i]);
    }
    out = std::move(g);
  };
  // Megatron's partial distributed optimizer: `whole`'s ranks (in order) cut into optimizer_instances_ consecutive
  // blocks (intra: this rank's block) or taken at this rank's offset in every block (inter).
  auto instances = [&](GroupKind whole, bool intra) {
    out = group(whole, r);
    const auto pos = static_cast<size_t>(std::find(out.begin(), out.end(), r) - out.begin());
    const size_t block = out.size() / static_cast<size_t>(optimizer_instances_);
    std::vector<uint32_t> g;
    for (size_t i = 0; i < out.size(); ++i) {
      if (intra ? i / block == pos / block : i % block == pos % block) g.push_back(out[i]);
    }
    out = std::move(g);
  };
  switch (kind) {
    case GroupKind::kDpCpIntra: instances(GroupKind::kDpCp, true); break;
    case GroupKind::kDpCpInter: instances(GroupKind::kDpCp, false); break;
    case GroupKind::kEdpIntra: instances(GroupKind::kEdp, true); break;
    case GroupKind::kEdpInter: instances(GroupKind::kEdp, false); break;
    case GroupKind::kTp: vary({Dim::kTp}); break;
    case GroupKind::kCp: vary({Dim::kCp}); break;
    case GroupKind::kDp: vary({Dim::kDp}); break;
    case GroupKind::kDpCp: vary({Dim::kDp, Dim::kCp}); break;
    case GroupKind::kPp: vary({Dim::kPp}); break;
    case GroupKind::kWorld: vary({Dim::kTp, Dim::kCp, Dim::kDp, Dim::kPp}); break;
    case GroupKind::kMp: vary({Dim::kTp, Dim::kPp}); break;
    case GroupKind::kTpEp: {
      if (etp_ != tp_) {
        expert_group(kind);
        break;
      }
      out = group(GroupKind::kEp, r);
      if (tp_ == 1) break;
      std::vector<uint32_t> all;
      for (uint32_t x : out) {
        Coord cx = coord(x);
        for (cx.tp = 0; cx.tp < tp_; ++cx.tp) all.push_back(rank(cx));
      }
      std::sort(all.begin(), all.end());
      out = std::move(all);
      break;
    }
    case GroupKind::kEtp:
      if (etp_ != tp_) {
        expert_group(kind);
      } else {
        vary({Dim::kTp});
      }
      break;
    case GroupKind::kCpA2a:
    case GroupKind::kCpP2p: {
      vary({Dim::kCp});  // by CP index: the ranks grow with it
      const auto a = static_cast<size_t>(std::max(1, cp_a2a_)), pos = static_cast<size_t>(me.cp);
      std::vector<uint32_t> g;
      for (size_t i = 0; i < out.size(); ++i) {
        if (kind == GroupKind::kCpA2a ? i / a == pos / a : i % a == pos % a) g.push_back(out[i]);
      }
      out = std::move(g);
      break;
    }
    case GroupKind::kEmbedding: {
      out.clear();
      for (const int s : embedding_stages_.empty() ? std::vector<int>{0, pp_ - 1} : embedding_stages_) {
        Coord at = me;
        at.pp = s;
        out.push_back(rank(at));
      }
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
      break;
    }
    case GroupKind::kMirror: {
      Coord other = me;
      other.pp = pp_ - 1 - me.pp;
      out = {r};
      if (other.pp != me.pp) out.push_back(rank(other));
      std::sort(out.begin(), out.end());
      break;
    }
    case GroupKind::kEp:
    case GroupKind::kEdp: {
      if (etp_ != tp_) {
        expert_group(kind);
        break;
      }
      // The ranks sharing (tp, pp), sorted, cut into runs of ep.
      vary({Dim::kDp, Dim::kCp});
      const auto pos = static_cast<size_t>(std::find(out.begin(), out.end(), r) - out.begin());
      const size_t e = static_cast<size_t>(ep_);
      std::vector<uint32_t> g;
      for (size_t i = 0; i < out.size(); ++i) {
        const bool same = kind == GroupKind::kEp ? i / e == pos / e : i % e == pos % e;
        if (same) g.push_back(out[i]);
      }
      out = std::move(g);
      break;
    }
  }
  return out;
}

const char* group_kind_name(GroupKind k) {
  switch (k) {
    case GroupKind::kTp: return "tp";
    case GroupKind::kCp: return "cp";
    case GroupKind::kDp: return "dp";
    case GroupKind::kDpCp: return "dp-cp";
    case GroupKind::kPp: return "pp";
    case GroupKind::kEp: return "ep";
    case GroupKind::kEdp: return "expert-dp";
    case GroupKind::kEmbedding: return "embedding";
    case GroupKind::kMirror: return "stage-copies";
    case GroupKind::kCpA2a: return "cp-a2a";
    case GroupKind::kCpP2p: return "cp-p2p";
    case GroupKind::kTpEp: return "tp-ep";
    case GroupKind::kEtp: return "expert-tp";
    case GroupKind::kDpCpIntra: return "dp-cp-intra";
    case GroupKind::kDpCpInter: return "dp-cp-inter";
    case GroupKind::kEdpIntra: return "expert-dp-intra";
    case GroupKind::kEdpInter: return "expert-dp-inter";
    case GroupKind::kWorld: return "world";
    case GroupKind::kMp: return "tp-pp";
  }
  return "?";
}

}  // namespace lcsim::wl
