// All-gather and reduce-scatter inside one node against measured tables (data/calibration/
// nccl_scaleup_gather_scatter.csv; docs/validation-nccl-gather-scatter.md): Hopper's measured fractions of the
// all-reduce ring's efficiency (all_gather_scale_up_factor, reduce_scatter_scale_up_factor) and the same box's
// all-reduce, which shows the misses are those collectives', not the box's.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "collective_calibration_support.h"

namespace lcsim {
namespace {

using namespace collective_support;  // NOLINT(google-build-using-namespace): the shared readers and runner

// All-gather and reduce-scatter on H100 against measured tables (data/calibration/nccl_scaleup_gather_scatter.csv,
// times; docs/validation-nccl-gather-scatter.md): 4 GPUs of an HGX H100 (waynehacking8/nccl-collectives-bench, NCCL
// 2.29.2, NCCL's choice) and a whole node with the ring pinned (NVIDIA/nccl#1047). lcsim runs both on the Simple ring
// of the all-reduce fit at the part's measured fraction of its efficiency (all_gather_scale_up_factor 0.929,
// reduce_scatter_scale_up_factor 0.964: fitted to these tables at 8 GiB, bench/fit_nccl_scaleup.py --gather-scatter).
// From 1 GiB within 7% (lcsim fast where the measured rate is still rising, up to 1.6% slow at 8 GiB on 8 GPUs); below
// 1 GiB lcsim stays up to 26% fast, one outlier aside, a miss the docs keep. By hand, 8 GiB on 4 GPUs: 8.4 + 3 x 3.4 +
// 1 us of hops + 3/4 x 2^33 B / (0.823 x 450 GB/s x factor) = 19.6 + 17,395.6 / 0.929 = 18,744.7 us (all-gather),
// 19.6 + 17,395.6 / 0.964 = 18,064.8 us (reduce-scatter); on 8: 8.4 + 7 x 3.4 + 1 + 7/8 x 2^33 / (370.35 GB/s x
// 0.964) = 33.2 + 21,052.7 = 21,085.9 us.
TEST(ScaleUpCalibration, H100AllGatherAndReduceScatterRingsAgainstMeasuredTables) {
  const auto table = table_rows("data/calibration/nccl_scaleup_gather_scatter.csv",
                                 "system,gpu,ranks,operation,algorithm,size_bytes,time_us,busbw_gbps,source");
  ASSERT_FALSE(::testing::Test::HasFailure());
  struct Row {
    std::string system, op;
    int ranks = 0;
    double size = 0, time_us = 0;
  };
  std::map<std::string, std::vector<Row>> by_case;  // system/operation/ranks
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    ASSERT_EQ(f.size(), 9u) << "line " << i + 2;
    if (f[0].rfind("HGX_H100", 0) != 0 || std::stod(f[5]) < 1024.0 * (1 << 20)) continue;
    by_case[f[0] + "/" + f[3] + "/" + f[2]].push_back({f[0], f[3], std::stoi(f[2]), std::stod(f[5]), std::stod(f[6])});
  }
  const std::map<std::string, double> by_hand = {{"HGX_H100_wh8/all_gather/4", 18744.7},
                                                 {"HGX_H100_wh8/reduce_scatter/4", 18064.8},
                                                 {"HGX_H100_nccl1047/reduce_scatter/8", 21085.9}};
  int checked = 0;
  for (const auto& [key, rows] : by_case) {
    std::vector<double> sizes;
    for (const auto& r : rows) sizes.push_back(r.size);
    std::vector<std::string> extra = {"workload.operation=" + rows[0].op};
    if (rows[0].system == "HGX_H100_nccl1047") extra.push_back("policies.collectives.algorithm=ring");
    const auto sim = run("nccl-h100-hgx", rows[0].ranks, sizes, extra);
    for (const auto& r : rows) {
      const double t_us = sim.at(r.size).time_s * 1e6;
      EXPECT_EQ(sim.at(r.size).algorithm, "ring/simple") << key << " " << r.size;
      EXPECT_NEAR(t_us / r.time_us, 1.0, 0.07) << key << " " << r.size << " B: lcsim " << t_us << " us, measured "
                                               << r.time_us;
      if (r.size == 8192.0 * (1 << 20)) {
        EXPECT_NEAR(t_us, by_hand.at(key), 0.5) << key;
        EXPECT_NEAR(t_us / r.time_us, 1.0, 0.02) << key;  // the size the factors are fitted at
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4 + 4 + 4);  // 1 to 8 GiB: all-gather and reduce-scatter on 4 GPUs, reduce-scatter on 8
}

// The two factors slow exactly their own collective's bandwidth term inside a node: an all-gather's by 1 / 0.929, a
// reduce-scatter's by 1 / 0.964, with the latencies unchanged (19.6 us on 4 GPUs); an all-reduce, an all-to-all and a
// send/recv are untouched; a scenario's factor of 1 gives back the all-reduce fit's ring (17,415.2 us at 8 GiB on 4
// GPUs, as before the factors); a part without them (B200) runs every ring at its all-reduce efficiency.
TEST(ScaleUpCalibration, GatherAndScatterFactorsSlowOnlyTheirOwnCollective) {
  const double s = 8192.0 * (1 << 20);
  const auto time_us = [&](const std::string& scenario, const std::string& op, std::vector<std::string> extra = {}) {
    extra.push_back("workload.operation=" + op);
    return run(scenario, 4, {s}, extra).at(s).time_s * 1e6;
  };
  const double lat = 19.6;
  const double ag = time_us("nccl-h100-hgx", "all_gather");
  const double ag_one = time_us("nccl-h100-hgx", "all_gather", {"policies.collectives.all_gather_scale_up_factor=1"});
  const double rs = time_us("nccl-h100-hgx", "reduce_scatter");
  const double rs_one =
      time_us("nccl-h100-hgx", "reduce_scatter", {"policies.collectives.reduce_scatter_scale_up_factor=1"});
  EXPECT_NEAR(ag_one, 17415.2, 0.5);
  EXPECT_NEAR(rs_one, 17415.2, 0.5);
  EXPECT_NEAR((ag_one - lat) / (ag - lat), 0.929, 1e-6);
  EXPECT_NEAR((rs_one - lat) / (rs - lat), 0.964, 1e-6);
  // A factor set for one collective leaves the other alone.
  EXPECT_DOUBLE_EQ(time_us("nccl-h100-hgx", "all_gather", {"policies.collectives.reduce_scatter_scale_up_factor=1"}), ag);
  for (const std::string op : {"all_reduce", "all_to_all", "send_recv"}) {
    EXPECT_DOUBLE_EQ(time_us("nccl-h100-hgx", op),
                     time_us("nccl-h100-hgx", op,
                             {"policies.collectives.all_gather_scale_up_factor=0.5",
                              "policies.collectives.reduce_scatter_scale_up_factor=0.5"}))
        << op;
  }
  // B200 has no factors: its all-gather and reduce-scatter take the same time, as its ring gives them.
  EXPECT_DOUBLE_EQ(time_us("nccl-b200-gb200", "all_gather", {"cluster.pools=[{node: hgx-b200, count: 1}]"}),
                   time_us("nccl-b200-gb200", "reduce_scatter", {"cluster.pools=[{node: hgx-b200, count: 1}]"}));
}

// The same 4 H100s' all-reduce (NCCL's choice: the ring, by NCCL's own log at 256 MiB and up): the ring of the
// fit within the target from 16 MiB (4.0% to 8.4% fast up to 512 MiB, 1.0% at 8 GiB), so the all-gather and
// reduce-scatter misses above are those collectives', not the box's.
TEST(ScaleUpCalibration, H100FourGpuAllReduceOfTheSameBoxWithinTarget) {
  std::vector<double> sizes;
  for (double s = 16.0 * (1 << 20); s <= 8192.0 * (1 << 20); s *= 2) sizes.push_back(s);
  expect_within_target("HGX_H100_wh8", "nccl-h100-hgx", sizes);
}

}  // namespace
}  // namespace lcsim
