#include "workloads/cluster/cluster_sim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <queue>

#include "sim/error.h"
#include "sim/rng.h"

namespace lcsim::cluster {

using policy::ClusterSnapshot;
using policy::NodeShare;

policy::ClusterSnapshot build_cluster(const ClusterConfig& cluster) {
  ClusterSnapshot s;
  std::vector<net::NodeShape> shapes;
  for (uint32_t p = 0; p < cluster.pools.size(); ++p) {
    const auto& pc = cluster.pools[p];
    s.pools.push_back({pc.name, pc.throughput, pc.cost_per_gpu_hour});
    for (uint32_t n = 0; n < pc.nodes; ++n) {
      s.nodes.push_back({p, pc.gpus_per_node, pc.gpus_per_node, 0, 0});
      shapes.push_back({pc.gpus_per_node, Bandwidth::gbits_per_s(3600), Bandwidth::gbits_per_s(400)});
    }
  }
  for (const auto& t : cluster.teams) s.teams.push_back({t.name, t.quota_gpus, 0});
  if (s.nodes.empty()) return s;
  // Leaf and pod of each node, as the fabric model wires it (GPU 0's NIC: its rail group when rail-optimized).
  net::LeafSpineConfig fc = cluster.fabric;
  fc.host_networks = false;
  fc.planes = 1;
  fc.dual_tor = false;
  fc.failed.clear();
  net::LeafSpine topo(fc, shapes);
  uint32_t endpoint = 0;
  for (auto& n : s.nodes) {
    n.leaf = topo.leaf_of(endpoint);
    n.pod = fc.tiers >= 3 ? n.leaf / static_cast<uint32_t>(std::max(fc.leaves_per_pod, 1)) : 0;
    endpoint += n.gpus;
  }
  return s;
}

namespace {

struct Completion {
  double at;
  uint64_t job;
  uint32_t attempt;  // a preempted attempt's completion is stale (its attempt number moved on)
  bool operator>(const Completion& o) const { return at != o.at ? at > o.at : job > o.job; }
};

struct JobState {
  double remaining_ref_s = 0;  // work left, in seconds on a throughput-1.0 GPU
  double estimate_s = 0;
  double started_at = 0;
  double overhead_s = 0;       // checkpoint restore due on the next start
  uint32_t attempt = 0;
  int32_t pool = -1;           // required pool
  uint32_t team = 0;
  int32_t job_class = -1;      // index into ClusterConfig::job_classes; -1: the pools' throughput
  // Training workloads: iterations left, the current seconds per iteration, and since when it holds.
  bool work = false;
  uint32_t workload = 0;
  double remaining_iters = 0;
  double iter_s = 0;
  double rate_since = 0;
  // Serving deployments (work too, so they join the groups): the latency of the group it runs in, since when.
  bool serving = false;
  ServingLatency latency;
  uint32_t group_jobs = 0;  // 0: no latency yet this attempt
  double latency_since = 0;
};

class Replay {
 public:
  Replay(const ClusterConfig& c, const JobTrace& t, policy::SchedulingPolicy& p, const SimOptions& o)
      : trace_(t), policy_(p), opt_(o), snap_(build_cluster(c)), classes_(c.job_classes) {
    for (const auto& jc : classes_) {
      LCSIM_ASSERT(jc.throughput.size() == snap_.pools.size() && jc.weight > 0 &&
                       std::all_of(jc.throughput.begin(), jc.throughput.end(), [](double x) { return x > 0; }),
                   "job class '" + jc.name + "' needs a positive weight and one positive throughput per pool");
    }
    if (opt_.speed) speed_ = std::make_unique<SpeedCache>(snap_, *opt_.speed);
    result_.pools.resize(snap_.pools.size());
    for (uint32_t p2 = 0; p2 < snap_.pools.size(); ++p2) result_.pools[p2].name = snap_.pools[p2].name;
    for (const auto& n : snap_.nodes) result_.pools[n.pool].gpus += n.gpus, total_gpus_ += n.gpus;
    free_total_ = total_gpus_;
    power_.assign(snap_.nodes.size(), Power::kOn);
    powered_gpus_.assign(snap_.pools.size(), 0);
    for (const auto& n : snap_.nodes) powered_gpus_[n.pool] += n.gpus;
    check_jobs(c);
  }

