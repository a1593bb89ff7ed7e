// Megatron-LM-style training of a GPT-style model (dense or mixture-of-experts) with tensor (TP), sequence (SP),
// context (CP), expert (EP), pipeline (PP, optionally interleaved) and data (DP) parallelism, configured with
// Megatron-LM's own argument names (or a pasted Megatron command line, `megatron_args`).
//
// Each simulated rank runs its pipeline schedule (GPipe, 1F1B or interleaved 1F1B, as Megatron orders
// micro-batches and model chunks) on a compute stream. A forward or backward pass of a model chunk is a short
// list of segments: kernels (costed by the hardware model for this rank's shard of each GEMM, attention and
// memory-bound op) followed by the collectives Megatron issues there: TP all-reduce, or all-gather and
// reduce-scatter with SP; CP key/value exchange (overlapped with attention); EP token all-to-all dispatch and
// combine (with a load-imbalance knob); full recomputation re-runs a layer's forward, collectives included,
// before its backward. Activations and their gradients go between stages as point-to-point flows. Gradients are
// reduced over the data-parallel (x context-parallel) ranks in buckets as the last micro-batch's backward
// produces them (overlap_grad_reduce) or after it; expert gradients over the expert-data-parallel ranks; tied
// embeddings between the first and last stage; then the optimizer step and, with the distributed optimizer, the
// parameter all-gather (overlapped with the next forward with overlap_param_gather).
//
// Symmetry: ranks that are identical by construction (same part, same pipeline stage, no straggler) behave
// identically, so by default one rank per pipeline stage is simulated and stands for the others: their
// collectives on private scale-up links are run once; collectives and pipeline flows that cross nodes are run
// for every group the stage has when the network model is the flow model, so contention between them is kept.
// Mixed parts, stragglers or `symmetry: off` simulate every rank.
// Memoization: iterations after the first repeat the first one's result while the cluster state (and so the
// memo key) is unchanged; long runs step through them at one event per iteration. An iteration that runs while
// an in-run checkpoint's flush is in flight (checkpoint.run_every, megatron_checkpoint.cc) is simulated, and its
// time is not memoized.
//
// The code, by concern: megatron_config.{h,cc} (keys, validation against the cluster), megatron_schedule.cc
// (pass order), megatron_plan.cc (per-stage plan and memory), megatron_runtime.{h,cc} (the simulated ranks'
// scheduler, iterations, memoization), megatron_comms.cc (collectives, rendezvous, symmetry's mirrored copies),
// megatron_report.cc (header, placement, metrics, table), megatron_checkpoint.cc (in-run checkpoints).
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>
#include <utility>
#include <vector>

#include "models/hardware/memory.h"
#include "models/hardware/step_overhead.h"
#include "workloads/rendezvous.h"
#include "workloads/training/checkpoint_saver.h"
#include "workloads/training/gpt_model.h"
#include "workloads/training/megatron_config.h"
#include "workloads/training/placement.h"
#include "workloads/workload.h"

namespace lcsim::wl {

class MegatronTraining final : public Workload, public sim::EventSink {
 public:
  MegatronTraining();
  ~MegatronTraining() override;
  void visit(Section& s) override { config_.visit(s); }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  /// validate() takes over from's stage plans (and their memory fits) where they are the copy's: the memory check
  /// then plans no stage again (megatron_config.cc).
  void validate_like(const Workload& from, const std::vector<Gpu>& from_gpus) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override;
  /// The engine's: the typed events of the hot path (Engine::post, Collectives::transfer_to): a folded pass's end
  /// (kFoldEnd | simulated rank: task_done), a pipeline send's arrival (kSendArrived | send: send_arrived) and the
  /// arrival of an input sent without an event that a rank blocked on (kDueArrival | simulated rank: due_arrived).
  void fire(uint64_t tag) override;
  static constexpr uint64_t kFoldEnd = 0, kSendArrived = uint64_t{1} << 32, kDueArrival = uint64_t{1} << 33;
  std::string describe() const override;
  /// On the flow model every copy of a cross-node collective runs (symmetry mirrors them); on the analytical
  /// model one copy runs and its time is reused.
  bool sees_path_collisions() const override { return flow_; }
  /// deterministic_mode with network.collectives.algorithm auto: "ring" (Megatron-LM's NCCL_ALGO=Ring default).
  std::string collective_algorithm(const std::string& configured) const override;
  const storage::CheckpointJob* checkpoint_ranks() const override { return ctx_ ? &checkpoint_job_ : nullptr; }
  /// The budget's iterations (tokens / tokens per iteration, rounded up), whose evaluations budget_eval_time_days
  /// holds (megatron_eval.cc).
  void set_token_budget(double tokens) override;
  std::vector<std::string> table() const override;
  std::vector<std::string> explain_placement(const std::vector<Gpu>& gpus) const override;

  const MegatronConfig& config() const { return config_; }
  /// The same keys, and what only parsing its command line knew (defaults_taken, the run header's "megatron_args
  /// left out" line).
  void copy_config(const Workload& from) override;

