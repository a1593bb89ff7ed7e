// A caller's route memo (TransferModel::RouteMemo, what a pipeline send passes on every repeat): on the analytical
// model a send with a memo must do exactly what the same send without one does, and a memo that no longer fits
// (the links changed, or it was made for another flow) must fall back to routing the flow afresh. Kept routes that
// batches in flight still read outlive the table they were dropped from.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "models/network/topology.h"
#include "models/network/transfer.h"
#include "network_fabrics.h"
#include "policies/load_balancing.h"
#include "sim/engine.h"

namespace lcsim::net {
namespace {

using testing_fabrics::small_fabric;
using testing_fabrics::uniform;

/// Records when each tag fired.
struct Arrivals final : sim::EventSink {
  explicit Arrivals(sim::Engine& e) : engine(e) {}
  void fire(uint64_t tag) override {
    if (times.size() <= tag) times.resize(tag + 1, -1);
    times[tag] = engine.now().s();
  }
  sim::Engine& engine;
  std::vector<double> times;
};

/// One analytical model on the small fabric (4 nodes of 8 GPUs, two nodes per leaf, 4 spines, 50 GB/s NICs).
struct Model {
  explicit Model(TransferOptions options = {}) : transfer(*engine, topo, spray, options) {}
  std::unique_ptr<sim::Engine> engine = sim::make_engine("queue");
  LeafSpine topo{small_fabric(), uniform(4, 8)};
  policy::Spray spray;
  AnalyticalTransfer transfer;
  Arrivals arrivals{*engine};
  double on(const std::string& links) const {
    double bytes = 0;
    for (uint32_t l : topo.find_links(links)) bytes += transfer.bytes_per_link()[l];
    return bytes;
  }
};

// A send as the pipeline makes it: (source, destination, bytes, start in ms).
struct Send {
  uint32_t src, dst;
  double mb, start_ms;
};
// Repeats of three pairs, overlapping in time on the same NICs and spines (so they queue on the fabric links and
// share the links' busy marks), and one pair seen once.
const std::vector<Send> kSends = {{0, 16, 100, 0},   {0, 16, 100, 0.5}, {1, 17, 100, 0.5}, {0, 8, 50, 1},
                                  {0, 16, 100, 1.5}, {1, 17, 100, 2},   {0, 8, 50, 2},     {2, 24, 10, 2.5},
                                  {0, 16, 100, 4},   {1, 17, 100, 4},   {0, 8, 50, 6},     {0, 16, 100, 6}};

void run(Model& m, bool memo) {
  std::vector<TransferModel::RouteMemo> memos(32 * 32);  // per (source, destination)
  for (uint64_t i = 0; i < kSends.size(); ++i) {
    const Send s = kSends[i];
    m.engine->at(Duration::ms(s.start_ms), [&m, &memos, s, i, memo] {
      const FlowRequest f{s.src, s.dst, Bytes::mb(s.mb)};
      if (memo) {
        m.transfer.transfer_to(f, &m.arrivals, i, &memos[s.src * 32 + s.dst]);
      } else {
        m.transfer.transfer_to(std::vector<FlowRequest>{f}, &m.arrivals, i);
      }
    });
  }
  m.engine->run(Duration::seconds(10));
}

TEST(RouteMemo, SendsWithAMemoEndWhenAndCarryWhatTheSameSendsWithoutOneDo) {
  Model plain, memo;
  run(plain, false);
  run(memo, true);
  ASSERT_EQ(plain.arrivals.times.size(), kSends.size());
  // The first send alone on its NIC until the second starts at 0.5 ms: 100 MB at 50 GB/s is 2 ms of serialization,
  // so it ends after 2 ms plus its path latency (a few microseconds).
  EXPECT_GT(plain.arrivals.times[0], 0.002);
  EXPECT_LT(plain.arrivals.times[0], 0.00201);
  EXPECT_EQ(memo.arrivals.times, plain.arrivals.times);  // bit for bit, every send
  EXPECT_EQ(memo.transfer.bytes_per_link(), plain.transfer.bytes_per_link());
  EXPECT_EQ(memo.transfer.flows_started(), kSends.size());
  EXPECT_EQ(memo.transfer.bytes_moved(), plain.transfer.bytes_moved());
  for (uint32_t l = 0; l < memo.topo.links().size(); ++l) {
    EXPECT_EQ(memo.transfer.load(l), 0.0) << memo.topo.links()[l].name;  // every busy mark undone
    EXPECT_EQ(memo.transfer.current_rate(l).bps(), plain.transfer.current_rate(l).bps());
  }
}

TEST(RouteMemo, AMemoOfAnotherFlowRoutesTheFlowGiven) {
  Model m, ref;
  TransferModel::RouteMemo memo;
  m.transfer.transfer_to(FlowRequest{0, 16, Bytes::mb(100)}, &m.arrivals, 0, &memo);  // fills the memo: 0 -> 16
  m.transfer.transfer_to(FlowRequest{1, 17, Bytes::mb(100)}, &m.arrivals, 1, &memo);  // the memo is 0 -> 16's
  m.transfer.transfer_to(FlowRequest{0, 8, Bytes::mb(100)}, &m.arrivals, 2, nullptr);
  for (uint64_t i = 0; i < 3; ++i) {
    const std::vector<FlowRequest> f = {i == 0 ? FlowRequest{0, 16, Bytes::mb(100)}
                                        : i == 1 ? FlowRequest{1, 17, Bytes::mb(100)}
                                                 : FlowRequest{0, 8, Bytes::mb(100)}};
    ref.transfer.transfer_to(f, &ref.arrivals, i);
  }
  m.engine->run(Duration::seconds(1));
  ref.engine->run(Duration::seconds(1));
  EXPECT_EQ(m.arrivals.times, ref.arrivals.times);
  EXPECT_EQ(m.transfer.bytes_per_link(), ref.transfer.bytes_per_link());
  // GPU 1's NIC carried its own 100 MB, not GPU 0's.
  EXPECT_DOUBLE_EQ(m.on("n0.gpu1.nic_up"), 100e6);
  EXPECT_DOUBLE_EQ(m.on("n0.gpu0.nic_up"), 200e6);
}

// A spine goes down on the topology itself (not through the transfer model, so no batch is told) while a send that
// started from a kept route is in flight inside leaf 0: the next send empties the kept routes, the one in flight
// stays alive until its send ends (and ends as it would have), and the stale memo of the pair 1 -> 16 is refilled,
// so that send avoids the spine.
TEST(RouteMemo, ALinkChangeDropsKeptRoutesButNotTheOnesSendsInFlightRead) {
  Model m;
  TransferModel::RouteMemo near, far;
  const FlowRequest inside{0, 8, Bytes::gb(1)};    // 20 ms at 50 GB/s
  const FlowRequest across{1, 16, Bytes::mb(100)};  // over the 4 spines
  m.transfer.transfer_to(inside, &m.arrivals, 0, &near);  // routes and keeps 0 -> 8
  m.transfer.transfer_to(across, &m.arrivals, 1, &far);
  m.engine->at(Duration::ms(5), [&] {
    m.transfer.transfer_to(inside, &m.arrivals, 2, &near);  // from the kept route: in flight when the spine fails
  });
  double spine0_before = -1;
  m.engine->at(Duration::ms(10), [&] {
    spine0_before = m.on("spine0");
    for (uint32_t l : m.topo.find_links("spine0")) m.topo.set_link_up(l, false);
    m.transfer.transfer_to(across, &m.arrivals, 3, &far);  // empties the kept routes; the memo is stale
  });
  m.engine->run(Duration::seconds(1));
  ASSERT_EQ(m.arrivals.times.size(), 4u);
  // Send 0 alone on GPU 0's NIC for 5 ms, then sharing it with send 2 (the analytical model serializes each batch
  // at the full bandwidth, so send 2 simply ends 20 ms after it started, plus latency).
  EXPECT_GT(m.arrivals.times[2], 0.025);
  EXPECT_LT(m.arrivals.times[2], 0.02501);
  EXPECT_GT(spine0_before, 0);
  EXPECT_EQ(m.on("spine0"), spine0_before);  // send 3 avoided the failed spine
  EXPECT_DOUBLE_EQ(m.on("n0.gpu1.nic_up"), 200e6);
  for (uint32_t l = 0; l < m.topo.links().size(); ++l) EXPECT_EQ(m.transfer.load(l), 0.0) << m.topo.links()[l].name;
}

// A kept route times its own links (the NICs here) from the bandwidths it was kept at: a bandwidth change forgets
// the kept routes. GPU 0's NIC drops from 50 to 25 GB/s 1 ms into a 100 MB send (its last 50 MB then take 2 ms: it
// ends at 3 ms) and 0.5 ms into the same send from the kept route, and the same send again from the memo at 10 ms
// takes 4 ms (2 ms with the old bandwidth). No timeline: the batch from the kept route had left its links' busy
// marks alone, and the change, which makes it keep its own paths, marks them; every mark is undone at the end.
TEST(RouteMemo, ABandwidthChangeRetimesTheSendsOfAKeptRoute) {
  Model m;
  TransferModel::RouteMemo memo;
  const FlowRequest f{0, 8, Bytes::mb(100)};
  m.transfer.transfer_to(f, &m.arrivals, 0, &memo);
  m.engine->at(Duration::ms(0.5), [&] { m.transfer.transfer_to(f, &m.arrivals, 1, &memo); });  // from the kept route
  m.engine->at(Duration::ms(1), [&] {
    for (uint32_t l : m.topo.find_links("n0.gpu0.nic_up")) m.transfer.set_link_bandwidth(l, Bandwidth::gbytes_per_s(25));
  });
  m.engine->at(Duration::ms(10), [&] { m.transfer.transfer_to(f, &m.arrivals, 2, &memo); });
  m.engine->run(Duration::seconds(1));
  ASSERT_EQ(m.arrivals.times.size(), 3u);
  EXPECT_GT(m.arrivals.times[0], 0.003);
  EXPECT_LT(m.arrivals.times[0], 0.00301);
  EXPECT_GT(m.arrivals.times[1], 0.004);  // started at 0.5 ms: 25 MB at 50 GB/s, then 75 MB at 25 GB/s from 1 ms
  EXPECT_LT(m.arrivals.times[1], 0.00401);
  EXPECT_GT(m.arrivals.times[2], 0.014);
  EXPECT_LT(m.arrivals.times[2], 0.01401);
  EXPECT_DOUBLE_EQ(m.on("n0.gpu0.nic_up"), 300e6);
  for (uint32_t l = 0; l < m.topo.links().size(); ++l) EXPECT_EQ(m.transfer.load(l), 0.0) << m.topo.links()[l].name;
}

// TransferOptions::link_rates off (lcsim run without outputs.utilization_interval): the same sends end at the same
// times and carry the same bytes per link; only current_rate() is no longer kept (it reads 0 while they are in
// flight, where the default model reads the NIC's 50 GB/s).
TEST(RouteMemo, SendsWithoutLinkRatesEndWhenTheyDoWithThem) {
  TransferOptions off;
  off.link_rates = false;
  Model with, without(off);
  double rate_with = -1, rate_without = -1;
  for (Model* m : {&with, &without}) {
    m->engine->at(Duration::ms(1), [m, &rate_with, &rate_without, &with] {
      double& r = m == &with ? rate_with : rate_without;
      r = 0;
      for (uint32_t l : m->topo.find_links("n0.gpu0.nic_up")) r += m->transfer.current_rate(l).bps();
    });
  }
  run(with, true);
  run(without, true);
  EXPECT_EQ(without.arrivals.times, with.arrivals.times);
  EXPECT_EQ(without.transfer.bytes_per_link(), with.transfer.bytes_per_link());
  EXPECT_GT(rate_with, 40e9);
  EXPECT_EQ(rate_without, 0.0);
}


// A send without an event (transfer_unwatched, what a pipeline send its receiver is not waiting for takes): on a kept
// route with no link rates or spans to keep, it makes the additions the same send with an event makes (bytes per
// link, flows, the fabric links' queues) and gives the time that send's event fires at, bit for bit, so that the
// sends after it queue as they would.
TEST(RouteMemo, ASendWithoutAnEventArrivesWhenTheSameSendWithOneWould) {
  TransferOptions options;
  options.link_rates = false;  // as sweeps and searches evaluate (no utilization sampler)
  Model watched(options), unwatched(options);
  std::vector<double> times(kSends.size(), -1);
  std::vector<TransferModel::RouteMemo> memos(32 * 32);
  size_t without_event = 0;
  for (uint64_t i = 0; i < kSends.size(); ++i) {
    const Send s = kSends[i];
    unwatched.engine->at(Duration::ms(s.start_ms), [&, s, i] {
      const FlowRequest f{s.src, s.dst, Bytes::mb(s.mb)};
      TransferModel::RouteMemo& memo = memos[s.src * 32 + s.dst];
      Duration arrival;
      if (unwatched.transfer.transfer_unwatched(f, &memo, &arrival)) {
        times[i] = arrival.s();
        ++without_event;
      } else {  // the pair's first send: no route kept yet
        unwatched.transfer.transfer_to(f, &unwatched.arrivals, i, &memo);
      }
    });
  }
  run(watched, true);
  unwatched.engine->run(Duration::seconds(10));
  EXPECT_EQ(without_event, kSends.size() - 4);  // four pairs, each routed once with an event
  for (uint64_t i = 0; i < kSends.size(); ++i) {
    if (times[i] < 0) times[i] = unwatched.arrivals.times.at(i);
  }
  EXPECT_EQ(times, watched.arrivals.times);  // bit for bit
  EXPECT_EQ(unwatched.transfer.bytes_per_link(), watched.transfer.bytes_per_link());
  EXPECT_EQ(unwatched.transfer.flows_started(), watched.transfer.flows_started());
  EXPECT_EQ(unwatched.transfer.bytes_moved(), watched.transfer.bytes_moved());
  EXPECT_EQ(unwatched.transfer.batches_queued(), watched.transfer.batches_queued());
}

// Where a batch in flight must stay visible (link rates for the utilization sampler), or no route is kept, the model
// declines and changes nothing; and a link changed through the model under a send without an event (which could
// not be failed or re-timed) is an internal error, not a silently wrong arrival.
TEST(RouteMemo, ASendWithoutAnEventOnlyWhereNothingWatchesTheBatch) {
  Model rates;  // link_rates on (the default)
  TransferModel::RouteMemo memo;
  const FlowRequest f{0, 16, Bytes::mb(100)};
  rates.transfer.transfer_to(f, &rates.arrivals, 0, &memo);
  Duration arrival = Duration::seconds(-1);
  EXPECT_FALSE(rates.transfer.transfer_unwatched(f, &memo, &arrival));
  EXPECT_EQ(arrival.s(), -1);
  EXPECT_EQ(rates.transfer.flows_started(), 1u);

  TransferOptions options;
  options.link_rates = false;
  Model m(options);
  TransferModel::RouteMemo fresh;
  EXPECT_FALSE(m.transfer.transfer_unwatched(f, &fresh, &arrival));  // nothing kept in the memo yet
  EXPECT_FALSE(m.transfer.transfer_unwatched(f, nullptr, &arrival));
  EXPECT_EQ(m.transfer.flows_started(), 0u);
  m.transfer.transfer_to(f, &m.arrivals, 0, &fresh);
  ASSERT_TRUE(m.transfer.transfer_unwatched(f, &fresh, &arrival));
  EXPECT_GT(arrival.s(), 0.002);  // 100 MB behind the first 100 MB on GPU 0's NIC: about 4 ms
  const std::vector<uint32_t> spine = m.topo.find_links("spine0");
  EXPECT_THROW(m.transfer.set_link_up(spine.front(), false), std::logic_error);
  m.engine->at(arrival, [&] { m.transfer.set_link_up(spine.front(), false); });  // after it: allowed
  EXPECT_NO_THROW(m.engine->run(Duration::seconds(1)));
}

}  // namespace
}  // namespace lcsim::net
