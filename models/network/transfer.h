// Transfer models: how long a batch of flows started together takes on the fabric. Both models route each flow
// over the topology's equal-cost paths through a load-balancing policy and report busy links to the tracer.
//   flow:       SimGrid max-min fair sharing over every link of every path, with everything else in flight.
//   analytical: per-link load of this batch (time = max over links of bytes / bandwidth, plus the largest path
//               latency). Exact for a batch whose flows all share their bottleneck evenly (collective waves), and
//               orders of magnitude cheaper. Concurrent batches meet only on switch-to-switch links (spine, core,
//               an explicit fabric's), where the load-balancing policy decides which flows collide: each such link
//               serves the bytes routed over it in turn (a batch's bytes there wait for those of earlier batches
//               still queued), so flows ECMP hashes onto one uplink share it and sprayed ones spread. Links every
//               path of a flow crosses (PCIe, NIC, scale-up) are the batch's own, as before.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/network/topology.h"
#include "policies/load_balancing.h"
#include "sim/engine.h"
#include "sim/registry.h"
#include "sim/trace.h"

namespace lcsim::net {

struct FlowRequest {
  uint32_t src;
  uint32_t dst;
  Bytes size;
  uint64_t label = 0;  // channel / connection number, seen by ECMP hashing
  /// May move at one rate with the batch's other coupled flows of its size and path latency (an all-to-all's
  /// flows: see TransferOptions::couple_from). Only the flow model reads it.
  bool coupled = false;
  /// A fixed latency paid before its bytes move, on top of its path's (a send/recv's protocol latency,
  /// Collectives::p2p_flow): no event of its own; the analytical model adds it to the batch's latency, the flow model
  /// starts the flow that much later.
  Duration latency = {};
};

/// Size-dependent calibration of flows, as SimGrid's own network calibration does: a flow of `size` bytes moves at
/// bandwidth_factor(size) of the bandwidth it would get, and pays latency_factor(size) times its path latency.
/// Each table is a list of (from this size up, factor) steps, smallest size first; no step = factor 1.
struct FlowCalibration {
  struct Step {
    Bytes min_size;
    double factor = 1;
    void visit(Section& s);
  };
  std::vector<Step> bandwidth_factors;
  std::vector<Step> latency_factors;
  void visit(Section& s);
  double bandwidth_factor(Bytes size) const { return lookup(bandwidth_factors, size); }
  double latency_factor(Bytes size) const { return lookup(latency_factors, size); }

