// The engine on both backends (queue: lcsim's own; simgrid): event order, activity completion, max-min sharing (a
// shared link never carries more than its capacity, which SimGrid's default Lazy update broke: docs/architecture.md),
// handles and cancellation, and resources that fail, recover and change capacity while activities run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sim/engine.h"
#include "sim/flow_copies.h"

namespace lcsim::sim {
namespace {

// Each test runs in its own process (gtest_discover_tests), so each may create its one SimGrid engine.
class Backend : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Engine> owner_ = make_engine(GetParam());
};

TEST_P(Backend, SameTimeEventsRunByPriorityThenInsertionOrder) {
  Engine& e = *owner_;
  std::vector<std::string> log;
  e.at(Duration::seconds(2), [&] { log.push_back("t2"); });
  e.at(Duration::seconds(1), [&] { log.push_back("t1 default a"); });
  e.at(Duration::seconds(1), [&] { log.push_back("t1 late"); }, kLate);
  e.at(Duration::seconds(1), [&] { log.push_back("t1 default b"); });
  e.at(Duration::seconds(1), [&] {
    log.push_back("t1 completion");
    // Scheduled from inside an event, at the same time: runs in this same instant, after the queued ones of
    // equal or lower priority value that were already there.
    e.after(Duration(), [&] { log.push_back("t1 nested"); });
  }, kCompletion);
  e.run(Duration::seconds(1e9));
  EXPECT_EQ(log, (std::vector<std::string>{"t1 completion", "t1 default a", "t1 default b", "t1 nested", "t1 late",
                                           "t2"}));
  EXPECT_DOUBLE_EQ(e.last_event_time().s(), 2.0);
  EXPECT_EQ(e.events_processed(), 6u);
}

// Engine::post: a typed event takes its place in the same (time, priority, sequence) order as at()'s callbacks,
// counts as an event, keeps the owner it was scheduled under, and a cancelled one calls cancelled(tag), never fire.
struct LogSink final : EventSink {
  std::vector<std::string>* log;
  Engine* engine;
  explicit LogSink(std::vector<std::string>* l, Engine* e) : log(l), engine(e) {}
  void fire(uint64_t tag) override { log->push_back("fire " + std::to_string(tag) + " owner " + std::to_string(engine->owner())); }
  void cancelled(uint64_t tag) override { log->push_back("cancelled " + std::to_string(tag)); }
};

/// Posts typed events beside callbacks (one cancelled by its handle, one with its owner), runs, returns the log.
std::vector<std::string> posted_log(Engine& e) {
  std::vector<std::string> log;
  LogSink sink(&log, &e);
  e.at(Duration::seconds(1), [&] { log.push_back("cb a"); });
  e.post(Duration::seconds(1), &sink, 1);
  e.at(Duration::seconds(1), [&] { log.push_back("cb b"); });
  e.post(Duration::seconds(1), &sink, 2, kCompletion);
  e.post(Duration::seconds(1), &sink, 3, kLate);
  e.as_owner(7, [&] { e.post(Duration::seconds(0.5), &sink, 4); });
  const Handle gone = e.post(Duration::seconds(0.75), &sink, 5);
  EXPECT_TRUE(gone.pending());
  gone.cancel();
  EXPECT_FALSE(gone.pending());
  e.as_owner(9, [&] { e.post(Duration::seconds(3), &sink, 6); });
  EXPECT_EQ(e.cancel_owned(9), 1u);
  e.run(Duration::seconds(1e9));
  EXPECT_EQ(e.events_processed(), 6u);
  EXPECT_EQ(e.activities_cancelled(), 2u);
  EXPECT_EQ(e.events_pending(), 0u);
  return log;
}

const std::vector<std::string> kPostedOrder = {"cancelled 5", "cancelled 6", "fire 4 owner 7", "fire 2 owner 0",
                                               "cb a", "fire 1 owner 0", "cb b", "fire 3 owner 0"};

TEST_P(Backend, PostedEventsRunInTheSameOrderAsCallbacks) { EXPECT_EQ(posted_log(*owner_), kPostedOrder); }

// The check switch (Engine::set_typed_events(false)): the same posts as callbacks through at() and on_cancel().
TEST_P(Backend, PostedEventsAsCallbacksGiveTheSameLog) {
  Engine::set_typed_events(false);
  const std::vector<std::string> log = posted_log(*owner_);
  Engine::set_typed_events(true);
  EXPECT_EQ(log, kPostedOrder);
}

// on_cancel() is honoured for a posted event as for a callback: the sink's cancelled(tag) runs first, then the
// cleanup; a second cleanup given for one handle runs after the first; an event that runs runs none of them, and a
// cleanup given after the end is dropped. (Before 3 Dec 2026 a posted event's cleanup was silently ignored.)
std::vector<std::string> cancel_cleanup_log(Engine& e) {
  std::vector<std::string> log;
  LogSink sink(&log, &e);
  const Handle posted = e.post(Duration::seconds(1), &sink, 1);
  e.on_cancel(posted, [&] { log.push_back("cleanup 1"); });
  e.on_cancel(posted, [&] { log.push_back("cleanup 1 again"); });
  const Handle timer = e.at(Duration::seconds(1), [&] { log.push_back("cb"); });
  e.on_cancel(timer, [&] { log.push_back("cleanup timer"); });
  e.on_cancel(timer, [&] { log.push_back("cleanup timer again"); });
  const Handle runs = e.post(Duration::seconds(2), &sink, 2);
  e.on_cancel(runs, [&] { log.push_back("cleanup 2"); });
  e.as_owner(5, [&] {
    const Handle owned = e.post(Duration::seconds(3), &sink, 3);
    e.on_cancel(owned, [&] { log.push_back("cleanup 3"); });
  });
  e.at(Duration::seconds(0.5), [&] {
    posted.cancel();
    timer.cancel();
    EXPECT_EQ(e.cancel_owned(5), 1u);
    posted.cancel();  // no longer pending: nothing runs again
    e.on_cancel(posted, [&] { log.push_back("too late"); });
  });
  e.run(Duration::seconds(1e9));
  EXPECT_EQ(e.events_processed(), 2u);  // the canceller and post 2
  EXPECT_EQ(e.activities_cancelled(), 3u);
  EXPECT_EQ(e.events_pending(), 0u);
  return log;
}

const std::vector<std::string> kCancelCleanupOrder = {"cancelled 1",   "cleanup 1",  "cleanup 1 again",
                                                      "cleanup timer", "cleanup timer again",
                                                      "cancelled 3",   "cleanup 3",  "fire 2 owner 0"};

TEST_P(Backend, CancellingAPostedEventRunsItsSinkThenItsCleanups) {
  EXPECT_EQ(cancel_cleanup_log(*owner_), kCancelCleanupOrder);
}

TEST_P(Backend, CancellingAPostedEventAsCallbacksRunsTheSame) {
  Engine::set_typed_events(false);
  const std::vector<std::string> log = cancel_cleanup_log(*owner_);
  Engine::set_typed_events(true);
  EXPECT_EQ(log, kCancelCleanupOrder);
}

TEST_P(Backend, HorizonStopsTheRun) {
  Engine& e = *owner_;
  int ran = 0;
  e.at(Duration::seconds(1), [&] { ++ran; });
  e.at(Duration::seconds(5), [&] { ++ran; });
  e.run(Duration::seconds(3));
  EXPECT_EQ(ran, 1);
}

TEST_P(Backend, ExecTakesWorkOverSpeedAndSharesAHost) {
  Engine& e = *owner_;
  const HostId h = e.add_host("cpu", FlopRate::tflops(100));
  double alone = -1, a = -1, b = -1;
  e.exec(h, Flops::of(100e12), [&] {
    alone = e.now().s();
    // Two execs on one host share its speed: each runs at half rate.
    e.exec(h, Flops::of(100e12), [&] { a = e.now().s(); });
    e.exec(h, Flops::of(100e12), [&] { b = e.now().s(); });
  });
  e.run(Duration::seconds(1e9));
  EXPECT_NEAR(alone, 1.0, 1e-9);
  EXPECT_NEAR(a, 3.0, 1e-9);
  EXPECT_NEAR(b, 3.0, 1e-9);
}

TEST_P(Backend, ComputeIsAKernelOfKnownDurationScaledBySpeedFactor) {
  Engine& e = *owner_;
  const HostId h = e.add_host("gpu", FlopRate::tflops(100));
  double first = -1, slowed = -1;
  e.compute(h, Duration::ms(2), [&] {
    first = e.now().s();
    e.set_speed_factor(h, 0.5);  // a straggler from now on
    e.compute(h, Duration::ms(2), [&] { slowed = e.now().s(); });
  });
  e.run(Duration::seconds(1e9));
  EXPECT_DOUBLE_EQ(first, 0.002);
  EXPECT_DOUBLE_EQ(slowed, 0.006);
}

TEST_P(Backend, FlowTimeIsLatencyPlusSizeOverBandwidth) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l1 = e.add_link("l1", Bandwidth::gbytes_per_s(50), Duration::us(1));
  const LinkId l2 = e.add_link("l2", Bandwidth::gbytes_per_s(100), Duration::us(2));
  double done = -1;
  e.flow(a, b, Bytes::gb(1), {l1, l2}, [&] { done = e.now().s(); });
  e.run(Duration::seconds(1e9));
  EXPECT_NEAR(done, 3e-6 + 1e9 / 50e9, 1e-9);  // no TCP-gamma cap, no hidden latency/bandwidth factors
}

