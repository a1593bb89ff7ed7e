// MegatronTraining's collectives: chains of them on a rank's streams, the rendezvous of a group's simulated
// ranks, contention-free memoization, and the copies symmetry runs for the groups it does not simulate.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "workloads/training/megatron_runtime.h"

namespace lcsim::wl {

using policy::CollectiveOp;
using Exposure = MegatronTraining::Exposure;

void MegatronTraining::pump_fsdp(uint32_t sim, int stream) {
  RankState& st = *states_[sim];
  const size_t k = static_cast<size_t>(stream);
  if (st.fsdp_busy[k] || st.fsdp_next[k] >= st.fsdp_queue[k].size()) return;
  const std::vector<CommCall>* comms = st.fsdp_queue[k][st.fsdp_next[k]];
  st.fsdp_busy[k] = true;
  // The stream's own copy kernels (CommCall::prep) run first, then its collectives.
  auto start = [this, sim, comms](sim::Callback done) { run_comms(sim, *comms, 0, std::move(done)); };
  sim::Callback done = [this, sim, k, stream] {
    RankState& s = *states_[sim];
    s.fsdp_busy[k] = false;
    ++s.fsdp_next[k];
    if (k == 0) {
      ++s.gathers_done;
      if (s.after_fsdp_gather && s.gathers_done >= s.await_target) std::exchange(s.after_fsdp_gather, nullptr)();
    }
    pump_fsdp(sim, stream);
    if (k == 1 && !s.fsdp_busy[1] && s.fsdp_next[1] == s.fsdp_queue[1].size()) {
      if (s.after_fsdp_reduce) std::exchange(s.after_fsdp_reduce, nullptr)();
    }
  };
  const Duration prep = comms->front().prep;
  if (prep > Duration()) {
    ctx_->engine.after(prep, [this, sim, start, done = std::move(done)]() mutable {
      // A pass blocked on this unit waited for FSDP's copies, not for its peers: charged to what it waits for
      // before the rendezvous (which counts the time a rank waited before its collective started as imbalance).
      RankState& s = *states_[sim];
      if (s.waiting) {
        resume(sim);
        wait(sim, s.why);
      }
      start(std::move(done));
    });
  } else {
    start(std::move(done));
  }
}

void MegatronTraining::run_comms(uint32_t sim, const std::vector<CommCall>& comms, size_t i, sim::Callback done,
                                 bool blocking, bool in_pass) {
  if (i == comms.size()) {
    done();
    return;
  }
  RankState& st = *states_[sim];
  if (i == 0 && !blocking) {  // beside the kernels: counted for SM contention (start_compute, after_compute)
    // Not while a pass folded beside the data-parallel stream runs: the fold has counted this chain (fold_beside_dp).
    if (!st.folding_dp && st.beside++ == 0) st.beside_since = ctx_->engine.now();
    done = [this, sim, next = std::move(done)] {
      RankState& s = *states_[sim];
      if (!s.folding_dp && --s.beside == 0) s.beside_total += ctx_->engine.now() - s.beside_since;
      next();
    };
  }
  if (blocking && st.waiting && i > 0) {  // a blocking chain: charge each collective to its own kind
    resume(sim);
    wait(sim, comms[i].kind);
  }
  const Duration start = ctx_->engine.now();
  // A pass's own collectives are kernel-level detail (outputs.timeline_detail).
  const bool on_timeline = kernel_spans_ || !in_pass;
  auto ticket = on_timeline && traced(sim) ? std::make_shared<EdgeTicket>() : nullptr;
  const SpanKind kind = comms[i].kind == Exposure::kDp ? SpanKind::kDataParallel : SpanKind::kComm;
  if (ticket) ticket->kind = kind;
  EdgeTicket* t = ticket.get();
  collective(sim, comms[i], [this, sim, &comms, i, start, blocking, in_pass, on_timeline, kind,
                             ticket = std::move(ticket), done = std::move(done)]() mutable {
    if (on_timeline) {
      if (ticket) collective_flows(*ticket);
      trace(sim, kind, comms[i].name, start);
    }
    run_comms(sim, comms, i + 1, std::move(done), blocking, in_pass);
  }, t);
}

void MegatronTraining::mark_arrival(uint32_t sim, const std::vector<uint32_t>& group,
                                    const std::tuple<int, uint32_t, uint64_t>& key, EdgeTicket* ticket) {
  auto& edges = open_edges_[key];
  const uint32_t n = static_cast<uint32_t>(group.size());
  if (!edges) {  // the first arrival: the group's traced participants
    edges = std::make_shared<CollectiveEdges>();
    edges->n = n;
    edges->base = next_edge_;
    next_edge_ += static_cast<uint64_t>(n) * n;
    edges->from.assign(n, 0);
    edges->traced.assign(n, 0);
    for (uint32_t j = 0; j < n; ++j) {
      const int s = sim_index_[group[j]];
      edges->traced[j] = s >= 0 && traced(static_cast<uint32_t>(s)) ? 1 : 0;
    }
  }
  const uint32_t rank = states_[sim]->rank;
  const uint32_t me = static_cast<uint32_t>(std::find(group.begin(), group.end(), rank) - group.begin());
  ticket->edges = edges;
  ticket->index = me;
  // What the rank did last, if it ended just now (the pass, send or collective it came from), is what the others
  // waited on; a rank that arrives from the middle of a pass (an overlapped gradient bucket after the layer that
  // completed it, an FSDP prefetch) came from that pass, whose span is written when it ends (task_done).
  SpanEvent* held = ctx_->tracer.held_span();
  std::vector<FlowStep>* out = nullptr;
  bool self = true;  // not to its own span when it came from the same lane: the lane's order says that already
  if (me < n && held && held->rank == rank && held->end == ctx_->engine.now() && held->kind != SpanKind::kLink &&
      held->kind != SpanKind::kPhase) {
    out = &held->flows;
    self = held->kind != ticket->kind;
  } else if (me < n && states_[sim]->pass_open && traced(sim)) {
    out = &states_[sim]->pass_flows;
  }
  if (out) {
    for (uint32_t r = 0; r < n; ++r) {
      if (edges->traced[r] && (r != me || self)) out->push_back({edge_id(*edges, me, r), false, true});
    }
    edges->from[me] = self ? 1 : 2;
  }
}

void MegatronTraining::collective_flows(const EdgeTicket& ticket) const {
  const CollectiveEdges* edges = ticket.edges.get();
  if (!edges || ticket.index >= edges->n) return;
  for (uint32_t i = 0; i < edges->n; ++i) {
    if (edges->from[i] == 1 || (edges->from[i] == 2 && i != ticket.index)) {
      next_flows_.push_back({edge_id(*edges, i, ticket.index), true, false});
    }
  }
}

void MegatronTraining::collective(uint32_t sim, const CommCall& c, sim::Callback done, EdgeTicket* ticket) {
  RankState& st = *states_[sim];
  const std::vector<uint32_t>& group = group_of(c.group, st.rank);
  if (group.size() < 2) {
    done();
    return;
  }
  const size_t counter = static_cast<size_t>(c.group) + kGroupKinds * static_cast<size_t>(c.stream);
  const uint64_t seq = st.seq[counter]++;
  const auto key = std::make_tuple(static_cast<int>(counter), group.front(), seq);
  const uint32_t members = simulated_members(group);
  for (RankState::StreamCursor* cur : {&st.dp_cursor, &st.gather_cursor}) {
    if (!cur->chain || &c < cur->chain->data() || &c >= cur->chain->data() + cur->chain->size()) continue;
    // A data-parallel stream's collective: which one runs, and its end where launch() will take a memoized time.
    cur->index = static_cast<size_t>(&c - cur->chain->data());
    const Duration* time = time_alone(c, group);
    cur->end_known = time != nullptr;
    if (time) cur->end = ctx_->engine.now() + *time;  // launch(): engine.after(time), at now + time
  }
  if (ticket) mark_arrival(sim, group, key, ticket);
  pending_.arrive(key, sim, std::move(done), members, [&](Pending::Arrivals waiters) {
    open_edges_.erase(key);  // every participant has its ticket
    // Ranks that arrived early and blocked waited for their peers, not for the network: that is imbalance
    // between ranks, counted with the bubble.
    const Duration now = ctx_->engine.now();
    for (const auto& w : waiters) {
      RankState& ws = *states_[w.member];
      if (ws.waiting && ws.wait_start < now) {
        ws.waits[static_cast<size_t>(Exposure::kBubble)] += now - ws.wait_start;
        ws.wait_start = now;
      }
    }
    launch(st.rank, c, group, [waiters = std::move(waiters)] {
      for (const auto& w : waiters) w.value();
    });
  });
}

const std::vector<uint32_t>& MegatronTraining::group_of(GroupKind kind, uint32_t rank) {
  // Every rank's world group is the same one: built once.
  const auto gkey = std::make_tuple(static_cast<int>(kind), kind == GroupKind::kWorld ? 0u : rank);
  auto git = group_cache_.find(gkey);
  if (git == group_cache_.end()) git = group_cache_.emplace(gkey, placement_.group(kind, rank)).first;
  return git->second;
}

uint32_t MegatronTraining::simulated_members(const std::vector<uint32_t>& group) const {
  uint32_t members = 0;
  for (uint32_t r : group) members += sim_index_[r] >= 0 ? 1 : 0;
  return members;
}

const Duration* MegatronTraining::time_alone(const CommCall& c, const std::vector<uint32_t>& group) const {
  if (group.size() < 2 || simulated_members(group) != 1 || !memoizable(group)) return nullptr;
  const auto it = collective_cache_.find(collective_key(c, group));
  return it == collective_cache_.end() ? nullptr : &it->second;
}

std::string MegatronTraining::collective_algorithm(const std::string& configured) const {
  return config_.deterministic_mode && configured == "auto" ? "ring" : "";
}

bool MegatronTraining::memoizable(const std::vector<uint32_t>& group) const {
  bool local = true;
  for (uint32_t r : group) local = local && ctx_->gpus[r].node == ctx_->gpus[group.front()].node;
  return local ? ctx_->scale_up != nullptr : !flow_;
}

MegatronTraining::CollectiveKey MegatronTraining::collective_key(const CommCall& c, const std::vector<uint32_t>& group) {
  return std::make_tuple(static_cast<int>(c.group) * 128 + static_cast<int>(c.op) * 2 + (c.skew_sends ? 1 : 0),
                         static_cast<int64_t>(c.size.bytes()), group.front(), group.back(),
                         static_cast<uint32_t>(group.size()), c.skew);
}

void MegatronTraining::launch(uint32_t rank, const CommCall& c, const std::vector<uint32_t>& group, sim::Callback done) {
  bool local = true;
  for (uint32_t r : group) local = local && ctx_->gpus[r].node == ctx_->gpus[group.front()].node;
  // Without contention (private scale-up links, or the analytical model's links to itself) a collective's time
  // depends only on the operation, the group and the size: calls are simulated until one runs with no batch queued
  // behind an earlier instant's traffic meanwhile (TransferModel::batches_queued; its copies in the other groups,
  // launched with it, do not count), and later calls reuse that one's time. A reused time is charged no contention
  // with other traffic; before 4 Dec 2026 the first call's was reused, contended or not (docs/validation.md).
  net::Collectives* coll = local && ctx_->scale_up ? ctx_->scale_up : &ctx_->collectives;
  if (memoizable(group)) {
    const CollectiveKey key = collective_key(c, group);
    auto it = collective_cache_.find(key);
    if (it != collective_cache_.end()) {
      ctx_->engine.after(it->second, std::move(done));
      return;
    }
    const Duration start = ctx_->engine.now();
    const uint64_t queued = coll->transfer().batches_queued();
    run_on(*coll, c, group, [this, coll, key, start, queued, done = std::move(done)] {
      if (coll->transfer().batches_queued() == queued) collective_cache_[key] = ctx_->engine.now() - start;
      done();
    });
    return;
  }
  if (symmetric_ && flow_ && !local) {
    // The same collective runs in every group of this kind on this stage: launch them all, finish with the last.
    const int stage = c.group == GroupKind::kEmbedding ? 0 : placement_.coord(rank).pp;
    auto mit = mirror_cache_.find({static_cast<int>(c.group), stage});
    if (mit == mirror_cache_.end()) {
      std::set<std::vector<uint32_t>> found;
      for (uint32_t r = 0; r < ctx_->gpus.size(); ++r) {
        if (placement_.coord(r).pp == stage) found.insert(placement_.group(c.group, r));
      }
      mit = mirror_cache_.emplace(std::make_pair(static_cast<int>(c.group), stage),
                                  std::vector<std::vector<uint32_t>>(found.begin(), found.end())).first;
    }
    const auto& groups = mit->second;
    // How far apart the copies finish tells whether they really are alike (ECMP collisions hit some groups).
    auto copies = std::make_shared<Copies>(Copies{groups.size(), -1.0, ctx_->engine.now().s()});
    auto cb = std::make_shared<sim::Callback>(std::move(done));
    for (const auto& g : groups) {
      run_on(ctx_->collectives, c, g, [this, copies, cb] {
        if (copy_arrived(*copies)) (*cb)();
      });
    }
    return;
  }
  run_on(ctx_->collectives, c, group, std::move(done));
}

bool MegatronTraining::copy_arrived(Copies& c) {
  const double now = ctx_->engine.now().s();
  if (c.first < 0) c.first = now;
  if (--c.left > 0) return false;
  if (now > c.start) mirror_spread_ = std::max(mirror_spread_, (now - c.first) / (now - c.start));
  return true;
}

void MegatronTraining::run_on(net::Collectives& coll, const CommCall& c, const std::vector<uint32_t>& group,
                              sim::Callback done) {
  if (c.op != CollectiveOp::kAllToAll || c.skew <= 1) {
    coll.run(c.op, group, c.size, std::move(done), std::nullopt, c.token_dispatch);
    return;
  }
  // An uneven all-to-all: the group's first rank is the busiest expert rank.
  const size_t n = group.size();
  const Bytes pair = c.size / static_cast<double>(n);
  const double hot = c.skew, cold = (static_cast<double>(n) - hot) / static_cast<double>(n - 1);
  std::vector<std::vector<Bytes>> sizes(n, std::vector<Bytes>(n));
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) sizes[i][j] = pair * ((c.skew_sends ? i : j) == 0 ? hot : cold);
  }
  coll.all_to_allv(group, sizes, std::move(done), c.token_dispatch);
}

