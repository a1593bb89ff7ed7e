#include "workloads/inference/request_timeline.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace lcsim::inf {

namespace {
std::string ms(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", s * 1e3);
  return buf;
}
}  // namespace

RequestTimeline::RequestTimeline(uint64_t max_requests, size_t instances, uint32_t job, uint32_t traced_ranks)
    : max_(max_requests), job_(job), traced_ranks_(traced_ranks), slot_(instances) {}

bool RequestTimeline::claim(const Tracer& tracer, uint32_t instance, uint32_t rank, uint64_t id, double now_s) {
  Slot& s = slot_[instance];
  auto h = handed_.empty() ? handed_.end() : std::find(handed_.begin(), handed_.end(), id);
  const bool continued = h != handed_.end();
  if (continued) handed_.erase(h);  // traced on this instance or not, its hand-off is over
  if (s.id != UINT64_MAX) return false;
  if (!continued) {
    if (traced_ >= max_) return false;
    ++traced_;
  }
  s = {id, now_s, !continued};
  if (tracer.enabled() && rank < traced_ranks_) {
    const Duration t = Duration::seconds(now_s);
    tracer.span({SpanKind::kHost, rank, t, t, continued ? "KV arrival" : "arrival", job_, 0, 0,
                 {{"request", std::to_string(id)}}});
  }
  return true;
}

void RequestTimeline::release(uint32_t instance, uint64_t id) {
  if (slot_[instance].id == id) slot_[instance].id = UINT64_MAX;
}

uint64_t RequestTimeline::chain_at(uint32_t instance, uint64_t id) const {
  return slot_[instance].id == id ? chain(id) : 0;
}

uint64_t RequestTimeline::chain_in(uint32_t instance, const BatchScheduler& sched,
                                   const BatchScheduler::Plan& plan) const {
  const uint64_t id = slot_[instance].id;
  if (id == UINT64_MAX) return 0;
  for (uint32_t s : plan.seqs) {
    if (sched.id_of(s) == id) return chain(id);
  }
  return 0;
}

void RequestTimeline::emit(const Tracer& tracer, const Slot& s, uint32_t rank, double end_s, const std::string& name,
                           std::vector<std::pair<std::string, std::string>> args, double first_token_s) const {
  const Duration a = Duration::seconds(s.since_s), b = Duration::seconds(std::max(end_s, s.since_s));
  SpanEvent e{SpanKind::kHost, rank, a, b, name, job_, 0, 0, std::move(args)};
  e.flow = chain(s.id);
  e.flow_in = !s.first;  // handed to this instance: it waited on the prefill pool's work
  e.flow_out = true;     // the batches that compute it wait on it
  tracer.span(e);
  if (first_token_s >= s.since_s && first_token_s <= end_s) {
    tracer.span({SpanKind::kHost, rank, a, Duration::seconds(first_token_s), "TTFT", job_, 0, 0,
                 {{"request", std::to_string(s.id)}}});
  }
}

void RequestTimeline::finished(const Tracer& tracer, uint32_t instance, uint32_t rank, const FinishedRequest& f) {
  Slot& s = slot_[instance];
  if (s.id != f.id) return;
  if (tracer.enabled() && rank < traced_ranks_) {
    emit(tracer, s, rank, f.finish_s, "request " + std::to_string(f.id),
         {{"request", std::to_string(f.id)},
          {"instance", std::to_string(instance)},
          {"input_tokens", std::to_string(f.input_tokens)},
          {"output_tokens", std::to_string(f.output_tokens)},
          {"ttft_ms", ms(f.ttft())},
          {"tpot_ms", ms(f.tpot())},
          {"preemptions", std::to_string(f.preemptions)}},
         f.first_token_s);
  }
  s.id = UINT64_MAX;
}

void RequestTimeline::handed_off(const Tracer& tracer, uint32_t instance, uint32_t rank, uint64_t id, double now_s) {
  Slot& s = slot_[instance];
  if (s.id != id) return;
  if (tracer.enabled() && rank < traced_ranks_) {
    emit(tracer, s, rank, now_s, "request " + std::to_string(id) + " (prefill)",
         {{"request", std::to_string(id)}, {"instance", std::to_string(instance)}}, -1);
  }
  handed_.push_back(id);
  s.id = UINT64_MAX;
}

}  // namespace lcsim::inf
