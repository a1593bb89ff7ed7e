#include "workloads/inference/serving.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "models/hardware/spec_catalog.h"
#include "workloads/inference/preemption.h"
#include "workloads/inference/serving_instance.h"
#include "sim/input_file.h"

namespace lcsim::inf {

namespace {

std::string resolve(const Section& s, const std::string& section, const std::string& key) {
  const ConfigValue* sec = s.node() ? s.node()->find(section) : nullptr;
  const ConfigValue* v = sec ? sec->find(key) : nullptr;
  if (!v || !v->is_scalar() || v->scalar.empty()) return "";
  return std::filesystem::absolute(hw::relative_to_source(*v)).lexically_normal().string();
}

}  // namespace

InferenceServing::InferenceServing() = default;
InferenceServing::~InferenceServing() = default;

void InferenceServing::visit(Section& s) {
  config_.visit(s);
  if (s.mode() != Section::Mode::kParse) return;
  if (auto p = resolve(s, "requests", "trace"); !p.empty()) config_.requests.trace = p;
  if (auto p = resolve(s, "requests", "lengths_trace"); !p.empty()) config_.requests.lengths_trace = p;
}

void InferenceServing::validate(const std::vector<wl::Gpu>& gpus, Section& s) {
  const auto& sv = config_.serving;
  const auto& m = config_.model;
  const DisaggregationConfig& dg = config_.disaggregation;
  gpus_per_instance_ = sv.tensor_parallel * sv.pipeline_parallel;
  const int fit = static_cast<int>(gpus.size()) / gpus_per_instance_;
  if (!dg.enabled() && fit < 1) {
    s.error("serving", "an instance needs TP x PP = " + std::to_string(gpus_per_instance_) + " GPUs; the allocation has " +
                           std::to_string(gpus.size()));
    return;
  }
  if (!dg.enabled() && config_.instances > fit) {
    s.error("instances", std::to_string(config_.instances) + " instances of " + std::to_string(gpus_per_instance_) +
                             " GPUs need " + std::to_string(config_.instances * gpus_per_instance_) +
                             " GPUs; the allocation has " + std::to_string(gpus.size()));
    return;
  }
  if (dg.enabled() && config_.instances > 0) {
    s.error("instances", "with disaggregation the pools set the instance counts (disaggregation.prefill_instances and "
                         "decode_instances); leave instances at 0");
    return;
  }
  std::string layout_problem;
  slots_ = lay_out_instances(sv, dg, config_.instances, static_cast<int>(gpus.size()), layout_problem);
  if (slots_.empty()) {
    s.error(dg.enabled() ? "disaggregation" : "instances", layout_problem);
    return;
  }
  front_ = 0;
  while (front_ < slots_.size() && slots_[front_].role != Role::kDecode) ++front_;
  for (const InstanceSlot& slot : slots_) {
    const int tp = slot.serving.tensor_parallel;
    if (m.num_attention_heads % tp != 0) {
      s.error(dg.enabled() ? "disaggregation" : "serving",
              std::string(dg.enabled() ? role_name(slot.role) + std::string(" pool: ") : "") + "tensor_parallel " +
                  std::to_string(tp) + " must divide num_attention_heads (" + std::to_string(m.num_attention_heads) +
                  ")");
      return;
    }
  }
  if (sv.pipeline_parallel > m.num_layers) s.error("serving", "pipeline_parallel exceeds num_layers");
  for (const InstanceSlot& slot : slots_) {
    if (const std::string p = expert_parallel_problem(m, slot.serving); !p.empty()) {
      s.error("serving", p);
      return;
    }
  }
  instance_count_ = static_cast<int>(slots_.size());
  const auto& as = config_.autoscaling;
  // Under disaggregation each pool scales on its own (serving_scaling.cc): the limits hold per pool.
  const int pool = dg.enabled() ? std::min(static_cast<int>(front_), instance_count_ - static_cast<int>(front_))
                                : instance_count_;
  const std::string pool_name = dg.enabled() ? " instances of the smaller pool" : " instances the deployment has";
  if (as.on() && std::max(as.max_instances, as.initial_instances) > pool) {
    s.error("autoscaling", "max_instances / initial_instances " +
                               std::to_string(std::max(as.max_instances, as.initial_instances)) + " exceed the " +
                               std::to_string(pool) + pool_name +
                               (dg.enabled() ? "" : " (instances, or the allocation)"));
  }
  if (as.on() && as.min_instances > pool) {
    s.error("autoscaling", "min_instances " + std::to_string(as.min_instances) + " exceeds the " +
                               std::to_string(pool) + pool_name);
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    for (int t = 1; t < slots_[i].serving.tensor_parallel; ++t) {
      const auto& a = gpus[static_cast<size_t>(slots_[i].first_gpu)];
      const auto& b = gpus[static_cast<size_t>(slots_[i].first_gpu + t)];
      if (a.node != b.node) {
        s.error(dg.enabled() ? "disaggregation" : "serving",
                "a tensor-parallel group must sit in one node: instance " + std::to_string(i) + " would span nodes " +
                    std::to_string(a.node) + " and " + std::to_string(b.node));
        return;
      }
    }
  }
  const hw::AcceleratorSpec& part = *gpus.front().part;
  for (const auto& g : gpus) {
    if (g.part != gpus.front().part) {
      s.error("serving", "every instance runs on one part; the allocation mixes " + part.name + " and " + g.part->name);
      return;
    }
  }
  part_name_ = part.name;
  if (!part.supports(hw::DType::kBf16)) {
    s.error("serving", part.name + " has no bf16 peak");
    return;
  }
  if (const std::string problem = hw::attention_backend_problem(part, sv.attention_backend); !problem.empty()) {
    s.error("serving", "attention_backend: " + problem);
    return;
  }
  // Every pool's instances must leave room for the KV cache (the first instance's figures are the metrics').
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (i > 0 && slots_[i].role == slots_[i - 1].role) continue;
    const InstanceCost cost(part, m, slots_[i].serving);
    if (i == 0) {
      weight_bytes_per_gpu_ = cost.weight_bytes_per_gpu();
      kv_blocks_ = cost.kv_blocks();
    }
    if (cost.kv_blocks() < 1) {
      char buf[300];
      std::snprintf(buf, sizeof buf,
                    "%sthe weights take %.1f GB per GPU, more than gpu_memory_utilization %g x %.1f GB of HBM: no room "
                    "for the KV cache; raise tensor_parallel or pipeline_parallel, or quantize the weights",
                    dg.enabled() ? (std::string(role_name(slots_[i].role)) + " pool: ").c_str() : "",
                    cost.weight_bytes_per_gpu() / 1e9, sv.gpu_memory_utilization, part.hbm_capacity.bytes() / 1e9);
      s.error(dg.enabled() ? "disaggregation" : "serving", buf);
      continue;
    }
    const SpeculativeConfig& sp = config_.speculative;
    if (!sp.enabled() || slots_[i].role == Role::kPrefill) continue;
    const int tp = slots_[i].serving.tensor_parallel;
    if (sp.draft.num_attention_heads % tp != 0) {
      s.error("speculative", "tensor_parallel " + std::to_string(tp) + " must divide the draft model's "
                             "num_attention_heads (" + std::to_string(sp.draft.num_attention_heads) + ")");
      continue;
    }
    const InstanceCost draft(part, sp.draft, slots_[i].serving);
    const int64_t blocks = kv_blocks_with_draft(cost, draft, sv.gpu_memory_utilization, slots_[i].serving.block_size);
    if (i == 0) kv_blocks_ = blocks;
    if (blocks < 1) {
      char buf[300];
      std::snprintf(buf, sizeof buf,
                    "the draft model's %.1f GB and the served model's %.1f GB of weights per GPU leave no room for the "
                    "KV cache in gpu_memory_utilization %g x %.1f GB of HBM; use a smaller draft or more GPUs",
                    draft.weight_bytes_per_gpu() / 1e9, cost.weight_bytes_per_gpu() / 1e9, sv.gpu_memory_utilization,
                    part.hbm_capacity.bytes() / 1e9);
      s.error("speculative", buf);
    }
  }
  const auto& rq = config_.requests;
  for (const std::string* f : {&rq.trace, &rq.lengths_trace}) {
    if (f->empty() || (f == &rq.trace && rq.source != "trace")) continue;
    const std::string problem = input_file_problem(*f, UINT64_MAX, "");
    if (!problem.empty()) s.error("requests", *f + ": " + problem);
  }
}

