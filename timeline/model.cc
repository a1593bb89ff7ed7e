#include "timeline/model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sim/error.h"

namespace lcsim::timeline {

std::pair<size_t, size_t> Track::visible(int64_t t0, int64_t t1) const {
  // A slice overlapping [t0, t1] starts at or after t0 - max_dur and before or at t1.
  const auto lo = std::lower_bound(slices.begin(), slices.end(), t0 - max_dur_ns,
                                   [](const Slice& s, int64_t t) { return s.start_ns < t; });
  const auto hi = std::upper_bound(lo, slices.end(), t1, [](int64_t t, const Slice& s) { return t < s.start_ns; });
  return {static_cast<size_t>(lo - slices.begin()), static_cast<size_t>(hi - slices.begin())};
}

size_t Track::first_at(int64_t t, size_t from) const {
  from = std::min(from, slices.size());
  return static_cast<size_t>(std::lower_bound(slices.begin() + static_cast<std::ptrdiff_t>(from), slices.end(), t,
                                              [](const Slice& s, int64_t v) { return s.start_ns < v; }) -
                             slices.begin());
}

Trace::Trace() {
  intern("");
  category("");
}

uint32_t Trace::intern(std::string_view s) {
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  ids_.emplace(strings_.back(), id);
  return id;
}

uint16_t Trace::category(std::string_view s) {
  for (size_t i = 0; i < categories_.size(); ++i) {
    if (categories_[i] == s) return static_cast<uint16_t>(i);
  }
  if (categories_.size() > 65535) return 65535;
  categories_.emplace_back(s);
  return static_cast<uint16_t>(categories_.size() - 1);
}

size_t Trace::track(const std::string& group, const std::string& name, bool counter) {
  std::string k = group;
  k += '\x1f';
  k += name;
  k += counter ? 'c' : 's';
  auto it = track_ids_.find(k);
  if (it != track_ids_.end()) return it->second;
  tracks.push_back(Track{group, name, counter, {}, {}, 0});
  track_ids_.emplace(std::move(k), tracks.size() - 1);
  return tracks.size() - 1;
}

const Track* Trace::find(const std::string& group, const std::string& name, bool counter) const {
  auto it = track_ids_.find(group + '\x1f' + name + (counter ? 'c' : 's'));
  return it == track_ids_.end() ? nullptr : &tracks[it->second];
}

std::string Track::attr(const std::string& key) const {
  for (const auto& [k, v] : attrs) {
    if (k == key) return v;
  }
  return "";
}

void Trace::add_flow_step(uint64_t id, size_t track, bool in, bool out) {
  add_flow_step(id, track, tracks[track].slices.size() - 1, in, out);
}

void Trace::add_flow_step(uint64_t id, size_t track, size_t slice, bool in, bool out) {
  // Its place for now; finish() takes its start, length and name once they are final (a protobuf slice gets its
  // length at its end event).
  steps_.push_back({id, static_cast<uint32_t>(track), static_cast<int64_t>(slice), 0, 0, in, out});
}

void Trace::finish() {
  for (auto& st : steps_) {
    const Slice& s = tracks[st.track].slices[static_cast<size_t>(st.start_ns)];
    st.start_ns = s.start_ns;
    st.dur_ns = s.dur_ns;
    st.name = s.name;
  }
  bool any = false;
  int64_t lo = 0, hi = 0;
  for (auto& t : tracks) {
    // Stable: slices with the same start and length keep the file's order, the same in both formats.
    // (Writers emit a lane's slices in time order: checking first skips the sort.)
    const auto by_start = [](const Slice& a, const Slice& b) {
      return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.dur_ns < b.dur_ns;
    };
    if (!std::is_sorted(t.slices.begin(), t.slices.end(), by_start)) {
      std::stable_sort(t.slices.begin(), t.slices.end(), by_start);
    }
    const auto by_time = [](const CounterSample& a, const CounterSample& b) { return a.time_ns < b.time_ns; };
    if (!std::is_sorted(t.samples.begin(), t.samples.end(), by_time)) {
      std::stable_sort(t.samples.begin(), t.samples.end(), by_time);
    }
    t.max_dur_ns = 0;
    for (const auto& s : t.slices) {
      t.max_dur_ns = std::max(t.max_dur_ns, s.dur_ns);
      lo = any ? std::min(lo, s.start_ns) : s.start_ns;
      hi = any ? std::max(hi, s.end_ns()) : s.end_ns();
      any = true;
    }
    for (const auto& c : t.samples) {
      lo = any ? std::min(lo, c.time_ns) : c.time_ns;
      hi = any ? std::max(hi, c.time_ns) : c.time_ns;
      any = true;
    }
  }
  begin_ns_ = lo;
  end_ns_ = hi;
  inherit_gpu_attrs();
  resolve_flows();
}

void Trace::inherit_gpu_attrs() {
  // A GPU's counters ("gpu3 HBM (GB)" in "node1") take the attributes of that GPU's lanes ("gpu3 compute" in
  // "node1": stage, rack, job), so that views grouped by them put the counters with the GPU's lanes. The writers
  // attach lane attributes to GPU lanes only (a counter event names its track, not its rank).
  std::unordered_map<std::string, const Track*> gpus;  // group + '\x1f' + "gpu3" -> a lane of it with attributes
  const auto gpu_of = [](const std::string& name) {
    if (name.compare(0, 3, "gpu") != 0) return std::string();
    const size_t sp = name.find(' ');
    if (sp == std::string::npos || sp == 3 || name.find_first_not_of("0123456789", 3) != sp) return std::string();
    return name.substr(0, sp);
  };
  for (const auto& t : tracks) {
    if (t.counter || t.attrs.empty()) continue;
    const std::string gpu = gpu_of(t.name);
    if (!gpu.empty()) gpus.emplace(t.group + '\x1f' + gpu, &t);
  }
  if (gpus.empty()) return;
  for (auto& t : tracks) {
    if (!t.counter || !t.attrs.empty()) continue;
    const std::string gpu = gpu_of(t.name);
    if (gpu.empty()) continue;
    auto it = gpus.find(t.group + '\x1f' + gpu);
    if (it != gpus.end()) t.attrs = it->second->attrs;
  }
}

void Trace::resolve_flows() {
  // Each step to its slice's place after sorting (same start, length and name on its track).
  struct Placed {
    uint64_t id;
    int64_t start_ns;
    SliceRef ref;
    bool in, out;
  };
  std::vector<Placed> placed;
  placed.reserve(steps_.size());
  for (const auto& st : steps_) {
    const Track& t = tracks[st.track];
    for (size_t i = t.first_at(st.start_ns); i < t.slices.size() && t.slices[i].start_ns == st.start_ns; ++i) {
      if (t.slices[i].dur_ns == st.dur_ns && t.slices[i].name == st.name) {
        placed.push_back({st.id, st.start_ns, {st.track, static_cast<uint32_t>(i)}, st.in, st.out});
        break;
      }
    }
  }
  steps_.clear();
  steps_.shrink_to_fit();
  // A flow's steps in time order (ties: by lane): each step with `out` leads to the next one if it has `in`. A
  // step that ends the flow (`in` only) comes after every step that goes on (Perfetto's terminating_flow_ids ends
  // the flow where it is): a collective's edge from a participant that arrived after the collective began on this
  // rank still links the two.
  std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    if (a.id != b.id) return a.id < b.id;
    if (a.out != b.out) return a.out;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.ref < b.ref;
  });
  flows.clear();
  for (size_t i = 0; i + 1 < placed.size(); ++i) {
    if (placed[i].id == placed[i + 1].id && placed[i].out && placed[i + 1].in) {
      flows.push_back({placed[i].ref, placed[i + 1].ref, placed[i].id});
    }
  }
  std::sort(flows.begin(), flows.end(), [](const FlowEdge& a, const FlowEdge& b) {
    return a.from != b.from ? a.from < b.from : a.to < b.to;
  });
  // Edges by (to, from), sorted by value (one key per edge) rather than through the index.
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, uint32_t>> keyed(flows.size());
  const auto key = [](SliceRef r) { return static_cast<uint64_t>(r.track) << 32 | r.slice; };
  for (uint32_t i = 0; i < flows.size(); ++i) keyed[i] = {{key(flows[i].to), key(flows[i].from)}, i};
  std::sort(keyed.begin(), keyed.end());
  by_to_.resize(flows.size());
  for (uint32_t i = 0; i < by_to_.size(); ++i) by_to_[i] = keyed[i].second;
}

