// The run's timeline output (outputs.timeline_format): Chrome trace-event JSON (timeline.json) for small runs, a
// Perfetto protobuf trace (timeline.pftrace) for large ones, or `auto`: both are produced in memory until the JSON
// passes outputs.timeline_json_limit; a run that stays under it gets timeline.json, a larger one switches to
// streaming timeline.pftrace (what was buffered is written first) and drops the JSON. (The JSON writer hands its
// text over in 1 MiB pieces, so the switch comes within 1 MiB past the limit.) Memory in auto mode is bounded
// by the limit plus the protobuf's share of it (~1/3); json and protobuf stream with bounded memory throughout.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/trace.h"
#include "timeline/perfetto_writer.h"

namespace lcsim::timeline {

enum class Format { kJson, kProtobuf, kAuto };
/// "json", "protobuf", "auto" (the names outputs.timeline_format takes); false if none.
bool parse_format(const std::string& name, Format* format);

class TimelineSink final : public TraceSink {
 public:
  /// Opens an output file by name ("timeline.json", "timeline.pftrace"); it stays valid until close(). Throws on
  /// failure.
  using Opener = std::function<std::ostream&(const std::string& file)>;
  TimelineSink(Format format, uint64_t json_limit_bytes, Opener open, TimelineLayout layout,
               std::vector<SpanKind> kinds);
  ~TimelineSink() override;
  void on_span(const SpanEvent& e) override;
  void on_counter(const CounterEvent& e) override;
  /// Finishes the file; returns its name ("timeline.json" or "timeline.pftrace").
  std::string close();

 private:
  void switch_to_protobuf();

  Format format_;
  uint64_t limit_;
  Opener open_;
  std::ostringstream json_buf_, pf_buf_;  // auto mode, until the decision
  std::unique_ptr<TimelineWriter> json_;
  std::unique_ptr<PerfettoWriter> pf_;
  bool decided_ = false;
  std::string file_;
};

}  // namespace lcsim::timeline