  // --- the plan, public for tests ---
  enum class Exposure { kTp, kCp, kEp, kPp, kDp, kBubble, kCount };
  struct CommCall {
    policy::CollectiveOp op;
    GroupKind group;
    Bytes size;
    Exposure kind;
    std::string name;
    int stream = 0;  // collectives are matched across ranks per (communicator, stream): 0 compute, 1 FSDP gathers,
                     // 2 FSDP gradient reductions
    double skew = 1;          // all-to-all: the group's first rank receives (or sends) this many times the mean
    bool skew_sends = false;  // the first rank sends more (combine) instead of receiving more (dispatch)
    // all-to-all: the flex dispatcher's token transport (DeepEP, HybridEP), costed at moe_flex_network_efficiency in
    // its bytes (dispatch_factor_), not at NCCL's all-to-all efficiency (net::Collectives::run)
    bool token_dispatch = false;
    Duration prep = Duration();  // FSDP: copy kernels on the collective's own stream before it (copy-in, chunk_cat, casts)
  };
  // A segment's host side (hw::HostIssue, workload.host_issue_model runahead): the part of its compute that the
  // issue time adds beyond the kernels (a host already ahead of the GPU hides up to that much), the host's time to
  // issue the segment, and whether the host waits for the GPU at the segment's end (the dropless dispatcher's
  // device-to-host copy of the routing counts before its all-to-all).
  struct HostSide {
    Duration slack, issue;
    // The part of the segment's compute that is the host's (its groups' hw::HostIssue::Work::wait and the waits
    // after a host synchronization): what the GPU would not spend with a host that never binds. Only reported
    // (RankState::host, time_host_s); run() takes the slack.
    Duration wait;
    bool sync = false;
  };
  struct Segment {
    Duration compute;
    HostSide host;
    std::vector<CommCall> comms;  // run one after the other once the compute is done
    bool overlap = false;         // the comms run alongside the next segment's compute
    bool side = false;            // the comms run on the rank's side stream, waited for at the end of the pass
    int bucket = -1;              // gradient bucket complete after this segment (in the last micro-batch)
    Duration weight;              // backward: the part of `compute` that is weight gradients (GEMMs' wgrad)
    // SM contention: the share of the SMs the collectives running beside this segment's compute take (the
    // overlapped GEMMs of tp_comm_overlap: Transformer Engine's num_sm, 0 where the GEMM's time already has its
    // SM margin or the exchange runs on the copy engines; a MoE layer's segments with overlap_moe_expert_parallel_comm:
    // moe_overlap_sm_share); < 0: the part's overlap_sm_share.
    double sm_share = -1;
    double share_or(double part_share) const { return sm_share >= 0 ? sm_share : part_share; }
    // FSDP: parameter all-gathers this segment issues on the gather stream as its compute starts (prefetch),
    // how many of the pass's gathers must be done before it computes, and the gradient reduce-scatters it
    // issues on the reduce stream when it is done.
    std::vector<std::vector<CommCall>> prefetch;
    int await = 0;
    std::vector<CommCall> reduce;
    /// A segment of `compute` ending with `comms`; of a group of kernels as the host issues them (hw::HostIssue::Work:
    /// its time, slack and issue time).
    static Segment of(Duration compute, std::vector<CommCall> comms = {}) {
      Segment s;
      s.compute = compute;
      s.comms = std::move(comms);
      return s;
    }
    static Segment of(const hw::HostIssue::Work& w, std::vector<CommCall> comms = {}) {
      Segment s = of(w.time, std::move(comms));
      s.host.slack = w.slack, s.host.issue = w.issue, s.host.wait = w.wait;
      return s;
    }
    /// Adds a group of kernels (its time, slack, issue time and wait).
    void add(const hw::HostIssue::Work& w) {
      compute += w.time, host.slack += w.slack, host.issue += w.issue, host.wait += w.wait;
    }
    /// A wait on the host before the segment's kernels (a pass after a blocking receive, a dropless dispatch).
    void add_host_wait(Duration d) { compute += d, host.wait += d; }
    /// The segment's compute from `start` with the host free (done issuing) at `*host_free`: `compute` less the
    /// host's lead over the GPU, at most host.slack; moves *host_free past this segment's issue (runahead).
    Duration run_from(Duration start, Duration scaled_compute, Duration* host_free) const {
      return run(start, scaled_compute, host, host_free);
    }
    /// Of a segment's time `d` (run's result) from `compute` (scaled as run was given it): the part the GPU waited
    /// for the host, its kernels' own time being compute less the host's wait. Every walk adds it in the same order.
    static Duration host_part(Duration d, Duration compute, const HostSide& h) { return d - (compute - h.wait); }
    /// On raw doubles, branch-light: the folded passes run it once per segment.
    static Duration run(Duration start, Duration compute, const HostSide& h, Duration* host_free) {
      const double t = start.value(), free = host_free->value(), slack = h.slack.value();
      double d = compute.value();
      if (slack > 0 && t > free) {
        double hidden = t - free;
        hidden = slack < hidden ? slack : hidden;
        d -= hidden < d ? hidden : d;
      }
      const double end = t + d, issued = free + h.issue.value();
      *host_free = Duration::from_base(issued < end ? issued : end);
      return Duration::from_base(d);
    }
  };
  struct Pass {
    std::vector<Segment> segments;
    Duration compute;
    bool host_sync = false;  // the host waits for the GPU before the pass (a pipeline receive's synchronize)
    // The pass as the micro-batch that completes its gradient buckets runs it (overlap_grad_reduce): each bucket's
    // work before its collective (Bucket::prep) added to the segment that completes it; null where there is none.
    std::shared_ptr<const Pass> last;
    // The pass as the iteration's first micro-batch runs it (Megatron-FSDP: the modules outside its units, the
    // embedding and output layer, gathered once an iteration, before it; its fully sharded hybrid level: every
    // gather preceded by the outer one, forward and backward); null where it is the same.
    std::shared_ptr<const Pass> first;
  };
  struct Bucket {
    double dense_params = 0, expert_params = 0;  // per GPU
    int chunk = 0;
    // Megatron's DDP on the compute stream before the bucket's collective (plan_reduce_prep): the NaN check's norm
    // and the gradients' scaling, and the GPU's wait for the host after the check's synchronizations (prep_host,
    // part of prep).
    Duration prep, prep_host;
    // rs_fp32_accumulation: the received chunks summed in fp32 and the sum copied into the shard, on the compute
    // stream after the bucket's all-to-all (the work handle's wait, in finish_grad_sync).
    Duration accumulate;
  };
  struct StagePlan {
    std::vector<Pass> forward, backward;  // per model chunk
    // DualPipe: per chunk, the backward of input gradients only and the deferred weight gradients; per (forward
    // chunk x 2 + backward chunk), an F&B pair with its expert all-to-alls beside the pair's compute.
    std::vector<Pass> backward_input, weight, pairs;
    // defer_embedding_wgrad_compute: the chunk holding the last virtual stage (-1: none here), its backward without
    // the output layer's weight-gradient GEMMs (Part::kDeferOutput), and what the flush then runs per deferred
    // micro-batch: the input's all-gather over TP (sequence parallelism) and those GEMMs.
    int deferred_chunk = -1;
    Pass backward_deferred;
    std::vector<CommCall> drain_gather;
    Duration output_wgrad;
    std::vector<Bucket> buckets;
    // Megatron-LM's small all-reduces around the optimizer step (plan_step_syncs): before it the rerun state
    // machine's check over the world and the gradient norm's over the gradient-statistics group, after it
    // train_step's and training_log's over the model-parallel group (and the loss's over DP x CP on the last stage);
    // and the GPU's wait for the host after each .item() among them.
    std::vector<CommCall> step_before, step_after;
    Duration step_before_host, step_after_host;
    // Their kernels on the compute stream, first: --log-num-zeros-in-grad's count over the gradients before the step,
    // --log-params-norm's L2 norm over the parameters after it (log_num_zeros_in_grad, log_params_norm).
    Duration step_before_compute, step_after_compute;
    // Megatron-LM's evaluation (plan_eval): around it, the parameters' forced gather and the timers' barriers
    // (eval_start, eval_end); after each forward-only iteration, the loss's all-reduce over DP x CP on the last stage.
    std::vector<CommCall> eval_start, eval_end, eval_loss;
    Duration reduce_prep, reduce_prep_host;  // the buckets' prep summed: run before the collectives without overlap
    bool has_last = false;                   // some pass has a Pass::last
    Duration optimizer;
    // overlap_param_gather_with_optimizer_step: model chunk 0's own optimizer, the first of the two; the rest of
    // `optimizer` (the other chunks' optimizer and what follows the step) runs beside chunk 0's gather.
    Duration optimizer_first;
    std::vector<CommCall> param_gather;  // distributed optimizer: after the step (or with the next forward)
    // overlap_param_gather: per model chunk, its parameters' gathers (empty where nothing is gathered).
    std::vector<std::vector<CommCall>> param_gather_chunks;
    std::vector<CommCall> copies_reduce;  // DualPipe: the two copies of each stage add their gradients
    double dense_params = 0, expert_params = 0;  // per GPU
    hw::MemoryFit memory;
    double in_flight = 1;  // micro-batches whose activations the fit holds at once
  };
  /// What a backward pass computes: all of it, only the input gradients (the weight gradients deferred to a later
  /// kWeight task, zero-bubble style), or only those deferred weight gradients.
  /// kDeferOutput: all of it but the output layer's weight gradients, deferred to the flush
  /// (defer_embedding_wgrad_compute).
  enum class Part : int8_t { kWhole, kInput, kWeight, kDeferOutput };
  struct Task {
    bool forward;     // a forward pass, or an F&B pair (forward first)
    int micro_batch;  // the forward's micro-batch (the backward's when !forward)
    int chunk;
    Part part = Part::kWhole;  // backward (or a pair's backward half)
    int b_micro_batch = -1;    // DualPipe's F&B pair: the backward half's micro-batch and chunk (-1: no pair)
    int b_chunk = 0;
    bool pair() const { return b_micro_batch >= 0; }
    bool has_backward() const { return pair() || !forward; }
    int backward_micro_batch() const { return pair() ? b_micro_batch : micro_batch; }
    int backward_chunk() const { return pair() ? b_chunk : chunk; }
  };
  /// The order of forward and backward passes on pipeline rank `stage`: Megatron's (gpipe, 1f1b, interleaved), or
  /// DualPipe's (DeepSeek-V3 report section 3.2.1; megatron_schedule.cc).
  /// `group`: the interleaved schedule's micro-batches per group (Megatron's microbatch_group_size_per_vp_stage;
  /// 0: the pipeline's size, Megatron's default).
  static std::vector<Task> schedule(const std::string& kind, int stages, int stage, int micro_batches, int chunks,
                                    int group = 0);
  /// An evaluation iteration's passes on a pipeline rank whose training schedule is `tasks` (Megatron-core's
  /// schedules with forward_only): its forward passes in their order (an F&B pair's forward half).
  static std::vector<Task> forward_only(const std::vector<Task>& tasks);
  /// The interleaved schedule's warm-up on rank `stage`: its first passes, forward only; as many backward passes
  /// alone end it (the flush). Megatron-core's (PP - stage - 1) x 2 + (chunks - 1) x group, at most every pass.
  static int interleaved_warmup(int stages, int stage, int micro_batches, int chunks, int group = 0);
  /// Micro-batches that are in flight on rank `stage` at the schedule's peak, in units of an average layer's
  /// activations (each task's chunk weighted by `chunk_layers`): activations live from a forward pass until the
  /// backward pass (or its deferred weight gradients) that frees them; a pair counts its forward before its
  /// backward frees anything.
  static double peak_in_flight(const std::vector<Task>& tasks, const std::vector<int>& chunk_layers);
  /// The model's virtual stage that model chunk `chunk` of pipeline rank `stage` holds: chunk x PP + stage
  /// (interleaved), or DualPipe's stage (chunk 0) and PP - 1 - stage (chunk 1).
  /// (Inline, as the three below: the runtime asks them several times per pass and per pipeline send.)
  int virtual_stage(int stage, int chunk) const {
    const int pp = config_.pipeline_model_parallel_size;
    if (dualpipe_) return chunk == 0 ? stage : pp - 1 - stage;
    return chunk * pp + stage;
  }
  /// Virtual stages of the model (PP x chunks; DualPipe: PP, each held twice).
  int model_stages() const {
    const int pp = config_.pipeline_model_parallel_size;
    return dualpipe_ ? pp : pp * chunks_;
  }
  /// Bytes each TP rank sends across the boundary between virtual stages k and k + 1 per micro-batch (activations
  /// forward, their gradients backward): the hidden state's sequence shard, 1 + mtp_num_layers of them after a
  /// layout's standalone MTP stage.
  Bytes pipeline_send_bytes(int boundary) const;
  /// Whether the MTP stage holds its own copy of the word embeddings (Megatron-core's LanguageModule: "duplicated
  /// embedding weights in mtp process stage", tied to the first stage's): with PP > 1 where the modules run in
  /// another chunk than the embedding's, unless a tied output layer in the same (last) stage is that copy. DualPipe
  /// places the last stage on rank 0 beside the embedding, which DeepSeek-V3 shares physically (section 3.2.3).
  bool mtp_embedding_copy() const;
  /// The pipeline ranks whose word-embedding copies all-reduce their gradients before the step (Megatron-LM's
  /// embedding group, pretrain_gpt.py's get_embedding_ranks): the first, the last with tied embeddings, the MTP
  /// stage's rank with MTP (not DualPipe's); one rank: none.
  std::vector<int> embedding_stages() const;
  /// The virtual stage that runs the MTP modules: the last, unless a layout places them before it (Megatron-core's
  /// "standalone" MTP: the modules' layers there, their output layer and loss with the main one in the last).
  int mtp_stage() const;
  /// Whether a layout places the MTP modules before the last virtual stage (mtp_stage() < the last).
  bool standalone_mtp() const {
    return config_.model.mtp_num_layers > 0 && !config_.layout.empty() && config_.layout.back().mtp == 0;
  }
  /// The (pipeline rank, chunk) that runs virtual stage v for micro-batches going the way of `chunk`.
  std::pair<int, int> place_of(int v, int chunk) const {
    const int pp = config_.pipeline_model_parallel_size;
    if (dualpipe_) return {chunk == 0 ? v : pp - 1 - v, chunk};
    return {v % pp, v / pp};
  }
  /// Micro-batches whose output-layer weight gradients the flush computes (defer_embedding_wgrad_compute).
  int deferred_micro_batches() const {
    const int limit = config_.wgrad_deferral_limit;
    return !config_.defer_embedding_wgrad_compute ? 0 : limit == 0 ? micro_batches_ : std::min(limit, micro_batches_);
  }
  /// The last micro-batch whose backward goes through model chunk `chunk` (its weight gradients complete the
  /// gradient buckets of that chunk). DualPipe: micro-batches 0..m/2-1 go through chunk 0, the others through
  /// chunk 1.
  int last_micro_batch(int chunk) const {
    if (dualpipe_) return chunk == 0 ? micro_batches_ / 2 - 1 : micro_batches_ - 1;
    return micro_batches_ - 1;
  }
  /// Layers [first, last) of virtual pipeline stage v.
  std::pair<int, int> layer_range(int v) const;
  StagePlan plan_stage(const hw::AcceleratorSpec& part, int stage) const;
  /// The context-parallel exchange of a layer (before attention, and its backward after attention's backward),
  /// overlapped with the next segment's compute where `overlap`.
  struct TeCp {
    std::vector<CommCall> fwd, bwd;
    bool overlap = false;
    std::vector<CommCall> a2a_fwd, a2a_bwd;  // a2a+p2p's all-to-all level, blocking, before the exchange
  };
  /// tp_comm_overlap on a dense layer: its forward and backward segments with the four linear layers' TP
  /// collectives run as Transformer Engine's userbuffers run them (tp_comm_overlap_cfg; megatron_tp_overlap.cc).
  /// plan_stage's last step: the stage's memory fit (StagePlan::memory) and micro-batches in flight (megatron_memory.cc).
  void fit_memory(const hw::AcceleratorSpec& part, int stage, double embedding_shard, double output_shard,
                  StagePlan& plan) const;
  /// `graphed`: the layer's kernels in captured modules (cuda_graphs.h), each run of them one host launch.
  void plan_te_layer(const hw::AcceleratorSpec& part, const LayerOps& ops, const TeCp& cp,
                     const std::unordered_set<std::string>& graphed, std::vector<Segment>& fwd,
                     std::vector<Segment>& bwd) const;
  /// FSDP's copies around one unit's collectives for a unit of `params` (this TP rank's): {copy-in before the
  /// all-gather, before the reduce-scatter, copy-out after the all-gather} (megatron_fsdp.cc).
  std::tuple<Duration, Duration, Duration> fsdp_unit_copies(const hw::AcceleratorSpec& part, double params) const;
  /// Megatron-FSDP's gradient_reduce_preprocessing before a bucket's collective, over its dense and expert parameters
  /// (this TP rank's; megatron_fsdp.cc): the 16-bit gradients' scaling, each part where its factor is not 1.
  Duration megatron_fsdp_reduce_prep(const hw::AcceleratorSpec& part, double dense, double expert) const;
  /// A model chunk's FSDP units, one per layer: each its (this TP rank's) dense and expert parameters and layer; where
  /// its forward and backward start in the chunk's passes and where its backward ends; `embedding_last`: the chunk
  /// holds the embedding, whose backward (the passes' last segment) ends unit 0's.
  struct FsdpUnits {
    struct Unit {
      double dense = 0, expert = 0;
      int layer = 0;
      // Of dense, the modules outside the layers (embedding, output layer) that the unit holds (FSDP's root).
      double root = 0;
      // Of them, FP8 GEMM weights gathered in FP8 (1 B: Megatron-FSDP with fp8_param_gather; else none).
      double dense_fp8 = 0, expert_fp8 = 0;
    };
    std::vector<Unit> params;
    std::vector<size_t> first_fwd, first_bwd, last_bwd;
    bool embedding_last = false;
  };
  /// FSDP's gathers and reduce-scatters of a chunk's units wired into its passes (prefetch, await, reduce;
  /// megatron_fsdp.cc).
  void plan_fsdp_units(const hw::AcceleratorSpec& part, const FsdpUnits& u, Pass& F, Pass& B) const;
  /// Megatron-FSDP's all-gather prefetch (AllGatherPipeline.all_gather_params): from position p of `sizes` (a pass's
  /// units in its order, elements of this TP rank), the last position gathered when p's unit starts: following
  /// units until their elements reach suggested_AG_prefetch_size (at least one; one with fsdp_double_buffer, and
  /// for PyTorch's FSDP).
  size_t fsdp_prefetch_end(const std::vector<double>& sizes, size_t p) const;
  /// DualPipe's passes of a planned stage (StagePlan::backward_input, weight, pairs); `pass_start`: the host's
  /// wait after a pipeline receive that each pass's first segment carries.
  void plan_dualpipe(StagePlan& plan, Duration pass_start) const;
  /// The optimizer step's time (with the FP8 weight casts `casts` it runs once per iteration), DualPipe's copies'
  /// gradient sum and the distributed optimizer's parameter all-gathers (megatron_step.cc).
  void plan_step(const hw::AcceleratorSpec& part, StagePlan& plan, const Fp8WeightElements& casts) const;
  /// Megatron's DDP work before each bucket's collective (NaN check, scaling: Bucket::prep), and the passes that
  /// complete buckets as the last micro-batch runs them (Pass::last).
  void plan_reduce_prep(const hw::AcceleratorSpec& part, StagePlan& plan, Duration host_op) const;
  /// Megatron-LM's small all-reduces and host synchronizations around the optimizer step (StagePlan::step_before,
  /// step_after), where its training loop runs (MegatronConfig::step_syncs_on).
  void plan_step_syncs(const hw::AcceleratorSpec& part, StagePlan& plan, int stage, Duration host_op) const;
  /// Megatron-FSDP's hybrid sharding: the last micro-batch's all-reduce of each reduced shard across the instances.
  void plan_hybrid_fsdp(StagePlan& plan) const;
  /// The stage with the least memory headroom on `part`, and its fit.
  /// `keep`: also store each stage's plan in `*keep` (in stage order).
  /// `reuse`: where it gives a stage's plan, that plan is taken (shared) instead of planning the stage.
  using PlanPtr = std::shared_ptr<const StagePlan>;
  std::pair<hw::MemoryFit, int> tightest_stage(const hw::AcceleratorSpec& part, std::vector<PlanPtr>* keep = nullptr,
                                               const std::function<PlanPtr(int stage)>& reuse = {}) const;
  /// Megatron's model FLOPs per iteration (all GPUs).
  double model_flops() const;