  void run() {
    const auto& jobs = trace_.jobs;
    size_t next = 0;
    if (!jobs.empty()) result_.start_s = last_t_ = next_tick_ = jobs.front().submit_s;
    const double inf = std::numeric_limits<double>::infinity();
    // With a power policy, waiting jobs may wait for boots: the loop also runs on boot completions and ticks.
    while (next < jobs.size() || !done_.empty() || (opt_.power && !snap_.pending.empty())) {
      double t = next < jobs.size() ? jobs[next].submit_s : inf;
      if (!done_.empty()) t = std::min(t, done_.top().at);
      // A policy that works in rounds (gavel-lp) asked to be called again then.
      const bool woken = wake_ > last_t_ && wake_ <= t && !(snap_.pending.empty() && snap_.running.empty());
      if (woken) t = wake_;
      if (opt_.power) {
        if (!boots_.empty()) t = std::min(t, boots_.top().first);
        t = std::min(t, next_tick_);
      }
      advance(t);
      while (!done_.empty() && done_.top().at <= t) {
        Completion c = done_.top();
        done_.pop();
        if (c.attempt == state_[c.job].attempt && is_running(c.job)) finish(c.job, t);
      }
      while (!boots_.empty() && boots_.top().first <= t) {
        const uint32_t node = boots_.top().second;
        boots_.pop();
        power_[node] = Power::kOn;
        change_node(node, snap_.nodes[node].gpus);
      }
      while (next < jobs.size() && jobs[next].submit_s <= t) enqueue(jobs[next++].id);
      if (!snap_.pending.empty() || (woken && !snap_.running.empty())) schedule(t);
      if (opt_.power) {
        if (t >= next_tick_) next_tick_ = t + opt_.tick_s;
        apply_power(t);
        // Waiting jobs with nothing running or booting can only wait for the power policy to change its mind:
        // it must within a thousand passes (a stuck replay would otherwise tick forever).
        stuck_ = !snap_.pending.empty() && snap_.running.empty() && boots_.empty() ? stuck_ + 1 : 0;
        LCSIM_ASSERT(stuck_ < 1000, "the power policy leaves waiting jobs with no node to run on");
      }
      if (retime_) retime(t);
    }
    result_.end_s = last_t_;
    if (opt_.power) result_.forecast = opt_.power->forecast_error();
  }

 private:
  void check_jobs(const ClusterConfig& c) {
    std::map<std::string, uint32_t> pool_index, team_index;
    std::vector<uint32_t> pool_gpus(snap_.pools.size(), 0);
    for (const auto& n : snap_.nodes) pool_gpus[n.pool] += n.gpus;
    uint32_t largest = pool_gpus.empty() ? 0 : *std::max_element(pool_gpus.begin(), pool_gpus.end());
    for (uint32_t p = 0; p < snap_.pools.size(); ++p) pool_index[snap_.pools[p].name] = p;
    for (uint32_t i = 0; i < c.teams.size(); ++i) team_index[c.teams[i].name] = i;
    std::vector<std::string> pool_names;
    for (const auto& p : snap_.pools) pool_names.push_back(p.name);
    Diagnostics diags;
    RngFactory rng(opt_.seed);
    state_.resize(trace_.jobs.size());
    result_.jobs.resize(trace_.jobs.size());
    for (const auto& j : trace_.jobs) {
      LCSIM_ASSERT(j.id < trace_.jobs.size() && trace_.jobs[j.id].id == j.id, "trace jobs must be numbered in order");
      SourceLocation at{trace_.file, static_cast<int>(j.line), static_cast<int>(j.gpus_column)};
      JobState& st = state_[j.id];
      uint32_t room = largest;
      if (!j.gpu_type.empty()) {
        auto it = pool_index.find(j.gpu_type);
        if (it == pool_index.end()) {
          if (diags.items().size() < 20) diags.add(at, "gpus", unknown_name_message("pool", j.gpu_type, pool_names));
          continue;
        }
        st.pool = static_cast<int32_t>(it->second);
        room = pool_gpus[it->second];
      }
      if (j.gpus > room && diags.items().size() < 20)
        diags.add(at, "gpus", "job " + std::to_string(j.id) + " needs " + std::to_string(j.gpus) +
                                  " GPUs; the largest pool it may use has " + std::to_string(room));
      auto ti = team_index.find(j.team);
      // Teams without a quota share one unlisted slot (index teams.size()), which the policy never limits.
      st.team = ti == team_index.end() ? static_cast<uint32_t>(c.teams.size()) : ti->second;
      if (ti != team_index.end() && c.teams[ti->second].quota_gpus > 0 && j.gpus > c.teams[ti->second].quota_gpus &&
          diags.items().size() < 20)
        diags.add(at, "gpus", "job " + std::to_string(j.id) + " needs " + std::to_string(j.gpus) +
                                  " GPUs, more than team '" + j.team + "''s quota of " +
                                  std::to_string(c.teams[ti->second].quota_gpus));
      st.remaining_ref_s = j.duration_s;
      if (!classes_.empty()) {
        double total = 0;
        for (const auto& jc : classes_) total += jc.weight;
        double u = rng.stream("cluster.job_class", j.id).uniform() * total;
        st.job_class = static_cast<int32_t>(classes_.size() - 1);
        for (size_t k = 0; k < classes_.size(); ++k) {
          if (u < classes_[k].weight) {
            st.job_class = static_cast<int32_t>(k);
            break;
          }
          u -= classes_[k].weight;
        }
      }
      if (!j.workload.empty() && !check_workload(j, at, diags)) continue;
      double factor = 1.0;
      if (opt_.estimate_error > 0) {
        RandomStream r = rng.stream("cluster.estimate", j.id);
        factor = 1.0 + opt_.estimate_error * (2.0 * r.uniform() - 1.0);
      }
      const bool training = st.work && !st.serving;
      st.estimate_s = (training && j.duration_s <= 0 ? st.remaining_ref_s : j.duration_s) * factor;
      JobRecord& rec = result_.jobs[j.id];
      rec.workload = training;
      rec.serving = st.serving;
      rec.iterations = static_cast<double>(j.iterations);
      if (training) rec.alone_iteration_s = st.remaining_ref_s / static_cast<double>(j.iterations);
      rec.id = j.id;
      rec.gpus = j.gpus;
      rec.submit_s = j.submit_s;
    }
    diags.throw_if_any();
  }

