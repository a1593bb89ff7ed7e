#include "models/failure/recovery.h"

#include <algorithm>
#include <array>

#include "sim/error.h"

namespace lcsim::failure {

void RecoveryConfig::visit(Section& s) {
  s.field("heartbeat", heartbeat, "detection of a dead node or GPU by missed heartbeats / health agent (assumed)",
          Range::at_least(0));
  s.field("collective_timeout", collective_timeout,
          "detection of a fault that stalls a collective (network): PyTorch's NCCL timeout, 10 min by default",
          Range::at_least(0));
  s.field("hang_detector", hang_detector, "detection of a software hang: no progress for this long (assumed)",
          Range::at_least(0));
  s.field("diagnosis", diagnosis, "localising the faulty node after detection (assumed)", Range::at_least(0));
  s.field("diagnosis_success", diagnosis_success, "share of faults the quick diagnosis localises (assumed)",
          Range::between(0, 1));
  s.field("diagnosis_fallback", diagnosis_fallback,
          "extra time when the quick diagnosis fails (stress tests, bisection; assumed)", Range::at_least(0));
  s.field("swap", swap, "bringing a hot spare node into the job (assumed)", Range::at_least(0));
}

Duration RecoveryConfig::detection(Detector d) const {
  switch (d) {
    case Detector::kHeartbeat: return heartbeat;
    case Detector::kCollectiveTimeout: return collective_timeout;
    case Detector::kHangDetector: return hang_detector;
  }
  return heartbeat;
}

const char* phase_name(Phase p) {
  static constexpr std::array<const char*, 9> n{"lost work", "detection", "diagnosis", "waiting for a spare",
                                                 "swap in spare", "waiting for repair", "restart",
                                                 "maintenance", "checkpoint"};
  return n[static_cast<size_t>(p)];
}

namespace {

class Stepper {
 public:
  Stepper(const JobPlan& plan, const std::vector<Interruption>& events, RandomStream& rng)
      : plan_(plan), events_(events), rng_(rng) {
    out_.by_cause.resize(plan.causes);
  }

  JobOutcome run(Duration horizon) {
    interval_ = plan_.checkpoint_interval;
    const bool checkpoints = interval_ > Duration();
    while (done_ < plan_.work) {
      if (t_ >= horizon) {
        out_.finished = false;
        break;
      }
      if (failing_) {
        recover();
        continue;
      }
      const Duration segment =
          checkpoints ? std::min(interval_, plan_.work - done_) : plan_.work - done_;
      if (const Interruption* e = find(t_, t_ + segment, true)) {
        if (e->false_alarm) {
          false_alarm(*e);
        } else if (e->predicted) {
          predicted_save(t_, *e);
        } else if (e->planned && checkpoints) {
          maintenance_stop(*e);
        } else {
          lose(e->at - t_, e->cause);
          span(Phase::kLost, t_, e->at, e->cause);
          interrupted(*e);
        }
        continue;
      }
      const Duration begin = t_;
      t_ += segment;
      if (checkpoints) {
        if (const Interruption* e = find(t_, t_ + plan_.checkpoint_save, false)) {  // the save did not complete
          if (e->predicted) {  // announced: the job saved earlier instead
            predicted_save(begin, *e);
            continue;
          }
          out_.checkpoint_time += e->at - t_;
          lose(segment, e->cause);
          span(Phase::kLost, begin, t_, e->cause);
          span(Phase::kCheckpoint, t_, e->at, e->cause);
          interrupted(*e);
          continue;
        }
        span(Phase::kCheckpoint, t_, t_ + plan_.checkpoint_save, 0);
        out_.checkpoint_time += plan_.checkpoint_save;
        t_ += plan_.checkpoint_save;
        ++out_.checkpoints;
      }
      done_ += segment;
    }
    out_.wall = t_;
    out_.last_interval = interval_;
    return std::move(out_);
  }

 private:
  /// The first event at or after `from` and before `until`, consuming it; events before `from` (they came while
  /// the job was already down or saving) and, unless `planned`, maintenance stops are absorbed.
  const Interruption* find(Duration from, Duration until, bool planned) {
    while (next_ < events_.size() && events_[next_].at < until) {
      const Interruption& e = events_[next_++];
      if (e.prevented) {
        ++out_.prevented;
        continue;
      }
      if (e.at < from || ((e.planned || e.false_alarm) && !planned)) continue;
      return &e;
    }
    return nullptr;
  }

  void lose(Duration d, uint16_t cause) {
    out_.lost_work += d;
    if (cause < out_.by_cause.size()) out_.by_cause[cause].lost_work += d;
  }

  void span(Phase p, Duration a, Duration b, uint16_t cause) {
    if (plan_.keep_spans && b > a && out_.spans.size() < plan_.max_spans) out_.spans.push_back({p, a, b, cause});
  }

  void interrupted(const Interruption& e) {
    ++out_.interruptions;
    if (plan_.adapt && interval_ > Duration()) interval_ = std::max(Duration::seconds(1), plan_.adapt(out_.interruptions, e.at));
    if (e.cause < out_.by_cause.size()) ++out_.by_cause[e.cause].interruptions;
    t_ = e.at;
    failing_ = &e;
  }