 private:
  static double lookup(const std::vector<Step>& steps, Bytes size);
};

struct TransferOptions {
  const Tracer* tracer = nullptr;
  size_t max_traced_links = 32;  // busy-link tracks per tier in the timeline (first links to carry traffic)
  FlowCalibration calibration;
  /// Flow model: a batch with at least this many coupled flows (FlowRequest::coupled: an all-to-all's) runs each
  /// class of them (same size, extra latency and path latency) as one engine flow at one rate over all their
  /// paths (Engine::flow_spread). Exact for the class's finish time when it has the links to itself (the most
  /// loaded link sets every flow's max-min rate at c/n for the whole transfer either way); under other traffic
  /// its flows off that link cannot speed up (docs/performance-flow.md, "Coupled all-to-all classes").
  size_t couple_from = 1024;
  /// Keep each link's current rate for current_rate() (what the utilization sampler reads; the flow model's rates
  /// are the engine's). Off: the analytical model does not add up rates nobody reads, and its current_rate() is 0.
  bool link_rates = true;
};

class TransferModel : public policy::LinkLoads {
 public:
  TransferModel(sim::Engine& engine, Topology& topology, const policy::LoadBalancer& balancer,
                TransferOptions options);
  virtual ~TransferModel() = default;
  /// Starts all flows now; `done` runs once every one has arrived. If a link under one of them fails first, the
  /// rest of the batch is cancelled and `failed` runs instead (when given; otherwise the batch just never ends).
  virtual void transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed = {}) = 0;
  /// The same, with `done->fire(tag)` once every flow has arrived instead of a callback (no `failed`: a failed batch
  /// never ends). The analytical model calls it straight from its completion event, with no std::function.
  virtual void transfer_to(const std::vector<FlowRequest>& flows, sim::EventSink* done, uint64_t tag) {
    transfer(flows, [done, tag] { done->fire(tag); });
  }
  /// A caller's memo of where a one-flow batch it repeats (a pipeline send between the same two ranks) was routed:
  /// filled by the first transfer_to() given it, then read instead of looking the route up again. Opaque; a stale
  /// or mismatched memo is detected and refilled, so a wrong one costs a lookup, never a wrong route.
  struct RouteMemo {
    const void* route = nullptr;
    uint64_t epoch = 0;
  };
  /// transfer_to() of the one flow `flow`, with the caller's memo of its route (the analytical model keeps routes;
  /// the flow model ignores the memo).
  virtual void transfer_to(const FlowRequest& flow, sim::EventSink* done, uint64_t tag, RouteMemo* /*memo*/) {
    transfer_to(std::vector<FlowRequest>{flow}, done, tag);
  }
  /// The same one-flow batch without a completion event, for a caller that reads its arrival time instead of being
  /// told (a pipeline send whose receiver is busy: it looks at the time when it needs the input). Where the model can
  /// (the analytical one, over a route kept in `memo`, with no timeline spans or link rates that need the batch in
  /// flight): makes every addition transfer_to() makes (bytes per link, the fabric links' queues, counts), sets
  /// `*arrival` to the time transfer_to()'s event would fire at, and returns true. Otherwise false, and nothing
  /// happened: the caller uses transfer_to(). Such a batch cannot be failed or re-timed in flight, so a link changed
  /// through this model before the last one's arrival is an internal error (no run changes links mid-step).
  virtual bool transfer_unwatched(const FlowRequest& /*flow*/, RouteMemo* /*memo*/, Duration* /*arrival*/) {
    return false;
  }

  // --- Runtime fabric changes. New flows route around links that are down (the topology's paths skip them);
  // batches in flight over a link that goes down fail; a bandwidth change re-times the batches on that link. ---
  void set_link_up(uint32_t link, bool up);
  void set_link_bandwidth(uint32_t link, Bandwidth bandwidth);
  uint64_t batches_failed() const { return batches_failed_; }
  /// Batches whose time a fabric link's queue of earlier batches lengthened (the analytical model: bytes routed
  /// over the link at an earlier instant still crossing it; batches started at the same instant, e.g. one
  /// collective's copies in every group, are not counted against each other). A caller that reuses a transfer's
  /// time reuses only one during which none was counted: the flow model shares bandwidth instead and counts none.
  uint64_t batches_queued() const { return batches_queued_; }

  uint64_t flows_started() const { return flows_started_; }
  /// Bytes per second a link carries now.
  virtual Bandwidth current_rate(uint32_t link) const = 0;
  /// Bytes each link has carried (or been assigned) so far.
  const std::vector<double>& bytes_per_link() const { return link_bytes_; }
  /// Flows in flight on a link now (what adaptive routing reads). Without a timeline the analytical model's sends
  /// over a kept route (RouteMemo) leave their links unmarked and are not counted here: only a policy that reads
  /// no loads lets routes be kept, so no reader of load() misses them.
  double load(uint32_t link) const override { return active_[link]; }
  Bytes bytes_moved() const { return bytes_moved_; }

