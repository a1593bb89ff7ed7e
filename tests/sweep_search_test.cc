// lcsim search: pruning (arithmetic and memory fit) never drops a layout that would have worked, so the pruned
// search ranks exactly the layouts an exhaustive enumeration (every candidate loaded and simulated) finds, in the
// same order; the best is the best of all; constraints and objectives behave.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <utility>

#include "sim/error.h"
#include "sweep/search.h"

namespace lcsim::sweep {
namespace {

const std::string kScenario = std::string(LCSIM_SOURCE_DIR) + "/tests/sweep/llama2-7b-16.yaml";

SearchSpace small_space() {
  SearchSpace s;
  s.tp = {1, 2, 4, 8};
  s.pp = {1, 2, 4};
  s.virtual_stages = {1, 2};
  s.micro_batch = {1, 2};
  s.recompute = {"none", "full"};
  s.distributed_optimizer = {false, true};
  return s;
}

std::string layout_of(const Candidate& c) {
  std::string out;
  for (const auto& [k, v] : c.layout) out += k + "=" + v + " ";
  return out;
}

// The pruned search ranks the same layouts, in the same order and with the same scores, as the exhaustive one.
void expect_same_ranking(const SearchResult& p, const SearchResult& e) {
  ASSERT_EQ(p.ranked.size(), e.ranked.size());
  for (size_t i = 0; i < p.ranked.size(); ++i) {
    EXPECT_EQ(layout_of(p.ranked[i]), layout_of(e.ranked[i])) << i;
    EXPECT_EQ(p.ranked[i].score, e.ranked[i].score) << i;
  }
}

// Searches the space twice, with pruning and with every candidate loaded and simulated.
std::pair<SearchResult, SearchResult> pruned_and_exhaustive(const std::string& scenario, const SearchSpace& space) {
  SearchOptions pruned;
  pruned.jobs = 2;
  SearchOptions exhaustive = pruned;
  exhaustive.prune = false;
  return {search(scenario, space, pruned), search(scenario, space, exhaustive)};
}

TEST(SweepSearch, PrunedSearchRanksExactlyWhatExhaustiveEnumerationFinds) {
  const auto [p, e] = pruned_and_exhaustive(kScenario, small_space());
  EXPECT_EQ(p.enumerated, 4u * 3 * 2 * 2 * 2 * 2);
  EXPECT_EQ(e.enumerated, p.enumerated);
  EXPECT_GT(p.pruned, 0u);        // e.g. pp 4 x vpp 2 ... with the batch; vpp without pp
  EXPECT_GT(p.does_not_fit, 0u);  // 7B without the distributed optimizer on few GPUs per replica
  EXPECT_EQ(e.pruned, 0u);
  ASSERT_FALSE(p.ranked.empty());
  expect_same_ranking(p, e);
  // The best is the best of every candidate the exhaustive run simulated.
  double best = 0;
  for (const auto& c : e.ranked) best = std::max(best, c.metric("tokens_per_s"));
  EXPECT_EQ(p.ranked.front().metric("tokens_per_s"), best);
  EXPECT_EQ(p.objective_metric, "tokens_per_s");
  // Everything the arithmetic pruned failed in the exhaustive run too (none of them was a working layout).
  EXPECT_EQ(p.pruned + p.does_not_fit + p.invalid + p.ranked.size(), p.enumerated);
  // Every ranked layout fits in memory.
  for (const auto& c : p.ranked) EXPECT_LE(c.metric("memory_per_gpu_bytes"), c.metric("memory_capacity_bytes"));
  const std::string text = format_search(p, 3);
  EXPECT_NE(text.find("why #1 wins over #2"), std::string::npos) << text;
}

TEST(SweepSearch, TimeObjectiveRanksByIterationTime) {
  SearchOptions o;
  o.objective = "time";
  o.jobs = 2;
  SearchSpace s = small_space();
  s.tp = {2, 4};
  s.pp = {1, 2};
  const SearchResult r = search(kScenario, s, o);
  ASSERT_GE(r.ranked.size(), 2u);
  EXPECT_EQ(r.objective_metric, "iteration_time_s");
  for (size_t i = 1; i < r.ranked.size(); ++i) EXPECT_LE(r.ranked[i - 1].score, r.ranked[i].score);
}

TEST(SweepSearch, BadRequestsAreInputErrors) {
  SearchOptions o;
  o.objective = "speed";
  EXPECT_THROW(search(kScenario, small_space(), o), InputError);
  SearchOptions d;
  d.deadline_days = 10;  // the scenario has no token budget
  SearchSpace s = small_space();
  s.tp = {8};
  s.pp = {1};
  EXPECT_THROW(search(kScenario, s, d), InputError);
  EXPECT_THROW(search(std::string(LCSIM_SOURCE_DIR) + "/tests/sweep/small.yaml", s, SearchOptions{}), InputError);
}

// The wider space: GPU counts, parts and expert parallelism (issue 15 item 5). The pruned search ranks exactly the
// layouts that loading and simulating every candidate finds; each new dimension is pruned where it must be (EP
// that does not divide the experts or DP x CP; no fit on the 80 GB part); the layout names the part, the GPU count
// and EP; and each ranked candidate's numbers are those of the scenario run directly with its overrides.
const std::string kMoe = std::string(LCSIM_SOURCE_DIR) + "/tests/sweep/moe-small.yaml";

SearchSpace wide_space() {
  SearchSpace s;
  s.parts = {"H100-SXM-80GB", "H200"};  // a prefix naming one part
  s.gpus = {8, 16};
  s.ep = {1, 2, 4, 8, 16, 3};  // 3 does not divide the 16 experts
  s.tp = {1, 2};
  s.pp = {1, 2};
  s.virtual_stages = {1};
  s.micro_batch = {1, 2};
  s.recompute = {"none"};
  s.distributed_optimizer = {false, true};
  return s;
}

TEST(SweepSearch, GpuCountsPartsAndExpertParallelismMatchExhaustiveEnumeration) {
  const auto [p, e] = pruned_and_exhaustive(kMoe, wide_space());
  EXPECT_EQ(p.enumerated, 2u * 2 * 6 * 2 * 2 * 2 * 2);
  ASSERT_FALSE(p.ranked.empty());
  expect_same_ranking(p, e);
  EXPECT_EQ(p.pruned + p.does_not_fit + p.invalid + p.ranked.size(), p.enumerated);
  // Each new rule pruned something, and memory pruned something on the 80 GB part only.
  size_t ep_experts = 0, ep_dp = 0, fit_h100 = 0, fit_h200 = 0;
  for (const auto& c : p.rejected) {
    if (c.reason == "ep does not divide the experts") ++ep_experts;
    if (c.reason == "ep does not divide dp x cp") ++ep_dp;
    if (c.status == "does-not-fit") (layout_of(c).find("part=H100-SXM-80GB") == 0 ? fit_h100 : fit_h200)++;
  }
  EXPECT_GT(ep_experts, 0u);
  EXPECT_GT(ep_dp, 0u);  // e.g. EP 16 on 8 GPUs
  EXPECT_GT(fit_h100, fit_h200);
  // The layout names every searched dimension; both parts, both GPU counts and several EP sizes rank.
  std::set<std::string> parts, gpus, eps;
  for (const auto& c : p.ranked) {
    for (const auto& [k, v] : c.layout) {
      if (k == "part") parts.insert(v);
      if (k == "gpus") gpus.insert(v);
      if (k == "ep") eps.insert(v);
    }
  }
  EXPECT_EQ(parts, (std::set<std::string>{"H100-SXM-80GB", "H200-SXM-141GB"}));
  EXPECT_EQ(gpus, (std::set<std::string>{"8", "16"}));
  EXPECT_GE(eps.size(), 3u);
  // 16 GPUs beat 8 on throughput (the same global batch, twice the GPUs).
  EXPECT_NE(layout_of(p.ranked.front()).find("gpus=16"), std::string::npos) << layout_of(p.ranked.front());
  // Cost ranks every candidate by its own cost_total.
  SearchOptions cost;
  cost.jobs = 2;
  cost.objective = "cost";
  const SearchResult c = search(kMoe, wide_space(), cost);
  ASSERT_EQ(c.ranked.size(), p.ranked.size());
  for (size_t i = 1; i < c.ranked.size(); ++i) EXPECT_LE(c.ranked[i - 1].score, c.ranked[i].score);
  EXPECT_EQ(c.ranked.front().score, c.ranked.front().metric("cost_total"));
}

TEST(SweepSearch, WiderSpaceBadRequestsAreInputErrors) {
  SearchSpace s = wide_space();
  s.gpus = {12};  // not a multiple of the 8 GPUs per node
  EXPECT_THROW(search(kMoe, s, SearchOptions{}), InputError);
  s = wide_space();
  s.parts = {"H1000"};
  EXPECT_THROW(search(kMoe, s, SearchOptions{}), InputError);
  // EP on a dense model is pruned (not an error): nothing with EP > 1 ranks.
  SearchSpace d = small_space();
  d.ep = {1, 2};
  d.tp = {8};
  d.pp = {1};
  const SearchResult r = search(kScenario, d, SearchOptions{});
  for (const auto& c : r.ranked) EXPECT_EQ(layout_of(c).find("ep=2"), std::string::npos);
  size_t dense = 0;
  for (const auto& c : r.rejected) dense += c.reason == "expert parallelism needs a mixture-of-experts model";
  EXPECT_GT(dense, 0u);
}

}  // namespace
}  // namespace lcsim::sweep
