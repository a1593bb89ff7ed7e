// Sweep plans: the constraint language, plan expansion (lists, ranges, zip, samples, repetitions, compare:),
// constraints, and bad plans reported at file:line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "sim/error.h"
#include "sweep/expr.h"
#include "sweep/plan.h"

namespace lcsim::sweep {
namespace {

Plan plan_of(const std::string& yaml) { return parse_plan(parse_yaml_text(yaml, "plan.yaml"), "plan.yaml", ""); }

std::string error_of(const std::string& yaml) {
  try {
    expand(plan_of(yaml));
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

double eval(const std::string& text, const ExprBindings& b = {}) {
  std::vector<std::string> names;
  for (const auto& [n, v] : b) names.push_back(n);
  const ExprValue v = Expr::parse(text, names).eval(b);
  EXPECT_TRUE(v.is_number) << text;
  return v.number;
}

TEST(SweepExpr, PrecedenceAndLogic) {
  EXPECT_EQ(eval("1 + 2 * 3"), 7);
  EXPECT_EQ(eval("(1 + 2) * 3"), 9);
  EXPECT_EQ(eval("10 - 4 - 3"), 3);  // left-associative
  EXPECT_EQ(eval("12 / 4 / 3"), 1);
  EXPECT_EQ(eval("7 % 4"), 3);
  EXPECT_EQ(eval("-2 * -3"), 6);
  EXPECT_EQ(eval("1 < 2 && 3 >= 3"), 1);
  EXPECT_EQ(eval("1 > 2 || 2 != 2"), 0);
  EXPECT_EQ(eval("!(1 == 2)"), 1);
  EXPECT_EQ(eval("1 == 2 || 3 == 3 && 0"), 0);  // && binds tighter than ||
  const ExprBindings b = {{"tp", ExprValue::of(4)}, {"pp", ExprValue::of(2)}, {"lb", ExprValue::parse("spray")}};
  EXPECT_EQ(eval("tp * pp == 8", b), 1);
  EXPECT_EQ(eval("tp * pp <= 4", b), 0);
  EXPECT_EQ(eval("lb == 'spray' && tp > pp", b), 1);
  EXPECT_EQ(eval("lb != \"ecmp\"", b), 1);
}

TEST(SweepExpr, ErrorsSayWhereAndWhat) {
  try {
    Expr::parse("tp * ppp == 8", {"tp", "pp"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "in expression 'tp * ppp == 8' at column 6: unknown name 'ppp'; did you mean 'pp'? "
                           "(names: tp, pp)");
  }
  try {
    Expr::parse("tp = 8", {"tp"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("use '==' to compare"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Expr::parse("(tp + 1", {"tp"}), std::invalid_argument);
  EXPECT_THROW(Expr::parse("tp +", {"tp"}), std::invalid_argument);
  const Expr div = Expr::parse("8 / tp", {"tp"});
  EXPECT_THROW(div.eval({{"tp", ExprValue::of(0)}}), std::invalid_argument);
  const Expr str = Expr::parse("lb * 2", {"lb"});
  EXPECT_THROW(str.eval({{"lb", ExprValue::parse("ecmp")}}), std::invalid_argument);
}

TEST(SweepPlan, GridWithConstraintKeepsOnlyMatchingPoints) {
  const Plan plan = plan_of(R"(
name: layouts
base: base.yaml
set: {simulation.fidelity: analytical}
axes:
  - {key: workload.tensor_model_parallel_size, name: tp, values: [1, 2, 4, 8]}
  - {key: workload.pipeline_model_parallel_size, name: pp, values: [1, 2, 4, 8]}
constraints: ["tp * pp == 8"]
)");
  const std::vector<Point> points = expand(plan);
  ASSERT_EQ(points.size(), 4u);  // (1,8) (2,4) (4,2) (8,1) of the 16 combinations
  std::vector<std::pair<std::string, std::string>> got;
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].id, i);
    EXPECT_EQ(points[i].axes.size(), 2u);
    got.emplace_back(points[i].axes[0].second, points[i].axes[1].second);
    EXPECT_FALSE(points[i].seed.has_value());  // one repetition, no seed: the scenario's own seed
  }
  const std::vector<std::pair<std::string, std::string>> want = {{"1", "8"}, {"2", "4"}, {"4", "2"}, {"8", "1"}};
  EXPECT_EQ(got, want);
  EXPECT_EQ(points[1].overrides, (std::vector<std::string>{"simulation.fidelity=analytical",
                                                           "workload.tensor_model_parallel_size=2",
                                                           "workload.pipeline_model_parallel_size=4"}));
  EXPECT_EQ(points[1].base, "base.yaml");
}

TEST(SweepPlan, RangesLogRangesAndZip) {
  const Plan plan = plan_of(R"(
base: b.yaml
axes:
  - {key: cluster.nodes, range: {from: 2, to: 8, step: 2}}
  - {key: cluster.fabric.nic_bandwidth, log: {from: 100, to: 800, factor: 2}, unit: Gb/s, name: nic}
  - zip:
      - {key: workload.micro_batch_size, name: mbs, values: [1, 2]}
      - {key: workload.global_batch_size, name: gbs, range: {from: 256, to: 512, count: 2}}
)");
  ASSERT_EQ(plan.dimensions.size(), 3u);
  EXPECT_EQ(plan.dimensions[0].axes[0].values, (std::vector<std::string>{"2", "4", "6", "8"}));
  EXPECT_EQ(plan.dimensions[1].axes[0].values,
            (std::vector<std::string>{"100Gb/s", "200Gb/s", "400Gb/s", "800Gb/s"}));
  EXPECT_EQ(plan.dimensions[2].axes[1].values, (std::vector<std::string>{"256", "512"}));
  EXPECT_EQ(plan.axis_names(), (std::vector<std::string>{"nodes", "nic", "mbs", "gbs"}));
  const auto points = expand(plan);
  ASSERT_EQ(points.size(), 4u * 4u * 2u);  // zipped axes are one dimension
  // The last dimension varies fastest; zipped values stay paired.
  EXPECT_EQ(points[0].axes[2].second, "1");
  EXPECT_EQ(points[0].axes[3].second, "256");
  EXPECT_EQ(points[1].axes[2].second, "2");
  EXPECT_EQ(points[1].axes[3].second, "512");
  EXPECT_EQ(points[2].axes[1].second, "200Gb/s");
}

TEST(SweepPlan, LatinHypercubePutsOneSampleInEachStratum) {
  const Plan plan = plan_of(R"(
base: b.yaml
samples:
  method: latin_hypercube
  count: 20
  seed: 5
  axes:
    - {key: a.x, min: 0, max: 10}
    - {key: a.y, min: 1, max: 1000, log: true}
)");
  const auto points = expand(plan);
  ASSERT_EQ(points.size(), 20u);
  std::set<int> xs, ys;
  for (const auto& p : points) {
    const double x = std::stod(p.axes[0].second), y = std::stod(p.axes[1].second);
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 10);
    xs.insert(static_cast<int>(x / 10 * 20));
    ys.insert(static_cast<int>(std::log10(y) / 3 * 20));  // log axis: strata equal in log(value)
  }
  EXPECT_EQ(xs.size(), 20u);
  EXPECT_EQ(ys.size(), 20u);
  // Deterministic for a seed, different for another.
  EXPECT_EQ(expand(plan)[7].axes, points[7].axes);
  Plan other = plan;
  other.sampling->seed = 6;
  EXPECT_NE(expand(other)[7].axes, points[7].axes);
}

TEST(SweepPlan, RandomSamplesStayInRangeAndRoundIntegers) {
  const auto points = expand(plan_of(R"(
base: b.yaml
samples: {method: random, count: 50, axes: [{key: cluster.nodes, min: 1, max: 16, integer: true}]}
)"));
  ASSERT_EQ(points.size(), 50u);
  std::set<std::string> distinct;
  for (const auto& p : points) {
    const double v = std::stod(p.axes[0].second);
    EXPECT_EQ(v, std::round(v));
    EXPECT_GE(v, 1);
    EXPECT_LE(v, 16);
    distinct.insert(p.axes[0].second);
  }
  EXPECT_GT(distinct.size(), 5u);
}

TEST(SweepPlan, RepetitionsShareSeedsAcrossAlternatives) {
  const Plan plan = plan_of(R"(
base: b.yaml
repetitions: 3
seed: 42
axes: [{key: cluster.nodes, values: [1, 2]}]
compare:
  - {name: ecmp, set: {policies.load_balancing: ecmp}}
  - {name: spray, set: {policies.load_balancing: spray}}
)");
  const auto points = expand(plan);
  ASSERT_EQ(points.size(), 2u * 2u * 3u);
  // Order: axes, then alternative, then repetition.
  EXPECT_EQ(points[0].alternative, "ecmp");
  EXPECT_EQ(points[3].alternative, "spray");
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(points[static_cast<size_t>(r)].seed, points[static_cast<size_t>(3 + r)].seed);  // common random numbers
    EXPECT_EQ(*points[static_cast<size_t>(r)].seed, derive_seed(42, r));
  }
  EXPECT_NE(points[0].seed, points[1].seed);
  EXPECT_NE(points[1].seed, points[2].seed);
  EXPECT_EQ(points[3].overrides.back(), "simulation.seed=" + std::to_string(derive_seed(42, 0)));
  EXPECT_NE(std::find(points[3].overrides.begin(), points[3].overrides.end(), "policies.load_balancing=spray"),
            points[3].overrides.end());
  // The fingerprint follows what the points run.
  Plan other = plan;
  other.seed = 43;
  EXPECT_EQ(plan_fingerprint(expand(plan)), plan_fingerprint(points));
  EXPECT_NE(plan_fingerprint(expand(other)), plan_fingerprint(points));
}

TEST(SweepPlan, StructuredValuesBecomeFlowYaml) {
  const Plan plan = plan_of(R"(
base: b.yaml
axes:
  - key: cluster.pools
    name: pools
    values:
      - [{node: hgx-h100, count: 2}]
      - [{node: "dgx-a100", count: 4}]
)");
  const auto points = expand(plan);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].overrides[0], "cluster.pools=[{node: hgx-h100, count: 2}]");
  EXPECT_EQ(points[1].axes[0].second, "[{node: dgx-a100, count: 4}]");
}

TEST(SweepPlan, BadPlansAreReportedAtFileAndLine) {
  EXPECT_EQ(error_of("base: b.yaml\naxes:\n  - {key: cluster.nodes, valuse: [1, 2]}\n"),
            "error: plan.yaml:3:26: axes[0].valuse: unknown key 'valuse'; did you mean 'values'? (valid: key, name, "
            "values, range, log, unit, integer)\n"
            "error: plan.yaml:3:5: axes[0]: an axis needs one of 'values:' (a list), 'range:' or 'log:'");
  EXPECT_EQ(error_of("base: b.yaml\naxes: [{key: cluster.nodes, values: [1, 2]}]\nconstraints:\n  - nodes > gpus\n"),
            "error: plan.yaml:4:5: constraints[0]: in expression 'nodes > gpus' at column 9: unknown name 'gpus' "
            "(names: nodes)");
  EXPECT_NE(error_of("base: b.yaml\naxes:\n  - zip:\n    - {key: a.b, values: [1, 2]}\n"
                     "    - {key: a.c, values: [1]}\n")
                .find("plan.yaml:4:5: axes[0].zip: zipped axes must have the same number of values"),
            std::string::npos);
  EXPECT_NE(error_of("axes: []\n").find("plan.yaml:1:1: base: a plan needs 'base:'"), std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\nrepetitions: 0\n").find("plan.yaml:2:14: repetitions: must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\naxes: [{key: a.x, range: {from: 1, to: 4, step: -1}}]\n")
                .find("axes[0].range.step: must be non-zero"),
            std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\naxes: [{key: a.x, values: [1]}, {key: b.x, values: [2]}]\n")
                .find("two axes are named 'x'"),
            std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\nsamples: {method: sobol, count: 4, axes: [{key: a, min: 0, max: 1}]}\n")
                .find("unknown sampling method 'sobol'"),
            std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\ncompare: [{name: a}]\n").find("at least two alternatives"), std::string::npos);
  EXPECT_NE(error_of("base: b.yaml\nbogus: 1\n").find("plan.yaml:2:1: bogus: unknown key 'bogus'"),
            std::string::npos);
}

}  // namespace
}  // namespace lcsim::sweep
