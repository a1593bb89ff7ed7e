// Typed simulation events (a span of work on a track) go to a Tracer; recorders subscribe to it. The timeline
// recorder writes Chrome trace-event JSON, which opens in Perfetto (ui.perfetto.dev) and chrome://tracing.
// Models never write files; the front end decides which recorders exist.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/units.h"

namespace lcsim {

/// A stretch of activity on one track: `group` is the process row (e.g. "node0"), `track` the thread row
/// within it (e.g. "gpu3 compute").
struct SpanEvent {
  std::string group;
  std::string track;
  std::string name;
  std::string category;  // "compute", "comm", "link", ...
  Duration start;
  Duration end;
  std::vector<std::pair<std::string, std::string>> args;
};

/// A sampled value over time (e.g. a link tier's utilization): one counter track per (group, name).
struct CounterEvent {
  std::string group;
  std::string name;
  Duration time;
  double value;
};

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void on_span(const SpanEvent& e) = 0;
  virtual void on_counter(const CounterEvent&) {}
};

class Tracer {
 public:
  void subscribe(TraceSink* sink) { sinks_.push_back(sink); }
  bool enabled() const { return !sinks_.empty(); }
  void span(const SpanEvent& e) const {
    for (auto* s : sinks_) s->on_span(e);
  }
  void counter(const CounterEvent& e) const {
    for (auto* s : sinks_) s->on_counter(e);
  }

 private:
  std::vector<TraceSink*> sinks_;
};

/// Collects spans and writes them as Chrome trace-event JSON ("X" events, microsecond timestamps, one pid
/// per group and one tid per track, numbered in order of first appearance).
class TimelineRecorder final : public TraceSink {
 public:
  void on_span(const SpanEvent& e) override;
  void on_counter(const CounterEvent& e) override;
  std::string to_json() const;
  size_t span_count() const { return spans_.size(); }

 private:
  struct Track {
    int pid;
    int tid;
  };
  std::vector<std::pair<Track, SpanEvent>> spans_;
  std::vector<std::pair<int, CounterEvent>> counters_;  // pid, event
  std::map<std::string, int> groups_;
  std::map<std::pair<int, std::string>, int> tracks_;
  std::vector<std::string> group_names_;
  std::vector<std::pair<std::pair<int, int>, std::string>> track_names_;
};

}  // namespace lcsim