 protected:
  struct SubFlow {
    uint32_t src, dst;
    Bytes size;         // as the links see it: the flow's share / bandwidth factor
    const Path* path;
    Duration extra_latency;  // (latency factor - 1) x path latency, plus the request's own latency
    uint32_t flow = 0;       // index of its request in the batch
  };
  /// A pair's equal-cost candidate paths and each one's latency (the sum over its links), computed once per pair
  /// and kept until a link goes up or down (Topology::up_version) or the cache is full. Shared, so a batch in
  /// flight keeps the paths its sub-flows point into.
  struct Candidates {
    std::vector<Path> paths;
    std::vector<Duration> latency;
  };
  using CandidatesPtr = std::shared_ptr<const Candidates>;
  /// Splits requests into per-path sub-flows by the load-balancing policy and marks their links busy, one flow
  /// after the other (so a load-aware policy sees the flows routed before). The sub-flows' paths point into
  /// routed_, which holds each flow's candidates until the next call (copy it to keep them longer).
  void route(const std::vector<FlowRequest>& flows, std::vector<SubFlow>& out);
  std::vector<CandidatesPtr> routed_;
  void account(const std::vector<FlowRequest>& flows);
  void account(const FlowRequest& flow);  // the same for a batch of one
  /// route()'s marks for one sub-flow: its path's links busy, its bytes added to each link's count.
  void mark(const SubFlow& s);
  /// mark()'s bytes per link alone (no busy marks), from a flat list of (link, bytes): each sub-flow's bytes for
  /// each link of its path, in route()'s order.
  void count_bytes(const std::vector<std::pair<uint32_t, double>>& adds);
  void links_busy(const Path& p);
  void links_idle(const Path& p);
  /// `count` more sub-flows of `each` bytes are routed over `link` (what route() marks for each of their paths,
  /// link by link), and `count` of them have ended (links_idle()).
  void link_busy(uint32_t link, uint32_t count, Bytes each);
  void link_idle(uint32_t link, uint32_t count);
  void unroute(const Path& p, Bytes size);  // undoes route()'s marking without a trace (for estimates)

  /// What the model does about a link that changed (its topology entry already has the new state).
  virtual void link_changed(uint32_t link) = 0;

  sim::Engine& engine_;
  Topology& topology_;
  const policy::LoadBalancer& balancer_;
  TransferOptions options_;
  uint64_t flows_started_ = 0;
  uint64_t batches_failed_ = 0;
  uint64_t batches_queued_ = 0;
  /// The latest arrival of a transfer_unwatched() batch (set_link_up / set_link_bandwidth before it: internal error).
  Duration unwatched_until_;
  Bytes bytes_moved_;

 private:
  const CandidatesPtr& candidates(uint32_t src, uint32_t dst);
  std::unordered_map<uint64_t, CandidatesPtr> path_cache_;  // key: src << 32 | dst; looked up, never iterated
  size_t path_cache_links_ = 0;                             // link ids held by path_cache_ (its size bound)
  uint64_t path_cache_version_ = 0;                         // the topology's up_version() it was filled at
  std::vector<Path> candidates_;
  std::vector<policy::PathShare> shares_;
  std::vector<double> link_bytes_;
  std::vector<uint32_t> active_;       // sub-flows in flight per link (and routed, not yet started)
  std::vector<Duration> busy_since_;
  std::vector<int> traced_;            // -1 unknown, 0 no, 1 yes
  std::vector<std::string> bandwidth_text_;  // per traced link: to_string(its bandwidth), made once
  std::map<std::string, size_t> traced_per_tier_;
  SpanEvent busy_span_;  // links_idle()'s span, filled in place (its argument vector reused; subscribers copy)
};

class FlowTransfer final : public TransferModel {
 public:
  using TransferModel::TransferModel;
  /// Creates one SimGrid link per topology link; call once before the first transfer.
  void install(const std::vector<sim::HostId>& endpoint_hosts);
  void transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed = {}) override;
  Bandwidth current_rate(uint32_t link) const override { return engine_.link_usage(link_ids_[link]); }

 private:
  void link_changed(uint32_t link) override;
  std::vector<sim::HostId> hosts_;
  std::vector<sim::LinkId> link_ids_;
  /// Scratch of transfer() for a coupled class: per topology link, its entry in the class's link list, valid where
  /// link_stamp_ holds the class's stamp (so nothing is cleared between classes).
  std::vector<uint32_t> link_entry_;
  std::vector<uint64_t> link_stamp_;
  uint64_t stamp_ = 0;
  /// Coupled batches routed before, by a hash of their flows (transfer.cc): an all-to-all repeated with the same
  /// ranks and sizes reuses its routes and classes while the routes cannot change (the topology's links up as
  /// they were, a policy that does not read loads).
  struct Plan;
  /// Routes the batch (marking its links busy) and groups it into engine flows.
  std::shared_ptr<const Plan> make_plan(const std::vector<FlowRequest>& flows, bool couple);
  /// The kept plan of this batch, its links marked busy again; null where none is kept.
  std::shared_ptr<const Plan> kept_plan(const std::vector<FlowRequest>& flows, uint64_t key);
  /// Starts the plan's engine flows: `done` once all have arrived, `failed` if one fails first.
  void launch(std::shared_ptr<const Plan> plan, sim::Callback done, sim::Callback failed);
  std::unordered_map<uint64_t, std::shared_ptr<const Plan>> plans_;
  uint64_t plans_version_ = 0;
  size_t plans_size_ = 0;
};

