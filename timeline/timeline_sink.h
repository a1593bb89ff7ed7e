// The run's timeline output (outputs.timeline_format): Chrome trace-event JSON (timeline.json) for small runs, a
// Perfetto protobuf trace (timeline.pftrace) for large ones, or `auto`: the JSON streams to timeline.json while the
// events so far are logged in a compact form (no protobuf is encoded), until the JSON passes
// outputs.timeline_json_limit; a run that stays under it keeps timeline.json (the log is dropped), so auto costs
// what json costs; a larger one switches to streaming timeline.pftrace (the log is replayed into it first: the file
// is byte for byte what protobuf would have written) and the caller deletes the partial timeline.json (close()
// names the file chosen). A run that can be run again keeps no log: past the limit the caller reruns it with
// protobuf (set_rerun_past_limit). (The JSON writer hands its text over in 1 MiB pieces, so the switch comes within 1 MiB
// past the limit, or at close().) Memory in auto mode is bounded by the log's share of the limit: 48 bytes per
// event, plus each distinct name-and-arguments text once (a run repeats few), against ~130 bytes of JSON per span;
// json and protobuf stream with bounded memory throughout.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
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
  void on_lane_attr(const LaneAttrEvent& e) override;
  /// false: drops the per-GPU counters (those in a node's group, "node3": HBM, power, queued inputs;
  /// outputs.timeline_counters); other counters (link utilization) stay.
  void set_gpu_counters(bool on) { gpu_counters_ = on; }
  /// Finishes the file; returns its name ("timeline.json" or "timeline.pftrace").
  std::string close();
  /// Auto mode for a run that can be run again in this process (the queue engine: deterministic, no SimGrid):
  /// no log is kept; when the JSON passes the limit (during the run or at close()), the sink throws
  /// RerunAsProtobuf and the caller runs the scenario again with the protobuf format, which writes what a switch
  /// would have (the same events in the same order). The log cost about as many instructions as the JSON itself
  /// (~70M of a 175B-layout run, docs/performance-training.md). Not derived from std::exception: nothing on the
  /// way up turns it into an error.
  struct RerunAsProtobuf {};
  void set_rerun_past_limit(bool on) { rerun_ = on; }

 private:
  void switch_to_protobuf();
  void past_limit_rerun();  // rerun mode: throws RerunAsProtobuf once the JSON is past the limit

  Format format_;
  uint64_t limit_;
  Opener open_;
  // Counts what the JSON writer hands over, on its way to the file (auto mode decides on it).
  class CountingBuf final : public std::streambuf {
   public:
    explicit CountingBuf(std::streambuf* target) : target_(target) {}
    uint64_t count() const { return count_; }

   protected:
    std::streamsize xsputn(const char* s, std::streamsize n) override {
      count_ += static_cast<uint64_t>(n);
      return target_->sputn(s, n);
    }
    int_type overflow(int_type c) override {
      if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
      ++count_;
      return target_->sputc(traits_type::to_char_type(c));
    }
    int sync() override { return target_->pubsync(); }

   private:
    std::streambuf* target_;
    uint64_t count_ = 0;
  };
  std::unique_ptr<CountingBuf> json_count_;
  std::unique_ptr<std::ostream> json_out_;
  // Auto mode, until the decision: every event so far, to replay into the protobuf writer at the switch. Each
  // event's text (span name and arguments, or counter group and name) is interned: a run repeats few of them.
  struct Logged {
    Duration start, end;          // counters: start is the time
    double bytes = 0, flops = 0;  // counters: bytes is the value
    uint32_t rank = 0, job = 0;
    uint32_t text = 0;            // index into texts_
    SpanKind kind = SpanKind::kCompute;
    bool counter = false;
    bool flow_in = false, flow_out = false;  // the span's dependency edges (SpanEvent::flow)
    uint64_t flow = 0;
  };
  static constexpr size_t kBlock = 4096;  // events per block of the log (blocks are never moved or copied)
  void log(const Logged& l);
  uint32_t intern();  // the id of scratch_'s text
  void clear_log();
  std::vector<std::unique_ptr<Logged[]>> blocks_;
  std::vector<std::pair<size_t, FlowStep>> more_flows_;  // a logged span's further chains (SpanEvent::flows)
  std::vector<std::pair<size_t, LaneAttrEvent>> lane_attrs_;  // lane attributes, before the logged event of that index
  size_t logged_ = 0;
  std::string scratch_;  // the text being interned: pieces, each a 4-byte length and its bytes
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<const std::string*> texts_;  // by id (keys of ids_: stable)
  TimelineLayout layout_;           // auto mode: for the protobuf writer made at the switch
  std::vector<SpanKind> kinds_;
  std::unique_ptr<TimelineWriter> json_;
  std::unique_ptr<PerfettoWriter> pf_;
  bool decided_ = false;
  bool gpu_counters_ = true;
  bool rerun_ = false;
  std::string file_;
};

}  // namespace lcsim::timeline