std::string InferenceServing::describe() const {
  const auto& sv = config_.serving;
  char buf[400];
  std::snprintf(buf, sizeof buf, "inference serving: %.1fB-parameter model, %zu instances x %d %s (TP %d, PP %d), "
                "weights %s, KV %s, %s routing, requests from %s",
                config_.model.total_params() / 1e9, static_cast<size_t>(instance_count_),
                gpus_per_instance_, part_name_.c_str(), sv.tensor_parallel, sv.pipeline_parallel,
                sv.weight_dtype.c_str(), sv.kv_dtype.c_str(), config_.routing.c_str(),
                config_.requests.source == "trace"
                    ? (std::filesystem::path(config_.requests.trace).filename().string() + " (" +
                       config_.requests.format + ")").c_str()
                    : ("synthetic " + config_.requests.arrival.process).c_str());
  const DisaggregationConfig& dg = config_.disaggregation;
  if (!dg.enabled() || slots_.empty()) return buf;
  return std::string(buf) + "; disaggregated: " + std::to_string(dg.prefill_instances) + " prefill instances (TP " +
         std::to_string(slots_.front().serving.tensor_parallel) + "), " + std::to_string(dg.decode_instances) +
         " decode instances (TP " + std::to_string(slots_.back().serving.tensor_parallel) + ")";
}