  /// Announced: checkpoint what was computed so far, stop for the maintenance, restart. Loses nothing.
  void maintenance_stop(const Interruption& e) {
    done_ += e.at - t_;
    t_ = e.at;
    ++out_.planned;
    ++out_.checkpoints;
    const std::array<std::pair<Phase, Duration>, 3> phases{
        {{Phase::kCheckpoint, plan_.checkpoint_save}, {Phase::kMaintenance, e.repair}, {Phase::kRestart, plan_.restart}}};
    for (const auto& [p, d] : phases) {
      span(p, t_, t_ + d, e.cause);
      add(p, d, e.cause);
      t_ += d;
    }
  }

  /// A predicted failure at e.at: the job computed from `begin` (its last checkpoint) until a save that ends at
  /// the failure, then recovers from it having lost nothing.
  void predicted_save(Duration begin, const Interruption& e) {
    const Duration start = std::max(begin, e.at - plan_.checkpoint_save);
    done_ += start - begin;
    out_.checkpoint_time += e.at - start;
    span(Phase::kCheckpoint, start, e.at, e.cause);
    ++out_.checkpoints;
    ++out_.predicted;
    interrupted(e);
  }

  /// A false alarm: the job saves a checkpoint at once, then goes on.
  void false_alarm(const Interruption& e) {
    done_ += e.at - t_;
    t_ = e.at;
    span(Phase::kCheckpoint, t_, t_ + plan_.checkpoint_save, 0);
    out_.checkpoint_time += plan_.checkpoint_save;
    t_ += plan_.checkpoint_save;
    ++out_.checkpoints;
    ++out_.false_alarms;
  }

  void add(Phase p, Duration d, uint16_t cause) {
    switch (p) {
      case Phase::kDetection: out_.detection += d; break;
      case Phase::kDiagnosis: out_.diagnosis += d; break;
      case Phase::kWaitSpare: out_.wait_spare += d; break;
      case Phase::kSwap: out_.swap += d; break;
      case Phase::kWaitRepair: out_.wait_repair += d; break;
      case Phase::kRestart: out_.restart += d; break;
      case Phase::kMaintenance: out_.maintenance += d; break;
      case Phase::kCheckpoint: out_.checkpoint_time += d; break;
      case Phase::kLost: break;
    }
    if (cause < out_.by_cause.size()) out_.by_cause[cause].downtime += d;
  }

  /// From the failure at t_ to computing again; a failure during it starts the recovery over from its detection.
  void recover() {
    const Interruption& e = *failing_;
    failing_ = nullptr;
    const RecoveryConfig& r = plan_.recovery;
    std::vector<std::pair<Phase, Duration>> phases;
    phases.push_back({Phase::kDetection, r.detection(e.detector)});
    Duration diag = r.diagnosis;
    if (rng_.uniform() >= r.diagnosis_success) {
      diag += r.diagnosis_fallback;
      ++out_.failed_diagnoses;
    }
    phases.push_back({Phase::kDiagnosis, diag});
    const Duration localised = t_ + phases[0].second + diag;
    if (e.action == Action::kSwap) {
      if (plan_.spares < 0) {
        phases.push_back({Phase::kSwap, r.swap});
      } else if (plan_.spares == 0) {
        phases.push_back({Phase::kWaitRepair, e.repair});  // no spare: the node itself must come back
      } else {
        // The pool: spares not in repair are at hand; a swapped-out node joins it after its repair.
        std::erase_if(in_repair_, [&](Duration back) { return back <= localised; });
        Duration wait;
        if (static_cast<int>(in_repair_.size()) >= plan_.spares) {
          const auto first = std::min_element(in_repair_.begin(), in_repair_.end());
          wait = *first - localised;
          in_repair_.erase(first);
        }
        in_repair_.push_back(localised + e.repair);
        phases.push_back({Phase::kWaitSpare, wait});
        phases.push_back({Phase::kSwap, r.swap});
      }
    } else if (e.action == Action::kWaitRepair) {
      phases.push_back({Phase::kWaitRepair, e.repair});
    }
    phases.push_back({Phase::kRestart, plan_.restart});
    Duration end = t_;
    for (const auto& ph : phases) end += ph.second;
    const Interruption* again = find(t_, end, false);
    const Duration stop = again ? again->at : end;
    for (const auto& [p, d] : phases) {
      const Duration part = std::min(d, std::max(Duration(), stop - t_));
      span(p, t_, t_ + part, e.cause);
      add(p, part, e.cause);
      t_ += part;
    }
    t_ = stop;
    if (again) interrupted(*again);
  }

  const JobPlan& plan_;
  const std::vector<Interruption>& events_;
  RandomStream& rng_;
  JobOutcome out_;
  Duration t_, done_;
  size_t next_ = 0;
  const Interruption* failing_ = nullptr;
  Duration interval_;
  std::vector<Duration> in_repair_;
};

}  // namespace

JobOutcome run_job(const JobPlan& plan, const std::vector<Interruption>& events, RandomStream& rng,
                   Duration horizon) {
  LCSIM_ASSERT(std::is_sorted(events.begin(), events.end(),
                              [](const Interruption& a, const Interruption& b) { return a.at < b.at; }),
               "interruptions must be sorted");
  return Stepper(plan, events, rng).run(horizon);
}

}  // namespace lcsim::failure