  /// A workload job: its workload loaded and of its row's kind, whole nodes, and its figures alone on a compact
  /// placement (the first nodes of its pool). Training: its iteration time there gives its ideal run time and,
  /// without a duration_s, its estimate. Serving: its latency there is the reference its record is read against.
  bool check_workload(const TraceJob& j, const SourceLocation& at, Diagnostics& diags) {
    JobState& st = state_[j.id];
    const bool inference = j.kind == JobKind::kInference;
    if (!speed_) {
      if (diags.items().size() < 20)
        diags.add(at, "workload", "job " + std::to_string(j.id) + " is a " +
                                      (inference ? "serving deployment" : "training workload") + " (" + j.workload +
                                      "); this replay has no model of workload speed (lcsim schedule --cluster FILE)");
      return false;
    }
    uint32_t pool = st.pool >= 0 ? static_cast<uint32_t>(st.pool) : 0;
    std::vector<policy::NodeShare> compact;
    uint32_t left = j.gpus;
    for (uint32_t n = 0; n < snap_.nodes.size() && left > 0; ++n) {
      if (snap_.nodes[n].pool != pool) continue;
      if (j.gpus % snap_.nodes[n].gpus != 0) {
        if (diags.items().size() < 20)
          diags.add(at, "gpus", "job " + std::to_string(j.id) + " is a workload job and needs whole nodes: " +
                                    std::to_string(j.gpus) + " GPUs is not a multiple of pool '" +
                                    snap_.pools[pool].name + "''s " + std::to_string(snap_.nodes[n].gpus) +
                                    " GPUs per node");
        return false;
      }
      compact.push_back({n, snap_.nodes[n].gpus});
      left -= snap_.nodes[n].gpus;
    }
    if (left > 0) return true;  // too large: reported by the caller
    st.workload = opt_.speed->workload(j.workload);
    st.serving = opt_.speed->serving(st.workload);
    if (st.serving != inference) {
      const SourceLocation wat{at.file, at.line, static_cast<int>(j.workload_column)};
      if (diags.items().size() < 20 && st.serving)
        diags.add(wat, "kind", "job " + std::to_string(j.id) + "'s workload " + j.workload +
                                   " is a serving deployment (inference_serving): give its row kind inference and a "
                                   "duration_s (how long it serves), not iterations");
      else if (diags.items().size() < 20)
        diags.add(wat, "workload", "job " + std::to_string(j.id) + " is of kind inference, but its workload " +
                                       j.workload + " is a training workload: an inference row's workload must be "
                                       "an inference_serving deployment (or give the row kind training and iterations)");
      return false;
    }
    st.work = true;
    JobSpeed alone = speed_->speeds({RunningWork{j.id, st.workload, compact}}).front();
    if (st.serving) {
      result_.jobs[j.id].serving_record.alone = alone.latency;
      return true;
    }
    st.remaining_iters = static_cast<double>(j.iterations);
    st.remaining_ref_s = alone.iteration_s * static_cast<double>(j.iterations);
    return true;
  }

  /// A serving job's latency since latency_since goes into its record (at a change of group, a stop or its end).
  void close_latency(uint64_t id, double t) {
    JobState& st = state_[id];
    if (st.group_jobs > 0) result_.jobs[id].serving_record.add(st.latency, t - st.latency_since, st.group_jobs);
    st.group_jobs = 0;
  }