std::vector<SliceRef> Trace::waited_on(SliceRef r) const {
  std::vector<SliceRef> out;
  auto it = std::lower_bound(by_to_.begin(), by_to_.end(), r,
                             [this](uint32_t e, const SliceRef& x) { return flows[e].to < x; });
  for (; it != by_to_.end() && flows[*it].to == r; ++it) out.push_back(flows[*it].from);
  return out;
}

std::vector<SliceRef> Trace::dependents(SliceRef r) const {
  std::vector<SliceRef> out;
  auto it = std::lower_bound(flows.begin(), flows.end(), r,
                             [](const FlowEdge& e, const SliceRef& x) { return e.from < x; });
  for (; it != flows.end() && it->from == r; ++it) out.push_back(it->to);
  return out;
}

bool Trace::lane_predecessor(SliceRef r, SliceRef* out) const {
  const Track& t = tracks[r.track];
  const int64_t start = t.slices[r.slice].start_ns;
  // Slices sorted by start: the nearest earlier ones; skip a few that overlap r (nested detail), take the latest end.
  bool found = false;
  int64_t best = 0;
  size_t looked = 0;
  for (size_t i = r.slice; i-- > 0 && looked < 64; ++looked) {
    const Slice& s = t.slices[i];
    if (s.end_ns() > start) continue;
    if (!found || s.end_ns() > best) {
      found = true;
      best = s.end_ns();
      *out = {r.track, static_cast<uint32_t>(i)};
    }
    if (found && s.end_ns() == start) break;
  }
  return found;
}