void InferenceServing::start(wl::RunContext& ctx) {
  ctx_ = &ctx;
  instances_.clear();
  finished_.clear();
  arrived_ = rejected_ = 0;
  source_done_ = finished_called_ = false;
  first_arrival_s_ = -1;
  last_finish_s_ = 0;
  const int n = static_cast<int>(slots_.size());
  const KvCacheConfig& kc = config_.kv_cache;
  const bool prefix = kc.prefix_caching;
  pool_.reset();
  in_flight_ids_.clear();
  prefix_tokens_saved_ = prefix_load_s_ = 0;
  loading_ = 0;
  handoffs_.clear();
  in_transfer_ = 0;
  transfer_s_.clear();
  transfer_bytes_ = 0;
  for (int i = 0; i < n; ++i) {
    const InstanceSlot& slot = slots_[static_cast<size_t>(i)];
    const InstanceCost cost(*ctx.gpus.front().part, config_.model, slot.serving);
    // Cached prefixes in HBM take their share of the KV cache away from running sequences (not on decode
    // instances: prompts are looked up where they are prefilled).
    const bool cached_here = prefix && slot.role != Role::kDecode;
    const int64_t prefix_hbm_blocks = cached_here ? static_cast<int64_t>(cost.kv_blocks() * kc.hbm_share) : 0;
    // Speculative decoding: the draft model shares the GPUs (weights and its own KV cache) on decoding instances.
    const bool speculates = config_.speculative.enabled() && slot.role != Role::kPrefill;
    std::unique_ptr<InstanceCost> draft;
    int64_t kv_blocks = cost.kv_blocks();
    if (speculates) {
      draft = std::make_unique<InstanceCost>(*ctx.gpus.front().part, config_.speculative.draft, slot.serving);
      kv_blocks = kv_blocks_with_draft(cost, *draft, slot.serving.gpu_memory_utilization, slot.serving.block_size);
    }
    BatchScheduler::Limits limits{slot.serving.max_num_seqs, slot.serving.max_num_batched_tokens,
                                  slot.serving.chunked_prefill, slot.serving.block_size,
                                  kv_blocks - prefix_hbm_blocks};
    if (speculates) {
      limits.draft_tokens = config_.speculative.draft_tokens;
      limits.acceptance_rate = config_.speculative.acceptance_rate;
      limits.seed = ctx.rng.stream("inference.speculative", static_cast<uint64_t>(i)).next_u64();
    }
    limits.swap = slot.serving.preemption == "swap";
    limits.swap_blocks = static_cast<int64_t>(slot.serving.swap_space.bytes() /
                                              (cost.kv_bytes_per_token_per_gpu() * slot.serving.block_size));
    const double gpus = slot.gpus();
    const double block_bytes = cost.kv_bytes_per_token_per_gpu() * gpus * kc.block_tokens;  // the whole instance's
    if (prefix && !pool_ && kc.pool_capacity.bytes() > 0) {
      double bw = kc.pool_bandwidth.bps();
      if (bw <= 0) bw = ctx.collectives.topology().nic_bandwidth(ctx.collectives.endpoint(0)).bps();
      pool_ = std::make_unique<KvTier>("pool", static_cast<uint64_t>(kc.pool_capacity.bytes() / block_bytes),
                                       kc.eviction, bw * gpus, 0.0, true);
    }
    auto inst = std::make_unique<Instance>(limits, cost);
    inst->role = slot.role;
    inst->draft = std::move(draft);
    for (int g = 0; g < slot.gpus(); ++g) inst->gpus.push_back(static_cast<uint32_t>(slot.first_gpu + g));
    if (limits.swap) {
      inst->host = host_path(ctx.collectives.topology(),
                             ctx.collectives.endpoint(ctx.gpus[static_cast<size_t>(slot.first_gpu)].rank),
                             kc.dram_bandwidth);
    }
    if (cached_here) {
      const uint64_t hbm = static_cast<uint64_t>(prefix_hbm_blocks) * static_cast<uint64_t>(slot.serving.block_size) /
                           static_cast<uint64_t>(kc.block_tokens);
      inst->tiers.push_back(std::make_unique<KvTier>("hbm", hbm, kc.eviction, 0.0, 0.0, false));
      inst->tiers.push_back(std::make_unique<KvTier>("dram", static_cast<uint64_t>(kc.dram_capacity.bytes() / block_bytes),
                                                     kc.eviction, kc.dram_bandwidth.bps() * gpus, 0.0, false));
      inst->tiers.push_back(std::make_unique<KvTier>("ssd", static_cast<uint64_t>(kc.ssd_capacity.bytes() / block_bytes),
                                                     kc.eviction, kc.ssd_bandwidth.bps() * gpus, 0.0, false));
      std::vector<KvTier*> view;
      for (auto& t : inst->tiers) view.push_back(t.get());
      if (pool_) view.push_back(pool_.get());
      inst->cache = std::make_unique<PrefixCache>(view, block_bytes);
    }
    instances_.push_back(std::move(inst));
  }
  set_up_fetcher();
  timeline_.reset();
  if (ctx.tracer.enabled() && config_.timeline_requests > 0) {
    timeline_ = std::make_unique<RequestTimeline>(static_cast<uint64_t>(config_.timeline_requests), slots_.size(),
                                                  ctx.job, ctx.traced_ranks);
  }
  loads_.assign(front_, {});
  decode_loads_.assign(static_cast<size_t>(n) - front_, {});
  router_ = request_routers().get(config_.routing).factory({ctx.rng.seed(), config_.affinity_slack});
  decode_router_.reset();
  if (config_.disaggregation.enabled()) {
    decode_router_ = request_routers().get(config_.disaggregation.decode_routing).factory({ctx.rng.seed(), 1.0});
  }
  // Admission: the policy, and what it needs of each instance (prompt tokens queued, its prefill rate).
  admission_.reset();
  refused_ = 0;
  deferral_ = {};
  deferred_requests_.clear();
  prompt_left_.assign(static_cast<size_t>(n), 0);
  prompt_of_.clear();
  iteration_end_s_.assign(static_cast<size_t>(n), 0.0);
  prefill_rate_.assign(static_cast<size_t>(n), 0.0);
  if (config_.admission.policy != "always") {
    const policy::AdmissionOptions ao{config_.slo.ttft.s(), config_.admission.ttft_slack,
                                      static_cast<uint32_t>(config_.admission.max_queue)};
    admission_ = admission_policies().get(config_.admission.policy).factory(ao);
    const uint32_t chunk = static_cast<uint32_t>(slots_.front().serving.max_num_batched_tokens);
    prefill_tokens_per_s_ = chunk / instances_.front()->cost.iteration_seconds(std::vector<BatchEntry>{{chunk, 0, true}});
    prefill_rate_.assign(static_cast<size_t>(n), prefill_tokens_per_s_);
  }
  // Autoscaling: every instance exists; those beyond the initial count are off until the autoscaler starts them.
  start_autoscaling();
  source_ = open_requests(config_.requests, ctx.rng);
  if (source_->next(pending_)) {
    ctx.engine.at(ctx.engine.now() + Duration::seconds(pending_.arrival_s), [this] { arrive(); });
  } else {
    source_done_ = true;
    maybe_finish();
  }
}