  /// The running workload jobs' iteration times changed (one started, finished or stopped): their progress so far
  /// at the old rates, then new rates from the speed model and new completion times.
  void retime(double t) {
    retime_ = false;
    std::vector<RunningWork> work;
    for (const auto& r : snap_.running) {
      if (!state_[r.id].work) continue;
      JobState& st = state_[r.id];
      if (st.serving) {  // held for its duration: only its latency changes
        work.push_back({r.id, st.workload, r.placement});
        continue;
      }
      if (st.iter_s > 0 && t > st.rate_since) st.remaining_iters -= (t - st.rate_since) / st.iter_s;
      st.remaining_iters = std::max(0.0, st.remaining_iters);
      st.rate_since = std::max(t, st.rate_since);
      work.push_back({r.id, st.workload, r.placement});
    }
    if (work.empty()) return;
    std::sort(work.begin(), work.end(), [](const auto& a, const auto& b) { return a.job < b.job; });
    std::vector<JobSpeed> its = speed_->speeds(work);
    for (size_t k = 0; k < work.size(); ++k) {
      JobState& st = state_[work[k].job];
      if (st.serving) {
        if (st.group_jobs == its[k].group_jobs && st.latency == its[k].latency) continue;
        close_latency(work[k].job, t);
        st.latency = its[k].latency, st.group_jobs = its[k].group_jobs, st.latency_since = t;
        continue;
      }
      if (its[k].iteration_s == st.iter_s) continue;
      st.iter_s = its[k].iteration_s;
      ++st.attempt;  // the completion pushed at the old rate is stale
      done_.push({st.rate_since + st.remaining_iters * st.iter_s, work[k].job, st.attempt});
    }
  }

  bool is_running(uint64_t id) const { return running_index_.count(id) != 0; }

  /// Job `id`'s speed on pool `pool`: its class's, or the pool's.
  double throughput(uint64_t id, uint32_t pool) const {
    const int32_t k = state_[id].job_class;
    return k >= 0 ? classes_[static_cast<size_t>(k)].throughput[pool] : snap_.pools[pool].throughput;
  }

  /// Meets the power policy's per-pool node targets: off nodes boot (lowest index first) when too few are on or
  /// booting; idle nodes (all GPUs free) switch off (highest index first) when too many are. Busy nodes stay on.
  void apply_power(double t) {
    snap_.now_s = t;
    std::vector<uint32_t> target = opt_.power->target_nodes(snap_);
    LCSIM_ASSERT(target.size() == snap_.pools.size(), "the power policy must give one target per pool");
    for (uint32_t p = 0; p < snap_.pools.size(); ++p) {
      const uint64_t before = powered_gpus_[p];
      uint32_t powered = 0;
      for (uint32_t n = 0; n < snap_.nodes.size(); ++n) powered += snap_.nodes[n].pool == p && power_[n] != Power::kOff;
      for (uint32_t n = 0; n < snap_.nodes.size() && powered < target[p]; ++n) {
        if (snap_.nodes[n].pool != p || power_[n] != Power::kOff) continue;
        power_[n] = Power::kBooting;
        boots_.push({t + opt_.boot_s, n});
        powered_gpus_[p] += snap_.nodes[n].gpus;
        ++result_.boots;
        ++powered;
      }
      for (uint32_t n = static_cast<uint32_t>(snap_.nodes.size()); n-- > 0 && powered > target[p];) {
        auto& node = snap_.nodes[n];
        if (node.pool != p || power_[n] != Power::kOn || node.free_gpus != node.gpus) continue;
        power_[n] = Power::kOff;
        change_node(n, -static_cast<int64_t>(node.gpus));
        powered_gpus_[p] -= node.gpus;
        --powered;
      }
      if (opt_.tracer && powered_gpus_[p] != before) {
        opt_.tracer->counter({"pool", snap_.pools[p].name + " powered GPUs", Duration::seconds(t),
                              static_cast<double>(powered_gpus_[p])});
      }
    }
  }

  /// Integrates the time-weighted figures over [last_t_, t).
  void advance(double t) {
    double dt = t - last_t_;
    if (dt > 0) {
      for (uint32_t p = 0; p < powered_gpus_.size(); ++p) result_.pools[p].powered_gpu_s += dt * powered_gpus_[p];
    }
    if (dt > 0 && free_total_ > 0) {
      frag_integral_ += dt * static_cast<double>(free_on_partial_) / static_cast<double>(free_total_);
      if (!snap_.pending.empty()) idle_integral_ += dt;
      time_with_free_ += dt;
    }
    if (dt > 0) last_t_ = t;
  }

