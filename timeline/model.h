// A run's timeline in memory, whichever file it came from (timeline.json or timeline.pftrace): tracks grouped as
// the writers group them (a node, a link tier, a counter group), each with its slices sorted by start and its
// counter samples sorted by time. Shared by the tests, the load benchmark and lcsim-gui; no Qt.
//
// Slices are 24 bytes (names and categories interned, args in a side table) so that a 1 GB trace, ~10 M slices,
// fits in a few hundred MB. Each track keeps its longest slice, so the slices that overlap a time window are found
// by binary search (visible()), and the first slice starting at or after a time by first_at(): what the GUI's level
// of detail needs to jump over slices that would land on a pixel already drawn.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lcsim::timeline {

/// Times the readers accept, in ns either side of zero (about 73 years): a slice's end and the differences the views
/// take stay far inside int64. A file with a time beyond it is rejected as the file's error.
constexpr int64_t kMaxAbsTimeNs = int64_t{1} << 61;

struct Slice {
  int64_t start_ns = 0;
  int64_t dur_ns = 0;
  uint32_t name = 0;      // Trace::str()
  uint16_t category = 0;  // Trace::category_name()
  uint16_t pad = 0;
  uint32_t args = 0;  // 1 + index into Trace::args; 0: none
  int64_t end_ns() const { return start_ns + dur_ns; }
};

struct CounterSample {
  int64_t time_ns = 0;
  double value = 0;
};

struct Track {
  std::string group;  // "node3", "links (spine)", a counter group
  std::string name;   // "gpu5 compute", a link's name, a counter's name
  bool counter = false;
  std::vector<Slice> slices;           // sorted by start (then by end, then name) after Trace::finish()
  std::vector<CounterSample> samples;  // sorted by time
  int64_t max_dur_ns = 0;
  /// What the lane belongs to besides its group ("rack", "stage", "plane", "job"; lane_attr events), file order.
  /// A GPU's counter track takes the attributes of that GPU's lanes when the trace is read.
  std::vector<std::pair<std::string, std::string>> attrs = {};
  /// The value of attribute `key`, or empty.
  std::string attr(const std::string& key) const;
  /// Index range [first, last) of the slices that overlap [t0, t1].
  std::pair<size_t, size_t> visible(int64_t t0, int64_t t1) const;
  /// Index of the first slice starting at or after t (slices.size() if none) from `from` on.
  size_t first_at(int64_t t, size_t from = 0) const;
};

/// A slice by position: track index and index in its (sorted) slices.
struct SliceRef {
  uint32_t track = 0;
  uint32_t slice = 0;
  bool operator==(const SliceRef& o) const { return track == o.track && slice == o.slice; }
  bool operator!=(const SliceRef& o) const { return !(*this == o); }
  bool operator<(const SliceRef& o) const { return track != o.track ? track < o.track : slice < o.slice; }
};

/// A dependency edge read from the file's flow events: `to` waited on `from`.
struct FlowEdge {
  SliceRef from, to;
  uint64_t id = 0;  // the flow (chain) id in the file
};

class Trace {
 public:
  Trace();
  std::vector<Track> tracks;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> args;  // key, value (both Trace::str())
  std::string format;  // "json" or "protobuf"

  uint32_t intern(std::string_view s);
  const std::string& str(uint32_t id) const { return strings_[id]; }
  /// Categories have their own small table (at most 65,536; more all read as the last).
  uint16_t category(std::string_view s);
  const std::string& category_name(uint16_t id) const { return categories_[id]; }
  size_t string_count() const { return strings_.size(); }
  /// The track for (group, name), made on first use.
  size_t track(const std::string& group, const std::string& name, bool counter);
  /// The track for (group, name), or null.
  const Track* find(const std::string& group, const std::string& name, bool counter = false) const;
  /// Sorts every track and computes the time range; call once after reading.
  void finish();
  int64_t begin_ns() const { return begin_ns_; }
  int64_t end_ns() const { return end_ns_; }
  size_t slice_count() const;
  size_t sample_count() const;
  /// A slice's args as text pairs.
  std::vector<std::pair<std::string, std::string>> slice_args(const Slice& s) const;
  const Slice& slice(SliceRef r) const { return tracks[r.track].slices[r.slice]; }

  /// Readers: the slice just added to `track` (its last) is a step of flow `id` (it ends the flow's previous
  /// step's edge if `in`, starts one to the next step if `out`); resolved into `flows` by finish().
  void add_flow_step(uint64_t id, size_t track, bool in, bool out);
  /// The same for the slice at `slice` (its index in the track as read, before finish() sorts it).
  void add_flow_step(uint64_t id, size_t track, size_t slice, bool in, bool out);
  /// The dependency edges, sorted by (from, to); each links a step of a flow with `out` to the flow's next step in
  /// time if that one has `in`.
  std::vector<FlowEdge> flows;
  /// What `r` waited on (the sources of edges into it) and its dependents (the targets of edges out of it).
  std::vector<SliceRef> waited_on(SliceRef r) const;
  std::vector<SliceRef> dependents(SliceRef r) const;
  /// The slice on r's lane that ended last at or before r started (what it came after on its stream), if any.
  bool lane_predecessor(SliceRef r, SliceRef* out) const;

 private:
  std::vector<std::string> strings_;
  std::vector<std::string> categories_;
  struct Hash {  // lookups by string_view, without making a string
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> ids_;
  std::unordered_map<std::string, size_t> track_ids_;  // group + '\x1f' + name + counter flag
  void resolve_flows();
  void inherit_gpu_attrs();
  int64_t begin_ns_ = 0, end_ns_ = 0;
  struct FlowStep {
    uint64_t id;
    uint32_t track;
    int64_t start_ns, dur_ns;  // start_ns holds the slice's index until finish()
    uint32_t name;
    bool in, out;
  };
  std::vector<FlowStep> steps_;
  std::vector<uint32_t> by_to_;  // indices into flows sorted by (to, from)
};

/// The critical path ending at `end`: walking back from it, each step goes to the predecessor that finished last
/// (its lane predecessor or a slice it waited on by a flow edge; a flow edge wins a tie), i.e. the one that decided
/// when it could start; stops at a slice with no predecessor or one that ended before `since_ns`. Earliest first,
/// `end` last. With every wait on the timeline (compute lanes and the flows between them) this is the longest path
/// over the dependency DAG that ends at `end`.
std::vector<SliceRef> critical_path(const Trace& trace, SliceRef end, int64_t since_ns = INT64_MIN);

/// Reads timeline.json (Chrome trace events as lcsim writes them: "X", "C", "B"/"E" and "M" events; others are
/// skipped). Throws InputError naming the file and what is wrong.
Trace read_json_timeline(const std::string& path);
/// Reads a Perfetto protobuf trace (track descriptors, slice begin/end and counter track events; other packets are
/// skipped). Throws InputError naming the file and the byte offset of a broken packet.
Trace read_perfetto_timeline(const std::string& path);
/// Either format, told by the file's first byte ('{' or '[': JSON).
Trace read_timeline(const std::string& path);
/// The timeline file of a run's output folder: timeline.pftrace if there is one, else timeline.json; empty if none.
std::string find_timeline(const std::string& run_dir);

}  // namespace lcsim::timeline
