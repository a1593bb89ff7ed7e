// The timeline of an `lcsim schedule` replay (--timeline DIR): per-job lanes (under "jobs", one counter track per
// job: the GPUs it holds, 0 from its submission to its start and after it finishes or is preempted) and per-pool
// lanes (under "pool", each pool's busy GPUs), written through the timeline sink (timeline.json, or a Perfetto protobuf trace past the
// JSON size limit), so it opens in ui.perfetto.dev and lcsim-gui. docs/scheduling.md.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "sim/trace.h"
#include "workloads/cluster/job_trace.h"

namespace lcsim::timeline {
class TimelineSink;
}

namespace lcsim::app {

class ScheduleTimeline final : public TraceSink {
 public:
  /// Writes `stem`.json (or `stem`.pftrace). `trace`: the jobs replayed (names and sizes of the lanes).
  ScheduleTimeline(const cluster::JobTrace& trace, std::string stem);
  ~ScheduleTimeline() override;
  void on_state(const StateEvent& e) override;
  void on_counter(const CounterEvent& e) override;
  /// Finishes the file; returns its path.
  std::string close();

 private:
  const cluster::JobTrace& trace_;
  std::string stem_;
  std::ofstream json_, pftrace_;
  std::unique_ptr<timeline::TimelineSink> sink_;
  std::vector<bool> seen_;  // per job: started before
};

}  // namespace lcsim::app
