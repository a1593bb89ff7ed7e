// The engine facade: event order, activity completion, and the SimGrid settings that keep max-min sharing
// right (a shared link never carries more than its capacity; see ../shared/simgrid-notes, trap 1).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/engine.h"

namespace lcsim::sim {
namespace {

TEST(Engine, SameTimeEventsRunByPriorityThenInsertionOrder) {
  Engine e;
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

TEST(Engine, HorizonStopsTheRun) {
  Engine e;
  int ran = 0;
  e.at(Duration::seconds(1), [&] { ++ran; });
  e.at(Duration::seconds(5), [&] { ++ran; });
  e.run(Duration::seconds(3));
  EXPECT_EQ(ran, 1);
}

TEST(Engine, ExecTakesWorkOverSpeedAndSharesAHost) {
  Engine e;
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

TEST(Engine, ComputeIsAKernelOfKnownDurationScaledBySpeedFactor) {
  Engine e;
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

TEST(Engine, FlowTimeIsLatencyPlusSizeOverBandwidth) {
  Engine e;
  const HostId a = e.add_host("a", FlopRate::tflops(1)), b = e.add_host("b", FlopRate::tflops(1));
  const LinkId l1 = e.add_link("l1", Bandwidth::gbytes_per_s(50), Duration::us(1));
  const LinkId l2 = e.add_link("l2", Bandwidth::gbytes_per_s(100), Duration::us(2));
  double done = -1;
  e.flow(a, b, Bytes::gb(1), {l1, l2}, [&] { done = e.now().s(); });
  e.run(Duration::seconds(1e9));
  EXPECT_NEAR(done, 3e-6 + 1e9 / 50e9, 1e-9);  // no TCP-gamma cap, no hidden latency/bandwidth factors
}

// The pattern that breaks SimGrid's default Lazy update (simgrid-notes p3c): several flows start together and
// share a first link, then split over two second links. With network/optim:Full the shared link is never
// over-allocated and every flow ends when max-min says.
TEST(Engine, SharedLinkNeverCarriesMoreThanItsCapacity) {
  Engine e;
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

TEST(Engine, OnlyOneEnginePerProcess) {
  Engine first;
  EXPECT_THROW(Engine second, std::logic_error);
}

}  // namespace
}  // namespace lcsim::sim