std::vector<SliceRef> critical_path(const Trace& trace, SliceRef end, int64_t since_ns) {
  std::vector<SliceRef> path{end};
  SliceRef cur = end;
  const size_t limit = trace.slice_count();  // every step goes to an earlier end: no cycles, but be safe
  while (path.size() <= limit) {
    SliceRef best{};
    bool found = false;
    int64_t best_end = 0;
    for (const SliceRef& f : trace.waited_on(cur)) {
      const int64_t e = trace.slice(f).end_ns();
      if (!found || e > best_end || (e == best_end && f < best)) best = f, best_end = e, found = true;
    }
    SliceRef lane;
    if (trace.lane_predecessor(cur, &lane)) {
      const int64_t e = trace.slice(lane).end_ns();
      if (!found || e > best_end) best = lane, best_end = e, found = true;
    }
    if (!found || best_end < since_ns) break;
    path.push_back(best);
    cur = best;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

size_t Trace::slice_count() const {
  size_t n = 0;
  for (const auto& t : tracks) n += t.slices.size();
  return n;
}

size_t Trace::sample_count() const {
  size_t n = 0;
  for (const auto& t : tracks) n += t.samples.size();
  return n;
}

std::vector<std::pair<std::string, std::string>> Trace::slice_args(const Slice& s) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (s.args == 0) return out;
  for (const auto& [k, v] : args[s.args - 1]) out.push_back({str(k), str(v)});
  return out;
}

Trace read_timeline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read timeline '" + path + "'");
  char c = 0;
  while (in.get(c) && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
  }
  if (c == '{' || c == '[') return read_json_timeline(path);
  return read_perfetto_timeline(path);
}

std::string find_timeline(const std::string& run_dir) {
  namespace fs = std::filesystem;
  for (const char* f : {"timeline.pftrace", "timeline.json"}) {
    const fs::path p = fs::path(run_dir) / f;
    if (fs::exists(p)) return p.string();
  }
  return "";
}

}  // namespace lcsim::timeline
