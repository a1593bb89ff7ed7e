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
  static constexpr std::array<const char*, 14> n{"lost work", "detection", "diagnosis", "waiting for a spare",
                                                  "swap in spare", "waiting for repair", "restart",
                                                  "maintenance", "checkpoint", "restore", "running shrunk",
                                                  "running slow", "evict straggler", "migrate"};
  return n[static_cast<size_t>(p)];
}

namespace {

constexpr Duration kNever = Duration::seconds(1e300);

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
      start_slow_episodes();
      const Duration segment = checkpoints ? std::min(interval_, plan_.work - done_) : plan_.work - done_;
      if (seg_wall_ == Duration()) seg_begin_ = t_;
      const double r = rate();
      const Duration need = r == 1.0 ? segment - seg_done_ : (segment - seg_done_) / r;
      const Duration change = next_change();
      const Duration until = std::min(t_ + need, change);
      if (const Interruption* e = find(t_, until, true)) {
        if (e->false_alarm) {
          false_alarm(*e);
        } else if (e->predicted) {
          predicted_save(t_, *e, can_migrate(*e));
        } else if (e->planned && checkpoints) {
          maintenance_stop(*e);
        } else {
          advance(e->at);
          fail_segment(e->cause, e->at);
          interrupted(*e);
        }
        continue;
      }
      if (change < t_ + need) {  // the pace changes before the segment ends
        advance(change);
        on_change();
        continue;
      }
      const Duration end = t_ + need;
      advance(end, need);
      seg_done_ = segment;
      if (checkpoints) {
        if (const Interruption* e = find(t_, t_ + plan_.checkpoint_save, false)) {  // the save did not complete
          if (e->predicted) {  // announced: the job saved earlier instead
            predicted_save(seg_begin_, *e, can_migrate(*e));
            continue;
          }
          out_.checkpoint_time += e->at - t_;
          fail_segment(e->cause, t_);
          span(Phase::kCheckpoint, t_, e->at, e->cause);
          interrupted(*e);
          continue;
        }
        span(Phase::kCheckpoint, t_, t_ + plan_.checkpoint_save, 0);
        out_.checkpoint_time += plan_.checkpoint_save;
        t_ += plan_.checkpoint_save;
        ++out_.checkpoints;
      }
      commit();
    }
    out_.wall = t_;
    out_.last_interval = interval_;
    return std::move(out_);
  }

 private:
  /// The first event at or after `from` and before `until`, consuming it; events before `from` (they came while
  /// the job was already down or saving) and, unless `planned`, maintenance stops are absorbed. Straggler episodes
  /// are not interruptions (start_slow_episodes() takes them).
  const Interruption* find(Duration from, Duration until, bool planned) {
    while (next_ < events_.size() && events_[next_].at < until) {
      const Interruption& e = events_[next_++];
      if (e.slow_factor > 1) continue;
      if (e.prevented) {
        ++out_.prevented;
        continue;
      }
      if (e.at < from || ((e.planned || e.false_alarm) && !planned)) continue;
      return &e;
    }
    return nullptr;
  }

  /// Wall time per unit of compute is 1 / rate: the shrunk job's share, over the slowest worker's pace.
  double share() const { return out_nodes_.empty() ? 1.0 : plan_.shrink(static_cast<int>(out_nodes_.size())); }
  double slowdown() const { return plan_.step_slowdown * (t_ < slow_until_ ? slow_factor_ : 1.0); }
  double rate() const {
    const double f = slowdown(), s = share();
    return f == 1.0 ? s : s / f;
  }

  /// Computes from t_ to `to` at the current pace; the segment's shrunk and slow shares are pending until its
  /// checkpoint completes (a failure turns the whole segment into lost work).
  void advance(Duration to) { advance(to, to - t_); }
  void advance(Duration to, Duration dt) {
    if (dt <= Duration()) return;
    const double s = share(), f = slowdown();
    if (s == 1.0 && f == 1.0) {
      seg_done_ += dt;
    } else {
      seg_done_ += dt * (s / f);
      if (s < 1.0) {
        pend_shrunk_ += dt;
        pend_shrunk_loss_ += dt * (1 - s);
        span(Phase::kShrunk, t_, to, 0);
      }
      if (f > 1.0) {
        pend_slow_ += dt;
        pend_slow_loss_ += dt * (s - s / f);
        if (t_ < slow_until_) span(Phase::kSlow, t_, to, 0);
      }
    }
    seg_wall_ += dt;
    t_ = to;
  }

  /// The segment's compute is safe (a checkpoint completed, or the job is done).
  void commit() {
    done_ += seg_done_;
    out_.shrunk += pend_shrunk_;
    out_.shrunk_loss += pend_shrunk_loss_;
    out_.slow += pend_slow_;
    out_.slow_loss += pend_slow_loss_;
    reset_segment();
  }
  /// A failure: everything computed since the last checkpoint is lost.
  void fail_segment(uint16_t cause, Duration until) {
    lose(seg_wall_, cause);
    span(Phase::kLost, seg_begin_, until, cause);
    reset_segment();
  }
  void reset_segment() {
    seg_done_ = seg_wall_ = pend_shrunk_ = pend_shrunk_loss_ = pend_slow_ = pend_slow_loss_ = Duration();
    seg_begin_ = t_;
  }

  /// Straggler episodes that began by now: the slowest of them sets the pace until it ends (or is evicted).
  void start_slow_episodes() {
    while (next_slow_ < events_.size()) {
      const Interruption& e = events_[next_slow_];
      if (e.slow_factor > 1 && !e.prevented) {
        if (e.at > t_) return;
        ++out_.slow_episodes;
        const Duration end = e.at + e.repair;
        if (end > t_) {
          if (t_ >= slow_until_) evict_at_ = kNever;  // a new episode: a stale detection does not carry over
          if (t_ >= slow_until_ || e.slow_factor > slow_factor_) slow_factor_ = e.slow_factor;
          slow_until_ = std::max(slow_until_, end);
          if (plan_.evict_after > Duration()) {
            const Duration at = std::max(e.at, t_) + plan_.evict_after;
            if (at < slow_until_) evict_at_ = std::min(evict_at_, at);
          }
        }
      }
      ++next_slow_;
    }
  }

  /// When the pace changes next: a node back from repair (elastic), a straggler episode beginning or ending, an
  /// eviction.
  Duration next_change() {
    Duration c = kNever;
    for (Duration back : out_nodes_) c = std::min(c, back);
    for (size_t i = next_slow_; i < events_.size(); ++i) {
      if (events_[i].slow_factor > 1 && !events_[i].prevented) {
        c = std::min(c, std::max(events_[i].at, t_));
        break;
      }
    }
    if (slow_until_ > t_) c = std::min(c, slow_until_);
    if (evict_at_ < slow_until_) c = std::min(c, std::max(evict_at_, t_));
    return c;
  }

  void on_change() {
    if (evict_at_ <= t_ && t_ < slow_until_) {  // detect-and-evict: save, swap the slow node out, restart
      save_now(Phase::kEvict, plan_.evict_cost);
      out_.evicting += plan_.evict_cost;
      ++out_.evictions;
      slow_until_ = t_;
      slow_factor_ = 1;
    }
    if (evict_at_ <= t_ || t_ >= slow_until_) evict_at_ = kNever;
    const auto back = std::find_if(out_nodes_.begin(), out_nodes_.end(), [&](Duration b) { return b <= t_; });
    if (back != out_nodes_.end()) {  // elastic: a node is back; save and re-form the job at full size
      out_nodes_.erase(back);
      save_now(Phase::kRestart, plan_.restart);
      add(Phase::kRestart, plan_.restart, kNoCause);
      if (plan_.restore > Duration()) {
        span(Phase::kRestore, t_, t_ + plan_.restore, kNoCause);
        add(Phase::kRestore, plan_.restore, kNoCause);
        t_ += plan_.restore;
      }
    }
  }

  /// A checkpoint of the segment so far (nothing lost), then `then` of phase p.
  void save_now(Phase p, Duration then) {
    span(Phase::kCheckpoint, t_, t_ + plan_.checkpoint_save, 0);
    out_.checkpoint_time += plan_.checkpoint_save;
    t_ += plan_.checkpoint_save;
    ++out_.checkpoints;
    commit();
    span(p, t_, t_ + then, kNoCause);
    t_ += then;
    seg_begin_ = t_;
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
    seg_begin_ = t_;
    failing_ = &e;
  }

  /// Announced: checkpoint what was computed so far, stop for the maintenance, restart. Loses nothing.
  void maintenance_stop(const Interruption& e) {
    advance(e.at);
    commit();
    t_ = e.at;
    ++out_.planned;
    ++out_.checkpoints;
    std::vector<std::pair<Phase, Duration>> phases{
        {Phase::kCheckpoint, plan_.checkpoint_save}, {Phase::kMaintenance, e.repair}, {Phase::kRestart, plan_.restart}};
    if (plan_.restore > Duration()) phases.push_back({Phase::kRestore, plan_.restore});
    for (const auto& [p, d] : phases) {
      span(p, t_, t_ + d, e.cause);
      add(p, d, e.cause);
      t_ += d;
    }
    seg_begin_ = t_;
  }

  /// A predicted failure at e.at: the job computed from `begin` (its last checkpoint, or t_ when the pace changed
  /// since) until a save that ends at the failure, then recovers from it having lost nothing, or, with `migrate`,
  /// moves off the node instead (the failure does not interrupt the job).
  void predicted_save(Duration begin, const Interruption& e, bool migrate) {
    const Duration start = std::max(begin, e.at - plan_.checkpoint_save);
    if (begin == t_) {
      advance(start);
    } else {  // announced during the regular save: the job saved at `start` within the segment just computed
      const Duration wall = seg_wall_;
      seg_done_ = wall > Duration() ? (seg_done_ == wall ? start - begin : seg_done_ * ((start - begin) / wall))
                                    : Duration();
    }
    commit();
    out_.checkpoint_time += e.at - start;
    span(Phase::kCheckpoint, start, e.at, e.cause);
    ++out_.checkpoints;
    ++out_.predicted;
    if (!migrate) {
      interrupted(e);
      return;
    }
    if (plan_.spares > 0) in_repair_.push_back(e.at + e.repair);  // the spare's place: the failed node in repair
    t_ = e.at;
    seg_begin_ = t_;
    migrate_now(e.cause);
  }

  /// Whether the job can move off the node an alarm names: migration on, a node's fault, a spare at hand now.
  bool can_migrate(const Interruption& e) {
    if (!plan_.migrate || (!e.false_alarm && e.action != Action::kSwap)) return false;
    if (plan_.spares < 0) return true;
    std::erase_if(in_repair_, [&](Duration back) { return back <= e.at; });
    return static_cast<int>(in_repair_.size()) < plan_.spares;
  }

  /// Swap a spare in for the flagged node and restart from the checkpoint just saved; a failure during it
  /// interrupts as any other.
  void migrate_now(uint16_t cause) {
    ++out_.migrations;
    run_phases({{Phase::kMigrate, plan_.recovery.swap + plan_.restart + plan_.restore}}, cause);
  }

  /// A false alarm: the job saves a checkpoint at once, then goes on (or migrates off the healthy node: it rejoins
  /// the spare pool).
  void false_alarm(const Interruption& e) {
    const bool migrate = can_migrate(e);
    advance(e.at);
    commit();
    t_ = e.at;
    span(Phase::kCheckpoint, t_, t_ + plan_.checkpoint_save, 0);
    out_.checkpoint_time += plan_.checkpoint_save;
    t_ += plan_.checkpoint_save;
    seg_begin_ = t_;
    ++out_.checkpoints;
    ++out_.false_alarms;
    if (migrate) migrate_now(kNoCause);
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
      case Phase::kRestore: out_.restore += d; break;
      case Phase::kMigrate: out_.migrating += d; break;
      case Phase::kLost: case Phase::kShrunk: case Phase::kSlow: case Phase::kEvict: break;
    }
    if (cause < out_.by_cause.size()) out_.by_cause[cause].downtime += d;
  }

  /// Elastic shrink instead of waiting until `back`: true when the policy lets the job go on without the node.
  bool shrink_until(Duration back) {
    if (!plan_.shrink || plan_.shrink(static_cast<int>(out_nodes_.size()) + 1) <= 0) return false;
    out_nodes_.push_back(back);
    ++out_.shrinks;
    return true;
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
        // No spare: the node itself must come back (or the job goes on without it).
        if (!shrink_until(localised + e.repair)) phases.push_back({Phase::kWaitRepair, e.repair});
      } else {
        // The pool: spares not in repair are at hand; a swapped-out node joins it after its repair.
        std::erase_if(in_repair_, [&](Duration back) { return back <= localised; });
        Duration wait;
        bool shrunk = false;
        if (static_cast<int>(in_repair_.size()) >= plan_.spares) {
          const auto first = std::min_element(in_repair_.begin(), in_repair_.end());
          wait = *first - localised;
          shrunk = shrink_until(*first);  // the first spare back re-forms the job at full size
          in_repair_.erase(first);
        }
        in_repair_.push_back(localised + e.repair);
        if (!shrunk) {
          phases.push_back({Phase::kWaitSpare, wait});
          phases.push_back({Phase::kSwap, r.swap});
        }
      }
    } else if (e.action == Action::kWaitRepair) {
      phases.push_back({Phase::kWaitRepair, e.repair});
    }
    phases.push_back({Phase::kRestart, plan_.restart});
    if (plan_.restore > Duration()) phases.push_back({Phase::kRestore, plan_.restore});
    run_phases(phases, e.cause);
  }

  /// The phases one after another from t_; a failure during them cuts them short and starts its own recovery.
  void run_phases(const std::vector<std::pair<Phase, Duration>>& phases, uint16_t cause) {
    Duration end = t_;
    for (const auto& ph : phases) end += ph.second;
    const Interruption* again = find(t_, end, false);
    const Duration stop = again ? again->at : end;
    for (const auto& [p, d] : phases) {
      const Duration part = std::min(d, std::max(Duration(), stop - t_));
      span(p, t_, t_ + part, cause);
      add(p, part, cause);
      t_ += part;
    }
    t_ = stop;
    seg_begin_ = t_;
    if (again) interrupted(*again);
  }

  static constexpr uint16_t kNoCause = 0xffff;
  const JobPlan& plan_;
  const std::vector<Interruption>& events_;
  RandomStream& rng_;
  JobOutcome out_;
  Duration t_, done_;
  // The segment since the last checkpoint: compute done, wall time spent, shrunk and slow shares not yet safe.
  Duration seg_begin_, seg_done_, seg_wall_, pend_shrunk_, pend_shrunk_loss_, pend_slow_, pend_slow_loss_;
  size_t next_ = 0;
  size_t next_slow_ = 0;
  const Interruption* failing_ = nullptr;
  Duration interval_;
  std::vector<Duration> in_repair_;
  std::vector<Duration> out_nodes_;  // elastic: when each node the job runs without is back
  Duration slow_until_;
  double slow_factor_ = 1;
  Duration evict_at_ = kNever;
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
