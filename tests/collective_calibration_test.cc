// The scale-up collective calibration of H100, H200 and B200 (their catalog entries' `collectives:`) against the
// measured NCCL all-reduce bus bandwidths it was fitted to (data/calibration/nccl_scaleup_all_reduce.csv, read
// here, not copied): the validation scenarios reproduce them within the stated 10% at small, middle and large
// sizes, and the tuner picks NVLS only where NVLS was measured to win.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "collective_calibration_support.h"
#include "scenarios/scenario.h"

namespace lcsim {
namespace {

using namespace collective_support;  // NOLINT(google-build-using-namespace): the shared readers and runner

const std::vector<double> kSizes = {4.0 * (1 << 20), 64.0 * (1 << 20), 1024.0 * (1 << 20), 8192.0 * (1 << 20)};

TEST(ScaleUpCalibration, H100EightGpusAsMeasuredOnAzureNdH100v5) {
  expect_within_target("ND_H100_v5", "nccl-h100-hgx", kSizes);
}

TEST(ScaleUpCalibration, H200EightGpusAsMeasuredOnAzureNdH200v5) {
  expect_within_target("ND_H200_v5", "nccl-h200-hgx", kSizes);
}

// NVLS with its pipeline's fill and floor (policy::nvls_fill, NvlsCost): every measured Hopper size from 64 KiB
// (NVLS's, 18 per part) within 6% on both Azure tables (the fit's largest: 5.0%, H100 at 8 MiB). Without the fill,
// 8 MiB ran 9.4% (H100) and 13.9% (H200) fast; without the floor, H100's 2 MiB 19% slow (docs/validation-nccl.md).
TEST(ScaleUpCalibration, HopperNvlsWithinSixPercentAtEveryMeasuredSizeFrom64KiB) {
  std::vector<double> sizes;
  for (double s = 65536; s <= 8192.0 * (1 << 20); s *= 2) sizes.push_back(s);
  expect_within_target("ND_H100_v5", "nccl-h100-hgx", sizes, 0.06);
  expect_within_target("ND_H200_v5", "nccl-h200-hgx", sizes, 0.06);
}

TEST(ScaleUpCalibration, B200FourGpusAsMeasuredOnAzureNdGb200v6) {
  expect_within_target("ND_GB200_v6", "nccl-b200-gb200", kSizes);
}

// Eight MI300X on their Infinity Fabric mesh (AMD's own all_reduce_perf: ROCm blog "Understanding RCCL Bandwidth and
// xGMI Performance on AMD Instinct MI300X", one process per GPU, RCCL's choice): the part's three ring lines, fitted
// together to these 25 rows from 1 KiB to 16 GiB, within 20% at every size and 3% on average (the fit: max 18.8% at
// 512 KiB, mean 2.7%), with LL up to 2 MiB, LL128 at 4 to 16 MiB and Simple from 32 MiB; without the calibration
// (the built-in defaults) far above the measurement.
TEST(ScaleUpCalibration, Mi300xEightGpusAsAmdMeasuredThem) {
  const std::vector<std::string> node = {"cluster.pools=[{node: mi300x-platform, count: 1}]"};
  const std::vector<Measured> rows = rows_of("ROCmBlog_MI300X");
  ASSERT_EQ(rows.size(), 25u);
  const auto sim = run("nccl-h100-hgx", 8, sizes_of(rows), node);
  double sum = 0;
  for (const auto& m : rows) {
    const double busbw = m.size * bus_factor(8) / sim.at(m.size).time_s / 1e9;
    const double err = m.busbw_gbps / busbw - 1.0;  // in time
    EXPECT_LT(std::abs(err), 0.20) << m.size << " B: lcsim " << busbw << " GB/s, measured " << m.busbw_gbps << " ("
                                   << sim.at(m.size).algorithm << ")";
    sum += std::abs(err);
    const std::string expected = m.size <= 2.0 * (1 << 20)    ? "ring/ll"
                                 : m.size <= 16.0 * (1 << 20) ? "ring/ll128"
                                                              : "ring/simple";
    EXPECT_EQ(sim.at(m.size).algorithm, expected) << m.size;
  }
  EXPECT_LT(sum / rows.size(), 0.03);
  auto raw = node;
  raw.push_back("policies.collectives.part_calibration=false");
  const double s = 1024.0 * (1 << 20);
  EXPECT_GT(s * bus_factor(8) / run("nccl-h100-hgx", 8, {s}, raw).at(s).time_s / 1e9, 1.2 * 314.72);
}

// The same line predicts a table it was not fitted to: AMD Accelerator Cloud's 8 MI300X (hisohara/ai-scripts AAC8,
// a newer RCCL build, whole node) at every size from 1 KiB within 30% and 5% on average (4.0%; 8.9% without the
// LL128 line, 119% with the line fitted to Azure's VM until 5 Dec 2026). Azure's ND MI300X v5 VM (an SR-IOV VM)
// measures small all-reduces 3.5x slower than both whole-node tables: within 5% only from 128 MiB.
TEST(ScaleUpCalibration, Mi300xLinePredictsAnotherWholeNodeTableAtEverySize) {
  const std::vector<std::string> node = {"cluster.pools=[{node: mi300x-platform, count: 1}]"};
  for (const auto& [system, from, bound, mean_bound] : {std::tuple{std::string("AAC8_MI300X"), 0.0, 0.30, 0.05},
                                                       std::tuple{std::string("ND_MI300X_v5"), 128e6, 0.05, 0.05}}) {
    const std::vector<Measured> rows = rows_of(system, from);
    ASSERT_GE(rows.size(), 7u) << system;
    const auto sim = run("nccl-h100-hgx", 8, sizes_of(rows), node);
    double sum = 0;
    for (const auto& m : rows) {
      const double err = sim.at(m.size).time_s / measured_time(m) - 1.0;  // in time
      EXPECT_LT(std::abs(err), bound) << system << " " << m.size << " B (" << sim.at(m.size).algorithm << ")";
      sum += std::abs(err);
    }
    EXPECT_LT(sum / rows.size(), mean_bound) << system;
  }
}

// A whole GB200 NVL72 rack (72 GPUs in one NVLink domain; coreweave/nccl-tests#43, 512 MiB to 8 GiB): the
// gb200-nvl72 node's NVLS protocol, fitted to these rows, runs them and is within the target at every size; the
// rings B200 was fitted on (4 GPUs) would be more than 10% below the measurement at 72 (13 to 23%).
TEST(ScaleUpCalibration, Gb200Nvl72RackAsMeasuredWithNvls) {
  const std::vector<std::string> rack = {"cluster.pools=[{node: gb200-nvl72, count: 1}]"};
  std::vector<Measured> rows;
  for (const auto& m : measured()) {
    if (m.system == "NVL72_GB200") rows.push_back(m);
  }
  ASSERT_EQ(rows.size(), 5u);
  std::vector<double> sizes;
  for (const auto& m : rows) sizes.push_back(m.size);
  const auto sim = run("nccl-b200-gb200", 72, sizes, rack);
  auto ring_only = rack;
  ring_only.push_back("policies.collectives.algorithm=ring");
  const auto ring = run("nccl-b200-gb200", 72, sizes, ring_only);
  for (const auto& m : rows) {
    ASSERT_TRUE(sim.count(m.size)) << m.size;
    const double busbw = m.size * bus_factor(72) / sim.at(m.size).time_s / 1e9;
    EXPECT_NEAR(busbw / m.busbw_gbps, 1.0, kTarget) << m.size << " B: lcsim " << busbw << " GB/s, measured "
                                                    << m.busbw_gbps << " (" << sim.at(m.size).algorithm << ")";
    EXPECT_EQ(sim.at(m.size).algorithm, "nvls/nvls") << m.size;
    EXPECT_LT(m.size * bus_factor(72) / ring.at(m.size).time_s / 1e9, 0.9 * m.busbw_gbps) << m.size;
  }
}

// NCCL_ALGO=RING on 2 to 8 H100s (nvidia/nccl#1455): the Simple ring reaches the same bus bandwidth at every
// count; pinned NVLS on 4 to 8 GPUs as measured (NVLS moves (n+1)/n of the buffer each way: 370 GB/s on 4 GPUs,
// the ring's figure, to 480 on 8; before that traffic was modelled, 4 GPUs ran 8% fast), and on 2 the ring's
// figure, as NCCL runs no NVLS on two GPUs (src/transport/nvls.cc): lcsim's pin falls back to the ring there. The
// 3-GPU NVLS row (the "365-370 for 2 to 4") is left out: NVLS moves as many bytes as a ring on 3 GPUs, at
// its lower link efficiency (docs/validation-nccl.md).
TEST(ScaleUpCalibration, H100PinnedRingAndNvlsAsMeasured) {
  int nvls_rows = 0;
  for (const auto& m : measured()) {
    if (m.system != "HGX_H100" || (m.algorithm == "nvls" && m.ranks == 3)) continue;
    nvls_rows += m.algorithm == "nvls" && m.ranks > 2;
    const auto sim = run("nccl-h100-hgx", m.ranks, {m.size}, {"policies.collectives.algorithm=" + m.algorithm});
    const double busbw = m.size * bus_factor(m.ranks) / sim.at(m.size).time_s / 1e9;
    EXPECT_NEAR(busbw / m.busbw_gbps, 1.0, kTarget) << m.algorithm << " on " << m.ranks << " GPUs: lcsim " << busbw;
    const std::string ran = m.ranks == 2 ? "ring/simple" : m.algorithm;
    EXPECT_EQ(sim.at(m.size).algorithm.substr(0, ran.size()), ran) << m.algorithm << " on " << m.ranks << " GPUs";
  }
  EXPECT_EQ(nvls_rows, 5);
}

// On one 8-GPU NVLS node NCCL's tuner (src/graph/tuning.cc) runs ring LL for small calls and NVLS from there on,
// never ring LL128. lcsim's does the same on the fitted H100 calibration, switching between 32 and 64 KiB where the
// measured curve leaves LL's line for NVLS's ~42 us plateau; and from 64 KiB to 2 MiB (the plateau: one round of
// NVLS chunks) within the target, where the unchunked model ran 12-16% fast. H200 (flat ~30 us from 1 KiB) runs
// NVLS at every measured size.
TEST(ScaleUpCalibration, TheTunerRunsRingLlThenNvlsOnEightHoppersAsNcclDoes) {
  const double KiB = 1024, MiB = 1 << 20;
  const auto h100 = run("nccl-h100-hgx", 8, {16 * KiB, 32 * KiB, 64 * KiB, 256 * KiB, 2 * MiB, 16 * MiB, 1024 * MiB});
  EXPECT_EQ(h100.at(16 * KiB).algorithm, "ring/ll");
  EXPECT_EQ(h100.at(32 * KiB).algorithm, "ring/ll");
  for (double s : {64 * KiB, 256 * KiB, 2 * MiB, 16 * MiB, 1024 * MiB}) {
    EXPECT_EQ(h100.at(s).algorithm, "nvls/nvls") << s;
  }
  expect_within_target("ND_H100_v5", "nccl-h100-hgx", {64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 1 * MiB, 2 * MiB});
  const auto h200 = run("nccl-h200-hgx", 8, {1 * KiB, 64 * KiB, 8 * MiB, 8192 * MiB});
  for (const auto& [size, sim] : h200) EXPECT_EQ(sim.algorithm, "nvls/nvls") << size;
}

// The tuner follows the data: on 8 H100s NVLS wins at large sizes (measured 480 against the ring's 367.5 GB/s),
// on 2 the ring does (NVLS is no faster there); the 4 GPUs of a GB200 tray run rings, as measured.
TEST(ScaleUpCalibration, TheTunerPicksNvlsOnlyWhereItWasMeasuredToWin) {
  const double big = 2048.0 * (1 << 20);
  EXPECT_EQ(run("nccl-h100-hgx", 8, {big}).at(big).algorithm, "nvls/nvls");
  EXPECT_EQ(run("nccl-h100-hgx", 5, {big}).at(big).algorithm, "nvls/nvls");  // nccl#1455: 420 against ~367
  EXPECT_EQ(run("nccl-h100-hgx", 2, {big}).at(big).algorithm, "ring/simple");
  // On 3 GPUs NVLS moves 4/3 of the buffer each way, as a ring does, at its lower link efficiency (0.686 against
  // 0.823): the tuner runs the ring, as measured (nccl#1455: ~367 GB/s up to 4 GPUs).
  EXPECT_EQ(run("nccl-h100-hgx", 3, {big}).at(big).algorithm, "ring/simple");
  for (double s : kSizes) EXPECT_EQ(run("nccl-b200-gb200", 4, {s}).at(s).algorithm.substr(0, 5), "ring/") << s;
}

// Eight B200 in one HGX node (GCP a4-highgpu-8g, all_reduce_perf, NCCL's choice; data/calibration/
// nccl_scaleup_all_reduce.csv `GKE_A4_B200`): B200's NVLS line, fitted to these rows from 8 MiB to 4 GiB (NVLS alone,
// 24 channels), runs them within 9% where lcsim's tuner picks it (every size from 8 MiB since 6 Dec 2026: before,
// the tuner ran B200's ring, fitted on 4 GB200s, at 16 to 128 MiB, up to 14% fast), and every one within 9%
// pinned. Not fitted: AWS P6-B200 (torch.distributed,
// NCCL 2.27.7) within 5% from 128 MiB. Both tables step up by 14% at 8 GiB (739 -> 840 GB/s), which the line does
// not follow: there lcsim is 8-12% slow (docs/validation-nccl.md). Before 5 Dec 2026 the line was derived from
// H100's and ran 8-64 MiB 20-22% fast and 128 MiB-4 GiB 6-10% fast.
TEST(ScaleUpCalibration, B200EightGpusAsMeasuredOnGcpA4) {
  const std::vector<std::string> node = {"cluster.pools=[{node: hgx-b200, count: 1}]"};
  auto pinned = node;
  pinned.push_back("policies.collectives.algorithm=nvls");
  const double to = 4096.0 * (1 << 20);  // the tables' 8 and 16 GiB rows step up: not followed
  for (const auto& [system, from, bound] : {std::tuple{std::string("GKE_A4_B200"), 0.0, 0.15},
                                            std::tuple{std::string("P6_B200"), 128.0 * (1 << 20), 0.05}}) {
    const std::vector<Measured> rows = rows_of(system, from, to);
    ASSERT_GE(rows.size(), 6u) << system;
    const auto sim = run("nccl-b200-gb200", 8, sizes_of(rows), node);
    const auto nvls = run("nccl-b200-gb200", 8, sizes_of(rows), pinned);
    for (const auto& m : rows) {
      const double t = measured_time(m);
      const Simulated& s = sim.at(m.size);
      EXPECT_LT(std::abs(s.time_s / t - 1), s.algorithm == "nvls/nvls" ? 0.09 : bound)
          << system << " " << m.size << " B (" << s.algorithm << ")";
      EXPECT_EQ(nvls.at(m.size).algorithm, "nvls/nvls");
      EXPECT_LT(std::abs(nvls.at(m.size).time_s / t - 1), 0.09) << system << " " << m.size << " B, NVLS pinned";
    }
  }
}

// Eight H200 of one node through torch.distributed (stas00/ml-engineering, NCCL 2.27.7; data/calibration/
// nccl_scaleup_all_reduce.csv `MLE_H200`), not fitted: from 64 MiB, where the harness's per-call overhead no longer
// shows, H200's NVLS line (fitted to Azure ND H200 v5) is within 2% at every size to 16 GiB, and lcsim runs NVLS
// there, as NCCL's log did from 2 MiB. Below, NCCL 2.27.7 ran the LL ring up to 1 MiB where lcsim (like NCCL 2.20.5
// on Azure's table) runs NVLS; the measured times there carry ~9 us of the harness's own per call.
TEST(ScaleUpCalibration, EightH200AsMeasuredWithTorchDistributed) {
  const std::vector<Measured> rows = rows_of("MLE_H200", 64.0 * (1 << 20));
  ASSERT_EQ(rows.size(), 9u);
  const auto sim = run("nccl-h200-hgx", 8, sizes_of(rows));
  for (const auto& m : rows) {
    EXPECT_EQ(sim.at(m.size).algorithm, "nvls/nvls") << m.size;
    EXPECT_NEAR(sim.at(m.size).time_s / measured_time(m), 1.0, 0.02) << m.size;
  }
  // The same node with NVLS off (the page's SHARP section: 367.61 GB/s at 16 GiB): H200's ring (H100's fit) within 1%.
  const double s = 16384.0 * (1 << 20);
  const auto ring = run("nccl-h200-hgx", 8, {s}, {"policies.collectives.algorithm=ring"});
  EXPECT_NEAR(s * bus_factor(8) / ring.at(s).time_s / 1e9 / 367.61, 1.0, 0.01);
}

// Single published figures at 8 GiB, not fitted: "830+" GB/s on 8 B200 (NVIDIA/nccl#1807) and, B300 carrying B200's
// line (same NVLink 5 and switch), 845 (NVLS) and 695 (ring pinned) on 8 B300 (NVIDIA/nccl#2140). At 8 GiB lcsim's
// NVLS line stays on the 1-4 GiB plateau the 8-GPU tables measure (734-739 GB/s) and reads 8-10% below these
// figures, which are of the sizes past the tables' 8 GiB step; the ring, pinned, 7% below 695. NVLS still beats the
// ring's ceiling there (0.725 x 900 = 652 GB/s), as the measurements do.
TEST(ScaleUpCalibration, EightBlackwellGpusAgainstTheReportedLargeSizeFigures) {
  const double s = 8192.0 * (1 << 20);
  auto busbw = [&](const std::string& part, std::vector<std::string> extra = {}) {
    extra.push_back("cluster.pools=[{node: {base: hgx-h100, accelerator: " + part + "}, count: 1}]");
    const auto sim = run("nccl-b200-gb200", 8, {s}, extra);
    return std::make_pair(s * bus_factor(8) / sim.at(s).time_s / 1e9, sim.at(s).algorithm);
  };
  const auto [b200, b200_ran] = busbw("B200");
  EXPECT_EQ(b200_ran, "nvls/nvls");
  EXPECT_NEAR(b200 / 830, 1.0, kTarget) << b200;  // nccl#1807: "830+"
  EXPECT_LT(b200, 830);
  EXPECT_GT(b200, 1.1 * 0.725 * 900);  // the ring's ceiling, which the plain B200 ran before NVLS
  const auto [b300, b300_ran] = busbw("B300");
  EXPECT_EQ(b300_ran, "nvls/nvls");
  EXPECT_NEAR(b300 / 845, 1.0, kTarget) << b300;  // nccl#2140: NVLS 845
  const auto [ring, ring_ran] = busbw("B300", {"policies.collectives.algorithm=ring"});
  EXPECT_EQ(ring_ran, "ring/simple");
  EXPECT_NEAR(ring / 695, 1.0, kTarget) << ring;  // nccl#2140: ring 695
}

// 32 B200 on four AWS P6-B200 nodes (8 x 50 GB/s EFA per node, torch.distributed, NCCL 2.27.7; stas00/ml-engineering;
// not fitted): across nodes the ring is the NICs' (hgx-b200's 8 x 400G), within 6% from 1 GiB (lcsim 4-6% fast);
// from 128 to 512 MiB lcsim is 11-33% fast, as on two MI300X nodes (docs/validation-nccl.md).
TEST(ScaleUpCalibration, FourB200NodesAcrossTheirNicsFromOneGiB) {
  const std::vector<Measured> rows = rows_of("P6_B200_4N", 1024.0 * (1 << 20));
  ASSERT_EQ(rows.size(), 5u);
  const auto sim = run("nccl-b200-gb200", 32, sizes_of(rows), {"cluster.pools=[{node: hgx-b200, count: 4}]"});
  for (const auto& m : rows) {
    EXPECT_NEAR(sim.at(m.size).time_s / measured_time(m), 1.0, 0.06) << m.size << " B (" << sim.at(m.size).algorithm << ")";
  }
}

// GB200 NVL72, GPUs of one NVLink domain across trays (GCP A4X, nccl-tests at 16 GiB, same-domain runs on 2, 8 and
// 16 trays; yangwhale/gpu-tpu-pedia gpu/a4x/04-nccl-test/README.md; not fitted): all-gather, reduce-scatter and
// all-to-all, which lcsim runs on B200's Simple ring (0.725 of 900 GB/s), within 10% in time on 8, 32 and 64 GPUs
// (2-9% slow); all-reduce, on the rack's NVLS line (fitted on 72 GPUs, coreweave/nccl-tests#43), within 10% from
// 32 GPUs (8.3%, 5.1% slow). On 8 GPUs (two trays) all-reduce is 20.7% slow: the rack's line is not an 8-GPU one
// (docs/validation-nccl.md).
TEST(ScaleUpCalibration, Gb200Nvl72EveryCollectiveAsMeasuredOnGcpA4x) {
  struct Row {
    std::string op;
    int ranks;
    double busbw;  // GB/s, measured
  };
  const std::vector<Row> rows = {
      {"all_gather", 8, 683.83},  {"reduce_scatter", 8, 693.07},  {"all_to_all", 8, 682.73},
      {"all_reduce", 32, 908.80}, {"all_gather", 32, 690.52},     {"reduce_scatter", 32, 708.16},
      {"all_to_all", 32, 675.98}, {"all_reduce", 64, 909.96},     {"all_gather", 64, 692.88},
      {"reduce_scatter", 64, 706.98}, {"all_to_all", 64, 666.64}};
  const double s = 16384.0 * (1 << 20);
  for (const Row& r : rows) {
    const auto sim = run("nccl-b200-gb200", r.ranks, {s},
                         {"cluster.pools=[{node: gb200-nvl72, count: 1}]", "workload.operation=" + r.op});
    const double factor = (r.op == "all_reduce" ? 2.0 : 1.0) * (r.ranks - 1) / r.ranks;
    const double measured = s * factor / (r.busbw * 1e9);
    EXPECT_NEAR(sim.at(s).time_s / measured, 1.0, kTarget)
        << r.op << " on " << r.ranks << " (" << sim.at(s).algorithm << ")";
  }
}

// Eight B200 in one node, every collective, not fitted (stas00/ml-engineering network/benchmarks/README.md at
// fb75494c: torch.distributed with NCCL 2.30.7, within ~1 us of nccl-tests up to 1 MiB and 2% at 16 GiB by its
// author): at 16 GiB every operation within 10% in time (the rings at the 4-GPU fit's 0.725 of the link, 1-6% slow;
// the all-reduce's NVLS line below the 8 GiB step, 9% slow); at 1 KiB the all-reduce, all-gather and reduce-scatter
// within 15% (LL128 rings). The 1 KiB all-to-all and send/recv are missed (lcsim about twice as fast: NCCL's
// point-to-point latency is not calibrated per part; docs/validation-nccl.md).
TEST(ScaleUpCalibration, EightB200EveryCollectiveAsMeasuredWithTorchDistributed) {
  struct Row {
    std::string op;
    double busbw;    // GB/s at 16 GiB
    double small_us; // median time of a 1 KiB call
  };
  const std::vector<Row> rows = {{"all_reduce", 839.63, 29.7}, {"all_gather", 668.28, 20.5},
                                 {"reduce_scatter", 692.63, 20.5}, {"all_to_all", 659.71, 15.6},
                                 {"send_recv", 658.84, 18.4}};
  const double big = 16384.0 * (1 << 20), small = 1024;
  for (const Row& r : rows) {
    const auto sim = run("nccl-b200-gb200", 8, {big, small},
                         {"cluster.pools=[{node: hgx-b200, count: 1}]", "workload.operation=" + r.op});
    const double factor = r.op == "all_reduce" ? 2.0 * 7 / 8 : r.op == "send_recv" ? 1.0 : 7.0 / 8;
    EXPECT_NEAR(sim.at(big).time_s / (big * factor / (r.busbw * 1e9)), 1.0, kTarget) << r.op;
    if (r.op == "all_reduce" || r.op == "all_gather" || r.op == "reduce_scatter") {
      EXPECT_NEAR(sim.at(small).time_s / (r.small_us * 1e-6), 1.0, 0.15) << r.op << " at 1 KiB";
    }
  }
}

// Where NCCL runs NVLS (src/transport/nvls.cc: only above two GPUs of a node; src/tuning/nvls.cc: Simple protocol
// only, and across nodes only with CollNet), lcsim's tuner may pick the B200 line; where NCCL cannot, it never does.
// Inside that, the data decide, as on H100: on 8 GPUs the ring's LL128 to 4 MiB (its lower latency), NVLS from
// 8 MiB at every size (the two tables' 16-128 MiB rows lie on the NVLS line, and NCCL's tuner, pricing each algorithm
// as a line, does not leave NVLS for the ring in between; before 6 Dec 2026 lcsim ran B200's Simple ring there, which
// the fitted line's 8 steps of 8.6 us let win, 4-18% fast); on 4 the ring (NVLS moves 5/4 of the buffer at 0.552
// against the ring's 3/2 at 0.725: 2.26 against 2.07 link-bytes per byte).
TEST(ScaleUpCalibration, TheTunerRunsB200sNvlsWhereNcclCan) {
  const double KiB = 1024, MiB = 1 << 20, GiB = 1024 * MiB;
  const std::string node = "{node: hgx-b200, count: ";
  auto ran = [&](int ranks, double size, int nodes = 1) {
    return run("nccl-b200-gb200", ranks, {size}, {"cluster.pools=[" + node + std::to_string(nodes) + "}]"})
        .at(size)
        .algorithm;
  };
  EXPECT_EQ(ran(8, 64 * KiB).substr(0, 5), "ring/");
  EXPECT_EQ(ran(8, 2 * MiB), "ring/ll128");
  for (double size : {8 * MiB, 16 * MiB, 64 * MiB, 128 * MiB, 256 * MiB, 1 * GiB, 8 * GiB}) {
    EXPECT_EQ(ran(8, size), "nvls/nvls") << size;
  }
  for (double size : {64 * KiB, 16 * MiB, 1 * GiB}) {
    EXPECT_EQ(ran(2, size).substr(0, 5), "ring/") << size;  // NCCL: no NVLS on two GPUs
    EXPECT_EQ(ran(4, size).substr(0, 5), "ring/") << size;
    EXPECT_NE(ran(16, size, 2), "nvls/nvls") << size;  // two nodes: NVLS is inside a node only
  }
}

// NCCL's tuner prices each (algorithm, protocol) as a line, a latency plus the bytes over a bandwidth
// (src/graph/tuning.cc), so as the size grows its choice between two of them switches once at most; where NVLS wins
// at large sizes (its line the least steep), once the tuner runs NVLS it runs it at every larger size. lcsim's NVLS
// time has per-round steps (a staircase in the size up to 8 rounds) that its tuner leaves out, as NCCL's does
// (NvlsCost::tuner_estimate). Checked on every part and GPU count here whose node runs NVLS (on 3 and 4 H100s the
// ring wins at every size), 1 KiB to 16 GiB by powers of two.
TEST(ScaleUpCalibration, OnceTheTunerRunsNvlsItRunsItAtEveryLargerSize) {
  std::vector<double> sizes;
  for (double s = 1024; s <= 16.0 * (1 << 30); s *= 2) sizes.push_back(s);
  const std::vector<std::tuple<std::string, std::string, int>> cases = {
      {"nccl-h100-hgx", "", 8},
      {"nccl-h100-hgx", "", 5},
      {"nccl-h100-hgx", "", 4},
      {"nccl-h100-hgx", "", 3},
      {"nccl-h200-hgx", "", 8},
      {"nccl-b200-gb200", "cluster.pools=[{node: hgx-b200, count: 1}]", 8},
      {"nccl-b200-gb200", "cluster.pools=[{node: hgx-b200, count: 1}]", 6},
      {"nccl-b200-gb200", "cluster.pools=[{node: gb200-nvl72, count: 1}]", 72},
  };
  for (const auto& [scenario, pool, ranks] : cases) {
    const std::vector<std::string> set = pool.empty() ? std::vector<std::string>{} : std::vector<std::string>{pool};
    const auto sim = run(scenario, ranks, sizes, set);
    bool nvls = false;
    int switches = 0;
    for (double s : sizes) {
      const bool now = sim.at(s).algorithm == "nvls/nvls";
      if (now != nvls) ++switches;
      EXPECT_FALSE(nvls && !now) << scenario << " " << pool << ", " << ranks << " GPUs: the ring again at " << s;
      nvls = now;
    }
    EXPECT_LE(switches, 1) << scenario << " " << pool << ", " << ranks << " GPUs";
  }
}

// Which Blackwell part runs which NVLS line (docs/calibration.md): B300 (HGX B300: NVLink 5 at 900 GB/s, the same
// switch, NCCL's Blackwell index) carries B200's 8-GPU line; the GB200 NVL72 rack keeps the line fitted on
// a whole rack (unchunked, 0.504; unchanged by B200's new line, which it overrides), and so does its 4-GPU tray and
// the GB300 NVL72 rack (the same 72-GPU NVLink 5 domain; B300's 8-GPU line would put 72 GPUs 23% above the rack
// measured).
TEST(ScaleUpCalibration, BlackwellPartsCarryTheNvlsLineOfTheirNvlinkDomain) {
  auto protocols = [](const std::string& pool) {
    Scenario sc = load_scenario("scenarios/validation/nccl-b200-gb200.yaml", {"cluster.pools=[" + pool + "]"});
    return sc.policies.collectives.protocols;
  };
  auto nvls = [](const std::vector<net::CollectiveProtocol>& ps) {
    const auto it = std::find_if(ps.begin(), ps.end(), [](const auto& p) { return p.name == "nvls"; });
    EXPECT_NE(it, ps.end());
    return it == ps.end() ? net::CollectiveProtocol{} : *it;
  };
  auto same = [](const net::CollectiveProtocol& a, const net::CollectiveProtocol& b) {
    return a.base_latency == b.base_latency && a.step_latency == b.step_latency &&
           a.scale_up_efficiency == b.scale_up_efficiency && a.chunk_channels == b.chunk_channels &&
           a.max_chunk == b.max_chunk && a.algorithms == b.algorithms && a.intra_node_only == b.intra_node_only;
  };
  const auto b200 = nvls(protocols("{node: hgx-b200, count: 1}"));
  const auto h100 = nvls(protocols("{node: hgx-h100, count: 1}"));
  EXPECT_EQ(b200.chunk_channels, 24);  // NCCL's NVLS_NCHANNELS_SM100_NVL
  EXPECT_DOUBLE_EQ(b200.scale_up_efficiency, 0.552);  // fitted on 8 B200 (GCP a4-highgpu-8g)
  EXPECT_EQ(b200.floor_latency, h100.floor_latency);  // held: no 8-GPU B200 row below 8 MiB
  EXPECT_TRUE(same(nvls(protocols("{node: {base: hgx-h100, accelerator: B300}, count: 1}")), b200));
  const auto rack = nvls(protocols("{node: gb200-nvl72, count: 1}"));
  EXPECT_EQ(rack.chunk_channels, 0);  // unchunked: fitted from 512 MiB up only
  EXPECT_DOUBLE_EQ(rack.scale_up_efficiency, 0.504);
  EXPECT_NEAR(rack.base_latency.s(), 585.2e-6, 1e-12);
  EXPECT_TRUE(same(nvls(protocols("{node: {base: gb200-nvl72, gpus: 4}, count: 1}")), rack));
  EXPECT_TRUE(same(nvls(protocols("{node: gb300-nvl72, count: 1}")), rack));
}

// MI300X's eight GPUs are a full Infinity Fabric mesh with no switch: one 64 GB/s link (per direction) between any
// two, of which AMD measures ~48 GB/s usable (ROCm blog, "Understanding RCCL Bandwidth and xGMI Performance on AMD
// Instinct MI300X"). So a pair's send/recv moves at 48 GB/s, not at the GPU's 448 GB/s aggregate: by hand, 1 GiB in
// 8.4 us (p2p latency) + 1 us (two scale-up hops) + 2^30 B / 48 GB/s = 22.38 ms. Every rank sending to the next (8
// ranks) uses 8 different links: the same time. Two GPUs of a node cut to two keep their one link. On NVSwitch
// (H100) a pair gets the whole port: 0.823 x 450 GB/s.
TEST(ScaleUpCalibration, Mi300xSendRecvMovesOverThePairsOneXgmiLink) {
  const double s = 1024.0 * (1 << 20);
  auto time = [&](const std::string& node, int ranks) {
    return run("nccl-h100-hgx", ranks, {s}, {"cluster.pools=[{node: " + node + ", count: 1}]",
                                             "workload.operation=send_recv"})
        .at(s)
        .time_s;
  };
  const double by_hand = 9.4e-6 + s / 48e9;
  EXPECT_NEAR(time("mi300x-platform", 2), by_hand, 1e-4 * by_hand);
  EXPECT_NEAR(time("mi300x-platform", 8), by_hand, 1e-4 * by_hand);
  EXPECT_NEAR(time("{base: mi300x-platform, gpus: 2}", 2), by_hand, 1e-4 * by_hand);
  const double h100 = 9.4e-6 + s / (0.823 * 450e9);
  EXPECT_NEAR(time("hgx-h100", 2), h100, 1e-4 * h100);
}

// 2, 4 and 8 MI300X of one node: a ring all-reduce moves over the links of the mesh cycles it runs on (mesh_rings: 1,
// 2 and 7 of a GPU's 7 links of 64 GB/s), each at the part's Simple efficiency 0.710. By hand: 1 us (the pair link's
// two scale-up hops) + 11.0 us + 2(n-1) x 3.4 us + 2(n-1)/n x S / (links x 64 GB/s x 0.710). Not measured (ROCm/
// rccl#1270 reports that fewer than 8 MI300X reach a fraction of the bandwidth, without a table).
TEST(ScaleUpCalibration, FewerMi300xRunOverTheLinksOfTheirRings) {
  const double s = 1024.0 * (1 << 20);
  const std::vector<std::string> node = {"cluster.pools=[{node: mi300x-platform, count: 1}]"};
  for (const auto& [n, links] : {std::pair{2, 1}, std::pair{4, 2}, std::pair{8, 7}}) {
    const auto sim = run("nccl-h100-hgx", n, {s}, node).at(s);
    const double by_hand = 1e-6 + 11.0e-6 + 2 * (n - 1) * 3.4e-6 + bus_factor(n) * s / (links * 64e9 * 0.710);
    EXPECT_NEAR(sim.time_s, by_hand, 1e-4 * by_hand) << n;
    EXPECT_EQ(sim.algorithm, "ring/simple") << n;
  }
}

// Tables not fitted (hisohara/ai-scripts, AMD Accelerator Cloud; docs/validation-nccl.md): 8 MI300X of one node
// (another RCCL build) within 5% from 32 MiB; 16 MI300X on two nodes and MI325X (MI300X's line carried over) on 1,
// 2, 4 and 8 nodes within 5% from 1 GiB, where the rings cross the NICs of every GPU (mesh cycles entered at each
// GPU). Below those sizes the releases, the launch and the network differ (docs/validation-rccl.md): not claimed
// here (AAC8's every size: Mi300xLinePredictsAnotherWholeNodeTableAtEverySize).
TEST(ScaleUpCalibration, Mi300xAndMi325xTablesOfASecondSourceWithinFivePercentAtLargeSizes) {
  struct Check {
    std::string system, node;
    double from;
    bool pinned;
  };
  const std::vector<Check> checks = {{"AAC8_MI300X", "mi300x-platform", 32.0 * (1 << 20), false},
                                     {"AAC10_MI300X", "mi300x-platform", 1024.0 * (1 << 20), false},
                                     {"AAC11_MI325X", "{base: mi300x-platform, accelerator: MI325X}", 0, true}};
  int checked = 0;
  for (const auto& c : checks) {
    std::map<int, std::vector<Measured>> by_ranks;
    for (const auto& m : measured()) {
      if (m.system == c.system && m.size >= c.from) by_ranks[m.ranks].push_back(m);
    }
    for (const auto& [ranks, rows] : by_ranks) {
      std::vector<double> sizes;
      for (const auto& m : rows) sizes.push_back(m.size);
      std::vector<std::string> extra = {"cluster.pools=[{node: " + c.node + ", count: " +
                                        std::to_string(ranks / 8) + "}]"};
      if (c.pinned) extra.push_back("policies.collectives.algorithm=ring");
      const auto sim = run("nccl-h100-hgx", ranks, sizes, extra);
      for (const auto& m : rows) {
        const double busbw = m.size * bus_factor(ranks) / sim.at(m.size).time_s / 1e9;
        EXPECT_NEAR(busbw / m.busbw_gbps, 1.0, 0.05)
            << c.system << ", " << ranks << " GPUs, " << m.size << " B: lcsim " << busbw << " GB/s, measured "
            << m.busbw_gbps;
        EXPECT_EQ(sim.at(m.size).algorithm, "ring/simple") << c.system << " " << m.size;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 9 + 5 + 12);
}

// NCCL's own choice, logged: on 2, 4 and 6 H100s of one NVSwitch host NCCL picks the ring on 2 and 4 GPUs and NVLS
// on 6 at every size from 256 MiB to 8 GiB (waynehacking8/nccl-collectives-bench results/scaling_attributed, its
// NCCL_DEBUG TUNING logs); lcsim's tuner picks the same, and times the 4- and 6-GPU tables within 7%. The 2-GPU ring
// of this box is slower than nccl#1455's (347 against 365-370 GB/s at 8 GiB) and ramps up more slowly: lcsim is
// faster at every size, by 6.3% in time at 8 GiB to 17% at 256 MiB. The pinned arms of the same log (peak bus
// bandwidth, 8 GiB): the ring on 6 GPUs 367 GB/s, NVLS on 4 GPUs 376.
TEST(ScaleUpCalibration, TunerPicksWhatNcclLoggedOnTwoFourAndSixH100s) {
  std::map<int, std::vector<Measured>> by_ranks;
  for (const auto& m : measured()) {
    if (m.system == "HGX_H100_wh8_scaling") by_ranks[m.ranks].push_back(m);
  }
  ASSERT_EQ(by_ranks.size(), 3u);
  for (const auto& [ranks, rows] : by_ranks) {
    ASSERT_EQ(rows.size(), 6u) << ranks;
    const auto sim = run("nccl-h100-hgx", ranks, sizes_of(rows));
    for (const auto& m : rows) {
      EXPECT_EQ(sim.at(m.size).algorithm, ranks == 6 ? "nvls/nvls" : "ring/simple") << ranks << " GPUs, " << m.size;
      const double ratio = m.size * bus_factor(ranks) / sim.at(m.size).time_s / 1e9 / m.busbw_gbps;
      if (ranks == 2) {
        EXPECT_GT(ratio, 1.0) << m.size;
        EXPECT_LT(ratio, m.size >= 4.0 * (1 << 30) ? 1.08 : 1.22) << m.size;  // 6.3-6.7% from 4 GiB in time
      } else {
        EXPECT_NEAR(ratio, 1.0, 0.07) << ranks << " GPUs, " << m.size;
      }
    }
  }
  const double s = 8.0 * (1 << 30);
  auto pinned = [&](int ranks, const std::string& algo) {
    const auto sim = run("nccl-h100-hgx", ranks, {s}, {"policies.collectives.algorithm=" + algo});
    return s * bus_factor(ranks) / sim.at(s).time_s / 1e9;
  };
  EXPECT_NEAR(pinned(6, "ring") / 367.0, 1.0, 0.03);
  EXPECT_NEAR(pinned(4, "nvls") / 376.0, 1.0, 0.03);
}

// NCCL_ALGO pinned on 4 H100s of the same box (waynehacking8/nccl-collectives-bench results/algo_sweep.txt; rows
// HGX_H100_wh8_algo, not fitted): inside one node NCCL's tree is a chain, each GPU sending the data up and down, at
// NCCL's tree correction (0.92): 236-259 GB/s of bus bandwidth where the ring reaches 339-366. lcsim runs the same
// chain when tree is pinned (it ran the ring before, 30-45% fast in time), and each pinned algorithm lands within 7% of
// its measured time at 256 MiB, 1 GiB and 8 GiB; the tree's share of the ring's bus bandwidth at 8 GiB is
// 3/4 x 0.92 = 0.69 in lcsim, 0.71 measured. Automatic selection never picks the chain inside a node (the ring is
// faster at every size), as NCCL's tuner does not.
TEST(ScaleUpCalibration, PinnedTreeInsideOneNodeRunsNcclsChain) {
  std::map<std::string, std::vector<Measured>> by_algo;
  for (const auto& m : measured()) {
    if (m.system == "HGX_H100_wh8_algo") by_algo[m.algorithm].push_back(m);
  }
  ASSERT_EQ(by_algo.size(), 3u);
  std::map<std::string, double> busbw_8g;
  for (const auto& [algo, rows] : by_algo) {
    ASSERT_EQ(rows.size(), 3u) << algo;
    std::vector<double> sizes;
    for (const auto& m : rows) sizes.push_back(m.size);
    const auto sim = run("nccl-h100-hgx", 4, sizes, {"policies.collectives.algorithm=" + algo});
    for (const auto& m : rows) {
      EXPECT_EQ(sim.at(m.size).algorithm.substr(0, algo.size()), algo) << m.size;
      const double busbw = m.size * bus_factor(4) / sim.at(m.size).time_s / 1e9;
      EXPECT_NEAR(busbw / m.busbw_gbps, 1.0, 0.07) << algo << " " << m.size;
      if (m.size == 8.0 * (1 << 30)) busbw_8g[algo] = busbw;
    }
  }
  EXPECT_NEAR(busbw_8g.at("tree") / busbw_8g.at("ring"), 0.75 * 0.92, 0.01);
  const auto automatic = run("nccl-h100-hgx", 4, {8.0 * (1 << 30)});
  EXPECT_EQ(automatic.begin()->second.algorithm.substr(0, 4), "ring");
}

// Without the part's calibration (the built-in defaults: full link bandwidth, NCCL's model latencies) the same
// node is far above the measurement: the calibration is what brings it down.
TEST(ScaleUpCalibration, WithoutThePartCalibrationTheModelIsFarAboveTheMeasurement) {
  const double s = 64.0 * (1 << 20);
  double measured_busbw = 0;
  for (const auto& m : measured()) {
    if (m.system == "ND_H100_v5" && m.size == s) measured_busbw = m.busbw_gbps;
  }
  ASSERT_GT(measured_busbw, 0);
  const auto raw = run("nccl-h100-hgx", 8, {s}, {"policies.collectives.part_calibration=false"});
  EXPECT_GT(s * bus_factor(8) / raw.at(s).time_s / 1e9, 1.5 * measured_busbw);
  // A scenario that lists its own protocols keeps them (the A100 validation scenario: LL128 and Simple).
  Scenario a100 = load_scenario("scenarios/validation/nccl-a100-dgx.yaml");
  ASSERT_EQ(a100.policies.collectives.protocols.size(), 2u);
  EXPECT_EQ(a100.policies.collectives.protocols[0].name, "ll128");
  Scenario h100 = load_scenario("scenarios/validation/nccl-h100-hgx.yaml");
  ASSERT_EQ(h100.policies.collectives.protocols.size(), 4u);
  EXPECT_EQ(h100.policies.collectives.protocols[0].name, "ll");
  EXPECT_EQ(h100.policies.collectives.protocols[3].algorithms, std::vector<std::string>{"nvls"});
}

// Expert-parallel all-to-all (data/calibration/mcore_moe_ep_all_to_all.csv: Megatron Core MoE, arXiv 2603.07685,
// Table 7): NCCL's all-to-all of 4,096 tokens x top-8 x hidden 7,168 in BF16 (448 MiB per rank). Between DGX H100
// nodes (EP 16-64 over 2-8 nodes, InfiniBand's destination routing as lcsim's pinned) every dispatch and combine
// within 8% at H100's fitted all_to_all_scale_out_efficiency 0.88, where the NIC's full line rate (1: the
// uncalibrated default) reads EP 16 18% fast; inside one node (8 H100, a GB200 NVL72 up to 64) lcsim runs 5-22% fast
// at this size (the scale-up rings' efficiency, fitted at larger sizes; docs/validation-nccl.md), never slow.
TEST(ScaleUpCalibration, ExpertAllToAllAsMegatronCoreMoeMeasuredIt) {
  const auto table = table_rows("data/calibration/mcore_moe_ep_all_to_all.csv", "part,ep,phase,backend,time_us,source");
  ASSERT_FALSE(::testing::Test::HasFailure());
  std::map<std::pair<std::string, int>, std::vector<double>> measured;  // (part, EP) -> dispatch, combine (s)
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& f = table[i];
    ASSERT_EQ(f.size(), 6u) << "line " << i + 2;
    if (f[3] == "all_to_all") measured[{f[0], std::stoi(f[1])}].push_back(std::stod(f[4]) * 1e-6);
  }
  ASSERT_EQ(measured.size(), 8u);
  const double size = 4096.0 * 8 * 7168 * 2;
  auto lcsim = [&](const std::string& part, int ep, std::vector<std::string> extra) {
    const bool h100 = part == "H100";
    extra.push_back("workload.operation=all_to_all");
    extra.push_back("policies.load_balancing=pinned");
    extra.push_back(h100 ? "cluster.pools=[{node: hgx-h100, count: " + std::to_string(std::max(1, ep / 8)) + "}]"
                         : "cluster.pools=[{node: gb200-nvl72, count: 1}]");
    return run("nccl-h100-hgx", ep, {size}, extra).at(size).time_s;
  };
  for (const auto& [key, times] : measured) {
    const auto& [part, ep] = key;
    ASSERT_EQ(times.size(), 2u);
    const double t = lcsim(part, ep, {});
    for (double m : times) {
      if (part == "H100" && ep > 8) {
        EXPECT_NEAR(t / m, 1.0, 0.08) << part << " EP " << ep;
      } else {
        EXPECT_LT(t, m) << part << " EP " << ep;
        EXPECT_GT(t / m, 0.77) << part << " EP " << ep;
      }
    }
  }
  const double line_rate = lcsim("H100", 16, {"policies.collectives.all_to_all_scale_out_efficiency=1"});
  EXPECT_LT(line_rate / measured.at({"H100", 16}).front(), 0.83);
}

}  // namespace
}  // namespace lcsim
