#include "workloads/job.h"

namespace lcsim::wl {

/// Re-labels a job's events for the cluster's subscribers: job rank -> global rank (unless the job's ranks are the
/// cluster's own), and the job's id.
class Job::Forwarder final : public TraceSink {
 public:
  Forwarder(const Tracer& out, const std::vector<uint32_t>& allocation, uint32_t job, bool identity)
      : out_(out), allocation_(allocation), job_(job), identity_(identity) {}
  void on_span(const SpanEvent& e) override {
    // Assigned into a span kept for it: the copy reuses the previous span's argument strings and vector (a fresh
    // copy allocated and freed them for every span). Subscribers never emit spans back into the job, so the
    // scratch span is not in use when the next one comes.
    SpanEvent& f = scratch_;
    f = e;
    if (f.kind != SpanKind::kLink && !identity_) f.rank = allocation_.at(e.rank);
    f.job = job_;
    // Flow ids are the workload's own (an iteration's micro-batch): made unique across jobs and restarts.
    if (f.flow != 0) f.flow = (static_cast<uint64_t>(job_) << 40) | (static_cast<uint64_t>(attempt & 0xff) << 32) |
                             (f.flow & 0xffffffffu);
    for (FlowStep& step : f.flows) {
      step.id = (static_cast<uint64_t>(job_) << 40) | (static_cast<uint64_t>(attempt & 0xff) << 32) |
                (step.id & 0xffffffffu);
    }
    out_.span(f);
  }
  void on_lane_attr(const LaneAttrEvent& e) override {
    LaneAttrEvent f = e;
    if (!f.link && !identity_) f.id = allocation_.at(e.id);
    out_.lane_attr(f);
  }
  uint32_t attempt = 1;
  /// Per-GPU counters are in their node's group ("node1"): the job's node, renamed to the cluster's.
  void on_counter(const CounterEvent& e) override {
    if (identity_ || e.group.size() <= 4 || e.group.compare(0, 4, "node") != 0 ||
        e.group.find_first_not_of("0123456789", 4) != std::string::npos) {
      out_.counter(e);
      return;
    }
    const size_t local = std::stoul(e.group.substr(4));
    CounterEvent f = e;
    if (local < nodes.size()) f.group = "node" + std::to_string(nodes[local]);
    out_.counter(f);
  }
  std::vector<uint32_t> nodes;  // the job's node -> the cluster's
  void on_state(const StateEvent& e) override { out_.state(e); }
  bool wants_spans() const override { return out_.enabled(); }
  void on_busy(const BusyEvent& e) override {
    BusyEvent f = e;
    if (!identity_) f.rank = allocation_.at(e.rank);
    f.job = job_;
    out_.busy(f);
  }

