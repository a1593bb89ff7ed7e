#include "apps/schedule_timeline.h"

#include <cstdio>

#include "sim/error.h"
#include "timeline/timeline_sink.h"

namespace lcsim::app {

ScheduleTimeline::ScheduleTimeline(const cluster::JobTrace& trace, std::string stem)
    : trace_(trace), stem_(std::move(stem)), seen_(trace.jobs.size(), false) {
  // Only counter tracks: a counter's group names its lane group, so jobs get a group of their own.
  TimelineLayout layout;
  layout.link = [](uint32_t) { return std::make_pair(std::string(), std::string()); };
  timeline::TimelineSink::Opener open = [this](const std::string& file) -> std::ostream& {
    const bool pf = file == "timeline.pftrace";
    std::ofstream& out = pf ? pftrace_ : json_;
    const std::string path = stem_ + (pf ? ".pftrace" : ".json");
    out.open(path, std::ios::binary);
    if (!out) throw InputError("cannot write the timeline " + path);
    return out;
  };
  sink_ = std::make_unique<timeline::TimelineSink>(timeline::Format::kAuto, 256ull << 20, std::move(open), layout,
                                                   std::vector<SpanKind>{});
}

ScheduleTimeline::~ScheduleTimeline() = default;

void ScheduleTimeline::on_state(const StateEvent& e) {
  if (e.what != StateEvent::What::kJobStarted && e.what != StateEvent::What::kJobStopped &&
      e.what != StateEvent::What::kJobFinished)
    return;
  if (e.id >= trace_.jobs.size()) return;
  const auto& j = trace_.jobs[e.id];
  const std::string lane = "job " + std::to_string(e.id) + " (" + std::to_string(j.gpus) + " GPUs" +
                           (j.workload.empty() ? "" : j.kind == cluster::JobKind::kInference ? ", serving" : ", workload") + ")";
  if (e.what == StateEvent::What::kJobStarted && !seen_[e.id]) {
    // The lane starts at the job's submission, at 0 GPUs: the gap to its first start is its queueing delay.
    seen_[e.id] = true;
    sink_->on_counter({"jobs", lane, Duration::seconds(j.submit_s), 0});
  }
  sink_->on_counter({"jobs", lane, e.time, e.what == StateEvent::What::kJobStarted ? double(j.gpus) : 0.0});
}

void ScheduleTimeline::on_counter(const CounterEvent& e) { sink_->on_counter(e); }

std::string ScheduleTimeline::close() {
  const std::string file = sink_->close();
  json_.close();
  pftrace_.close();
  // The sink switched to protobuf past the JSON limit: the partial JSON goes.
  if (file == "timeline.pftrace") std::remove((stem_ + ".json").c_str());
  return stem_ + (file == "timeline.pftrace" ? ".pftrace" : ".json");
}

}  // namespace lcsim::app
