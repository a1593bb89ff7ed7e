#include "workloads/benchmarks/nccl_tests.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lcsim::wl {

void NcclTestsConfig::visit(Section& s) {
  s.choice("operation", operation, policy::collective_op_names(), "the collective to measure");
  s.field("min_bytes", min_bytes, "smallest message (nccl-tests -b)", Range::positive());
  s.field("max_bytes", max_bytes, "largest message (nccl-tests -e)", Range::positive());
  s.field("step_factor", step_factor, "size multiplier between lines (nccl-tests -f)", Range{1.0, 1e9, true});
  s.values("sizes", sizes,
           "explicit message sizes (a list with units), instead of min_bytes, max_bytes and step_factor");
  if (s.mode() == Section::Mode::kParse) {
    for (const Bytes& b : sizes) {
      if (b.bytes() <= 0) s.error("sizes", "sizes must be positive, got '" + to_string(b) + "'");
    }
  }
  s.field("ranks", ranks, "ranks taking part; 0 = every GPU", Range::at_least(0));
  s.choice("placement", placement, {"pack", "spread"},
           "pack: ranks fill nodes in order; spread: one rank per node in turn");
  s.choice("dtype", dtype, {"fp32", "fp16", "bf16", "int8"}, "element type (for the count column)");
  s.field("iterations", iterations, "calls per size; the time is their mean", Range::at_least(1));
  if (s.mode() == Section::Mode::kParse && min_bytes > max_bytes) {
    s.error("max_bytes", "must be at least min_bytes (" + to_string(min_bytes) + ")");
  }
}

double NcclTests::bus_factor(const std::string& op, double n) {
  if (op == "all_reduce") return 2 * (n - 1) / n;
  if (op == "reduce_scatter" || op == "all_gather" || op == "all_to_all") return (n - 1) / n;
  return 1.0;
}

std::vector<Bytes> NcclTests::size_list() const {
  if (!config_.sizes.empty()) return config_.sizes;
  std::vector<Bytes> out;
  for (double b = config_.min_bytes.bytes(); b <= config_.max_bytes.bytes() * (1 + 1e-12); b *= config_.step_factor) {
    out.push_back(Bytes::of(std::floor(b)));
    if (config_.step_factor <= 1) break;
  }
  return out;
}

void NcclTests::validate(const std::vector<Gpu>& gpus, Section& s) {
  if (config_.ranks > static_cast<int>(gpus.size())) {
    s.error("ranks", "the cluster has " + std::to_string(gpus.size()) + " GPUs, got " + std::to_string(config_.ranks));
  }
  const int n = config_.ranks > 0 ? config_.ranks : static_cast<int>(gpus.size());
  if (n < 2) s.error("ranks", "a collective needs at least 2 ranks");
  if (size_list().size() > 10000) s.error("step_factor", "more than 10,000 sizes: raise step_factor");
}

std::string NcclTests::describe() const {
  char buf[200];
  std::snprintf(buf, sizeof buf, "nccl-tests %s, %zu sizes from %s to %s, %s placement", config_.operation.c_str(),
                size_list().size(), to_string(size_list().front()).c_str(), to_string(size_list().back()).c_str(),
                config_.placement.c_str());
  return buf;
}

void NcclTests::start(RunContext& ctx) {
  ctx_ = &ctx;
  const uint32_t total = static_cast<uint32_t>(ctx.gpus.size());
  const uint32_t n = config_.ranks > 0 ? static_cast<uint32_t>(config_.ranks) : total;
  ranks_.clear();
  if (config_.placement == "pack") {
    for (uint32_t r = 0; r < n; ++r) ranks_.push_back(r);
  } else {
    std::vector<std::vector<uint32_t>> nodes;
    for (const auto& g : ctx.gpus) {
      if (g.node >= nodes.size()) nodes.resize(g.node + 1);
      nodes[g.node].push_back(g.rank);
    }
    for (size_t i = 0; ranks_.size() < n; ++i) {
      for (const auto& node : nodes) {
        if (i < node.size() && ranks_.size() < n) ranks_.push_back(node[i]);
      }
    }
    std::sort(ranks_.begin(), ranks_.end());  // collectives take ranks sorted by node
  }
  sizes_ = size_list();
  rows_.clear();
  run_size(0, 0, ctx.engine.now());
}