  void enqueue(uint64_t id) {
    const TraceJob& j = trace_.jobs[id];
    const JobState& st = state_[id];
    policy::PendingJob pj{id, j.submit_s, j.gpus, st.pool, j.priority, st.team, st.estimate_s, {}};
    if (st.job_class >= 0) pj.throughput = classes_[static_cast<size_t>(st.job_class)].throughput;
    auto pos = std::upper_bound(snap_.pending.begin(), snap_.pending.end(), pj, [](const auto& a, const auto& b) {
      return a.submit_s != b.submit_s ? a.submit_s < b.submit_s : a.id < b.id;
    });
    snap_.pending.insert(pos, pj);
  }

  void change_node(uint32_t node, int64_t delta) {
    auto& n = snap_.nodes[node];
    auto partial = [&] { return n.free_gpus > 0 && n.free_gpus < n.gpus ? n.free_gpus : 0u; };
    free_on_partial_ -= partial();
    n.free_gpus = static_cast<uint32_t>(static_cast<int64_t>(n.free_gpus) + delta);
    free_on_partial_ += partial();
    free_total_ = static_cast<uint64_t>(static_cast<int64_t>(free_total_) + delta);
  }

  /// Takes a job off its GPUs (finished or preempted): accounting, snapshot, lanes.
  policy::RunningJob release(uint64_t id, double t) {
    size_t idx = running_index_.at(id);
    policy::RunningJob r = std::move(snap_.running[idx]);
    snap_.running.erase(snap_.running.begin() + static_cast<std::ptrdiff_t>(idx));
    running_index_.erase(id);
    for (auto& [jid, i] : running_index_)
      if (i > idx) --i;
    for (const auto& sh : r.placement) change_node(sh.node, sh.gpus);
    if (r.team < snap_.teams.size()) snap_.teams[r.team].used_gpus -= r.gpus;
    uint32_t pool = snap_.nodes[r.placement.front().node].pool;
    double held = t - state_[id].started_at;
    result_.jobs[id].run_s += held;
    result_.pools[pool].busy_gpu_s += held * r.gpus;
    result_.pools[pool].cost += held * r.gpus / 3600.0 * snap_.pools[pool].cost_per_gpu_hour;
    busy_[pool] -= r.gpus;
    emit_pool(pool, t);
    return r;
  }

  void finish(uint64_t id, double t) {
    release(id, t);
    if (state_[id].serving) close_latency(id, t);
    if (state_[id].work) state_[id].remaining_iters = 0, state_[id].iter_s = 0, retime_ = true;
    result_.jobs[id].end_s = t;
    state_[id].remaining_ref_s = 0;
    if (opt_.tracer) opt_.tracer->state({StateEvent::What::kJobFinished, static_cast<uint32_t>(id), Duration::seconds(t)});
  }

  void preempt(uint64_t id, double t) {
    LCSIM_ASSERT(is_running(id), "policy preempted job " + std::to_string(id) + ", which is not running");
    JobState& st = state_[id];
    if (st.work && st.iter_s > 0 && t > st.rate_since)
      st.remaining_iters = std::max(0.0, st.remaining_iters - (t - st.rate_since) / st.iter_s);
    policy::RunningJob r = release(id, t);
    if (st.serving) close_latency(id, t);
    double tp = st.work ? 1.0 : throughput(id, snap_.nodes[r.placement.front().node].pool);
    double worked = std::max(0.0, t - st.started_at - st.overhead_s);
    if (st.work) st.iter_s = 0, retime_ = true;
    st.remaining_ref_s = std::max(0.0, st.remaining_ref_s - worked * tp);
    st.estimate_s = std::max(0.0, st.estimate_s - worked * tp);
    st.overhead_s = opt_.checkpoint_s;
    ++st.attempt;
    ++result_.jobs[id].preemptions;
    if (opt_.tracer) opt_.tracer->state({StateEvent::What::kJobStopped, static_cast<uint32_t>(id), Duration::seconds(t)});
    enqueue(id);
  }

