// Power limits (models/hardware/power_limit.h): the clock a power limit sustains, what it slows (compute-bound
// kernels) and what it does not (memory-bound ones), that a limit at the TDP changes nothing, and that a capped GPU
// is never charged more than its cap.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "models/hardware/catalog.h"
#include "models/hardware/node.h"
#include "models/hardware/op_cost.h"
#include "models/hardware/power.h"
#include "models/hardware/power_limit.h"

namespace lcsim::hw {
namespace {

AcceleratorSpec capped_h100(double watts) {
  AcceleratorSpec p = PartCatalog::get().part("H100-SXM-80GB");
  p.power_limit = Power::watts(watts);
  return p;
}

TEST(PowerLimit, ClockAtTheCapSolvesTheFittedCurveByHand) {
  // torchtitan's 500 W on a 700 W H100: p = 5/7 = 0.714286. By hand at x = 0.826:
  // 0.8511 x = 0.70301, 0.826^13.49 = exp(13.49 ln 0.826) = exp(-2.5788) = 0.07586, x 0.1489 = 0.01130: p = 0.71431,
  // a hair above 5/7: the clock sits just under 0.826, and compute-bound kernels take 1 / 0.826 = 1.211 times as long.
  const DvfsPowerCurve curve({});
  EXPECT_NEAR(curve.power_fraction(0.826), 0.71431, 1e-5);
  const double x = capped_h100(500).compute_clock_fraction();
  EXPECT_NEAR(x, 0.826, 5e-4);
  EXPECT_NEAR(curve.power_fraction(x), 500.0 / 700.0, 1e-12);  // the bisection lands on the curve
  // The fitted data point it rests on: the A100 profile draws 400 W at 1,277 MHz and 280 W (0.70 of it) at 1,050
  // MHz (0.822 of the clock); the curve gives p(0.822) = 0.8511 x 0.822 + 0.1489 x 0.822^13.49 = 0.6998 + 0.0106 =
  // 0.710 against the measured 0.6985 (the fit's rms is 4.3 W of 400).
  EXPECT_NEAR(curve.power_fraction(1050.0 / 1277.0), 279.4 / 400.0, 0.015);
  // More power, more clock; none above the TDP's; a deep cap sits on the linear (fixed-voltage) part.
  EXPECT_LT(x, capped_h100(600).compute_clock_fraction());
  EXPECT_LT(capped_h100(300).compute_clock_fraction(), x);
  EXPECT_NEAR(capped_h100(200).compute_clock_fraction(), (200.0 / 700.0) / 0.8511, 0.002);
}

TEST(PowerLimit, CapSlowsComputeBoundKernelsByTheClockAndMemoryBoundOnesNotAtAll) {
  const AcceleratorSpec full = PartCatalog::get().part("H100-SXM-80GB");
  const AcceleratorSpec capped = capped_h100(500);
  const double x = capped.compute_clock_fraction();
  const Duration launch = full.calibration.kernel_launch;
  // A long training GEMM (8K tokens x 4096 x 14336, bf16): compute-bound, at the sustained ceiling.
  const GemmShape g{8192, 14336, 4096};
  const double t_full = (gemm_time(full, DType::kBf16, g) - launch).s();
  const double t_capped = (gemm_time(capped, DType::kBf16, g) - launch).s();
  EXPECT_NEAR(t_capped / t_full, 1 / x, 1e-9);  // 1.2107: the clock falls to 0.826 of its TDP value
  // FP8 too (its own efficiency, no sustained ceiling): the same clock.
  EXPECT_NEAR((gemm_time(capped, DType::kFp8, g) - launch).s() / (gemm_time(full, DType::kFp8, g) - launch).s(),
              1 / x, 1e-9);
  // Flash attention at 8K: compute-bound, the same factor.
  const AttentionShape a{.batch = 1, .q_len = 8192, .kv_len = 8192, .heads = 32, .kv_heads = 8};
  EXPECT_NEAR((attention_time(capped, DType::kBf16, a) - launch).s() / (attention_time(full, DType::kBf16, a) - launch).s(),
              1 / x, 1e-9);
  // Norms, activations, the optimizer: HBM-bound, and the HBM clock is not lowered by the cap.
  EXPECT_EQ(memory_time(capped, Bytes::gb(1), MemoryKind::kNorm), memory_time(full, Bytes::gb(1), MemoryKind::kNorm));
  EXPECT_EQ(memory_time(capped, Bytes::gb(1)), memory_time(full, Bytes::gb(1)));
  // A GEMM too thin to be compute-bound (a decode GEMV) is bound by its bytes: unchanged.
  const GemmShape gemv{1, 14336, 4096};
  EXPECT_EQ(gemm_time(capped, DType::kBf16, gemv), gemm_time(full, DType::kBf16, gemv));
}

TEST(PowerLimit, LimitAtTheTdpChangesNothingBitForBit) {
  const AcceleratorSpec full = PartCatalog::get().part("H100-SXM-80GB");
  EXPECT_EQ(full.power_limit.w(), 0);  // the catalog sets none: the TDP
  const AcceleratorSpec at_tdp = capped_h100(700);
  EXPECT_EQ(at_tdp.compute_clock_fraction(), 1.0);
  EXPECT_EQ(at_tdp.power_cap(), full.tdp);
  for (const GemmShape& g : {GemmShape{8192, 14336, 4096}, GemmShape{128, 256, 64}, GemmShape{1, 4096, 4096}}) {
    EXPECT_EQ(gemm_time(at_tdp, DType::kBf16, g), gemm_time(full, DType::kBf16, g));
    EXPECT_EQ(gemm_time(at_tdp, DType::kFp8, g), gemm_time(full, DType::kFp8, g));
  }
  const AttentionShape a{.batch = 2, .q_len = 4096, .kv_len = 4096, .heads = 32, .kv_heads = 8};
  EXPECT_EQ(attention_time(at_tdp, DType::kBf16, a), attention_time(full, DType::kBf16, a));
  EXPECT_EQ(roofline_time(at_tdp, DType::kBf16, Flops::of(1e12), Bytes::gb(1)),
            roofline_time(full, DType::kBf16, Flops::of(1e12), Bytes::gb(1)));
}

// Every op cost of a capped part asks compute_clock_fraction(), which keeps what it solved (per thread, by the
// bisection's inputs) instead of bisecting the curve again per op. Kept or solved afresh, it is the bisection's
// value, and every op cost is the same bit for bit: each op is costed first on a fresh thread (nothing kept) and
// again here after the clocks of a dozen other limits went through the memo (more than it keeps).
TEST(PowerLimit, KeptClockGivesTheSameOpCostsBitForBitAsAFreshBisection) {
  const AcceleratorSpec capped = capped_h100(500);
  const double x = DvfsPowerCurve(capped.power_clock).clock_fraction(500.0 / 700.0);
  std::vector<std::function<Duration(const AcceleratorSpec&)>> ops;
  for (const GemmShape& g : {GemmShape{8192, 14336, 4096}, GemmShape{128, 256, 64}, GemmShape{4096, 4096, 512}}) {
    ops.push_back([g](const AcceleratorSpec& p) { return gemm_time(p, DType::kBf16, g); });
    ops.push_back([g](const AcceleratorSpec& p) { return gemm_time(p, DType::kFp8, g); });
  }
  ops.push_back([](const AcceleratorSpec& p) {
    return attention_time(p, DType::kBf16, AttentionShape{.batch = 1, .q_len = 8192, .kv_len = 8192, .heads = 32,
                                                          .kv_heads = 8});
  });
  ops.push_back([](const AcceleratorSpec& p) {
    return roofline_time(p, DType::kBf16, Flops::of(1e12), Bytes::gb(1));
  });
  std::vector<Duration> fresh(ops.size());
  double fresh_x = 0;
  std::thread([&] { fresh_x = capped.compute_clock_fraction(); }).join();
  for (size_t i = 0; i < ops.size(); ++i) std::thread([&, i] { fresh[i] = ops[i](capped); }).join();
  EXPECT_EQ(fresh_x, x);
  for (int w = 205; w < 700; w += 40) {
    EXPECT_EQ(capped_h100(w).compute_clock_fraction(), DvfsPowerCurve(capped.power_clock).clock_fraction(w / 700.0))
        << w;
  }
  for (int round = 0; round < 2; ++round) {  // the first asks again after the memo turned over; the second hits
    EXPECT_EQ(capped.compute_clock_fraction(), x);
    for (size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(ops[i](capped), fresh[i]) << "op " << i;
  }
  // What is kept is keyed by what the bisection reads: another limit, or another curve, is solved for itself.
  AcceleratorSpec steeper = capped;
  steeper.power_clock.exponent = 20;
  EXPECT_EQ(steeper.compute_clock_fraction(), DvfsPowerCurve(steeper.power_clock).clock_fraction(500.0 / 700.0));
  EXPECT_NE(steeper.compute_clock_fraction(), x);
  AcceleratorSpec lower = capped;
  lower.power_limit = Power::watts(300);
  EXPECT_EQ(lower.compute_clock_fraction(), DvfsPowerCurve(lower.power_clock).clock_fraction(300.0 / 700.0));
  EXPECT_EQ(capped.compute_clock_fraction(), x);
}

TEST(PowerLimit, CappedGpuIsNeverChargedAboveItsCap) {
  NodeSpec node = NodeCatalog::get().node("hgx-h100");
  node.accelerator.power_limit = Power::watts(500);
  const CostConfig cost;
  const Duration hour = Duration::seconds(3600);
  // Computing all the time: 8 GPUs x 500 W x 1 h = 4 kWh, not 8 x 700 W.
  const EnergyReport busy = energy_over({{&node, 1, 1.0, 0.0}}, 0, hour, cost);
  EXPECT_NEAR(busy.gpu_compute_kwh, 8 * 0.5, 1e-12);
  // Communicating: idle + 0.3 x (cap - idle) = 70 + 0.3 x 430 = 199 W.
  const EnergyReport comm = energy_over({{&node, 1, 0.0, 1.0}}, 0, hour, cost);
  EXPECT_NEAR(comm.gpu_comm_kwh, 8 * 0.199, 1e-12);
  // Any mix of states: the GPUs' energy never exceeds cap x GPU-time.
  for (double b : {0.0, 0.3, 0.7, 1.0}) {
    for (double c : {0.0, 0.2, 0.5}) {
      const EnergyReport r = energy_over({{&node, 2, b, c}}, 0, hour, cost);
      EXPECT_LE(r.gpu_compute_kwh + r.gpu_comm_kwh + r.gpu_idle_kwh, 16 * 0.5 * (1 + 1e-12)) << b << " " << c;
    }
  }
}

}  // namespace
}  // namespace lcsim::hw
