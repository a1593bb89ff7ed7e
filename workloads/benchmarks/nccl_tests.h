// An nccl-tests-like workload: one collective over a range of message sizes (min to max by a factor, or an
// explicit list), on a chosen number and placement of ranks, each size after the previous one finished. It
// prints the columns nccl-tests prints (size, count, type, redop, root, time, algbw, busbw) with nccl-tests'
// definitions (github.com/NVIDIA/nccl-tests, doc/PERFORMANCE.md): algbw = size / time, busbw = algbw x a factor
// per operation (all-reduce 2(n-1)/n; reduce-scatter, all-gather and all-to-all (n-1)/n; the others 1), so
// that lcsim's lines can be held against a measured run line by line.
#pragma once

#include <string>
#include <vector>

#include "workloads/workload.h"

namespace lcsim::wl {

struct NcclTestsConfig {
  std::string operation = "all_reduce";
  Bytes min_bytes = Bytes::of(8);
  Bytes max_bytes = Bytes::mib(128);
  double step_factor = 2;
  std::vector<Bytes> sizes;  // explicit sizes instead of min/max/step_factor
  int ranks = 0;             // 0: every GPU of the cluster
  std::string placement = "pack";  // pack: fill nodes in order; spread: round-robin over nodes
  std::string dtype = "fp32";
  int iterations = 1;        // back-to-back calls per size (time is their mean)
  void visit(Section& s);
};

class NcclTests final : public Workload {
 public:
  void visit(Section& s) override { config_.visit(s); }
  void copy_config(const Workload& from) override { config_ = same_type<NcclTests>(from).config_; }
  void validate(const std::vector<Gpu>& gpus, Section& s) override;
  void start(RunContext& ctx) override;
  void report(MetricSet& m) const override;
  double progress() const override;
  std::string describe() const override;
  std::vector<std::string> table() const override;

  struct Row {
    Bytes size;
    Duration time;  // per call
    std::string algorithm;
  };
  const std::vector<Row>& rows() const { return rows_; }
  /// nccl-tests' bus-bandwidth factor for this operation on n ranks.
  static double bus_factor(const std::string& op, double n);

 private:
  std::vector<Bytes> size_list() const;
  void run_size(size_t i, int iteration, Duration start);

  NcclTestsConfig config_;
  RunContext* ctx_ = nullptr;
  std::vector<uint32_t> ranks_;
  std::vector<Bytes> sizes_;
  std::vector<Row> rows_;
};

}  // namespace lcsim::wl