// SimGrid's CM02 (network/weight-S 0) gives a flow the sharing penalty of its route latency, so flows sharing a
// bottleneck get shares in inverse proportion to their latencies (RTT-fair), not equal ones; the queue backend does
// the same. Link A (100 GB/s, 1 us) under F1 = {A, B1 (1 us)} (L = 2 us) and F2 = {A, B2 (3 us)} (L = 4 us), 1 GB
// each. By hand: F1 joins at 2 us and has A alone until F2 joins at 4 us (0.2 MB moved); then F1 gets
// 100 x (1/2) / (1/2 + 1/4) = 66.7 GB/s and F2 33.3: F1's last 1e9 - 2e5 B take 15 ms - 3 us, so it ends at
// 15.001 ms; F2 has moved 0.5 GB - 0.1 MB by then and moves the rest alone: 5 ms + 1 us more, ending at 20.002 ms.
TEST_P(Backend, SharesGoInverselyWithRouteLatency) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId shared = e.add_link("A", Bandwidth::gbytes_per_s(100), Duration::us(1));
  const LinkId b1 = e.add_link("B1", Bandwidth::gbytes_per_s(1000), Duration::us(1));
  const LinkId b2 = e.add_link("B2", Bandwidth::gbytes_per_s(1000), Duration::us(3));
  double end1 = -1, end2 = -1, usage_b1 = -1, usage_b2 = -1;
  e.flow(a, b, Bytes::gb(1), {shared, b1}, [&] { end1 = e.now().s(); });
  e.flow(a, b, Bytes::gb(1), {shared, b2}, [&] { end2 = e.now().s(); });
  e.at(Duration::ms(1), [&] {
    usage_b1 = e.link_usage(b1).bps();
    usage_b2 = e.link_usage(b2).bps();
  });
  e.run(Duration::seconds(1e9));
  EXPECT_NEAR(end1, 0.015001, 1e-9);
  EXPECT_NEAR(end2, 0.020002, 1e-9);
  EXPECT_NEAR(usage_b1, 100e9 * 2 / 3, 1e3);
  EXPECT_NEAR(usage_b2, 100e9 / 3, 1e3);
}