void NcclTests::run_size(size_t i, int iteration, Duration start) {
  if (i >= sizes_.size()) {
    ctx_->finish();
    return;
  }
  const Bytes size = sizes_[i];
  const auto op = policy::parse_op(config_.operation);
  const auto choice = ctx_->collectives.choose(op, ranks_, size);
  // With protocols configured, the algorithm column says which one ran (ring/ll128), as NCCL_DEBUG=INFO would.
  const bool show_protocol = ctx_->collectives.protocols_configured() && op != policy::CollectiveOp::kSendRecv;
  const std::string label =
      choice.algo + (show_protocol ? "/" + ctx_->collectives.protocols()[choice.protocol].name : "");
  const Duration call_start = ctx_->engine.now();
  ctx_->collectives.run(op, ranks_, size, [this, i, iteration, start, size, label, call_start] {
    if (ranks_.front() < ctx_->traced_ranks) {
      for (uint32_t r : ranks_) {
        if (r >= ctx_->traced_ranks) continue;
        const std::string name = config_.operation + " " + to_string(size);
        ctx_->tracer.span({.kind = SpanKind::kComm, .rank = r, .start = call_start, .end = ctx_->engine.now(),
                           .name = name, .bytes = size.bytes(), .args = {{"algorithm", label}}});
      }
    }
    if (iteration + 1 < config_.iterations) {
      run_size(i, iteration + 1, start);
      return;
    }
    rows_.push_back({size, (ctx_->engine.now() - start) / config_.iterations, label});
    // Power: every rank ran collective kernels for the whole size's calls.
    for (uint32_t r : ranks_) {
      ctx_->tracer.busy({.rank = r, .start = start, .end = ctx_->engine.now(), .comm = ctx_->engine.now() - start});
    }
    run_size(i + 1, 0, ctx_->engine.now());
  }, choice.algo);
}

double NcclTests::progress() const {
  return sizes_.empty() ? 0.0 : static_cast<double>(rows_.size()) / static_cast<double>(sizes_.size());
}

std::vector<std::string> NcclTests::table() const {
  const double n = static_cast<double>(ranks_.size());
  const bool reduces = config_.operation == "all_reduce" || config_.operation == "reduce_scatter" ||
                       config_.operation == "reduce";
  const bool rooted = config_.operation == "broadcast" || config_.operation == "reduce";
  const std::string type = config_.dtype == "fp32" ? "float" : config_.dtype == "fp16" ? "half"
                           : config_.dtype == "bf16" ? "bfloat16" : "int8";
  const double elem = config_.dtype == "fp32" ? 4 : config_.dtype == "int8" ? 1 : 2;
  std::vector<std::string> out;
  char line[200];
  std::snprintf(line, sizeof line, "# nccl-tests-style %s on %zu ranks (lcsim, simulated)", config_.operation.c_str(),
                ranks_.size());
  out.push_back(line);
  out.push_back("#       size         count      type   redop    root     time   algbw   busbw  algorithm");
  out.push_back("#        (B)    (elements)                               (us)  (GB/s)  (GB/s)");
  double busbw_sum = 0;
  for (const auto& r : rows_) {
    const double t = r.time.s();
    const double algbw = r.size.bytes() / t / 1e9, busbw = algbw * bus_factor(config_.operation, n);
    busbw_sum += busbw;
    std::snprintf(line, sizeof line, "%12.0f  %12.0f  %8s  %6s  %6d  %7.2f  %6.2f  %6.2f  %s", r.size.bytes(),
                  std::floor(r.size.bytes() / elem), type.c_str(), reduces ? "sum" : "none", rooted ? 0 : -1, t * 1e6,
                  algbw, busbw, r.algorithm.c_str());
    out.push_back(line);
  }
  std::snprintf(line, sizeof line, "# Avg bus bandwidth    : %g", rows_.empty() ? 0.0 : busbw_sum / rows_.size());
  out.push_back(line);
  return out;
}

void NcclTests::report(MetricSet& m) const {
  const double n = static_cast<double>(ranks_.size());
  double peak = 0, sum = 0;
  for (const auto& r : rows_) {
    const double busbw = r.size.bytes() / r.time.s() * bus_factor(config_.operation, n);
    peak = std::max(peak, busbw);
    sum += busbw;
  }
  m.set("ranks", n, "ranks taking part");
  m.set("sizes", static_cast<double>(rows_.size()), "message sizes measured");
  m.set("busbw_avg_bytes_per_s", rows_.empty() ? 0.0 : sum / rows_.size(), "mean bus bandwidth over the sizes "
                                                                           "(nccl-tests' Avg bus bandwidth, in B/s)");
  m.set("busbw_peak_bytes_per_s", peak, "highest bus bandwidth over the sizes");
  if (!rows_.empty()) {
    m.set("time_at_max_size_s", rows_.back().time.s(), "time of one call at the largest size");
    m.set("busbw_at_max_size_bytes_per_s", rows_.back().size.bytes() / rows_.back().time.s() *
                                               bus_factor(config_.operation, n),
          "bus bandwidth at the largest size");
  }
}

}  // namespace lcsim::wl
