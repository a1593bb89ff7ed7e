#include "models/hardware/power_counter.h"

#include <algorithm>

namespace lcsim::hw {

PowerCounter::PowerCounter(const Tracer& out, std::vector<Gpu> gpus) : out_(out), gpus_(std::move(gpus)) {}

double PowerCounter::watts(uint32_t rank, int state) const {
  const Gpu& g = gpus_[rank];
  return state == 2 ? g.compute_w : state == 1 ? g.comm_w : g.idle_w;
}

void PowerCounter::on_span(const SpanEvent& e) {
  if (e.rank >= gpus_.size() || e.end <= e.start) return;
  switch (e.kind) {
    case SpanKind::kCompute:
      spans_[e.rank].push_back({e.start.s(), e.end.s(), true});
      break;
    case SpanKind::kComm:
    case SpanKind::kPipeline:
    case SpanKind::kDataParallel:
    case SpanKind::kSend:
    case SpanKind::kRecv:
      spans_[e.rank].push_back({e.start.s(), e.end.s(), false});
      break;
    default:  // host work, links, run phases: not the GPU's state
      break;
  }
}

void PowerCounter::emit(uint32_t rank, Duration t, double w) {
  auto it = last_.find(rank);
  if (it != last_.end() && it->second == w) return;  // samples at changes only
  last_[rank] = w;
  ++samples_;
  out_.counter({gpus_[rank].group, gpus_[rank].name, t, w});
}

void PowerCounter::on_busy(const BusyEvent& e) {
  if (e.rank >= gpus_.size() || e.end <= e.start) return;
  auto found = spans_.find(e.rank);
  if (found == spans_.end()) return;  // not on the timeline
  // The previous stretch's end, unless this stretch starts right there (one sample per time).
  auto end = ends_.find(e.rank);
  if (end != ends_.end()) {
    if (end->second.first < e.start) emit(e.rank, end->second.first, end->second.second);
    ends_.erase(end);
  }
  std::vector<Span> spans;
  spans.swap(found->second);
  const double a = e.start.s(), b = e.end.s();
  // Boundaries within the stretch: +1/-1 to the compute or communication count.
  std::vector<std::pair<double, int>> edges;  // (time, delta code): code 0 compute end, 1 comm end, 2 comm start, 3 compute start
  for (const Span& s : spans) {
    const double s0 = std::max(s.start, a), s1 = std::min(s.end, b);
    if (s1 <= s0) continue;
    edges.push_back({s0, s.compute ? 3 : 2});
    edges.push_back({s1, s.compute ? 0 : 1});
  }
  if (edges.empty()) {  // nothing traced in this stretch (memoized): its average power
    const double len = b - a;
    const double c = std::clamp(e.compute.s() / len, 0.0, 1.0), m = std::clamp(e.comm.s() / len, 0.0, 1.0 - c);
    emit(e.rank, e.start, watts(e.rank, 2) * c + watts(e.rank, 1) * m + watts(e.rank, 0) * (1 - c - m));
    ends_[e.rank] = {e.end, watts(e.rank, 0)};
    return;
  }
  std::sort(edges.begin(), edges.end());
  int compute = 0, comm = 0;
  size_t i = 0;
  double t = a;
  while (true) {
    // Apply every boundary at time t, then the state holds until the next boundary.
    while (i < edges.size() && edges[i].first <= t) {
      const int code = edges[i].second;
      if (code == 3) ++compute;
      else if (code == 2) ++comm;
      else if (code == 1) --comm;
      else --compute;
      ++i;
    }
    const double w = watts(e.rank, compute > 0 ? 2 : comm > 0 ? 1 : 0);
    if (t >= b) {  // the stretch's end: written when the next stretch starts later, or at finish()
      ends_[e.rank] = {e.end, w};
      break;
    }
    emit(e.rank, Duration::seconds(t), w);
    if (i == edges.size()) {
      ends_[e.rank] = {e.end, watts(e.rank, 0)};
      break;
    }
    t = edges[i].first;
  }
}

void PowerCounter::finish() {
  for (const auto& [rank, end] : ends_) emit(rank, end.first, end.second);
  ends_.clear();
}

}  // namespace lcsim::hw