// The pattern that breaks SimGrid's default Lazy update (simgrid-notes p3c): several flows start together and
// share a first link, then split over two second links. With network/optim:Full the shared link is never
// over-allocated and every flow ends when max-min says.
TEST_P(Backend, SharedLinkNeverCarriesMoreThanItsCapacity) {
  Engine& e = *owner_;
  const Bandwidth cap = Bandwidth::gbytes_per_s(50);
  std::vector<HostId> src, dst;
  for (int i = 0; i < 8; ++i) {
    src.push_back(e.add_host("s" + std::to_string(i), FlopRate::tflops(1)));
    dst.push_back(e.add_host("d" + std::to_string(i), FlopRate::tflops(1)));
  }
  const HostId g = e.add_host("g", FlopRate::tflops(1)), h = e.add_host("h", FlopRate::tflops(1));
  const LinkId x = e.add_link("X", cap, Duration::us(1)), y = e.add_link("Y", cap, Duration::us(1));
  std::vector<LinkId> up, down;
  for (int i = 0; i < 10; ++i) {
    up.push_back(e.add_link("up" + std::to_string(i), cap, Duration::us(1)));
    down.push_back(e.add_link("down" + std::to_string(i), cap, Duration::us(1)));
  }
  std::vector<double> end(9, -1);
  // Background: g -> h over Y, 2 GB.
  e.flow(g, h, Bytes::gb(2), {up[8], y, down[8]}, [&] { end[8] = e.now().s(); });
  // Four senders each send 0.5 GB over X and 0.5 GB over Y, both through their own uplink.
  for (int i = 0; i < 4; ++i) {
    e.flow(src[i], dst[i], Bytes::gb(0.5), {up[i], x, down[i]}, [&, i] { end[i] = e.now().s(); });
    e.flow(src[i], dst[4 + i], Bytes::gb(0.5), {up[i], y, down[4 + i]}, [&, i] { end[4 + i] = e.now().s(); });
  }
  e.run(Duration::seconds(1e9));
  // Max-min by hand: Y carries 5 flows, so each gets 10 GB/s; X carries 4 flows, 12.5 GB/s each (each
  // sender's uplink then carries 22.5 of its 50 GB/s). X flows end at 0.5 GB / 12.5 GB/s = 40 ms, Y flows at
  // 0.5 GB / 10 GB/s = 50 ms. (Lazy update ends the Y flows at 12.5 ms: Y carried 160 GB/s.)
  const double lat = 3e-6;
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(end[i], lat + 0.040, 1e-6) << "X flow " << i;
    EXPECT_NEAR(end[4 + i], lat + 0.050, 1e-6) << "Y flow " << i;
  }
  // Everything Y carried (4 x 0.5 + 2 GB) cannot cross a 50 GB/s link in under 80 ms.
  EXPECT_GE(end[8], 4e9 / 50e9);
  // The background flow: 10 GB/s until 50 ms (0.5 GB), then alone on Y at 50 GB/s for the remaining 1.5 GB.
  EXPECT_NEAR(end[8], 0.050 + 1.5e9 / 50e9 + lat, 1e-6);
}