 private:
  const Tracer& out_;
  const std::vector<uint32_t>& allocation_;
  uint32_t job_;
  bool identity_;
  SpanEvent scratch_;
};

std::vector<Gpu> Job::local_view(const std::vector<Gpu>& cluster, const std::vector<uint32_t>& allocation) {
  std::vector<Gpu> gpus;
  std::vector<std::pair<uint32_t, uint32_t>> nodes;  // cluster node -> job node
  for (uint32_t r : allocation) {
    Gpu g = cluster.at(r);
    uint32_t local_node = static_cast<uint32_t>(nodes.size());
    for (const auto& [global, local] : nodes) {
      if (global == g.node) local_node = local;
    }
    if (local_node == nodes.size()) nodes.push_back({g.node, local_node});
    g.rank = static_cast<uint32_t>(gpus.size());
    g.node = local_node;
    gpus.push_back(g);
  }
  return gpus;
}

Job::Job(std::string name, uint32_t id, std::vector<uint32_t> gpus, Workload& first, Factory make,
         const ClusterRuntime& cluster)
    : name_(std::move(name)),
      id_(id),
      allocation_(std::move(gpus)),
      make_(std::move(make)),
      cluster_(cluster),
      workload_(&first) {
  LCSIM_ASSERT(id_ > 0, "job id 0 is the cluster's own");
  gpus_ = local_view(cluster.gpus, allocation_);
  // A job on the whole cluster in rank order needs no translation: its ranks are the fabric's endpoints.
  bool identity = allocation_.size() == cluster.gpus.size();
  for (uint32_t i = 0; identity && i < allocation_.size(); ++i) identity = allocation_[i] == i;
  // The scenario's collective settings, with the algorithm the workload's own settings pin (NCCL_ALGO).
  net::CollectiveConfig config = cluster.collectives;
  if (std::string algorithm = first.collective_algorithm(config.algorithm); !algorithm.empty()) {
    config.algorithm = std::move(algorithm);
  }
  collectives_ = std::make_unique<net::Collectives>(cluster.engine, cluster.topology, cluster.transfer, config,
                                                    cluster.gpus_per_node);
  if (cluster.scale_up_transfer) {
    scale_up_ = std::make_unique<net::Collectives>(cluster.engine, cluster.topology, *cluster.scale_up_transfer,
                                                   config, cluster.gpus_per_node);
  }
  if (!identity) {
    collectives_->set_endpoints(allocation_);
    if (scale_up_) scale_up_->set_endpoints(allocation_);
    rng_ = std::make_unique<RngFactory>(cluster.rng.hash("job", id_));
  }
  // Every event the job's workload emits reaches the cluster's subscribers through the forwarder, which names the
  // job (and maps its ranks onto the cluster's).
  tracer_ = std::make_unique<Tracer>();
  tracer_->set_parent(&cluster.tracer);  // a span the workload holds back goes out before the cluster's next event
  if (cluster.tracer.has_subscribers()) {
    forwarder_ = std::make_unique<Forwarder>(cluster.tracer, allocation_, id_, identity);
    for (size_t r = 0; r < gpus_.size(); ++r) {
      if (forwarder_->nodes.size() <= gpus_[r].node) forwarder_->nodes.resize(gpus_[r].node + 1);
      forwarder_->nodes[gpus_[r].node] = cluster.gpus.at(allocation_[r]).node;
    }
    tracer_->subscribe(forwarder_.get());
  }
}

Job::~Job() {
  if (tracer_) tracer_->flush();
}

void Job::start() {
  if (state_ == State::kRunning) stop();
  if (starts_ > 0) {
    owned_ = make_(gpus_);
    workload_ = owned_.get();
  }
  ++starts_;
  if (forwarder_) forwarder_->attempt = starts_;
  if (starts_ == 1 && cluster_.tracer.enabled()) {  // the timeline groups lanes by job
    for (uint32_t r : allocation_) cluster_.tracer.lane_attr({.link = false, .id = r, .key = "job", .value = name_});
  }
  state_ = State::kRunning;
  started_at_ = cluster_.engine.now();
  const uint32_t attempt = starts_;
  ctx_ = std::make_unique<RunContext>(RunContext{
      cluster_.engine, gpus_, *collectives_, *tracer_, rng_ ? *rng_ : cluster_.rng,
      cluster_.traced_ranks, scale_up_ ? scale_up_.get() : collectives_.get(), id_, [this, attempt] {
        if (state_ != State::kRunning || attempt != starts_) return;
        state_ = State::kFinished;
        finished_at_ = cluster_.engine.now();
        tracer_->flush();
        cluster_.tracer.state({StateEvent::What::kJobFinished, id_, finished_at_, 0, name_});
        auto waiting = std::move(on_finished_);
        on_finished_.clear();
        for (auto& fn : waiting) fn();
      }});
  ctx_->fine_events = cluster_.fine_events;
  ctx_->kernel_spans = cluster_.kernel_spans;
  ctx_->checkpoint = cluster_.checkpoint;
  ctx_->storage = cluster_.storage;
  cluster_.tracer.state({StateEvent::What::kJobStarted, id_, started_at_, 0, name_});
  cluster_.engine.as_owner(id_, [this] { workload_->start(*ctx_); });
}

void Job::stop() {
  if (state_ != State::kRunning) return;
  cluster_.engine.cancel_owned(id_);
  tracer_->flush();
  state_ = State::kStopped;
  cluster_.tracer.state({StateEvent::What::kJobStopped, id_, cluster_.engine.now(), 0, name_});
}

void Job::restart() {
  stop();
  start();
}

void Job::on_finished(std::function<void()> fn) {
  if (state_ == State::kFinished) {
    fn();
  } else {
    on_finished_.push_back(std::move(fn));
  }
}

}  // namespace lcsim::wl
