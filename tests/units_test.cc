#include <gtest/gtest.h>

#include "sim/metrics.h"
#include "sim/units.h"

namespace lcsim {
namespace {

double parse(const std::string& text, UnitKind kind) {
  std::string err;
  auto v = parse_quantity(text, kind, &err);
  EXPECT_TRUE(v.has_value()) << text << ": " << err;
  return v.value_or(-1);
}

std::string error_of(const std::string& text, UnitKind kind) {
  std::string err;
  EXPECT_FALSE(parse_quantity(text, kind, &err).has_value()) << text;
  return err;
}

TEST(Units, ParsesEachKindIntoBaseUnits) {
  EXPECT_DOUBLE_EQ(parse("1.5us", UnitKind::kDuration), 1.5e-6);
  EXPECT_DOUBLE_EQ(parse("2 h", UnitKind::kDuration), 7200);
  EXPECT_DOUBLE_EQ(parse("80GiB", UnitKind::kBytes), 80.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(parse("80GB", UnitKind::kBytes), 80e9);
  EXPECT_DOUBLE_EQ(parse("400Gb/s", UnitKind::kBandwidth), 50e9);
  EXPECT_DOUBLE_EQ(parse("3.35TB/s", UnitKind::kBandwidth), 3.35e12);
  EXPECT_DOUBLE_EQ(parse("989TFLOP/s", UnitKind::kFlopRate), 989e12);
  EXPECT_DOUBLE_EQ(parse("6PFLOP", UnitKind::kFlops), 6e15);
  EXPECT_DOUBLE_EQ(parse("700W", UnitKind::kPower), 700);
}

TEST(Units, SubUnitsGiveTheSameBitsWhicheverWayTheyAreWritten) {
  EXPECT_EQ(parse("0.5us", UnitKind::kDuration), parse("500ns", UnitKind::kDuration));
  EXPECT_EQ(parse("0.5us", UnitKind::kDuration), Duration::us(0.5).s());
}

TEST(Units, RejectsMissingAndWrongUnits) {
  EXPECT_EQ(error_of("400", UnitKind::kBandwidth),
            "missing unit in '400' (a bandwidth needs one of: b/s, Kb/s, Mb/s, Gb/s, Tb/s, B/s, KB/s, MB/s, GB/s, "
            "TB/s, KiB/s, MiB/s, GiB/s)");
  EXPECT_NE(error_of("400Gbps", UnitKind::kBandwidth).find("unknown bandwidth unit 'Gbps'"), std::string::npos);
  EXPECT_NE(error_of("fast", UnitKind::kBandwidth).find("expected a bandwidth"), std::string::npos);
  EXPECT_NE(error_of("3GB", UnitKind::kDuration).find("unknown duration unit 'GB'"), std::string::npos);
}

TEST(Units, FormatPicksAReadableUnitAndReadsBackExactly) {
  EXPECT_EQ(format_quantity(1.5e-6, UnitKind::kDuration), "1.5us");
  EXPECT_EQ(format_quantity(80.0 * 1073741824.0, UnitKind::kBytes), "80GiB");
  EXPECT_EQ(format_quantity(50e9, UnitKind::kBandwidth), "400Gb/s");
  EXPECT_EQ(format_quantity(450e9, UnitKind::kBandwidth), "450GB/s");
  EXPECT_EQ(format_quantity(989.4e12, UnitKind::kFlopRate), "989.4TFLOP/s");
  for (double v : {0.6e-6, 1.0 / 3.0, 123456.789e-9, 7.0 * 86400}) {
    const std::string text = format_quantity(v, UnitKind::kDuration);
    EXPECT_EQ(parse(text, UnitKind::kDuration), v) << text;
  }
}

TEST(Units, ArithmeticKeepsKinds) {
  const Duration t = Bytes::gb(1) / Bandwidth::gbytes_per_s(50);
  EXPECT_DOUBLE_EQ(t.s(), 0.02);
  const Duration c = Flops::of(989.4e12) / FlopRate::tflops(989.4);
  EXPECT_DOUBLE_EQ(c.s(), 1.0);
  const Bytes moved = Bandwidth::gbytes_per_s(2) * Duration::seconds(3);
  EXPECT_DOUBLE_EQ(moved.bytes(), 6e9);
  EXPECT_LT(Duration::ms(1), Duration::seconds(1));
  EXPECT_DOUBLE_EQ((Duration::ms(3) - Duration::ms(1)).s(), 0.002);
}

TEST(Metrics, DistributionsKeepPercentilesAndAHistogram) {
  MetricSet m;
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);  // 1..100, in any order
  m.set_distribution("fct_s", samples, "flow completion times", 4);
  ASSERT_EQ(m.distributions().size(), 1u);
  const auto& d = m.distributions().front();
  EXPECT_EQ(d.count, 100u);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.p50, 50);  // nearest rank
  EXPECT_EQ(d.p90, 90);
  EXPECT_EQ(d.p99, 99);
  EXPECT_EQ(d.max, 100);
  EXPECT_EQ(d.edges, (std::vector<double>{1, 25.75, 50.5, 75.25, 100}));
  EXPECT_EQ(d.counts, (std::vector<size_t>{25, 25, 25, 25}));
  const std::string json = m.to_json();
  EXPECT_NE(json.find("\"distributions\": {\n    \"fct_s\": {\"count\": 100, \"mean\": 50.5"), std::string::npos) << json;
  m.set_distribution("empty", {}, "nothing");
  EXPECT_EQ(m.distributions().back().count, 0u);
}

}  // namespace
}  // namespace lcsim