// k identical flows run as one weighted flow (sim/flow_copies.h): it must share like k separate flows. Three
// copies of 1 GB over {U, X} and a 2 GB background flow over {W, X}, all with the same path latency: X (50 GB/s)
// is everyone's bottleneck, so max-min gives each of the 4 flows 12.5 GB/s. The copies end together at
// 1 GB / 12.5 GB/s = 80 ms; the background then has X alone for its last 1 GB, 20 ms more. (One unweighted
// flow instead of three would get 25 GB/s and end at 40 ms.)
TEST_P(Backend, IdenticalFlowsRunAsOneWeightedFlowShareLikeSeparateOnes) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const HostId c = e.add_host("c", FlopRate::tflops(1)), d = e.add_host("d", FlopRate::tflops(1));
  const LinkId x = e.add_link("X", Bandwidth::gbytes_per_s(50), Duration::us(1));
  const LinkId u = e.add_link("U", Bandwidth::gbytes_per_s(60), Duration::us(1));
  const LinkId w = e.add_link("W", Bandwidth::gbytes_per_s(1000), Duration::us(1));
  int copies_done = 0;
  double copies_end = -1, background_end = -1, x_usage = -1, u_usage = -1;
  flow_copies(e, a, b, Bytes::gb(1), {u, x}, 3, [&] {
    ++copies_done;
    copies_end = e.now().s();
  });
  e.flow(c, d, Bytes::gb(2), {w, x}, [&] { background_end = e.now().s(); });
  e.at(Duration::ms(10), [&] {
    x_usage = e.link_usage(x).bps();
    u_usage = e.link_usage(u).bps();
  });
  e.run(Duration::seconds(1e9));
  const double lat = 2e-6;
  EXPECT_EQ(copies_done, 1);
  EXPECT_NEAR(copies_end, lat + 0.080, 1e-9);
  EXPECT_NEAR(background_end, lat + 0.100, 1e-9);
  EXPECT_NEAR(x_usage, 50e9, 1e3);    // full, never more
  EXPECT_NEAR(u_usage, 37.5e9, 1e3);  // the three copies' 3 x 12.5 GB/s
}

// A sprayed flow (Engine::flow_spread): two paths {N, S1} and {N, S2} from one NIC link N (100 GB/s) over two
// spines S1, S2 (50 GB/s each); S1 also carries a 2 GB background flow (over {W, S1}), and a third flow T of 1 GB
// uses N alone (over {N, V}). All paths have two links of 1 us. Max-min by hand, with the sprayed flow's paths at
// one rate r (it consumes r on each spine and 2r on N):
//   S1: r + background <= 50, two users -> 25 each;  N: 2r + T <= 100, three units -> 33.3;  S2: r <= 50.
//   The tightest is S1: r = 25 and the background 25; N has 100 - 50 = 50 left for T, whose only other link is V.
// So each path moves 25 GB/s (50 GB/s in all) and its 0.5 GB arrives after 20 ms; T (1 GB at 50 GB/s) ends at
// 20 ms too; the background moved 0.5 GB by then and has S1 alone for its last 1.5 GB (30 ms more).
// (As two independent sub-flows the unloaded path would get 37.5 GB/s, sharing N's 75 GB/s left with T, and end
// at 13.3 ms, which packets sprayed evenly cannot do; T would get 37.5 GB/s until then.)
// The rig above: `spray(a, b, n, s1, s2, done)` starts the sprayed flow; returns what the test checks.
struct SprayRig {
  int spray_done = 0;
  double spray_end = -1, background_end = -1, t_end = -1, n_usage = -1, s1_usage = -1, s2_usage = -1;
};
SprayRig run_spray_rig(Engine& e, const std::function<void(HostId, HostId, LinkId, LinkId, LinkId, Callback)>& spray) {
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const HostId c = e.add_host("c", FlopRate::tflops(1)), d = e.add_host("d", FlopRate::tflops(1));
  const HostId t1 = e.add_host("t1", FlopRate::tflops(1)), t2 = e.add_host("t2", FlopRate::tflops(1));
  const LinkId n = e.add_link("N", Bandwidth::gbytes_per_s(100), Duration::us(1));
  const LinkId s1 = e.add_link("S1", Bandwidth::gbytes_per_s(50), Duration::us(1));
  const LinkId s2 = e.add_link("S2", Bandwidth::gbytes_per_s(50), Duration::us(1));
  const LinkId w = e.add_link("W", Bandwidth::gbytes_per_s(1000), Duration::us(1));
  const LinkId v = e.add_link("V", Bandwidth::gbytes_per_s(1000), Duration::us(1));
  SprayRig r;
  spray(a, b, n, s1, s2, [&] {
    ++r.spray_done;
    r.spray_end = e.now().s();
  });
  e.flow(c, d, Bytes::gb(2), {w, s1}, [&] { r.background_end = e.now().s(); });
  e.flow(t1, t2, Bytes::gb(1), {n, v}, [&] { r.t_end = e.now().s(); });
  e.at(Duration::ms(10), [&] {
    r.n_usage = e.link_usage(n).bps();
    r.s1_usage = e.link_usage(s1).bps();
    r.s2_usage = e.link_usage(s2).bps();
  });
  e.run(Duration::seconds(1e9));
  return r;
}

