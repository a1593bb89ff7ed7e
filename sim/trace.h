// Observability: models and workloads emit typed events to a Tracer and never format or write anything; subscribers
// (the streaming timeline writer, the utilization sampler, a future GUI) attach to the Tracer and decide what to keep.
//
// Events:
//   SpanEvent:     a stretch of activity by one GPU rank (compute, communication, pipeline send, data-parallel
//                  reduction, host work) or one link (busy), with the job, the bytes moved and the FLOPs computed;
//                  `name` and `args` are detail that emitters fill only for ranks a subscriber wants in detail.
//   CounterEvent:  a sampled value over time (a link tier's utilization).
//   StateEvent:    a link went down or up or changed bandwidth, or a job moved to another phase (started,
//                  stopped, finished).
//   BusyEvent:     how long one GPU computed and communicated within a stretch of time (an iteration, a
//                  collective): what the energy meter integrates. Workloads emit it for every GPU they stand for,
//                  including ranks that symmetry or memoization did not simulate one by one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/units.h"

namespace lcsim {

/// What a span is: it decides the timeline row and category.
/// kPhase: a phase of the whole training run with failures (lost work, detection, diagnosis, waiting, swap,
/// restart, maintenance, checkpoint; scenarios/reliability.cc), one row per job ("rank" is the job id).
enum class SpanKind : uint8_t { kCompute, kComm, kPipeline, kDataParallel, kHost, kSend, kRecv, kLink, kPhase };
constexpr size_t kSpanKinds = 9;
/// The timeline row of a GPU span of this kind ("compute", "comm", "pp", "dp", "cpu", "send", "recv"; "busy" for
/// links; "phases" for a job's run phases).
const char* span_row(SpanKind kind);
/// Chrome trace-event category ("compute", "comm", "host", "link", "reliability").
const char* span_category(SpanKind kind);
/// The names users pick span kinds by (outputs.timeline_kinds): compute, comm, pp, dp, host, send, recv, links,
/// reliability.
const std::vector<std::string>& span_kind_names();
/// The kind of one of those names; false if it is none of them.
bool parse_span_kind(const std::string& name, SpanKind* kind);

/// One more dependency chain a span is a step of (see SpanEvent::flows).
struct FlowStep {
  uint64_t id = 0;
  bool in = false;   // this span waited on the chain's previous step
  bool out = false;  // the chain's next step waits on this span
};

struct SpanEvent {
  SpanKind kind = SpanKind::kCompute;
  uint32_t rank = 0;  // global GPU rank; for kLink the topology's link id; for kPhase the job id
  Duration start;
  Duration end;
  std::string_view name;  // what ran: "F3c1", "all-reduce 64MiB", "busy"
  uint32_t job = 0;
  double bytes = 0;  // moved (communication)
  double flops = 0;  // computed
  std::vector<std::pair<std::string, std::string>> args = {};  // extra detail for the timeline
  /// A dependency chain this span is a step of (0: none), e.g. one micro-batch's passes through the pipeline
  /// stages and the sends between them: the timeline draws an edge from each step with `flow_out` to the next step
  /// of the same chain (in time) with `flow_in` (Perfetto flow events). Emitters set it only for traced spans.
  uint64_t flow = 0;
  bool flow_in = false;   // this span waited on the chain's previous step
  bool flow_out = false;  // the chain's next step waits on this span
  /// Further chains beyond `flow`, for a span with several edges: a collective waits on every participant (one
  /// two-step chain per edge: the participant's step with `out`, the collective's with `in`). Written after `flow`
  /// (JSON: flow v1 "s"/"t"/"f" events beside the slice; protobuf: more `flow_ids` / `terminating_flow_ids`).
  std::vector<FlowStep> flows = {};
};

/// An attribute of a GPU rank's timeline lanes, or of a link's, that the timeline groups lanes by: "rack", "stage",
/// "plane", "job". Emitted once (before or after the lanes appear); writers attach it to every lane of that rank or
/// link.
struct LaneAttrEvent {
  bool link = false;  // `id` is the topology's link id, else a global GPU rank
  uint32_t id = 0;
  std::string key;
  std::string value;
};

/// A sampled value over time: one counter track per (group, name).
struct CounterEvent {
  std::string group;
  std::string name;
  Duration time;
  double value;
};

struct StateEvent {
  enum class What : uint8_t { kLinkDown, kLinkUp, kLinkBandwidth, kJobStarted, kJobStopped, kJobFinished };
  What what;
  uint32_t id = 0;  // the topology's link id, or the job id
  Duration time;
  double value = 0;  // kLinkBandwidth: bytes/s
  std::string_view name = {};
};

/// Within [start, end], GPU `rank` computed for `compute` and communicated (exposed: not hidden behind its own
/// compute) for `comm`; the rest of the stretch it was idle. Stretches of one rank do not overlap.
struct BusyEvent {
  uint32_t rank = 0;  // global GPU rank (a job's rank before its forwarder relabels it)
  uint32_t job = 0;
  Duration start = {};
  Duration end = {};
  Duration compute = {};
  Duration comm = {};
};

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void on_span(const SpanEvent&) {}
  virtual void on_counter(const CounterEvent&) {}
  virtual void on_state(const StateEvent&) {}
  virtual void on_busy(const BusyEvent&) {}
  virtual void on_lane_attr(const LaneAttrEvent&) {}
  /// Whether this subscriber wants spans (emitters skip building them when nobody does).
  virtual bool wants_spans() const { return true; }
};

