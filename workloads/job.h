// A job: one workload on an allocation of the cluster's GPUs. Many jobs share one cluster: each sees its own GPUs
// as ranks 0..n-1, its own collectives (mapped onto the shared fabric, so jobs contend for links) and its own slice
// of the timeline; everything its workload schedules is owned by the job (sim::Owner), so stop() cancels all of
// it at once and a cancelled callback never runs. A job reports completion explicitly (the workload calls
// RunContext::finish()), never by polling progress.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "workloads/workload.h"

namespace lcsim::wl {

/// What every job on a cluster shares: the engine, the GPUs, the fabric's transfer models, collective settings,
/// the tracer and the seed.
struct ClusterRuntime {
  sim::Engine& engine;
  const std::vector<Gpu>& gpus;  // the whole cluster, global ranks, hosts set
  const net::Topology& topology;
  net::TransferModel& transfer;
  net::TransferModel* scale_up_transfer;  // analytical transfer for intra-node collectives (null: none)
  const net::CollectiveConfig& collectives;
  uint32_t gpus_per_node;  // the smallest node (ring channels)
  const Tracer& tracer;
  const RngFactory& rng;
  uint32_t traced_ranks;  // each job's ranks [0, traced_ranks) get timeline tracks
  bool fine_events = false;  // simulation.event_granularity: kernel (RunContext::fine_events)
  bool kernel_spans = false;  // outputs.timeline_detail: kernels (RunContext::kernel_spans)
  const storage::CheckpointConfig* checkpoint = nullptr;  // in-run checkpoints (RunContext::checkpoint)
  const storage::StorageConfig* storage = nullptr;
};

class Job {
 public:
  enum class State { kWaiting, kRunning, kStopped, kFinished };
  /// A fresh, configured and validated workload for the job's GPUs (its local view).
  using Factory = std::function<std::unique_ptr<Workload>(const std::vector<Gpu>& gpus)>;

  /// `gpus`: global ranks of the allocation, in the job's rank order. `id` > 0 (0 is the cluster itself).
  /// `first` is the configured, validated workload the first start runs (owned elsewhere); every restart runs a
  /// fresh one from `make`.
  Job(std::string name, uint32_t id, std::vector<uint32_t> gpus, Workload& first, Factory make,
      const ClusterRuntime& cluster);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  /// Starts the workload now, from scratch (a fresh workload object from the job's configuration).
  void start();
  /// Cancels everything the job has pending (its timers, computes and flows); the workload stops where it is.
  void stop();
  /// stop() then start(): the work begins again from the beginning.
  void restart();
  /// Runs `fn` once the job has finished (or now, if it has).
  void on_finished(std::function<void()> fn);

  const std::string& name() const { return name_; }
  uint32_t id() const { return id_; }
  State state() const { return state_; }
  bool finished() const { return state_ == State::kFinished; }
  Duration started_at() const { return started_at_; }
  Duration finished_at() const { return finished_at_; }
  uint32_t starts() const { return starts_; }
  /// The allocation: global ranks, and the job's view of them (rank = index, node = index of the node in the job).
  const std::vector<uint32_t>& allocation() const { return allocation_; }
  const std::vector<Gpu>& gpus() const { return gpus_; }
  /// The workload of the current (or last) start.
  Workload& workload() { return *workload_; }
  const Workload& workload() const { return *workload_; }
  net::Collectives& collectives() { return *collectives_; }
  const net::Collectives& collectives() const { return *collectives_; }

  /// The job's GPUs as the workload sees them, before any run (for validation): ranks 0..n-1, nodes numbered
  /// within the job.
  static std::vector<Gpu> local_view(const std::vector<Gpu>& cluster, const std::vector<uint32_t>& allocation);

 private:
  class Forwarder;
  std::string name_;
  uint32_t id_;
  std::vector<uint32_t> allocation_;
  Factory make_;
  const ClusterRuntime& cluster_;
  std::vector<Gpu> gpus_;
  std::unique_ptr<net::Collectives> collectives_;
  std::unique_ptr<net::Collectives> scale_up_;
  std::unique_ptr<Tracer> tracer_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<RngFactory> rng_;
  std::unique_ptr<RunContext> ctx_;
  Workload* workload_;
  std::unique_ptr<Workload> owned_;  // a restart's fresh workload
  State state_ = State::kWaiting;
  Duration started_at_, finished_at_;
  uint32_t starts_ = 0;
  std::vector<std::function<void()>> on_finished_;
};

}  // namespace lcsim::wl