class AnalyticalTransfer final : public TransferModel, public sim::EventSink {
 public:
  using TransferModel::TransferModel;
  void transfer(const std::vector<FlowRequest>& flows, sim::Callback done, sim::Callback failed = {}) override;
  void transfer_to(const std::vector<FlowRequest>& flows, sim::EventSink* done, uint64_t tag) override;
  void transfer_to(const FlowRequest& flow, sim::EventSink* done, uint64_t tag, RouteMemo* memo) override;
  bool transfer_unwatched(const FlowRequest& flow, RouteMemo* memo, Duration* arrival) override;
  /// The engine's: a batch's completion timer (Engine::post, tag = its slot) fired, or was cancelled from outside.
  void fire(uint64_t slot) override { finish(static_cast<uint32_t>(slot)); }
  void cancelled(uint64_t slot) override {
    if (!retiming_) abandon(static_cast<uint32_t>(slot));
  }
  /// The time transfer() would take for these flows (no side effects).
  Duration estimate(const std::vector<FlowRequest>& flows);
  /// Each batch moves its bytes evenly over its duration: a link's rate is the sum over the batches in flight.
  Bandwidth current_rate(uint32_t link) const override {
    return Bandwidth::bytes_per_s(rate_.empty() ? 0.0 : rate_[link]);
  }