void expect_spray_rig_by_hand(const SprayRig& r) {
  const double lat = 2e-6;
  EXPECT_EQ(r.spray_done, 1);
  EXPECT_NEAR(r.spray_end, lat + 0.020, 1e-9);
  EXPECT_NEAR(r.t_end, lat + 0.020, 1e-9);
  EXPECT_NEAR(r.background_end, lat + 0.050, 1e-9);
  EXPECT_NEAR(r.n_usage, 100e9, 1e3);  // 2 x 25 for the sprayed flow, 50 for T: full, never more
  EXPECT_NEAR(r.s1_usage, 50e9, 1e3);
  EXPECT_NEAR(r.s2_usage, 25e9, 1e3);  // the unloaded spine moves at the loaded one's rate
}

TEST_P(Backend, SprayedFlowMovesAllItsPathsAtTheMostLoadedPathsRate) {
  Engine& e = *owner_;
  expect_spray_rig_by_hand(run_spray_rig(e, [&](HostId a, HostId b, LinkId n, LinkId s1, LinkId s2, Callback done) {
    e.flow_spread(a, b, Bytes::gb(0.5), {{n, s1}, {n, s2}}, std::move(done));
  }));
}

// Where its paths are equally loaded, a sprayed flow is exactly its sub-flows. Per copy of a small fabric: N
// (80 GB/s) below two spines S1, S2 (50 GB/s), each spine also carrying a 1 GB side flow (over their own link W).
// On one copy a flow is sprayed over {N, S1}, {N, S2}; on the other its two shares run as separate flows. By hand:
// each spine has two users (25 GB/s each), N 2 x 25 <= 80, so every share moves 25 GB/s: 0.5 GB in 20 ms; the side
// flows then have their spines alone for their last 0.5 GB (10 ms more).
TEST_P(Backend, SprayedFlowOverEquallyLoadedPathsEqualsItsSubFlows) {
  Engine& e = *owner_;
  std::vector<HostId> h;
  for (int i = 0; i < 12; ++i) h.push_back(e.add_host("h" + std::to_string(i), FlopRate::tflops(1)));
  std::vector<LinkId> l;  // per copy: N, S1, S2, W
  for (int i = 0; i < 8; ++i) {
    const double gbps = i % 4 == 0 ? 80 : i % 4 == 3 ? 1000 : 50;
    l.push_back(e.add_link("l" + std::to_string(i), Bandwidth::gbytes_per_s(gbps), Duration::us(1)));
  }
  std::vector<double> end(8, -1);
  auto at_end = [&](int i) { return [&, i] { end[i] = e.now().s(); }; };
  e.flow_spread(h[0], h[1], Bytes::gb(0.5), {{l[0], l[1]}, {l[0], l[2]}}, at_end(0));
  e.flow(h[2], h[3], Bytes::gb(1), {l[3], l[1]}, at_end(1));
  e.flow(h[4], h[5], Bytes::gb(1), {l[3], l[2]}, at_end(2));
  e.flow(h[6], h[7], Bytes::gb(0.5), {l[4], l[5]}, at_end(3));
  e.flow(h[6], h[7], Bytes::gb(0.5), {l[4], l[6]}, at_end(4));
  e.flow(h[8], h[9], Bytes::gb(1), {l[7], l[5]}, at_end(5));
  e.flow(h[10], h[11], Bytes::gb(1), {l[7], l[6]}, at_end(6));
  e.run(Duration::seconds(1e9));
  const double lat = 2e-6;
  EXPECT_NEAR(end[0], lat + 0.020, 1e-9);
  EXPECT_DOUBLE_EQ(end[0], end[3]);
  EXPECT_DOUBLE_EQ(end[0], end[4]);
  for (int i : {1, 2, 5, 6}) EXPECT_NEAR(end[i], lat + 0.030, 1e-9) << "side flow " << i;
  EXPECT_DOUBLE_EQ(end[1], end[5]);
}

// A sprayed flow given by its links and how many of its paths cross each (the weighted flow_spread) is the same
// activity as listing every path. The fabric of SprayedFlowMovesAllItsPathsAtTheMostLoadedPathsRate, with the
// sprayed flow as {N x 2, S1 x 1, S2 x 1} and its latency one path's (2 us): the same numbers by hand.
TEST_P(Backend, WeightedSprayedFlowEqualsItsListedPaths) {
  Engine& e = *owner_;
  expect_spray_rig_by_hand(run_spray_rig(e, [&](HostId a, HostId b, LinkId n, LinkId s1, LinkId s2, Callback done) {
    e.flow_spread(a, b, Bytes::gb(0.5), {n, s1, s2}, {2, 1, 1}, Duration::us(2), std::move(done));
  }));
}

