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
  auto it = ids_.find(std::string(s));
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

void Trace::finish() {
  bool any = false;
  int64_t lo = 0, hi = 0;
  for (auto& t : tracks) {
    // Stable: slices with the same start and length keep the file's order, the same in both formats.
    std::stable_sort(t.slices.begin(), t.slices.end(), [](const Slice& a, const Slice& b) {
      return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.dur_ns < b.dur_ns;
    });
    std::stable_sort(t.samples.begin(), t.samples.end(),
                     [](const CounterSample& a, const CounterSample& b) { return a.time_ns < b.time_ns; });
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