 private:
  struct RankState;
  struct FoldedPass;
  /// Event granularity: runs the rank's current pass as one event when nothing observable happens inside it
  /// (see megatron_fold.cc for the rule); false: the pass runs segment by segment.
  bool fold_pass(uint32_t sim);
  FoldedPass* folded(uint32_t sim);
  void finish_fold(uint32_t sim, const FoldedPass& f);
  static void flatten(FoldedPass& f);  // FoldedPass::steps, when the pass is plain
  /// Walks a folded pass from `start` as the fine-grained path would; returns its end and the priority of its
  /// last event. `apply`: also charge compute and waits to the rank and write its spans.
  Duration replay(uint32_t sim, const FoldedPass& f, Duration start, bool apply, int* priority);
  Duration replay_simple(uint32_t sim, const FoldedPass& f, Duration start, int* priority);  // FoldedPass::simple
  /// A pass beside the data-parallel streams (gradient buckets, parameter gathers; megatron_fold_dp.cc): folded where
  /// the fine path's order of events is known; false (nothing changed) where it is not.
  bool fold_beside_dp(uint32_t sim, const FoldedPass& f);
  using CollectiveKey = std::tuple<int, int64_t, uint32_t, uint32_t, uint32_t, double>;
  /// Whether a collective over `group` is contention-free (private scale-up links, or the analytical model), so its
  /// time depends only on its key and is memoized.
  bool memoizable(const std::vector<uint32_t>& group) const;
  /// How many of `group`'s ranks are simulated (the others are stood for by symmetry).
  uint32_t simulated_members(const std::vector<uint32_t>& group) const;
  /// The memoized time of a collective over `group` that its rank runs as the group's one simulated member, where it
  /// is contention-free (memoizable) and has run once; null otherwise. What launch() takes, known at its start.
  const Duration* time_alone(const CommCall& c, const std::vector<uint32_t>& group) const;
  static CollectiveKey collective_key(const CommCall& c, const std::vector<uint32_t>& group);
  const std::vector<uint32_t>& group_of(GroupKind kind, uint32_t rank);
  /// `flow`: the dependency chain the span is a step of (SpanEvent::flow), with its in/out ends.
  void trace_at(uint32_t sim, SpanKind kind, const std::string& name, Duration start, Duration end,
                uint64_t flow = 0, bool flow_in = false, bool flow_out = false) const;
  void build(const std::vector<Gpu>& gpus);
  void begin_iteration();
  void run_task(uint32_t sim);
  void run_segment(uint32_t sim, size_t seg);
  void after_compute(uint32_t sim, size_t seg);
  Duration beside_time(const RankState& st) const;  // time with a collective beside the kernels, so far
  void next_segment(uint32_t sim, size_t seg);
  void task_done(uint32_t sim);
  /// `own`: the rank's own loss (the backward pass's input; not a queued input).
  void deliver(uint32_t to_sim, int slot, bool forward, Duration producer_done, bool own = false);
  /// The rank blocked on an input has it now (deliver, due_arrived): the wait's split, then its next task.
  void unblock(uint32_t sim, double producer_done);
  /// The rank is blocked on exactly this input.
  bool awaits(uint32_t sim, bool forward, int slot) const;
  /// Runs comms[i..] one after the other. `in_pass`: a pass's own collectives (TP, CP, EP), written to the
  /// timeline only with kernel detail.
  void run_comms(uint32_t sim, const std::vector<CommCall>& comms, size_t i, sim::Callback done,
                 bool blocking = false, bool in_pass = false);
  /// `comms` blocking on the rank's compute stream, its wait charged to the data-parallel exposure (the step's small
  /// all-reduces, an evaluation's), then `then`.
  void run_blocking_dp(uint32_t sim, const std::vector<CommCall>& comms, sim::Callback then);
  /// An all-reduce of a few bytes over `g` (the step's and the evaluation's statistics, barriers), named
  /// "<group> all-reduce <what>".
  static CommCall small_all_reduce(GroupKind g, double bytes, const std::string& what);
  void pump_side(uint32_t sim);
  void start_compute(uint32_t sim, size_t seg);
  void pump_fsdp(uint32_t sim, int stream);
  /// A traced collective's dependency edges (docs/gui.md): the span each participant ended as it arrived leads to
  /// the collective's span on every traced participant; edge (i -> r) of an n-rank group is flow id
  /// base + i x n + r (bit 31 set: apart from the micro-batch chains).
  struct CollectiveEdges {
    uint64_t base = 0;
    uint32_t n = 0;
    std::vector<uint8_t> from;    // participant i's arrival span carries its edges (2: all but the one to itself)
    std::vector<uint8_t> traced;  // participant i's span of this collective goes on the timeline
  };
  static uint64_t edge_id(const CollectiveEdges& e, uint32_t from, uint32_t to) {
    return 0x80000000u | ((e.base + static_cast<uint64_t>(from) * e.n + to) & 0x7fffffffu);
  }
  struct EdgeTicket {  // one participant's part: filled at its arrival, read when its span is written
    std::shared_ptr<CollectiveEdges> edges;
    uint32_t index = 0;
    SpanKind kind = SpanKind::kComm;  // the lane of the participant's span of the collective
  };
  /// `ticket`: the collective's span goes on the timeline; marks this rank's arrival.
  void collective(uint32_t sim, const CommCall& c, sim::Callback done, EdgeTicket* ticket = nullptr);
  void mark_arrival(uint32_t sim, const std::vector<uint32_t>& group, const std::tuple<int, uint32_t, uint64_t>& key,
                    EdgeTicket* ticket);
  /// The edges into a participant's span of the collective, for trace_at's next span.
  void collective_flows(const EdgeTicket& ticket) const;
  void launch(uint32_t rank, const CommCall& c, const std::vector<uint32_t>& group, sim::Callback done);
  // Copies of one collective or send run for every group of a stage (flow model, symmetry): how many are still
  // out, when the first arrived, when they started.
  struct Copies {
    size_t left;
    double first;
    double start;
  };
  /// Records one copy's arrival; true for the last, whose spread goes into symmetry_spread.
  bool copy_arrived(Copies& c);
  /// "all-reduce", "all-gather", ...: how CommCall names spell an operation.
  static const char* op_word(policy::CollectiveOp op);
  static void run_on(net::Collectives& coll, const CommCall& c, const std::vector<uint32_t>& group, sim::Callback done);
  void pump_dp(uint32_t sim);
  /// A gradient bucket's collectives on the data-parallel stream (pump_dp), one after the other.
  std::shared_ptr<std::vector<CommCall>> bucket_comms(const Bucket& b) const;
  void tasks_finished(uint32_t sim);
  /// overlap_param_gather: queues model chunk `chunk`'s parameter gathers on the rank's gather stream (once an
  /// iteration), and starts the next queued one when the stream is free.
  void queue_gather(uint32_t sim, int chunk);
  void pump_gather(uint32_t sim);
  void maybe_optimizer(uint32_t sim);
  /// An optimizer's `d` (before the rank's slowdown) on the rank's compute stream, counted as optimizer time and
  /// traced as `name`, then `then`.
  void run_optimizer(uint32_t sim, Duration d, const char* name, sim::Callback then);
  /// `d` of GPU time on the rank's compute stream from now, traced as `name` (a literal) when it ends, then `then`.
  /// The caller counts it (compute, host, optimizer) and scales it by the rank's slowdown where that applies.
  void compute_span(uint32_t sim, Duration d, const char* name, sim::Callback then);
  /// overlap_param_gather_with_optimizer_step where the rank gathers parameters: its step runs as chunk 0's
  /// optimizer at the iteration's end and the other chunks' at the next one's start (begin_iteration).
  bool splits_step(uint32_t sim) const;
  void rank_done(uint32_t sim);
  /// The plan's step_before (before) or step_after collectives, blocking, then its host waits; `then` after them.
  void step_syncs(uint32_t sim, bool before, sim::Callback then);
  /// step_syncs' collectives and host waits, after the logged statistics' kernels.
  void step_comms(uint32_t sim, bool before, sim::Callback then);
  void wait(uint32_t sim, Exposure why);
  void resume(uint32_t sim);
  void iteration_done();
  /// Per simulated rank, what it did in the iteration just ended: compute (with the optimizer), exposed communication.
  std::vector<std::pair<Duration, Duration>> rank_busy() const;
  void next_iteration();
  // Megatron-LM's evaluation during training (megatron_eval.cc).
  void plan_eval(StagePlan& plan, int stage) const;
  /// An evaluation of `iterations` forward-only iterations: its start on every rank (StagePlan::eval_start), the
  /// iterations (the first simulated, the others memoized while the cluster state is unchanged), its end
  /// (eval_end), then `then`.
  void evaluate(int iterations, sim::Callback then);
  /// Every simulated rank runs its plan's `comms` on its compute stream; `then` once all of them have.
  void eval_sync(std::vector<CommCall> StagePlan::*comms, sim::Callback then);
  void eval_iteration_done(Duration it);
  void eval_iteration_end();
  /// The job_* metrics need an evaluation's time and the run has not simulated one (next_iteration runs one then).
  bool needs_eval_probe() const;
  // A global batch-size schedule (megatron_batch_schedule.cc): the batches whose iteration the job's and the
  // budget's phases need timed (at most batch_schedule_timed), the next of them still to time (0: none), timing one
  // (one iteration of a copy at that batch, then `then`), a batch's iteration time (timed, or interpolated), and the
  // time of a list of phases.
  std::vector<int64_t> batches_to_time() const;
  int64_t next_batch_to_time() const;
  void time_batch(int64_t batch, sim::Callback then);
  Duration batch_time(int64_t batch) const;
  struct PhaseTime {
    double iterations = 0, samples = 0, seconds = 0;
    double ramp_iterations = 0, ramp_samples = 0, ramp_seconds = 0;  // the iterations below the global batch
  };
  PhaseTime phase_time(const std::vector<BatchSchedule::Phase>& phases) const;
  /// The next iteration (or evaluation iteration, eval_mode_): simulated, or the memoized one replayed when the
  /// cluster state was seen before and no checkpoint flush is in flight.
  void start_iteration();
  /// In-run checkpoints (megatron_checkpoint.cc): the job's state per rank, from each stage's memory fit.
  void setup_checkpoints();
  /// The simulated rank that stands for `rank` (build(): itself, or its stage's first rank under symmetry).
  uint32_t sim_of(uint32_t rank) const { return stands_for_[rank]; }
  bool traced(uint32_t sim) const { return sim < ctx_->traced_ranks && ctx_->tracer.enabled(); }
  void trace(uint32_t sim, SpanKind kind, const std::string& name, Duration start, uint64_t flow = 0,
             bool flow_in = false, bool flow_out = false) const;
  /// The timeline's dependency chain of one micro-batch of this iteration: its forward passes stage by stage, the
  /// loss, its backward passes back to the first stage, and the sends between them.
  /// Each replica of the pipeline (a TP/CP/DP coordinate, when symmetry does not stand one for all) has its own.
  uint64_t flow_id(uint32_t sim, int micro_batch) const;
  const Pass& current_pass(const RankState& st) const;  // the pass the rank is running
  const Pass& task_pass(const RankState& st) const;     // its plan, as most micro-batches run it (not Pass::last)
  /// The task's weight gradients complete its chunk's gradient buckets (its backward is that chunk's last).
  bool completes_buckets(const Task& t) const;
  /// align_grad_reduce with overlap_grad_reduce and the interleaved schedule (Megatron's DDP, not FSDP units, not
  /// DualPipe): the schedule launches each chunk's buckets after a backward step (grad_sync_launch_), the passes that
  /// complete them do not.
  bool aligned_grad_sync() const;
  /// The task's end launches its buckets' reductions from the backward hooks (overlap_grad_reduce, not aligned).
  bool hooks_launch_buckets(const Task& t) const {
    return config_.overlap_grad_reduce && !aligned_grad_sync_ && completes_buckets(t);
  }
  /// Parameters one GPU holds (dense over TP; experts over EP and TP; megatron_step.cc): layer `l`'s {dense, expert},
  /// the embedding (the input half of it when the output layer is untied) and the output layer.
  std::pair<double, double> layer_parameters(int l) const;
  double embedding_parameters() const;
  double output_parameters() const;
  /// Parameters per gradient bucket on pipeline rank `stage` (Megatron's DDP; no limit without overlap_grad_reduce).
  double gradient_bucket_limit(int stage) const;
  /// aligned_grad_sync: launches `chunks`' buckets (grad_sync_launch_) after their preparation on the compute
  /// stream, then runs `then`.
  void launch_aligned_grad_sync(uint32_t sim, std::vector<int> chunks, sim::Callback then);
  /// The rest of task_done: the pass's outputs sent, then the next task (after the sends where they block).
  void send_outputs(uint32_t sim);
  /// The first input the rank's current task still waits for: activations (forward) or gradients, and their slot.
  bool missing_input(const RankState& st, bool* forward, size_t* slot) const;
  // Per-GPU counters of the traced ranks (megatron_counters.cc): HBM in use (the fit's static part, plus one
  // micro-batch's activations of a model chunk from its forward pass's end to its backward pass's end) and
  // queued inputs (received, not yet reached by the schedule).
  void counters_begin(uint32_t sim);
  // (Inline: asked several times per pass and per send, mostly for ranks that are not traced.)
  void count_pass(uint32_t sim, bool forward) {
    if (traced(sim)) count_pass_traced(sim, forward);
  }
  void count_queued(uint32_t sim, int slot, bool forward, bool arrived) {
    if (traced(sim)) count_queued_traced(sim, slot, forward, arrived);
  }
  void count_pass_traced(uint32_t sim, bool forward);
  void count_queued_traced(uint32_t sim, int slot, bool forward, bool arrived);
  void counter(uint32_t sim, const char* what, double value) const;