void InferenceServing::arrive() {
  const double now = ctx_->engine.now().s();
  if (first_arrival_s_ < 0) first_arrival_s_ = now;
  ++arrived_;
  Request r = pending_;
  r.arrival_s = now;
  place(std::move(r));
  const double base = ctx_->engine.now().s() - pending_.arrival_s;
  if (source_->next(pending_)) {
    ctx_->engine.at(Duration::seconds(std::max(now, base + pending_.arrival_s)), [this] { arrive(); });
  } else {
    source_done_ = true;
    maybe_finish();
  }
}

bool InferenceServing::place(Request r, bool again, double waited_s) {
  const uint32_t output_tokens = r.output_tokens;  // before disaggregation cuts it to the prefill's one token
  const policy::RouteRequest rr{r.id, r.input_tokens, r.output_tokens, &r.hash_ids};
  const uint32_t i = route(rr);
  LCSIM_ASSERT(i < instances_.size(), "router chose no instance");
  if (decode_router_) {
    // Disaggregated: the prefill pool computes the prompt and the first token only (hand_off() does the rest).
    handoffs_[r.id] = {r.arrival_s, 0, r.input_tokens, r.output_tokens, 0};
    r.output_tokens = 1;
  }
  // A deferred request offered again: admitted on its whole prompt (no cache lookup until it is in), with its wait.
  if (again && !admitted(i, r, 0, waited_s)) {
    handoffs_.erase(r.id);
    return false;
  }
  Instance& inst = *instances_[i];
  if (timeline_) {
    timeline_->claim(ctx_->tracer, i, ctx_->gpus[inst.gpus.front()].rank, r.id, ctx_->engine.now().s());
  }
  uint32_t cached = 0;
  double load_s = 0;
  std::vector<uint32_t> per_tier;
  if (inst.cache && !r.hash_ids.empty()) {
    const PrefixCache::Lookup hit = inst.cache->lookup(r.hash_ids);
    const uint64_t tokens = static_cast<uint64_t>(hit.blocks) * static_cast<uint64_t>(config_.kv_cache.block_tokens);
    cached = static_cast<uint32_t>(std::min<uint64_t>(tokens, r.input_tokens - 1));
    load_s = hit.load_s;
    per_tier = hit.per_tier;
    prefix_tokens_saved_ += cached;
    in_flight_ids_[r.id] = r.hash_ids;
  }
  if (admission_ && !again && !admitted(i, r, cached, 0.0)) {
    in_flight_ids_.erase(r.id);
    if (timeline_) timeline_->release(i, r.id);
    handoffs_.erase(r.id);
    if (config_.admission.on_refuse == "defer") {
      r.output_tokens = output_tokens;
      defer(r);
    } else {
      ++refused_;
    }
  } else if (load_s > 0) {
    fetch_prefix(i, r, cached, per_tier);  // the prefix's blocks come up from the lower tiers first
  } else {
    admit(i, r, cached);
  }
  return true;
}