void MegatronTraining::pump_side(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.side_busy || st.side_next >= st.side_queue.size()) return;
  const std::vector<CommCall>* comms = st.side_queue[st.side_next];
  st.side_busy = true;
  run_comms(sim, *comms, 0, [this, sim] {
    RankState& s = *states_[sim];
    s.side_busy = false;
    ++s.side_next;
    pump_side(sim);
    if (!s.side_busy && s.after_side) std::exchange(s.after_side, nullptr)();
  }, false, true);
}

std::shared_ptr<std::vector<MegatronTraining::CommCall>> MegatronTraining::bucket_comms(const Bucket& b) const {
  const double gb = config_.grad_bytes();
  // rs_fp32_accumulation: the reduce-scatter an all-to-all of the same buffer (all_to_all_single over the group).
  const CollectiveOp op = config_.grads_all_reduced()      ? CollectiveOp::kAllReduce
                          : config_.rs_fp32_accumulation() ? CollectiveOp::kAllToAll
                                                           : CollectiveOp::kReduceScatter;
  auto comms = std::make_shared<std::vector<CommCall>>();
  const auto call = [&](CollectiveOp o, GroupKind g, double bytes) {
    comms->push_back({o, g, Bytes::of(bytes), Exposure::kDp, std::string(group_kind_name(g)) + " " + op_word(o) + " grads"});
  };
  // The partial distributed optimizer (start_grad_sync with num_distributed_optimizer_instances > 1): each bucket
  // reduce-scattered within the optimizer instance, then this rank's shard all-reduced across the instances, one
  // after the other on the communication stream.
  const bool partial = config_.num_distributed_optimizer_instances > 1;
  if (b.dense_params > 0) {
    call(op, config_.optimizer_group(), b.dense_params * gb);
    if (partial) call(CollectiveOp::kAllReduce, GroupKind::kDpCpInter, b.dense_params * gb / config_.optimizer_dp(dp_));
  }
  if (b.expert_params > 0) {
    call(op, config_.optimizer_expert_group(), b.expert_params * gb);
    if (partial) call(CollectiveOp::kAllReduce, GroupKind::kEdpInter, b.expert_params * gb / config_.optimizer_edp(dp_));
  }
  return comms;
}