class Tracer {
 public:
  void subscribe(TraceSink* sink) {
    sinks_.push_back(sink);
    spans_ = spans_ || sink->wants_spans();
  }
  /// Whether anyone wants spans: emitters build them only then.
  bool enabled() const { return spans_; }
  /// Whether anyone listens at all (states, busy accounting).
  bool has_subscribers() const { return !sinks_.empty(); }
  void span(const SpanEvent& e) const {
    flush();
    for (auto* s : sinks_) s->on_span(e);
  }
  void counter(const CounterEvent& e) const {
    flush();
    for (auto* s : sinks_) s->on_counter(e);
  }
  void state(const StateEvent& e) const {
    flush();
    for (auto* s : sinks_) s->on_state(e);
  }
  void busy(const BusyEvent& e) const {
    flush();
    for (auto* s : sinks_) s->on_busy(e);
  }
  void lane_attr(const LaneAttrEvent& e) const {
    flush();
    for (auto* s : sinks_) s->on_lane_attr(e);
  }

  /// A span held back until the tracer's next event (or flush()), so that whoever acts next at the same moment
  /// can still add flow steps to it (held_span()): a rank that ends a span and then joins a collective marks the
  /// span as what the collective waited on. Subscribers see every event in the order it came.
  void span_held(const SpanEvent& e) const;
  /// The held span, or null.
  SpanEvent* held_span() const { return held_.pending ? &held_.event : nullptr; }
  /// Hands the held span, if any, to the subscribers. Whoever emits with span_held() flushes when done.
  void flush() const {
    if (held_child_) flush_child();
    if (held_.pending) flush_held();
  }
  /// A job's own tracer forwards to the cluster's (`parent`): a span the job holds is handed on before any event
  /// of the parent's, so the parent's subscribers see events in the order they came.
  void set_parent(const Tracer* parent) { parent_ = parent; }

 private:
  struct Held {
    SpanEvent event;
    std::string name;  // the held span's own copy of its name
    bool pending = false;
  };
  void flush_held() const;
  void flush_child() const;
  std::vector<TraceSink*> sinks_;
  bool spans_ = false;
  mutable Held held_;
  const Tracer* parent_ = nullptr;
  mutable const Tracer* held_child_ = nullptr;  // a child tracer holding a span
};

/// Where spans go on the timeline: a GPU rank's node and index in it, a link's tier and name.
struct TimelineLayout {
  std::vector<std::pair<uint32_t, uint32_t>> gpu;     // rank -> (node, local index)
  std::function<std::pair<std::string, std::string>(uint32_t)> link;  // link id -> (tier, name)
};

/// Streams Chrome trace-event JSON (opens in Perfetto, ui.perfetto.dev, and chrome://tracing) as events arrive:
/// memory stays bounded by the number of tracks, not events. "X" events with microsecond timestamps; a process per
/// node ("node3") or link tier ("links (spine)"), a thread per row ("gpu5 compute", a link's name), numbered in
/// order of first appearance and named by metadata events written where they first appear. Numbers are written
/// with the shortest text that reads back as the same double.
class TimelineWriter final : public TraceSink {
 public:
  /// `kinds`: the span kinds to write (empty: all).
  TimelineWriter(std::ostream& out, TimelineLayout layout, std::vector<SpanKind> kinds = {});
  ~TimelineWriter() override;
  void on_span(const SpanEvent& e) override;
  void on_counter(const CounterEvent& e) override;
  /// Written as a "lane_attr" metadata event per lane of that rank or link ({"ph":"M","name":"lane_attr",
  /// "args":{"stage":"1"}}), which Perfetto ignores and lcsim's reader attaches to the lane.
  void on_lane_attr(const LaneAttrEvent& e) override;
  /// Writes the closing bracket; no events after it. Called by the destructor if not before.
  void close();
  uint64_t spans_written() const { return spans_; }

 private:
  int group_id(const std::string& group);
  std::pair<int, int> gpu_track(uint32_t rank, SpanKind kind);
  std::pair<int, int> link_track(uint32_t link);
  std::pair<int, int> phase_track(uint32_t job);
  int new_track(int pid, const std::string& name);
  void write_attr(int pid, int tid, const std::string& key, const std::string& value);
  void begin_event();
  void number(double v);
  void string(std::string_view s);

  std::ostream& out_;
  TimelineLayout layout_;
  std::string buf_;  // flushed to out_ in large writes
  bool first_ = true;
  bool closed_ = false;
  uint64_t spans_ = 0;
  std::vector<std::pair<std::string, int>> groups_;  // name -> pid (few: linear search is fastest)
  std::vector<std::vector<std::pair<int, int>>> gpu_tracks_;  // rank -> per kind (pid, tid), 0 = not yet
  std::map<uint32_t, std::pair<int, int>> link_tracks_;
  std::map<std::pair<bool, uint32_t>, std::vector<std::pair<std::string, std::string>>> attrs_;  // (link, id)
  std::map<uint32_t, std::pair<int, int>> phase_tracks_;
  int next_tid_ = 1;
  uint32_t kinds_mask_ = ~0u;
};

}  // namespace lcsim