 private:
  using LinkLoadList = std::vector<std::pair<uint32_t, double>>;  // link, bytes of the batch over it
  /// A one-flow batch's route kept by (source, destination, label, size) while routes cannot change (the
  /// topology's links up as they were, a policy that does not read loads): its sub-flows, its links' loads and
  /// its largest path latency are what route() and cost() would compute again. Only the fabric-link queues and
  /// the bandwidths are read at each transfer. Pipeline sends repeat a few such batches thousands of times.
  struct KeptKey {
    uint32_t src, dst;
    uint64_t label;
    double size;
    double latency;  // the request's own (FlowRequest::latency), in seconds
    bool operator==(const KeptKey&) const = default;
    static KeptKey of(const FlowRequest& f) { return {f.src, f.dst, f.label, f.size.bytes(), f.latency.s()}; }
  };
  struct KeptKeyHash {
    size_t operator()(const KeptKey& k) const;
  };
  struct Kept {
    KeptKey key;
    CandidatesPtr candidates;
    std::vector<SubFlow> subs;
    LinkLoadList loads;
    double latency = 0;
    /// Batches in flight that started from it (Batch::kept), counted without atomics (a model is one thread's):
    /// a kept route dropped from kept_ while some are in flight waits in retired_ until the last one ends.
    uint32_t live = 0;
    bool retired = false;
    /// timed() of `loads` in two parts: the largest load / bandwidth over the links that are not fabric links (a
    /// maximum, which does not depend on the order of the links), and the fabric links' loads, which queue behind
    /// other batches. The bandwidths are those the route was kept at: link_changed() forgets the kept routes.
    double own_serialization = 0;
    LinkLoadList fabric_loads;
    /// count_bytes() over `subs`, flat: each sub-flow's bytes for each link of its path, in the same order (one
    /// array walked per send instead of a pointer chase per sub-flow: the same additions in the same order).
    LinkLoadList byte_counts;
  };
  /// A batch in flight: its bytes per link, moved evenly over its serialization time, then its latency. Batches
  /// live in reused slots that keep their vectors' capacity (no allocation per send once the slots are warm).
  struct Batch {
    uint64_t id = 0;    // order of creation: link_changed() visits the batches in flight in this order
    bool live = false;  // in flight (false: a free slot)
    sim::Handle timer;
    std::vector<std::pair<uint32_t, double>> loads;  // link, bytes of this batch still to cross it
    std::vector<std::pair<uint32_t, double>> rates;  // link, bytes/s this batch adds to it (current_rate)
    std::vector<const Path*> paths;   // into `keep`
    std::vector<CandidatesPtr> keep;
    Duration latency;        // the largest path latency, paid after the bytes have crossed
    Duration serial_start;   // when the current serialization stretch began
    Duration serial_end;     // when the bytes will have crossed at the current bandwidths
    sim::Callback done, failed;
    sim::EventSink* done_sink = nullptr;  // transfer_to(): done_sink->fire(done_tag) instead of `done`
    uint64_t done_tag = 0;
    /// Started from a kept route: its loads, rates (load / span) and paths are the kept route's, read from there
    /// instead of copied into loads, rates and paths (unkeep() copies them where a link change needs them).
    /// Counted in the route's `live` (no shared pointer: an atomic count per send otherwise).
    Kept* kept = nullptr;
    double span = 0;  // the batch's time when it started, in seconds (its rates' divisor)
    /// Its links are marked busy (active_, busy_since_). A batch from a kept route skips that where nothing reads
    /// them (start_kept); it still adds its bytes per link.
    bool counted = true;
  };
  /// A kept batch's loads, rates and paths copied into its own vectors, as start() fills them for other batches.
  void unkeep(Batch& b);
  /// What finish() and abandon() undo: the batch's rates, then its links busy.
  void release(const Batch& b);
  /// transfer() and transfer_to(): route (or take the kept route), then start(). `memo`: transfer_to()'s of one flow.
  void begin(const std::vector<FlowRequest>& flows, sim::Callback&& done, sim::Callback&& failed, sim::EventSink* sink,
             uint64_t tag, RouteMemo* memo = nullptr);
  /// The kept route of a one-flow batch, or null (after emptying kept_ where the links changed or it is full).
  Kept* find_kept(const KeptKey& key);
  /// The route in the caller's memo where it is still kept (the same epoch of kept_, the links up as they were) and
  /// is this flow's: what begin() would find in kept_; null otherwise.
  Kept* memo_route(const FlowRequest& flow, const RouteMemo* memo);
  /// A kept route's batch joins its fabric links' queues at `now` (start() without link rates, transfer_unwatched()).
  void queue_kept(const Kept& k, double now);
  /// Empties kept_ (routes batches in flight still read wait in retired_) and starts a new epoch of it.
  void forget_kept();
  /// timed() of a batch from kept route `k`: the same time, visiting only its fabric links.
  Duration timed(const Kept& k);
  /// What timed() gathers over a batch's links: the largest serialization (a fabric link's behind its queue), the
  /// largest of the batch's own bytes alone, and the largest behind an earlier instant's traffic only.
  struct Serialization {
    double now, worst = 0, own = 0, behind_earlier = 0;
    void add(double alone);  // a link that is no fabric link: no queue
    void add_fabric(const AnalyticalTransfer& t, uint32_t l, double alone);
  };
  /// The batch's time from its links (counts a batch queued behind earlier traffic: batches_queued()); sets
  /// last_latency_ and last_serialization_.
  Duration timed(const Serialization& q, double latency);
  /// Starts the one-flow batch `flow` from its kept route: route()'s marks, account(), cost()'s time from the kept
  /// loads. `done` and `failed`: null for none (transfer_to(): nothing built or destroyed per send).
  void start_kept(const FlowRequest& flow, Kept& k, sim::Callback* done, sim::Callback* failed, sim::EventSink* sink,
                  uint64_t tag);
  /// The batch no longer reads its kept route; a retired route is freed with its last batch.
  void drop_kept(Batch& b);
  bool retiming_ = false;  // a timer cancelled by retime() or a failure: no abandon()
  void link_changed(uint32_t link) override;
  void finish(uint32_t slot);
  void abandon(uint32_t slot);  // the batch's timer was cancelled from outside: undo its marks, no callback
  void retime(uint32_t slot, Duration when);
  uint32_t take_slot();
  void free_slot(uint32_t slot);  // empties it, keeping its vectors' capacity