  void start(const policy::Placement& p, double t) {
    uint64_t id = p.job;
    const TraceJob& j = trace_.jobs.at(id);
    JobState& st = state_[id];
    uint32_t sum = 0;
    for (const auto& sh : p.shares) {
      LCSIM_ASSERT(sh.node < snap_.nodes.size() && snap_.nodes[sh.node].free_gpus >= sh.gpus,
                   "policy placed job " + std::to_string(id) + " on GPUs that are not free");
      sum += sh.gpus;
    }
    LCSIM_ASSERT(sum == j.gpus && !p.shares.empty(), "policy placed job " + std::to_string(id) + " on " +
                                                         std::to_string(sum) + " GPUs; it needs " +
                                                         std::to_string(j.gpus) + " (gang: all or none)");
    uint32_t pool = snap_.nodes[p.shares.front().node].pool;
    for (const auto& sh : p.shares)
      LCSIM_ASSERT(snap_.nodes[sh.node].pool == pool, "policy placed a job across pools");
    LCSIM_ASSERT(st.pool < 0 || static_cast<uint32_t>(st.pool) == pool, "policy placed a job on another pool");
    if (st.work) {
      for (const auto& sh : p.shares) {
        if (sh.gpus != snap_.nodes[sh.node].gpus)
          throw InputError({{SourceLocation{trace_.file, static_cast<int>(j.line), 0}, "workload",
                             "job " + std::to_string(id) + " is a workload job and needs whole nodes; the "
                             "policy gave it " + std::to_string(sh.gpus) + " of node " + std::to_string(sh.node) +
                             "'s " + std::to_string(snap_.nodes[sh.node].gpus) +
                             " GPUs (smaller duration jobs left the node part used)"}});
      }
    }
    for (const auto& sh : p.shares) change_node(sh.node, -static_cast<int64_t>(sh.gpus));
    double tp = st.work ? 1.0 : throughput(id, pool);
    double run = st.remaining_ref_s / tp + st.overhead_s;
    st.started_at = t;
    JobRecord& rec = result_.jobs[id];
    if (rec.first_start_s < 0) rec.first_start_s = t;
    rec.pool = pool;
    rec.ideal_run_s = st.work && !st.serving ? rec.alone_iteration_s * rec.iterations : j.duration_s / tp;
    auto spread = policy::placement_spread(snap_, p.shares);
    rec.leaves = spread.leaves;
    rec.max_spine_hops = spread.max_spine_hops;
    if (st.team < snap_.teams.size()) snap_.teams[st.team].used_gpus += j.gpus;
    running_index_[id] = snap_.running.size();
    snap_.running.push_back({id, j.gpus, j.priority, st.team, t, t + st.estimate_s / tp + st.overhead_s, true,
                             p.shares});
    if (st.work) retime_ = true;  // its group changed: new speeds (training) and latency (serving)
    if (st.work && !st.serving) {
      st.iter_s = 0;
      st.rate_since = t + st.overhead_s;  // iterations begin after the checkpoint restore
    } else {
      done_.push({t + run, id, st.attempt});  // a duration job, or a serving deployment held for its duration
    }
    busy_[pool] += j.gpus;
    emit_pool(pool, t);
    if (opt_.tracer) opt_.tracer->state({StateEvent::What::kJobStarted, static_cast<uint32_t>(id), Duration::seconds(t)});
  }

  void emit_pool(uint32_t pool, double t) {
    if (!opt_.tracer) return;
    opt_.tracer->counter({"pool", snap_.pools[pool].name + " busy GPUs", Duration::seconds(t), busy_[pool]});
  }

  void schedule(double t) {
    if (free_total_ == 0 && snap_.running.empty()) return;
    snap_.now_s = t;
    ++result_.policy_calls;
    policy::Decisions d = policy_.schedule(snap_);
    wake_ = d.wake_s;
    for (uint64_t id : d.preempt) preempt(id, t);
    if (d.start.empty()) return;
    std::vector<uint64_t> started;
    for (const auto& p : d.start) {
      start(p, t);
      started.push_back(p.job);
    }
    std::sort(started.begin(), started.end());
    std::erase_if(snap_.pending, [&](const policy::PendingJob& pj) {
      return std::binary_search(started.begin(), started.end(), pj.id);
    });
  }

 public:
  ClusterResult finish_result(const ClusterConfig& c) {
    for (uint32_t p = 0; p < result_.pools.size() && p < c.pools.size(); ++p) {
      auto& u = result_.pools[p];
      const auto& pc = c.pools[p];
      u.energy_j = u.powered_gpu_s * pc.idle_watts_per_gpu +
                   u.busy_gpu_s * std::max(0.0, pc.busy_watts_per_gpu - pc.idle_watts_per_gpu);
    }
    if (time_with_free_ > 0) {
      result_.fragmentation = frag_integral_ / time_with_free_;
      result_.idle_while_waiting = idle_integral_ / time_with_free_;
    }
    if (speed_) result_.speed_evaluations = speed_->evaluations(), result_.speed_hits = speed_->hits();
    return std::move(result_);
  }

