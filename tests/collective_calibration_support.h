// Shared by the scale-up collective calibration tests (collective_calibration_test.cc, collective_gather_scatter_test.cc):
// the measured all-reduce table (data/calibration/nccl_scaleup_all_reduce.csv, read, not copied) and a validation
// scenario run over a list of sizes, read back as its nccl-tests-style table.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace lcsim::collective_support {

inline constexpr double kTarget = 0.10;  // docs/validation.md: within 10% per size from 1 MiB up

struct Measured {
  std::string system, algorithm;
  int ranks = 0;
  double size = 0, busbw_gbps = 0;
};

/// The rows of a measured table (comma-separated, no quoted fields) after its header, which must read `header`; a
/// missing file or another header is a test failure (callers that need them stop on ::testing::Test::HasFailure()).
inline std::vector<std::vector<std::string>> table_rows(const std::string& path, const std::string& header) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, header) << path;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    rows.push_back(std::move(f));
  }
  return rows;
}

inline std::vector<Measured> measured() {
  std::vector<Measured> out;
  for (const auto& f : table_rows("data/calibration/nccl_scaleup_all_reduce.csv",
                                  "system,gpu,ranks,algorithm,size_bytes,size_label,busbw_gbps,source")) {
    if (f.size() < 8) continue;
    out.push_back({f[0], f[3], std::stoi(f[2]), std::stod(f[4]), std::stod(f[6])});
  }
  return out;
}

struct Simulated {
  double time_s = 0;
  std::string algorithm;  // what lcsim ran (algorithm/protocol)
};

// Runs a validation scenario at `ranks` over `sizes` (analytical fidelity: inside one node it times the same
// flows as the flow model, and several runs fit in one process); the nccl-tests table by size.
inline std::map<double, Simulated> run(const std::string& scenario, int ranks, const std::vector<double>& sizes,
                                std::vector<std::string> extra = {}) {
  std::string list;
  for (double s : sizes) list += (list.empty() ? "" : ", ") + std::to_string(static_cast<int64_t>(s)) + "B";
  extra.push_back("workload.ranks=" + std::to_string(ranks));
  extra.push_back("workload.sizes=[" + list + "]");
  extra.push_back("simulation.fidelity=analytical");
  Scenario sc = load_scenario("scenarios/validation/" + scenario + ".yaml", extra);
  const RunResult r = run_scenario(sc);
  std::map<double, Simulated> out;
  for (const auto& line : r.table) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    double size = 0, count = 0, time_us = 0;
    std::string type, redop, root, algbw, busbw, algo;
    ls >> size >> count >> type >> redop >> root >> time_us >> algbw >> busbw >> algo;
    out[size] = {time_us * 1e-6, algo};
  }
  return out;
}

inline double bus_factor(int n) { return 2.0 * (n - 1) / n; }

// The measured rows of `system` from `from` to `to` bytes, in the file's order.
inline std::vector<Measured> rows_of(const std::string& system, double from = 0, double to = 1e30) {
  std::vector<Measured> out;
  for (const auto& m : measured()) {
    if (m.system == system && m.size >= from && m.size <= to) out.push_back(m);
  }
  return out;
}

inline std::vector<double> sizes_of(const std::vector<Measured>& rows) {
  std::vector<double> out;
  for (const auto& m : rows) out.push_back(m.size);
  return out;
}

// An all-reduce row's measured time: size x 2(n-1)/n / bus bandwidth.
inline double measured_time(const Measured& m) { return m.size * bus_factor(m.ranks) / (m.busbw_gbps * 1e9); }

// Every measured row of `system` at the given sizes, against the scenario run the way it was measured.
inline void expect_within_target(const std::string& system, const std::string& scenario, const std::vector<double>& sizes,
                          double target = kTarget) {
  std::map<int, std::vector<Measured>> by_ranks;
  for (const auto& m : measured()) {
    if (m.system == system && std::count(sizes.begin(), sizes.end(), m.size)) by_ranks[m.ranks].push_back(m);
  }
  ASSERT_FALSE(by_ranks.empty()) << system;
  for (const auto& [ranks, rows] : by_ranks) {
    const auto sim = run(scenario, ranks, sizes);
    for (const auto& m : rows) {
      ASSERT_TRUE(sim.count(m.size)) << system << " " << m.size;
      const double busbw = m.size * bus_factor(ranks) / sim.at(m.size).time_s / 1e9;
      EXPECT_NEAR(busbw / m.busbw_gbps, 1.0, target)
          << system << ", " << ranks << " GPUs, " << m.size << " B: lcsim " << busbw << " GB/s, measured "
          << m.busbw_gbps << " GB/s (" << sim.at(m.size).algorithm << ")";
    }
  }
}

}  // namespace lcsim::collective_support