// A link counted k times takes k shares of it. One link A (100 GB/s, 1 us) carries a flow W counted 3 times there
// (1 GB "per path") and a plain flow P of 2 GB. By hand: W's rate r counts 3r on A, so the fair share is
// 100 / (3 + 1) = 25 GB/s each (W uses 75 of A): W ends after 40 ms; P has moved 1 GB by then and moves its last GB
// alone at 100 GB/s (10 ms more). Listing A three times (flow_spread over {A}, {A}, {A}) gives the same.
struct ThreeShares {
  double w_end = -1, p_end = -1, usage = -1;
};
ThreeShares three_shares(Engine& e, bool weighted) {
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId link = e.add_link("A", Bandwidth::gbytes_per_s(100), Duration::us(1));
  ThreeShares r;
  auto w_done = [&] { r.w_end = e.now().s(); };
  if (weighted) {
    e.flow_spread(a, b, Bytes::gb(1), {link}, {3}, Duration::us(1), w_done);
  } else {
    e.flow_spread(a, b, Bytes::gb(1), {{link}, {link}, {link}}, w_done);
  }
  e.flow(a, b, Bytes::gb(2), {link}, [&] { r.p_end = e.now().s(); });
  e.at(Duration::ms(10), [&] { r.usage = e.link_usage(link).bps(); });
  e.run(Duration::seconds(1e9));
  return r;
}

TEST_P(Backend, LinkCountedThreeTimesTakesThreeShares) {
  const ThreeShares r = three_shares(*owner_, true);
  EXPECT_NEAR(r.w_end, 1e-6 + 0.040, 1e-9);
  EXPECT_NEAR(r.p_end, 1e-6 + 0.050, 1e-9);
  EXPECT_NEAR(r.usage, 100e9, 1e3);
}

TEST_P(Backend, LinkListedThreeTimesTakesThreeShares) {
  const ThreeShares r = three_shares(*owner_, false);
  EXPECT_NEAR(r.w_end, 1e-6 + 0.040, 1e-9);
  EXPECT_NEAR(r.p_end, 1e-6 + 0.050, 1e-9);
  EXPECT_NEAR(r.usage, 100e9, 1e3);
}

// The simgrid backend sets SimGrid's element weights itself (sim/simgrid_engine.cc, ElementWeights); with
// LCSIM_SIMGRID_LIST_CROSSINGS it lists each link k times instead and SimGrid sums them: the same answer.
TEST(Engine, SimGridListingCrossingsGivesTheSameShares) {
  setenv("LCSIM_SIMGRID_LIST_CROSSINGS", "1", 1);
  auto e = make_engine("simgrid");
  const ThreeShares r = three_shares(*e, true);
  unsetenv("LCSIM_SIMGRID_LIST_CROSSINGS");
  EXPECT_NEAR(r.w_end, 1e-6 + 0.040, 1e-9);
  EXPECT_NEAR(r.p_end, 1e-6 + 0.050, 1e-9);
  EXPECT_NEAR(r.usage, 100e9, 1e3);
}

TEST(Engine, OnlyOneSimGridEnginePerProcess) {
  auto first = make_engine("simgrid");
  EXPECT_THROW(make_engine("simgrid"), std::logic_error);
}

TEST(Engine, UnknownBackendIsRefused) { EXPECT_THROW(make_engine("simgird"), std::invalid_argument); }

TEST_P(Backend, CancelledTimerNeverRuns) {
  Engine& e = *owner_;
  std::vector<std::string> log;
  Handle a = e.at(Duration::seconds(1), [&] { log.push_back("a"); });
  Handle b = e.at(Duration::seconds(2), [&] { log.push_back("b"); });
  EXPECT_TRUE(a.pending());
  EXPECT_TRUE(b.pending());
  EXPECT_FALSE(Handle().pending());
  e.at(Duration::seconds(1.5), [&] {
    log.push_back("cancel b");
    b.cancel();
    b.cancel();  // twice: no effect
  });
  e.run(Duration::seconds(10));
  EXPECT_EQ(log, (std::vector<std::string>{"a", "cancel b"}));
  EXPECT_FALSE(a.pending());
  EXPECT_FALSE(b.pending());
  EXPECT_EQ(e.events_pending(), 0u);
  EXPECT_DOUBLE_EQ(e.last_event_time().s(), 1.5);
  a.cancel();  // after it ran (and its slot may be reused): no effect on anything else
}

TEST_P(Backend, StaleHandleDoesNotCancelTheSlotsNextUser) {
  Engine& e = *owner_;
  int ran = 0;
  Handle first = e.after(Duration::seconds(1), [&] { ++ran; });
  e.run(Duration::seconds(2));
  Handle second = e.after(Duration::seconds(1), [&] { ++ran; });  // may reuse first's slot
  first.cancel();
  EXPECT_TRUE(second.pending());
  e.run(Duration::seconds(5));
  EXPECT_EQ(ran, 2);
}

TEST_P(Backend, CancelledComputeAndFlowNeverReportAndFreeTheirResources) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l = e.add_link("l", Bandwidth::gbytes_per_s(10), Duration());
  int reported = 0;
  double other_done = -1;
  Handle c = e.compute(a, Duration::ms(5), [&] { ++reported; }, [&] { ++reported; });
  Handle f = e.flow(a, b, Bytes::gb(1), {l}, [&] { ++reported; }, [&] { ++reported; });
  // A second flow shares the link with f (5 GB/s each) until f is cancelled at 50 ms, then has it alone.
  e.flow(b, a, Bytes::gb(1), {l}, [&] { other_done = e.now().s(); });
  e.at(Duration::ms(50), [&] {
    EXPECT_TRUE(f.pending());
    c.cancel();
    f.cancel();
  });
  e.at(Duration::ms(1), [&] { c.cancel(); });
  e.run(Duration::seconds(10));
  EXPECT_EQ(reported, 0);
  EXPECT_FALSE(c.pending());
  EXPECT_FALSE(f.pending());
  EXPECT_EQ(e.activities_cancelled() >= 2, true);
  // 0.25 GB in the first 50 ms at 5 GB/s, the remaining 0.75 GB at 10 GB/s: 125 ms.
  EXPECT_NEAR(other_done, 0.050 + 0.075, 1e-6);
}