void MegatronTraining::pump_dp(uint32_t sim) {
  RankState& st = *states_[sim];
  if (st.dp_busy || st.dp_next >= st.dp_queue.size()) return;
  const Bucket& bucket = st.plan->buckets[static_cast<size_t>(st.dp_queue[st.dp_next++])];
  auto comms = bucket_comms(bucket);
  st.dp_busy = true;
  st.dp_cursor.chain = comms.get();  // alive while the chain runs: its callback holds it
  run_comms(sim, *comms, 0, [this, sim, comms, sum = bucket.accumulate] {
    RankState& s = *states_[sim];
    s.dp_busy = false;
    s.dp_cursor.chain = nullptr;
    const auto next = [this, sim] {
      ++states_[sim]->buckets_done;
      pump_dp(sim);
      maybe_optimizer(sim);
    };
    if (sum > Duration()) {
      if (config_.overlap_grad_reduce) {  // summed by finish_grad_sync after the passes (maybe_optimizer)
        s.accumulate_after.emplace_back(ctx_->engine.now(), sum);
      } else {  // synchronous: the sum follows its all-to-all on the same stream, before the next bucket's
        resume(sim);
        const Duration d = sum * s.slow;
        s.compute += d;
        compute_span(sim, d, "fp32 accumulation of reduced gradients", [this, sim, next] {
          wait(sim, Exposure::kDp);
          next();
        });
        return;
      }
    }
    next();
  });
}

}  // namespace lcsim::wl
