// The short summary's number formatting: units a person reads, three significant digits, no exponents.
#include "apps/format.h"

#include <gtest/gtest.h>

namespace lcsim::app {
namespace {

TEST(Format, NumbersHaveThreeSignificantDigitsAndNoExponent) {
  EXPECT_EQ(format_number(0), "0");
  EXPECT_EQ(format_number(4.678106576286015), "4.68");
  EXPECT_EQ(format_number(42.506985472), "42.5");
  EXPECT_EQ(format_number(80.0), "80");  // no trailing zeros
  EXPECT_EQ(format_number(573.96), "574");
  EXPECT_EQ(format_number(999.96), "1,000");  // rounding that reaches the next decade
  EXPECT_EQ(format_number(5641.3), "5,641");  // whole numbers from 1,000 keep every digit
  EXPECT_EQ(format_number(0.0123456), "0.0123");
  EXPECT_EQ(format_number(0.0000123456), "0.0000123");
  EXPECT_EQ(format_number(-2.5), "-2.5");
}

TEST(Format, CountsUseSeparatorsThenSuffixes) {
  EXPECT_EQ(format_count(64), "64");
  EXPECT_EQ(format_count(1048576), "1.05 M");
  EXPECT_EQ(format_count(13261), "13,261");
  EXPECT_EQ(format_count(300e9), "300 B");
  EXPECT_EQ(format_count(15.6e12), "15.6 T");
  EXPECT_EQ(format_count(3.656e6), "3.66 M");
}

TEST(Format, SizesDecimalAndBinary) {
  EXPECT_EQ(format_bytes(42506985472), "42.5 GB");
  EXPECT_EQ(format_bytes(80e9), "80 GB");
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(999.6e6), "1 GB");  // not "1,000 MB"
  EXPECT_EQ(format_bytes(5.07e12), "5.07 TB");
  EXPECT_EQ(format_bytes_iec(1073741824), "1 GiB");
  EXPECT_EQ(format_bytes_iec(16777216), "16 MiB");
  EXPECT_EQ(format_bytes_iec(8), "8 B");
  EXPECT_EQ(format_bytes_iec(1536), "1.5 KiB");
}

TEST(Format, DurationsFromNanosecondsToYears) {
  EXPECT_EQ(format_duration(0), "0 s");
  EXPECT_EQ(format_duration(4.678106576286015e-6), "4.68 us");
  EXPECT_EQ(format_duration(5e-9), "5 ns");
  EXPECT_EQ(format_duration(0.25915), "259 ms");
  EXPECT_EQ(format_duration(3.4554), "3.46 s");
  EXPECT_EQ(format_duration(90), "1.5 min");
  EXPECT_EQ(format_duration(9000), "2.5 h");
  EXPECT_EQ(format_duration(1.836 * 86400), "1.84 days");
  EXPECT_EQ(format_duration(86400), "1 day");
  EXPECT_EQ(format_duration(148.7 * 86400), "149 days");
  EXPECT_EQ(format_duration(2 * 365.25 * 86400), "2 years");
}

TEST(Format, RatesEnergyPowerMoney) {
  EXPECT_EQ(format_bandwidth(391.32e9), "391 GB/s");
  EXPECT_EQ(format_bandwidth(1.6e12), "1.6 TB/s");
  EXPECT_EQ(format_flop_rate(574e12), "574 TFLOP/s");
  EXPECT_EQ(format_flop_rate(1.2e15), "1.2 PFLOP/s");
  EXPECT_EQ(format_rate(4.048e6, "tokens"), "4.05 M tokens/s");
  EXPECT_EQ(format_rate(1977, "tokens"), "1,977 tokens/s");
  EXPECT_EQ(format_percent(0.5801), "58.0%");
  EXPECT_EQ(format_energy_mwh(8.842), "8.84 MWh");
  EXPECT_EQ(format_energy_mwh(4.059e-6), "4.06 Wh");
  EXPECT_EQ(format_energy_mwh(2705.4), "2.71 GWh");
  EXPECT_EQ(format_power_kw(56.42), "56.4 kW");
  EXPECT_EQ(format_power_kw(757.9), "758 kW");
  EXPECT_EQ(format_power_kw(1500), "1.5 MW");
  EXPECT_EQ(format_money(14987.3, "USD"), "USD 14,987");
  EXPECT_EQ(format_money(7.581e6, "USD"), "USD 7.58 M");
  EXPECT_EQ(format_money(2.038, "EUR"), "EUR 2.04");
  EXPECT_EQ(format_money(0.009616, "USD"), "USD 0.00962");
}

}  // namespace
}  // namespace lcsim::app
