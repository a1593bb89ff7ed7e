// The rendezvous workloads use for collectives and barriers: a group runs once, when its last member arrives,
// with what every member brought in arrival order; groups are independent; a closed key opens again; who is
// missing.
#include "workloads/rendezvous.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace lcsim::wl {
namespace {

using Collective = Rendezvous<std::pair<int, uint64_t>, std::string>;

std::vector<uint32_t> members_of(const Collective::Arrivals& a) {
  std::vector<uint32_t> out;
  for (const auto& x : a) out.push_back(x.member);
  return out;
}

TEST(Rendezvous, RunsOnceWhenTheLastMemberArrivesWithWhatEachBrought) {
  Collective r;
  int runs = 0;
  Collective::Arrivals got;
  auto done = [&](Collective::Arrivals a) {
    ++runs;
    got = std::move(a);
  };
  EXPECT_FALSE(r.arrive({0, 0}, 2, "from 2", 3, done));
  EXPECT_FALSE(r.arrive({0, 0}, 0, "from 0", 3, done));
  EXPECT_EQ(runs, 0) << "ran before every member arrived";
  EXPECT_EQ(r.arrived({0, 0}), 2u);
  EXPECT_EQ(r.open_groups(), 1u);
  EXPECT_TRUE(r.arrive({0, 0}, 1, "from 1", 3, done));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(members_of(got), (std::vector<uint32_t>{2, 0, 1})) << "arrivals are kept in arrival order";
  EXPECT_EQ(got[0].value, "from 2");
  EXPECT_EQ(got[1].value, "from 0");
  EXPECT_EQ(got[2].value, "from 1");
  EXPECT_EQ(r.open_groups(), 0u) << "a closed group is forgotten";
  EXPECT_EQ(r.arrived({0, 0}), 0u);
}

TEST(Rendezvous, GroupsAreIndependentAndAKeyOpensAgainAfterClosing) {
  Collective r;
  std::vector<std::pair<int, uint64_t>> closed;
  auto closer = [&](std::pair<int, uint64_t> key) {
    return [&closed, key](Collective::Arrivals) { closed.push_back(key); };
  };
  // Two communicators, interleaved; then the first one's next collective under the same key.
  r.arrive({0, 0}, 0, "", 2, closer({0, 0}));
  r.arrive({1, 0}, 5, "", 2, closer({1, 0}));
  r.arrive({1, 0}, 6, "", 2, closer({1, 0}));
  EXPECT_EQ(closed, (std::vector<std::pair<int, uint64_t>>{{1, 0}}));
  r.arrive({0, 0}, 1, "", 2, closer({0, 0}));
  r.arrive({0, 0}, 1, "", 2, closer({0, 0}));  // member 1's next call, under a key that closed: a new group
  EXPECT_EQ(closed.size(), 2u);
  EXPECT_EQ(r.arrived({0, 0}), 1u);
  r.arrive({0, 0}, 0, "", 2, closer({0, 0}));
  EXPECT_EQ(closed, (std::vector<std::pair<int, uint64_t>>{{1, 0}, {0, 0}, {0, 0}}));
}

TEST(Rendezvous, AGroupOfOneRunsAtOnce) {
  Rendezvous<int> r;
  bool ran = false;
  EXPECT_TRUE(r.arrive(7, 3, {}, 1, [&](Rendezvous<int>::Arrivals a) {
    ran = true;
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].member, 3u);
  }));
  EXPECT_TRUE(ran);
  EXPECT_EQ(r.open_groups(), 0u);
}

TEST(Rendezvous, TheCallbackMayArriveAgainUnderTheSameKey) {
  // A collective that completes at once lets its ranks issue the next one from inside the callback.
  Rendezvous<int> r;
  int runs = 0;
  std::function<void(Rendezvous<int>::Arrivals)> again = [&](Rendezvous<int>::Arrivals) {
    if (++runs < 3) r.arrive(0, 0, {}, 1, again);
  };
  r.arrive(0, 0, {}, 1, again);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(r.open_groups(), 0u);
}

TEST(Rendezvous, MoveOnlyValuesAreHandedOver) {
  Rendezvous<int, std::unique_ptr<int>> r;
  int sum = 0;
  auto add = [&](Rendezvous<int, std::unique_ptr<int>>::Arrivals a) {
    for (const auto& x : a) sum += *x.value;
  };
  r.arrive(0, 0, std::make_unique<int>(40), 2, add);
  r.arrive(0, 1, std::make_unique<int>(2), 2, add);
  EXPECT_EQ(sum, 42);
}

TEST(Rendezvous, SaysWhoIsMissingInTheGroupsOrder) {
  Collective r;
  const std::vector<uint32_t> group = {4, 8, 15, 16, 23, 42};
  auto never = [](Collective::Arrivals) { FAIL() << "the group is not complete"; };
  EXPECT_EQ(r.missing({0, 0}, group), group) << "nobody has arrived at a group that is not open";
  r.arrive({0, 0}, 23, "", group.size(), never);
  r.arrive({0, 0}, 4, "", group.size(), never);
  r.arrive({0, 0}, 16, "", group.size(), never);
  EXPECT_EQ(r.missing({0, 0}, group), (std::vector<uint32_t>{8, 15, 42}));
  EXPECT_EQ(r.missing({0, 1}, group), group) << "another key is another group";
  r.clear();
  EXPECT_EQ(r.open_groups(), 0u);
  EXPECT_EQ(r.missing({0, 0}, group), group) << "clear() forgets what arrived";
}

TEST(Rendezvous, MemberListNamesTheFirstFewAndCountsTheRest) {
  EXPECT_EQ(member_list({}), "");
  EXPECT_EQ(member_list({3}), "3");
  EXPECT_EQ(member_list({3, 5, 9}), "3, 5, 9");
  EXPECT_EQ(member_list({0, 1, 2, 3, 4, 5, 6, 7}), "0, 1, 2, 3, 4, 5, 6, 7");
  EXPECT_EQ(member_list({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), "0, 1, 2, 3, 4, 5, 6, 7 and 2 more");
  EXPECT_EQ(member_list({9, 8, 7}, 2), "9, 8 and 1 more");
}

}  // namespace
}  // namespace lcsim::wl