void InferenceServing::admit(uint32_t i, const Request& r, uint32_t cached_tokens) {
  Instance& inst = *instances_[i];
  if (inst.sched.add(r, cached_tokens)) {
    if (admission_) {
      prompt_left_[i] += r.input_tokens - cached_tokens;
      prompt_of_[r.id] = r.input_tokens - cached_tokens;
    }
    sample_counters(i);
    update_load(i);
    kick(i);
  } else {
    ++rejected_;
    in_flight_ids_.erase(r.id);
    if (timeline_) timeline_->release(i, r.id);
    handoffs_.erase(r.id);
    maybe_finish();
  }
}

void InferenceServing::update_load(uint32_t i) {
  const BatchScheduler& sched = instances_[i]->sched;
  (i < front_ ? loads_[i] : decode_loads_[i - front_]) = {
      sched.outstanding_tokens(), static_cast<uint32_t>(sched.running()), static_cast<uint32_t>(sched.waiting())};
}

void InferenceServing::hand_off(uint32_t from, const FinishedRequest& f) {
  auto it = handoffs_.find(f.id);
  LCSIM_ASSERT(it != handoffs_.end(), "a prefilled request the disaggregated pools do not know");
  Handoff& h = it->second;
  h.preemptions = f.preemptions;
  if (h.output_tokens <= 1) {  // nothing left to decode: done at the prefill instance, nothing moves
    finished_.push_back({f.id, h.input_tokens, h.output_tokens, h.arrival_s, f.first_token_s, f.finish_s, f.preemptions});
    last_finish_s_ = f.finish_s;
    handoffs_.erase(it);
    return;
  }
  const policy::RouteRequest rr{f.id, h.input_tokens + 1, h.output_tokens - 1, nullptr};
  const uint32_t to = route_decode(rr);
  ++handed_off_;
  ++instances_[to]->incoming;
  std::vector<uint32_t> src, dst;
  for (uint32_t g : instances_[from]->gpus) src.push_back(ctx_->gpus[g].rank);
  for (uint32_t g : instances_[to]->gpus) dst.push_back(ctx_->gpus[g].rank);
  const double bytes = kv_bytes_per_token(config_.model, config_.serving.kv_dtype) * h.input_tokens;
  transfer_bytes_ += bytes;
  ++in_transfer_;
  const double start = ctx_->engine.now().s();
  const uint64_t id = f.id;
  const uint32_t from_rank = src.front(), to_rank = dst.front();
  if (timeline_) timeline_->handed_off(ctx_->tracer, from, from_rank, f.id, start);
  ctx_->collectives.transfer(kv_handoff_flows(src, dst, bytes), [this, id, to, start, from_rank, to_rank, bytes] {
    --in_transfer_;
    --instances_[to]->incoming;
    const double now = ctx_->engine.now().s();
    transfer_s_.push_back(now - start);
    if (ctx_->tracer.enabled()) {
      // The handoff on the timeline: a send on the prefill instance's first GPU, a receive on the decode one's.
      const Duration a = Duration::seconds(start), b = Duration::seconds(now);
      const std::vector<std::pair<std::string, std::string>> args = {{"request", std::to_string(id)}};
      if (from_rank < ctx_->traced_ranks) {
        ctx_->tracer.span({SpanKind::kSend, from_rank, a, b, "KV handoff", ctx_->job, bytes, 0, args});
      }
      if (to_rank < ctx_->traced_ranks) {
        ctx_->tracer.span({SpanKind::kRecv, to_rank, a, b, "KV handoff", ctx_->job, bytes, 0, args});
      }
    }
    Handoff& hh = handoffs_.at(id);
    // The first token reaches the user with the KV cache at the decode instance (TTFT includes the transfer). The
    // decode instance holds the prompt's KV and computes the first token's own as its first decode step.
    hh.first_token_s = now;
    Request r;
    r.id = id;
    r.arrival_s = now;
    r.input_tokens = hh.input_tokens + 1;
    r.output_tokens = hh.output_tokens - 1;
    if (timeline_) timeline_->claim(ctx_->tracer, to, to_rank, id, now);
    admit(to, r, hh.input_tokens);
  });
}

