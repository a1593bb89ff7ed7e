#include "models/failure/goodput.h"

#include <algorithm>

#include "sim/error.h"

namespace lcsim::failure {

RunOutcome step_run(const RunPlan& plan, const std::vector<Duration>& interruptions, Duration horizon) {
  LCSIM_ASSERT(std::is_sorted(interruptions.begin(), interruptions.end()), "interruptions must be sorted");
  RunOutcome out;
  Duration t;     // wall clock
  Duration done;  // compute safe in the last completed checkpoint (or finished)
  size_t next = 0;
  const bool checkpoints = plan.checkpoint_interval > Duration();
  // The next interruption strictly after `from`, or none.
  auto interruption_in = [&](Duration from, Duration until, Duration* at) {
    while (next < interruptions.size() && interruptions[next] < from) ++next;
    if (next < interruptions.size() && interruptions[next] < until) {
      *at = interruptions[next++];
      return true;
    }
    return false;
  };
  bool restarting = false;
  while (done < plan.work) {
    if (t >= horizon) {
      out.finished = false;
      break;
    }
    Duration at;
    if (restarting) {  // restore and re-initialise; an interruption now starts the restart over
      if (interruption_in(t, t + plan.restart, &at)) {
        out.restart_time += at - t;
        ++out.interruptions;
        t = at;
        continue;
      }
      out.restart_time += plan.restart;
      t = t + plan.restart;
      restarting = false;
      continue;
    }
    // One segment: compute up to the next checkpoint (or the end), then save it.
    const Duration segment = checkpoints ? std::min(plan.checkpoint_interval, plan.work - done) : plan.work - done;
    if (interruption_in(t, t + segment, &at)) {
      out.lost_work += at - t;
      ++out.interruptions;
      t = at;
      restarting = true;
      continue;
    }
    t = t + segment;
    if (checkpoints) {
      if (interruption_in(t, t + plan.checkpoint_save, &at)) {  // the save did not complete: the segment is lost
        out.checkpoint_time += at - t;
        out.lost_work += segment;
        ++out.interruptions;
        t = at;
        restarting = true;
        continue;
      }
      out.checkpoint_time += plan.checkpoint_save;
      t = t + plan.checkpoint_save;
      ++out.checkpoints;
    }
    done = done + segment;
  }
  out.wall = t;
  return out;
}

}  // namespace lcsim::failure