TEST_P(Backend, ComputeInFlightSeesASpeedChange) {
  Engine& e = *owner_;
  const HostId h = e.add_host("gpu", FlopRate::tflops(100));
  double done = -1;
  e.compute(h, Duration::ms(10), [&] { done = e.now().s(); });
  e.at(Duration::ms(4), [&] { e.set_speed_factor(h, 0.5); });  // 6 ms of work left, at half speed: 12 ms
  e.run(Duration::seconds(1));
  EXPECT_NEAR(done, 0.016, 1e-12);
}

TEST_P(Backend, LinkFailureFailsTheFlowsCrossingItAndNewOnesOverIt) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l1 = e.add_link("l1", Bandwidth::gbytes_per_s(10), Duration::us(1));
  const LinkId l2 = e.add_link("l2", Bandwidth::gbytes_per_s(10), Duration::us(1));
  double failed_at = -1, other_done = -1, late_failed = -1, after_repair = -1;
  bool wrongly_done = false;
  e.flow(a, b, Bytes::gb(1), {l1}, [&] { wrongly_done = true; }, [&] { failed_at = e.now().s(); });
  e.flow(a, b, Bytes::gb(0.5), {l2}, [&] { other_done = e.now().s(); });
  e.at(Duration::ms(20), [&] {
    e.set_link_on(l1, false);
    EXPECT_FALSE(e.link_on(l1));
  });
  e.at(Duration::ms(30), [&] {
    e.flow(a, b, Bytes::gb(1), {l1}, [&] { wrongly_done = true; }, [&] { late_failed = e.now().s(); });
  });
  e.at(Duration::ms(40), [&] {
    e.set_link_on(l1, true);
    e.flow(a, b, Bytes::gb(0.1), {l1}, [&] { after_repair = e.now().s(); });
  });
  e.run(Duration::seconds(10));
  EXPECT_FALSE(wrongly_done);
  EXPECT_NEAR(failed_at, 0.020, 1e-9);
  EXPECT_NEAR(late_failed, 0.030, 1e-9);
  EXPECT_NEAR(other_done, 1e-6 + 0.05, 1e-9);  // the other link is untouched
  EXPECT_NEAR(after_repair, 0.040 + 1e-6 + 0.01, 1e-9);
  EXPECT_EQ(e.activities_failed(), 2u);
}

TEST_P(Backend, FlowInFlightSeesABandwidthChange) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l = e.add_link("l", Bandwidth::gbytes_per_s(10), Duration());
  double done = -1;
  e.flow(a, b, Bytes::gb(1), {l}, [&] { done = e.now().s(); });
  // 0.5 GB in the first 50 ms; the link then degrades to 2.5 GB/s: 200 ms more.
  e.at(Duration::ms(50), [&] { e.set_link_bandwidth(l, Bandwidth::gbytes_per_s(2.5)); });
  e.run(Duration::seconds(10));
  EXPECT_NEAR(done, 0.250, 1e-6);
  EXPECT_DOUBLE_EQ(e.link_bandwidth(l).bps(), 2.5e9);
}

TEST_P(Backend, HostFailureFailsItsComputesExecsAndFlows) {
  Engine& e = *owner_;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l = e.add_link("l", Bandwidth::gbytes_per_s(10), Duration());
  std::vector<std::string> log;
  e.compute(a, Duration::ms(100), [&] { log.push_back("compute done"); }, [&] { log.push_back("compute failed"); });
  e.exec(a, Flops::of(1e12), [&] { log.push_back("exec done"); }, [&] { log.push_back("exec failed"); });
  e.flow(b, a, Bytes::gb(1), {l}, [&] { log.push_back("flow done"); }, [&] { log.push_back("flow failed"); });
  e.compute(b, Duration::ms(10), [&] { log.push_back("b compute done"); });
  e.at(Duration::ms(50), [&] { e.set_host_on(a, false); });
  e.at(Duration::ms(60), [&] {
    e.compute(a, Duration::ms(1), [&] { log.push_back("late done"); }, [&] { log.push_back("late failed"); });
  });
  e.run(Duration::seconds(10));
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<std::string>{"b compute done", "compute failed", "exec failed", "flow failed",
                                           "late failed"}));
  EXPECT_FALSE(e.host_on(a));
}

