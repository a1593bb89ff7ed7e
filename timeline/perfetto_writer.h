// Streams a run's spans and counters as a Perfetto protobuf trace (proto/perfetto_trace.proto: Perfetto's own field
// numbers), the compact timeline for large runs: it opens in ui.perfetto.dev and trace_processor like timeline.json,
// at about 0.55 of the JSON's bytes per span, and lcsim-gui reads it ~15 times faster (docs/performance.md). Memory stays bounded by the number of
// tracks: each packet is encoded by hand into a 1 MiB buffer and written out, never the whole trace.
//
// Tracks are the JSON writer's (sim/trace.h TimelineWriter): a parent track per node ("node3") or link tier ("links
// (spine)") or counter group, a child track per row ("gpu5 compute", a link's name) or counter, described where they
// first appear. A span is a SLICE_BEGIN and a SLICE_END packet written back to back, its args debug annotations;
// timestamps are nanoseconds computed exactly as a JSON reader computes them from timeline.json's microseconds, so
// both files read back to the same events (tests/timeline_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/trace.h"

namespace lcsim::timeline {

class PerfettoWriter final : public TraceSink {
 public:
  /// `kinds`: the span kinds to write (empty: all).
  PerfettoWriter(std::ostream& out, TimelineLayout layout, std::vector<SpanKind> kinds = {});
  ~PerfettoWriter() override;
  void on_span(const SpanEvent& e) override;
  void on_counter(const CounterEvent& e) override;
  void on_lane_attr(const LaneAttrEvent& e) override;
  /// Writes what is buffered; no events after it. Called by the destructor if not before.
  void close();
  /// From now on write to `out` (what is buffered goes to the old stream first).
  void redirect(std::ostream& out);
  uint64_t spans_written() const { return spans_; }

 private:
  uint64_t group_track(const std::string& group);
  uint64_t gpu_track(uint32_t rank, SpanKind kind);
  uint64_t link_track(uint32_t link);
  uint64_t phase_track(uint32_t job);
  uint64_t new_track(uint64_t parent, std::string_view name, bool counter);
  void packet(const std::string& body);
  void write_attr(uint64_t track, const std::string& key, const std::string& value);
  void flush_if_full();

  std::ostream* out_;
  TimelineLayout layout_;
  std::string buf_;
  std::string pkt_, ev_, ann_, body_;  // scratch buffers, reused
  bool closed_ = false;
  bool first_packet_ = true;
  uint64_t spans_ = 0;
  uint64_t next_uuid_ = 1;
  std::vector<std::pair<std::string, uint64_t>> groups_;  // name -> uuid (few: linear search)
  std::vector<std::vector<uint64_t>> gpu_tracks_;          // rank -> per kind uuid, 0 = not yet
  std::map<uint32_t, uint64_t> link_tracks_;
  std::map<uint32_t, uint64_t> phase_tracks_;
  std::map<std::pair<std::string, std::string>, uint64_t> counter_tracks_;
  std::map<std::pair<bool, uint32_t>, std::vector<std::pair<std::string, std::string>>> attrs_;  // (link, id)
  uint32_t kinds_mask_ = ~0u;
};

/// Nanoseconds from a time in seconds, computed as a reader of timeline.json computes them from its microseconds
/// (round(us * 1000)), so that the two formats agree to the nanosecond.
int64_t ns_from_seconds(double seconds);

}  // namespace lcsim::timeline
