// DualPipe's split of a stage plan (MegatronTraining::plan_dualpipe): backward passes of input gradients only, the
// deferred weight gradients, and the F&B pairs of a forward and a backward chunk.
#include <algorithm>
#include <utility>

#include "workloads/training/megatron.h"

namespace lcsim::wl {

void MegatronTraining::plan_dualpipe(StagePlan& plan, Duration pass_start) const {
  const size_t chunks = plan.forward.size();
  plan.backward_input.clear();
  plan.weight.clear();
  plan.pairs.clear();
  for (size_t c = 0; c < chunks; ++c) {
    // Input gradients only: the weight-gradient GEMMs are left out, and with them the gradient buckets.
    Pass in = plan.backward[c], w;
    in.compute = Duration();
    Duration pending;
    for (Segment& s : in.segments) {
      s.compute -= s.weight;
      s.host.wait = std::min(s.host.wait, s.compute);  // the host's part stays with the input gradients
      in.compute += s.compute;
      pending += s.weight;
      // The deferred weight gradients, one segment per gradient bucket they complete (none in between).
      if (s.bucket >= 0) {
        w.segments.push_back(Segment::of(pending));  // the deferred weight-gradient GEMMs: compute only
        w.segments.back().bucket = s.bucket;
        w.compute += pending;
        pending = Duration();
      }
      s.weight = Duration();
      s.bucket = -1;
    }
    if (pending > Duration() || w.segments.empty()) {
      w.segments.push_back(Segment::of(pending));
      w.compute += pending;
    }
    plan.backward_input.push_back(std::move(in));
    plan.weight.push_back(std::move(w));
  }
  // F&B pairs: the forward's segments, then the backward's (one receive before both: the backward's pass start is
  // not paid twice); each expert all-to-all runs beside the pair's compute, waited for at the pair's end.
  for (size_t f = 0; f < chunks; ++f) {
    for (size_t b = 0; b < chunks; ++b) {
      Pass p = plan.forward[f];
      const Pass& back = plan.backward[b];
      p.segments.insert(p.segments.end(), back.segments.begin(), back.segments.end());
      Segment& first_back = p.segments[plan.forward[f].segments.size()];
      first_back.compute -= pass_start, first_back.host.wait -= pass_start;
      p.compute += back.compute - pass_start;
      for (Segment& s : p.segments) {
        const bool ep = std::any_of(s.comms.begin(), s.comms.end(), [](const CommCall& x) { return x.kind == Exposure::kEp; });
        if (ep) s.side = true, s.overlap = false;
      }
      plan.pairs.push_back(std::move(p));
    }
  }
}

}  // namespace lcsim::wl