void InferenceServing::fix_up_decoded(size_t first) {
  for (size_t k = first; k < finished_.size(); ++k) {
    FinishedRequest& f = finished_[k];
    auto it = handoffs_.find(f.id);
    LCSIM_ASSERT(it != handoffs_.end(), "a decoded request the disaggregated pools do not know");
    f.input_tokens = it->second.input_tokens;
    f.output_tokens = it->second.output_tokens;
    f.arrival_s = it->second.arrival_s;
    f.first_token_s = it->second.first_token_s;
    f.preemptions += it->second.preemptions;
    handoffs_.erase(it);
  }
}

void InferenceServing::kick(uint32_t i) {
  Instance& inst = *instances_[i];
  if (inst.busy) return;
  inst.busy = true;
  inst.busy_since = ctx_->engine.now().s();
  step(i);
}

void InferenceServing::step(uint32_t i) {
  Instance& inst = *instances_[i];
  const bool planned = inst.sched.plan(inst.plan);
  sample_counters(i);
  if (!planned) {
    inst.busy = false;
    close_busy(i);
    if (fleet_.state(i) == InstanceState::kDraining && inst.incoming == 0) {
      fleet_.set(i, InstanceState::kOff, ctx_->engine.now().s());
    }
    maybe_finish();
    return;
  }
  double t = inst.cost.iteration_seconds(inst.plan.batch);
  if (inst.plan.swap_out_blocks + inst.plan.swap_in_blocks > 0) {
    // Preemption by swap: each GPU copies its shard of the blocks to host memory or back before the forward pass.
    const double block = inst.cost.kv_bytes_per_token_per_gpu() * inst.sched.block_size();
    const double out = static_cast<double>(inst.plan.swap_out_blocks) * block;
    const double in = static_cast<double>(inst.plan.swap_in_blocks) * block;
    const double copy_s = swap_seconds(inst.host, out, in);
    inst.swap_bytes += (out + in) * static_cast<double>(inst.gpus.size());
    inst.swap_s += copy_s;
    t += copy_s;
  }
  if (inst.draft) {
    const double d = draft_seconds(*inst.draft, inst.plan.batch);
    inst.draft_s += d;
    t += d;
  }
  iteration_end_s_[i] = ctx_->engine.now().s() + t;
  ++inst.iterations;
  if (config_.model.num_experts > 0) {  // expert load (moe.cc)
    const IterationWork w = inst.cost.work(inst.plan.batch);
    inst.expert_tokens += static_cast<double>(w.tokens);
    inst.expert_rows += w.expert_rows;
  }
  const Duration start = ctx_->engine.now();
  const uint32_t rank = ctx_->gpus[inst.gpus.front()].rank;
  if (ctx_->tracer.enabled() && rank < ctx_->traced_ranks) {
    const char* name = inst.plan.decode_tokens == 0 ? "prefill" : inst.plan.prefill_tokens == 0 ? "decode" : "mixed";
    const uint64_t chain = timeline_ ? timeline_->chain_in(i, inst.sched, inst.plan) : 0;  // a traced request's
    ctx_->tracer.span({SpanKind::kCompute, rank, start, start + Duration::seconds(t), name, ctx_->job, 0, 0,
                       {{"sequences", std::to_string(inst.plan.batch.size())},
                        {"prefill_tokens", std::to_string(inst.plan.prefill_tokens)},
                        {"decode_tokens", std::to_string(inst.plan.decode_tokens)}},
                       chain, chain != 0, chain != 0});
  }
  if (admission_ && inst.sched.waiting() > 0) {
    // A queue is left behind this iteration: its prompt tokens per second are what the queue gets now (decodes
    // and the max_num_seqs limit take their share). An exponential average over such iterations.
    prefill_rate_[i] = 0.9 * prefill_rate_[i] + 0.1 * inst.plan.prefill_tokens / t;
  }
  ctx_->engine.after(Duration::seconds(t), [this, i] {
    Instance& in = *instances_[i];
    const size_t before = finished_.size();
    prefilled_.clear();
    if (in.role == Role::kPrefill) {
      prefill_done_.clear();
      in.sched.complete(in.plan, ctx_->engine.now().s(), prefill_done_, in.cache || admission_ ? &prefilled_ : nullptr);
      for (const FinishedRequest& f : prefill_done_) hand_off(i, f);
    } else {
      in.sched.complete(in.plan, ctx_->engine.now().s(), finished_, in.cache || admission_ ? &prefilled_ : nullptr);
      if (in.role == Role::kDecode) fix_up_decoded(before);
    }
    sample_counters(i);
    if (finished_.size() > before) last_finish_s_ = ctx_->engine.now().s();
    if (timeline_) {
      const uint32_t first = ctx_->gpus[in.gpus.front()].rank;
      for (size_t k = before; k < finished_.size(); ++k) timeline_->finished(ctx_->tracer, i, first, finished_[k]);
    }
    // A prompt's blocks are stored once its prefill is done (as Mooncake does), for the requests that follow.
    for (uint64_t id : prefilled_) {
      if (auto p = prompt_of_.find(id); p != prompt_of_.end()) {
        prompt_left_[i] -= std::min<uint64_t>(prompt_left_[i], p->second);
        prompt_of_.erase(p);
      }
      if (!in.cache) continue;
      auto it = in_flight_ids_.find(id);
      if (it == in_flight_ids_.end()) continue;
      in.cache->store(it->second);
      in_flight_ids_.erase(it);
    }
    update_load(i);
    if (!deferral_.empty()) retry_deferred();
    step(i);
  });
}