 private:
  const JobTrace& trace_;
  policy::SchedulingPolicy& policy_;
  SimOptions opt_;
  ClusterSnapshot snap_;
  std::vector<JobClass> classes_;
  ClusterResult result_;
  std::vector<JobState> state_;
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> done_;
  std::map<uint64_t, size_t> running_index_;
  std::map<uint32_t, double> busy_;
  enum class Power : uint8_t { kOn, kOff, kBooting };
  std::vector<Power> power_;             // per node
  std::vector<uint64_t> powered_gpus_;   // per pool: GPUs on or booting
  std::priority_queue<std::pair<double, uint32_t>, std::vector<std::pair<double, uint32_t>>, std::greater<>> boots_;
  double next_tick_ = 0;
  double wake_ = -1;  // the policy's Decisions::wake_s
  uint32_t stuck_ = 0;
  std::unique_ptr<SpeedCache> speed_;
  bool retime_ = false;
  uint64_t total_gpus_ = 0, free_total_ = 0, free_on_partial_ = 0;
  double last_t_ = 0, frag_integral_ = 0, idle_integral_ = 0, time_with_free_ = 0;
};

/// Nearest-rank percentile of sorted samples.
double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

/// Serving deployments' figures: per job (`jobN.serving_*`) and over all of them.
void serving_metrics(const std::vector<JobRecord>& jobs, MetricSet& m) {
  double n = 0, ttft50 = 0, slo = 0, shared = 0, held = 0, ttft99 = 0, tpot99 = 0, kv99 = 0;
  for (const auto& j : jobs) {
    if (!j.serving || j.end_s < 0) continue;
    const ServingRecord& r = j.serving_record;
    const ServingLatency& l = r.lifetime;
    n += 1;
    ttft50 += l.ttft_p50_s, slo += l.slo_attainment, shared += r.shared_s, held += r.shared_s + r.alone_s;
    ttft99 = std::max(ttft99, l.ttft_p99_s), tpot99 = std::max(tpot99, l.tpot_p99_s), kv99 = std::max(kv99, l.kv_p99_s);
    const std::string p = "job" + std::to_string(j.id) + ".serving_";
    const std::string life = " over its lifetime (time-weighted mean over the groups it ran in)";
    const std::string worst = " over its lifetime (the worst of the groups it ran in)";
    m.set(p + "ttft_p50_s", l.ttft_p50_s, "serving job: median time to first token" + life);
    m.set(p + "ttft_p99_s", l.ttft_p99_s, "serving job: 99th percentile time to first token" + worst);
    m.set(p + "tpot_p50_s", l.tpot_p50_s, "serving job: median time per output token" + life);
    m.set(p + "tpot_p99_s", l.tpot_p99_s, "serving job: 99th percentile time per output token" + worst);
    m.set(p + "kv_mean_s", l.kv_mean_s, "serving job: mean KV-cache handoff" + life);
    m.set(p + "kv_p99_s", l.kv_p99_s, "serving job: 99th percentile KV-cache handoff" + worst);
    m.set(p + "slo_attainment", l.slo_attainment, "serving job: share of requests meeting the SLO" + life);
    m.set(p + "alone_ttft_p99_s", r.alone.ttft_p99_s, "serving job: TTFT p99 alone on a compact placement");
    m.set(p + "alone_tpot_p99_s", r.alone.tpot_p99_s, "serving job: TPOT p99 alone on a compact placement");
    m.set(p + "shared_s", r.shared_s, "serving job: seconds it ran beside other workload jobs sharing links");
    m.set(p + "alone_s", r.alone_s, "serving job: seconds it ran with no workload job sharing its links");
  }
  if (n == 0) return;
  m.set("serving_jobs", n, "serving deployments that ran (kind inference with a workload)");
  m.set("serving_ttft_p50_s_mean", ttft50 / n, "mean over serving jobs of their lifetime median TTFT, s");
  m.set("serving_ttft_p99_s_max", ttft99, "worst TTFT p99 of any serving job in any group it ran in, s");
  m.set("serving_tpot_p99_s_max", tpot99, "worst TPOT p99 of any serving job in any group it ran in, s");
  m.set("serving_kv_p99_s_max", kv99, "worst KV handoff p99 of any serving job in any group it ran in, s");
  m.set("serving_slo_attainment_mean", slo / n, "mean over serving jobs of their lifetime SLO attainment");
  m.set("serving_shared_share", held > 0 ? shared / held : 0,
        "share of the serving jobs' time spent beside other workload jobs that share links with them");
}

}  // namespace

ClusterResult simulate_cluster(const ClusterConfig& cluster, const JobTrace& trace, policy::SchedulingPolicy& policy,
                               const SimOptions& options) {
  Replay r(cluster, trace, policy, options);
  r.run();
  return r.finish_result(cluster);
}

MetricSet ClusterResult::metrics() const {
  MetricSet m;
  std::vector<double> jct, slow, wait, goodput;
  double multi = 0, multi_one_leaf = 0, leaves = 0;
  for (const auto& j : jobs) {
    if (j.end_s < 0) continue;
    jct.push_back(j.end_s - j.submit_s);
    slow.push_back((j.end_s - j.submit_s) / std::max(j.ideal_run_s, 10.0));
    wait.push_back(j.first_start_s - j.submit_s);
    goodput.push_back(j.run_s > 0 ? std::min(1.0, j.ideal_run_s / j.run_s) : 1.0);
    if (j.gpus > 8) {
      multi += 1;
      leaves += j.leaves;
      if (j.leaves == 1) multi_one_leaf += 1;
    }
  }
  auto stats = [&](const std::string& name, std::vector<double> v, const std::string& what) {
    double mean = 0;
    for (double x : v) mean += x;
    mean = v.empty() ? 0 : mean / static_cast<double>(v.size());
    std::sort(v.begin(), v.end());
    m.set(name + "_mean", mean, "mean " + what);
    m.set(name + "_p50", pct(v, 50), "median " + what);
    m.set(name + "_p99", pct(v, 99), "99th percentile " + what);
  };
  m.set("jobs_completed", static_cast<double>(jct.size()), "jobs that finished");
  stats("jct_s", jct, "job completion time (submission to end), s");
  stats("slowdown", slow, "bounded slowdown: completion time / max(ideal run time, 10 s)");
  stats("queue_delay_s", wait, "queueing delay (submission to first start), s");
  double span = end_s - start_s, busy = 0, gpus = 0, cost = 0;
  for (const auto& p : pools) {
    m.set("utilization_" + p.name, span > 0 && p.gpus ? p.busy_gpu_s / (p.gpus * span) : 0,
          "busy GPU-seconds / (GPUs x makespan) of pool " + p.name);
    busy += p.busy_gpu_s;
    gpus += p.gpus;
    cost += p.cost;
  }
  m.set("utilization", span > 0 && gpus > 0 ? busy / (gpus * span) : 0, "busy GPU-seconds / (GPUs x makespan)");
  m.set("makespan_s", span, "first submission to last completion, s");
  m.set("fragmentation", fragmentation, "time-average share of free GPUs that sit on partly used nodes");
  m.set("idle_while_waiting", idle_while_waiting, "share of the time with free GPUs during which jobs waited");
  m.set("cost_usd", cost, "GPU-hours held x each pool's price");
  double energy = 0, powered = 0;
  for (const auto& p : pools) energy += p.energy_j, powered += p.powered_gpu_s;
  m.set("energy_kwh", energy / 3.6e6, "GPU energy: powered GPU-seconds x idle watts + busy x (busy - idle) watts");
  m.set("powered_share", span > 0 && gpus > 0 ? powered / (gpus * span) : 0,
        "powered (on or booting) GPU-seconds / (GPUs x makespan)");
  m.set("boots", static_cast<double>(boots), "nodes switched on by the power policy");
  if (forecast.bins > 0) {
    m.set("forecast_mae_gpus", forecast.mae, "demand forecast: mean absolute error per hourly bin, GPUs");
    m.set("forecast_mape", forecast.mape, "demand forecast: mean absolute error / mean demand");
  }
  double gp = 0;
  for (double g : goodput) gp += g;
  m.set("goodput_mean", goodput.empty() ? 0 : gp / static_cast<double>(goodput.size()),
        "mean over jobs of ideal run time / time holding GPUs (preemption overheads lower it)");
  double pre = 0;
  for (const auto& j : jobs) pre += j.preemptions;
  m.set("preemptions", pre, "jobs stopped for others (each resumes from a checkpoint)");
  m.set("multi_node_jobs_one_leaf", multi > 0 ? multi_one_leaf / multi : 0,
        "share of jobs over 8 GPUs placed under one leaf");
  m.set("multi_node_leaves_mean", multi > 0 ? leaves / multi : 0, "mean leaves spanned by jobs over 8 GPUs");
  m.set("policy_calls", static_cast<double>(policy_calls), "scheduling passes");
  double work = 0, stretch = 0;
  for (const auto& j : jobs) {
    if (!j.workload || j.end_s < 0 || j.ideal_run_s <= 0) continue;
    work += 1;
    stretch += j.run_s / j.ideal_run_s;
  }
  if (work > 0) {
    m.set("workload_jobs", work, "jobs that ran as training workloads (speed from placement and contention)");
    m.set("workload_stretch_mean", stretch / work,
          "mean over workload jobs of time holding GPUs / time alone on a compact placement (placement and "
          "fabric contention slow jobs down)");
  }
  serving_metrics(jobs, m);
  if (work > 0 || m.has("serving_jobs"))
    m.set("speed_evaluations", static_cast<double>(speed_evaluations),
          "groups of concurrent workload jobs simulated on the fabric (the rest answered from the cache)");
  return m;
}

}  // namespace lcsim::cluster
