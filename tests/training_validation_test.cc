// The training-validation rows (bench/training_validation.yaml, the file bench/validate_training.py reads): the file
// is complete (every row names a known family, unit and source; at least 30 rows from at least 6 sources, A100,
// H100 and another part), and the rows marked `check: true` simulate within their stated error band of the
// published value. Not timed; the checked rows are small (8 to 64 GPUs).
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "test_support.h"

#include "scenarios/scenario.h"
#include "sim/config_tree.h"

namespace lcsim {
namespace {

const std::string kSource = LCSIM_SOURCE_DIR;

ConfigValue rows_file() { return load_yaml_file(kSource + "/bench/training_validation.yaml"); }

std::string text(const ConfigValue& m, const std::string& key) {
  const ConfigValue* v = m.find(key);
  return v && v->is_scalar() ? v->scalar : "";
}

// A sequence's scalars; a nested sequence (a YAML alias to a shared list of settings) is spliced in place.
std::vector<std::string> list(const ConfigValue* seq) {
  std::vector<std::string> out;
  if (seq) {
    for (const auto& c : seq->children) {
      if (c.children.empty()) {
        out.push_back(c.scalar);
      } else {
        for (const auto& s : list(&c)) out.push_back(s);
      }
    }
  }
  return out;
}

// The row's value in its unit, from a run's metrics (as bench/validate_training.py computes it).
double value_of(const ConfigValue& row, std::map<std::string, double>& m) {
  const std::string unit = text(row, "unit");
  const double gpus = std::stod(text(row, "gpus"));
  if (unit == "tflops_model") return m["tflops_per_gpu"];
  if (unit == "mfu_pct") return 100 * m["mfu"];
  if (unit == "tokens_per_gpu") return m["tokens_per_s"] / gpus;
  // tflops_recompute: SC'21's 96 B s l h^2 (1 + s/6h + V/16lh) per iteration.
  std::vector<double> p;
  for (const auto& s : list(row.find("sc21"))) p.push_back(std::stod(s));
  const double B = p.at(0), s = p.at(1), l = p.at(2), h = p.at(3), V = p.at(4);
  const double flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
  return flops / m["iteration_time_s"] / gpus / 1e12;
}

TEST(TrainingValidation, TheRowsFileCoversWhatTheIssueAsks) {
  const ConfigValue f = rows_file();
  const ConfigValue* rows = f.find("rows");
  const ConfigValue* families = f.find("families");
  const ConfigValue* sources = f.find("sources");
  ASSERT_TRUE(rows && families && sources);
  std::set<std::string> used_sources, parts, groups;
  for (const auto& row : rows->children) {
    const std::string name = text(row, "name"), family = text(row, "family");
    ASSERT_NE(families->find(family), nullptr) << name << ": unknown family " << family;
    // A family that runs one source's rows on another part says whose they are (`source:`); else it is the source.
    const std::string source = text(*families->find(family), "source").empty() ? family : text(*families->find(family), "source");
    EXPECT_NE(sources->find(source), nullptr) << name;
    EXPECT_TRUE(std::set<std::string>({"tflops_recompute", "tflops_model", "mfu_pct", "tokens_per_gpu"})
                    .count(text(row, "unit")))
        << name;
    EXPECT_GT(std::stod(text(row, "measured")), 0) << name;
    used_sources.insert(source);
    parts.insert(text(row, "part"));
    groups.insert(text(row, "group"));
  }
  EXPECT_GE(rows->children.size(), 30u);
  EXPECT_GE(used_sources.size(), 6u);
  EXPECT_TRUE(parts.count("A100") && parts.count("H100"));
  EXPECT_GE(parts.size(), 3u);
  for (const char* g : {"strong scaling", "context parallelism", "MoE", "FSDP", "dense H100 7B-70B"}) {
    EXPECT_TRUE(groups.count(g)) << g;
  }
}

TEST(TrainingValidation, EveryRowsConfigurationLoads) {
  // Every row, not only the checked ones: its family's scenario with the family's and the row's settings (nested
  // aliases spliced) is a valid scenario. Loading validates every key (an expert-parallel size no layout can hold, a
  // CUDA-graph scope without an implementation); running them all is bench/validate_training.py's job.
  const ConfigValue f = rows_file();
  int loaded = 0;
  for (const auto& row : f.find("rows")->children) {
    const std::string name = text(row, "name");
    const ConfigValue& family = *f.find("families")->find(text(row, "family"));
    std::vector<std::string> sets = list(family.find("set"));
    for (const auto& s : list(row.find("set"))) sets.push_back(s);
    ASSERT_FALSE(sets.empty()) << name;
    try {
      const Scenario sc = load_scenario(kSource + "/" + text(family, "scenario"), sets);
      EXPECT_NE(sc.workload, nullptr) << name;
      ++loaded;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
  EXPECT_EQ(loaded, static_cast<int>(f.find("rows")->children.size()));
}

TEST(TrainingValidation, CheckedRowsAreWithinTheirBand) {
  const ConfigValue f = rows_file();
  int checked = 0;
  for (const auto& row : f.find("rows")->children) {
    if (text(row, "check") != "true") continue;
    ++checked;
    const std::string name = text(row, "name");
    const ConfigValue& family = *f.find("families")->find(text(row, "family"));
    std::vector<std::string> sets = list(family.find("set"));
    for (const auto& s : list(row.find("set"))) sets.push_back(s);
    const std::string scenario = kSource + "/" + text(family, "scenario");
    auto m = testing::metrics_in_child([&] {
      Scenario sc = load_scenario(scenario, sets);
      RunResult r = run_scenario(sc);
      if (!r.completed) throw std::runtime_error("did not complete");
      return r.metrics;
    });
    ASSERT_FALSE(m.count("child_failed")) << name;
    const double measured = std::stod(text(row, "measured")), band = std::stod(text(row, "band"));
    const double simulated = value_of(row, m);
    EXPECT_LE(std::abs(simulated / measured - 1), band)
        << name << ": lcsim " << simulated << ", published " << measured << " (band " << band * 100 << "%)";
  }
  EXPECT_GE(checked, 4);
}

}  // namespace
}  // namespace lcsim