void InferenceServing::sample_counters(uint32_t i) {
  Instance& inst = *instances_[i];
  if (!ctx_->tracer.enabled() || ctx_->gpus[inst.gpus.front()].rank >= ctx_->traced_ranks) return;
  const double now = ctx_->engine.now().s();
  if (inst.sample_s >= 0 && inst.sample_s != now) emit_counters(i);
  inst.sample_s = now;  // a later change at this moment replaces the values: one sample per moment
  inst.sample[0] = static_cast<double>(inst.sched.running());
  inst.sample[1] = static_cast<double>(inst.sched.waiting());
  inst.sample[2] = static_cast<double>(inst.sched.free_blocks());
}

void InferenceServing::emit_counters(uint32_t i) {
  Instance& inst = *instances_[i];
  if (inst.sample_s < 0) return;
  static const char* const kCounterNames[3] = {"running", "waiting", "free KV blocks"};
  for (int k = 0; k < 3; ++k) {  // only what changed: most decode iterations leave the counters alone
    if (inst.sample[k] == inst.counters[k]) continue;
    inst.counters[k] = inst.sample[k];
    ctx_->tracer.counter(
        {"instance " + std::to_string(i), kCounterNames[k], Duration::seconds(inst.sample_s), inst.sample[k]});
  }
  inst.sample_s = -1;
}