  MegatronConfig config_;
  RunContext* ctx_ = nullptr;
  Placement placement_;
  hw::DType dtype_ = hw::DType::kBf16;
  int dp_ = 1, micro_batches_ = 1, chunks_ = 1;
  bool dualpipe_ = false;  // the schedule is DualPipe (set by validate(), with chunks_)
  std::string attention_label_;  // what attention follows (check_attention_backend), for the header
  std::string host_label_;       // the hosts not as fast as a DGX H100's (host_factor_label), for the header
  std::string deterministic_label_;  // deterministic_mode: what it costs per part, for the header
  double dispatch_factor_ = 1;  // token all-to-all bytes relative to one copy per (token, expert)
  double mirror_spread_ = 0;    // see the symmetry_spread metric
  bool symmetric_ = true;
  bool flow_ = false;
  std::vector<uint32_t> sim_ranks_;     // the ranks simulated
  std::vector<int> sim_index_;          // rank -> index in sim_ranks_, -1 if represented
  std::vector<uint32_t> stands_for_;    // rank -> the simulated rank that stands for it (sim_of)
  // Per (part, stage). validate() keeps the plans its memory fit made where they are the run's (the attention
  // backend leaves the part as it is), so build() does not plan those stages again.
  // Immutable once made: a copy's validate() shares them with the original (validate_like).
  std::map<std::pair<const hw::AcceleratorSpec*, int>, PlanPtr> plans_;
  // validate_like(): the workload this one copies and the GPUs it was validated against; validate() reads and clears
  // them.
  const MegatronTraining* like_ = nullptr;
  const std::vector<Gpu>* like_gpus_ = nullptr;
  // Per stage: made by validate() once the layout fits (a copy's validate() shares the original's: validate_like),
  // else by build(). Never changed after it is made: copies on several threads read it at once.
  std::shared_ptr<const std::vector<std::vector<Task>>> schedules_;
  std::shared_ptr<const std::vector<std::vector<Task>>> make_schedules() const;
  std::vector<std::unique_ptr<RankState>> states_;
  // Collectives waiting for their group's simulated ranks, by (group kind + kGroupKinds x stream, the group's first rank,
  // sequence number on that communicator and stream); each rank brings its continuation.
  using Pending = Rendezvous<std::tuple<int, uint32_t, uint64_t>, sim::Callback>;
  Pending pending_;
  std::map<std::tuple<int, uint32_t>, std::vector<uint32_t>> group_cache_;
  // Times of contention-free collectives: (kind x op, size, first rank, last rank, ranks).
  std::map<CollectiveKey, Duration> collective_cache_;
  // Folded passes per simulated rank and (direction, chunk): index (sim x 2 + forward) x chunks + chunk.
  std::vector<std::unique_ptr<FoldedPass>> folds_;
  bool fold_ = true;          // simulation.event_granularity is pass
  bool kernel_spans_ = true;  // outputs.timeline_detail is kernels
  std::map<std::pair<int, int>, std::vector<std::vector<uint32_t>>> mirror_cache_;   // (kind, stage) -> groups
  std::map<std::pair<int, int>, std::vector<std::pair<uint32_t, uint32_t>>> p2p_cache_;  // stage pair -> flows
  /// A pipeline send in flight: what its arrival does. Its callback holds only an index into sends_ (small enough
  /// for std::function to keep without a heap allocation: one fewer per send); slots are reused.
  struct Send {
    uint32_t sim, to_sim;
    int to_slot;
    bool forward, blocking;
    Duration start;
    uint64_t flow;
  };
  std::vector<Send> sends_;
  mutable SpanEvent span_;  // trace_at's span, reused (the tracer's subscribers do not keep it)
  mutable std::vector<FlowStep> next_flows_;  // trace_at's next span's further chains (SpanEvent::flows)
  std::map<std::tuple<int, uint32_t, uint64_t>, std::shared_ptr<CollectiveEdges>> open_edges_;  // by pending_'s key
  uint64_t next_edge_ = 0;
  std::vector<uint32_t> free_sends_;
  std::vector<net::FlowRequest> send_flows_;  // a pipeline send's flows (reused: no allocation per send)
  /// Made once by build(): per simulated rank and pipeline rank (sim x PP + stage), the rank its sends to that stage
  /// go to (its own coordinates, that stage), whether it is on another node, and the bytes each TP rank sends.
  std::vector<uint32_t> send_dst_;
  std::vector<size_t> warmup_tasks_;  // per pipeline rank: the interleaved schedule's warm-up (send_output)
  std::string rest_step_name_;  // the timeline's name of the other chunks' optimizer (splits_step)
  int gather_group_ = 0;  // overlap_param_gather aligned: the interleaved table's micro-batch group (0: not aligned)
  bool aligned_grad_sync_ = false;  // aligned_grad_sync(), set by build()
  /// aligned_grad_sync: per pipeline rank, (task, model chunk) in launch order: that task's end launches that chunk's
  /// gradient reduction (RankState::grad_sync_next walks it).
  std::vector<std::vector<std::pair<size_t, int>>> grad_sync_launch_;
  std::vector<char> send_cross_;
  /// Per route (as send_dst_): the transfer model's memo of where that one-flow send went (refilled each build()).
  std::vector<net::TransferModel::RouteMemo> send_memo_;
  /// Per route: its one flow (Collectives::p2p_flow of send_size_), made by the first send over it (size 0: not yet).
  std::vector<net::FlowRequest> send_flow_;
  Bytes send_size_;
  /// Sends across the boundaries from this virtual stage on carry wide_send_size_ (a layout's standalone MTP: the
  /// modules' hidden states beside the main one); model_stages() when none does.
  int wide_sends_from_ = 0;
  Bytes wide_send_size_;
  void send_arrived(uint32_t send);
  /// The input a blocked rank waits for, sent without an event (RankState::due), has arrived: deliver()'s awaited
  /// path for it.
  void due_arrived(uint32_t sim);
  /// Sends the pass's output of `micro_batch` to (pipeline rank, chunk) `to`: activations (`forward`) or gradients.
  /// A blocking send counts in the rank's sends_open.
  void send_output(uint32_t sim, int micro_batch, std::pair<int, int> to, bool forward);
  uint32_t done_ranks_ = 0;
  // Evaluation (megatron_eval.cc): an evaluation's iterations are running (eval_mode_), how many are left, the
  // training iteration after which the last one ran, the forward-only schedules, each evaluation iteration's time
  // (simulated; memoized ones counted), each finished evaluation's start and end (the forced gather, the barriers).
  bool eval_mode_ = false;
  int eval_left_ = 0, evaluated_after_ = 0, eval_memoized_ = 0;
  std::shared_ptr<const std::vector<std::vector<Task>>> eval_schedules_;
  std::vector<Duration> eval_times_, eval_overheads_;
  Duration eval_sync_start_, eval_overhead_;
  size_t eval_sync_left_ = 0;
  sim::Callback after_eval_, after_eval_sync_;
  std::string eval_key_;  // memo_key_ of an evaluation iteration
  // The batch-size schedule's timed batches (megatron_batch_schedule.cc): iteration time by batch, the batches whose
  // copy did not run, the copies (kept until this workload goes: the engine may still hold their last events).
  std::map<int64_t, Duration> batch_times_;
  std::set<int64_t> batch_failed_;
  struct BatchProbe {
    std::unique_ptr<RunContext> ctx;
    std::unique_ptr<MegatronTraining> run;
  };
  std::vector<BatchProbe> batch_probes_;
  Duration iteration_start_;
  std::vector<Duration> iteration_times_;
  int memoized_ = 0;
  std::string memo_key_;                 // the cluster state an iteration's result depends on
  std::map<std::string, Duration> memo_; // iteration time per state
  /// Per simulated rank, what it did in an iteration (compute, exposed communication), per state: for power.
  std::map<std::string, std::vector<std::pair<Duration, Duration>>> memo_busy_;
  /// Reports what every GPU did over [start, end] (a GPU does what the simulated rank it stands for did).
  void emit_busy(const std::vector<std::pair<Duration, Duration>>& busy, Duration start, Duration end) const;
  uint64_t tasks_done_ = 0, tasks_total_ = 0;
  std::vector<double> breakdown_;  // seconds per Exposure (+ compute, optimizer), mean over simulated ranks
  Duration compute_, optimizer_;   // mean per rank per iteration
  Duration host_;                  // of compute_, the GPU waiting for the host (RankState::host), mean per rank
  Duration bucket_work_;           // of compute_, the DDP's work before the gradient collectives (StagePlan::reduce_prep)
  hw::MemoryFit memory_;           // the stage with the least headroom
  int memory_stage_ = 0;
  CheckpointSaver checkpoints_;    // in-run checkpoints (checkpoint.run_every)
  storage::CheckpointJob checkpoint_job_;  // what each rank saves (setup_checkpoints), for both of them
  std::vector<std::array<double, 10>> stage_rows_;  // per simulated rank: compute, opt, 6 waits, stage, host
};

}  // namespace lcsim::wl