/// The queue backend has no global state: engines in several threads at once give the same answer as one alone.
TEST(Engine, QueueEnginesRunInParallelThreads) {
  auto simulate = [] {
    auto e = make_engine("queue");
    const HostId h = e->add_host("gpu", FlopRate::tflops(1));
    double t = 0;
    std::function<void(int)> step = [&](int left) {
      if (left == 0) return;
      e->compute(h, Duration::us(1.0 + left % 7), [&, left] {
        t = e->now().s();
        step(left - 1);
      });
    };
    step(20000);
    e->run(Duration::seconds(1e9));
    return t;
  };
  const double alone = simulate();
  std::vector<double> got(4, -1);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) threads.emplace_back([&, i] { got[i] = simulate(); });
  for (auto& th : threads) th.join();
  for (double g : got) EXPECT_EQ(g, alone);
  EXPECT_GT(alone, 0.0);
}

// The event heap (4-ary, priority and sequence packed into one key): thousands of events at a few distinct times,
// with priorities from far below kCompletion to far above kLate, some cancelled and some scheduled from inside
// events, run in exactly the order a sort by (time, priority, order of scheduling) gives.
TEST(Engine, ManyEventsRunInTimePriorityThenSchedulingOrder) {
  auto e = make_engine("queue");
  struct Ev {
    double time;
    int priority;
    int order;  // order of scheduling
  };
  std::vector<Ev> expected;
  std::vector<int> ran;
  uint64_t x = 12345;
  auto next = [&x] { return x = x * 6364136223846793005ULL + 1442695040888963407ULL, x >> 33; };
  const int priorities[] = {-5000000, -3, kCompletion, kDefault, kLate, 7000000};
  int order = 0;
  auto add = [&](double time, bool cancel) {
    const int priority = priorities[next() % 6];
    const int me = order++;
    const Handle h = e->at(Duration::seconds(time), [&ran, me] { ran.push_back(me); }, priority);
    if (cancel) {
      h.cancel();
    } else {
      expected.push_back({time, priority, me});
    }
  };
  for (int i = 0; i < 3000; ++i) add(static_cast<double>(next() % 40), next() % 7 == 0);
  // From inside an event at t = 10: more at 11, 12, 40 and 41, scheduled after all the others.
  e->at(Duration::seconds(10), [&] {
    ran.push_back(-1);
    for (int i = 0; i < 50; ++i) add(11.0 + static_cast<double>(next() % 2) + (i % 10 == 0 ? 29 : 0), false);
  }, kLate + 1);
  e->run(Duration::seconds(1e9));
  std::stable_sort(expected.begin(), expected.end(), [](const Ev& a, const Ev& b) {
    return a.time != b.time ? a.time < b.time : a.priority < b.priority;  // stable: scheduling order on ties
  });
  // The nested events were scheduled after every other: they run after those of their time and priority. The
  // event that scheduled them (t = 10, kLate + 1, not in `expected`) runs after every t = 10 event of priority
  // kLate + 1 or less (it was scheduled after them) and before those of a higher priority value.
  std::vector<int> want;
  bool marker = false;
  for (const Ev& ev : expected) {
    if (!marker && (ev.time > 10 || (ev.time == 10 && ev.priority > kLate + 1))) {
      want.push_back(-1);
      marker = true;
    }
    want.push_back(ev.order);
  }
  EXPECT_EQ(ran, want);
  EXPECT_EQ(e->events_processed(), want.size());
  EXPECT_THROW(e->at(Duration::seconds(50), [] {}, 1 << 24), std::logic_error);  // outside the key's 24 bits
}

// now() is not virtual (sim/engine.h): the queue backend's clock is Engine::clock_, the simgrid backend's is SimGrid's
// (external_now). Either way it reads the time of the event running, in a timer, a typed event and a compute's
// completion alike, and an event scheduled before it is refused (schedule() checks against the same clock).
TEST_P(Backend, NowIsTheTimeOfTheEventRunningAndThePastIsRefused) {
  Engine& e = *owner_;
  const HostId h = e.add_host("gpu", FlopRate::tflops(100));
  std::vector<std::string> log;
  LogSink sink(&log, &e);
  std::vector<double> seen;
  EXPECT_EQ(e.now().s(), 0.0);
  e.at(Duration::seconds(1.5), [&] {
    seen.push_back(e.now().s());
    e.post(e.now() + Duration::seconds(0.25), &sink, 1);  // fires at 1.75
    e.compute(h, Duration::ms(2), [&] {
      seen.push_back(e.now().s());  // 1.5 + 0.002
      EXPECT_THROW(e.at(e.now() - Duration::seconds(1), [] {}), std::logic_error);
    });
  });
  e.at(Duration::seconds(1.75), [&] { seen.push_back(e.now().s()); });
  e.run(Duration::seconds(1e9));
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_DOUBLE_EQ(seen[0], 1.5);
  EXPECT_DOUBLE_EQ(seen[1], 1.502);
  EXPECT_DOUBLE_EQ(seen[2], 1.75);
  EXPECT_EQ(log, (std::vector<std::string>{"fire 1 owner 0"}));
  EXPECT_EQ(e.last_event_time().s(), 1.75);
}

INSTANTIATE_TEST_SUITE_P(Engine, Backend, ::testing::Values("queue", "simgrid"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace lcsim::sim