void InferenceServing::close_busy(uint32_t i) {
  Instance& inst = *instances_[i];
  const double now = ctx_->engine.now().s();
  inst.busy_s += now - inst.busy_since;
  if (!ctx_->tracer.has_subscribers() || now <= inst.busy_since) return;
  const Duration a = Duration::seconds(inst.busy_since), b = Duration::seconds(now);
  for (uint32_t g : inst.gpus) ctx_->tracer.busy({ctx_->gpus[g].rank, ctx_->job, a, b, b - a, {}});
}

void InferenceServing::maybe_finish() {
  if (!source_done_ || finished_called_ || loading_ > 0 || in_transfer_ > 0 || !deferral_.empty()) return;
  for (const auto& inst : instances_) {
    if (inst->busy || !inst->sched.idle()) return;
  }
  finished_called_ = true;
  for (uint32_t i = 0; i < instances_.size(); ++i) emit_counters(i);
  tick_.cancel();
  ctx_->finish();
}

double InferenceServing::progress() const {
  if (arrived_ == 0) return source_done_ ? 1.0 : 0.0;
  const double done = static_cast<double>(finished_.size() + rejected_ + refused_ + deferral_.timed_out()) /
                      static_cast<double>(arrived_);
  return source_done_ ? done : 0.5 * done;
}

std::string InferenceServing::check_inputs() const {
  const RequestsConfig& c = config_.requests;
  const std::string& path = c.source == "trace" ? c.trace : c.lengths_trace;
  if (path.empty()) return {};
  // The whole file, as the run would read it (the reader throws at the first bad row, with its file and line).
  std::unique_ptr<RequestSource> t = open_trace(path, c.format);
  Request r;
  uint64_t rows = 0;
  while (t->next(r)) ++rows;
  return path + ": " + std::to_string(rows) + " requests read, no bad row";
}

void InferenceServing::set_storage(const storage::StorageConfig& storage, const hw::NodeSpec& node) {
  storage_ = &storage;
  node_ = &node;
}

void InferenceServing::link_storage_like(const InferenceServing& first) {
  storage_ = first.storage_;
  node_ = first.node_;
}

bool InferenceServing::admitted(uint32_t i, const Request& r, uint32_t cached, double waited_s) {
  const Instance& inst = *instances_[i];
  const double now = ctx_->engine.now().s();
  policy::AdmissionQueue q;
  q.running = static_cast<uint32_t>(inst.sched.running());
  q.waiting = static_cast<uint32_t>(inst.sched.waiting());
  q.queued_prompt_tokens = prompt_left_[i];
  q.prefill_tokens_per_s = prefill_rate_[i];
  q.busy_for_s = inst.busy ? std::max(0.0, iteration_end_s_[i] - now) : 0.0;
  return admission_->decide({r.input_tokens, r.output_tokens, cached, waited_s}, q).admit;
}

}  // namespace lcsim::inf

namespace lcsim::inf {
void register_inference_workloads(Registry<wl::WorkloadFactory>& r) {
  r.add("inference_serving",
        "LLM serving: request traces or synthetic arrivals, routing, continuous batching, paged KV cache",
        []() -> std::unique_ptr<wl::Workload> { return std::make_unique<InferenceServing>(); });
}
}  // namespace lcsim::inf
