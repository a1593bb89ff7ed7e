// lcsim search: pruning (arithmetic and memory fit) never drops a layout that would have worked, so the pruned
// search ranks exactly the layouts an exhaustive enumeration (every candidate loaded and simulated) finds, in the
// same order; the best is the best of all; constraints and objectives behave.
#include <gtest/gtest.h>

#include <cmath>

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

TEST(SweepSearch, PrunedSearchRanksExactlyWhatExhaustiveEnumerationFinds) {
  SearchOptions pruned;
  pruned.jobs = 2;
  SearchOptions exhaustive = pruned;
  exhaustive.prune = false;
  const SearchResult p = search(kScenario, small_space(), pruned);
  const SearchResult e = search(kScenario, small_space(), exhaustive);
  EXPECT_EQ(p.enumerated, 4u * 3 * 2 * 2 * 2 * 2);
  EXPECT_EQ(e.enumerated, p.enumerated);
  EXPECT_GT(p.pruned, 0u);        // e.g. pp 4 x vpp 2 ... with the batch; vpp without pp
  EXPECT_GT(p.does_not_fit, 0u);  // 7B without the distributed optimizer on few GPUs per replica
  EXPECT_EQ(e.pruned, 0u);
  ASSERT_FALSE(p.ranked.empty());
  ASSERT_EQ(p.ranked.size(), e.ranked.size());
  for (size_t i = 0; i < p.ranked.size(); ++i) {
    EXPECT_EQ(layout_of(p.ranked[i]), layout_of(e.ranked[i])) << i;
    EXPECT_EQ(p.ranked[i].score, e.ranked[i].score) << i;
  }
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

}  // namespace
}  // namespace lcsim::sweep