  std::vector<double> rate_;  // bytes/s per link, from batches in flight
  std::vector<Batch> batches_;          // slots, in flight or free
  std::vector<uint32_t> free_batches_;  // free slots
  uint64_t next_batch_ = 0;
  std::vector<SubFlow> subs_;  // transfer()'s sub-flows (reused)
  std::vector<FlowRequest> flow_;  // transfer_to()'s one flow as a batch, where it is routed (reused)
  /// Sets loads_ (the batch's links in the order first touched, each with its load) and returns timed()'s time.
  Duration cost(const std::vector<SubFlow>& subs);
  /// The batch's time from its links' loads and its largest path latency: the bytes of the most loaded link,
  /// behind what a fabric link still has queued, plus the latency. Sets last_latency_ and last_serialization_.
  Duration timed(const LinkLoadList& loads, double worst_latency);
  /// Starts the routed batch (subs, routed_, the loads and time from cost() or a kept route): its slot, the
  /// fabric-link queues, the per-link rates, and its completion timer.
  /// `kept`: the kept route the batch starts from (subs and loads are its), or null.
  /// `done` and `failed` (null: none) are moved into the batch. `counted`: its links were marked busy.
  void start(const std::vector<SubFlow>& subs, const LinkLoadList& loads, Duration t, sim::Callback* done,
             sim::Callback* failed, sim::EventSink* sink, uint64_t tag, Kept* kept, bool counted = true);
  std::vector<double> load_;         // bytes per link, scratch (zero outside touched_)
  std::vector<uint32_t> touched_;    // links with a non-zero load_
  LinkLoadList loads_;               // of the last cost() call
  Duration last_latency_, last_serialization_;  // of the last cost() call
  /// Read by the batches in flight that started from them (Batch::kept, Kept::live).
  std::unordered_map<KeptKey, std::unique_ptr<Kept>, KeptKeyHash> kept_;  // looked up; iterated only to empty it
  uint64_t kept_version_ = 0;                           // the topology's up_version() it was filled at
  uint64_t kept_epoch_ = 1;                             // how many times kept_ was started (RouteMemo::epoch)
  std::vector<std::unique_ptr<Kept>> retired_;          // out of kept_, with batches in flight
  /// Switch-to-switch links (both ends neither an endpoint nor an endpoint's own switch): shared between batches.
  /// Bytes, not std::vector<bool>: read once per link of every send.
  std::vector<uint8_t> fabric_link_;
  /// Per fabric link: when it will have carried every byte routed over it so far, in seconds (a queue served at
  /// the link's bandwidth).
  std::vector<double> drained_at_;
  /// Per fabric link: drained_at_ as it was before the first batch of the instant earlier_at_ joined its queue, so
  /// that a batch can tell a queue left by earlier batches from one of batches started at the same instant as it
  /// (the copies of one collective in every group, launched together: batches_queued() counts only the first).
  std::vector<double> earlier_drained_, earlier_at_;
  double earlier_drained(uint32_t l, double now) const { return earlier_at_[l] == now ? earlier_drained_[l] : drained_at_[l]; }
  void queue_on(uint32_t l, double now, double seconds) {
    if (earlier_at_[l] != now) earlier_at_[l] = now, earlier_drained_[l] = drained_at_[l];
    drained_at_[l] = std::max(drained_at_[l], now) + seconds;
  }
  void prepare_links();
};

}  // namespace lcsim::net
