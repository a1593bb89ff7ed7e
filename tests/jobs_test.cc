// Many jobs on one cluster: allocation, jobs that run on their own GPUs as ranks 0..n-1, contention between jobs on
// the flow model, explicit completion, and stop/restart with every pending activity cancelled.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "models/network/transfer.h"
#include "policies/load_balancing.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "test_support.h"
#include "workloads/benchmarks/nccl_tests.h"
#include "workloads/job.h"

namespace lcsim {
namespace {

Scenario from_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  ConfigValue tree = parse_yaml_text(text, "test.yaml");
  for (const auto& o : overrides) apply_override(tree, o);
  return parse_scenario(tree);
}

const std::string kCluster = R"(
name: jobs
cluster:
  pools:
    - {name: big, node: hgx-h100, count: 4}
    - {name: old, node: dgx-a100, count: 2}
  fabric: {ports_per_leaf: 16, spines: 4}
simulation: {fidelity: analytical}
)";

const std::string kNccl = "{type: nccl_tests, operation: all_reduce, min_bytes: 1MiB, max_bytes: 64MiB, step_factor: 8}";

std::string error_of(const std::string& text) {
  try {
    from_text(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Jobs, NodesAreAllocatedInOrderFromTheirPool) {
  Scenario sc = from_text(kCluster + "jobs:\n  - {name: a, nodes: 2, workload: " + kNccl + "}\n" +
                          "  - {name: b, pool: old, workload: " + kNccl + "}\n" +
                          "  - {name: c, workload: " + kNccl + "}\n");
  ASSERT_EQ(sc.jobs.size(), 3u);
  // a: nodes 0-1 (GPUs 0-15); b: every node of pool old (nodes 4-5, GPUs 32-47); c: what is left (nodes 2-3).
  EXPECT_EQ(sc.jobs[0].allocation.front(), 0u);
  EXPECT_EQ(sc.jobs[0].allocation.size(), 16u);
  EXPECT_EQ(sc.jobs[1].allocation.front(), 32u);
  EXPECT_EQ(sc.jobs[1].allocation.size(), 16u);
  EXPECT_EQ(sc.jobs[2].allocation.front(), 16u);
  EXPECT_EQ(sc.jobs[2].allocation.back(), 31u);
  EXPECT_TRUE(sc.has_workload);
}

TEST(Jobs, AllocationErrorsNameTheJobAndWhatIsFree) {
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {nodes: 5, pool: big, workload: " + kNccl + "}\n")
                .find("jobs[0].nodes: asks for 5 node(s); 4 of 4 pool 'big' nodes are free"),
            std::string::npos);
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {node_ids: [0], workload: " + kNccl + "}\n  - {node_ids: [1, 0], workload: " +
                     kNccl + "}\n")
                .find("jobs[1].node_ids: node 0 is already another job's"),
            std::string::npos);
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {pool: new, workload: " + kNccl + "}\n").find("no pool named 'new' (pools: big, old)"),
            std::string::npos);
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {name: x, nodes: 1, workload: " + kNccl + "}\n  - {name: x, nodes: 1, workload: " +
                     kNccl + "}\n")
                .find("two jobs named 'x'"),
            std::string::npos);
  EXPECT_NE(error_of(kCluster + "workload: " + kNccl + "\njobs:\n  - {workload: " + kNccl + "}\n")
                .find("give either workload"),
            std::string::npos);
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {nodes: 1}\n").find("a job needs a workload"), std::string::npos);
  // A job's workload is checked against its own GPUs: 32 ranks do not fit on one node.
  EXPECT_NE(error_of(kCluster + "jobs:\n  - {nodes: 1, workload: {type: nccl_tests, ranks: 32}}\n").find("ranks"),
            std::string::npos);
}

// A load-balancing policy a run cannot act on is reported, not dropped: megatron on the analytical fidelity runs one
// copy of each cross-node collective (the rest are reused), so spraying there changes little or nothing, and the
// run says so once per job that cannot see it; the default policy, or a workload whose flows all run, says nothing.
TEST(Jobs, APolicyTheWorkloadCannotSeeIsWarnedAbout) {
  const std::string megatron =
      "{type: megatron, model: {num_layers: 4, hidden_size: 1024, num_attention_heads: 8, seq_length: 1024, "
      "vocab_size: 32000}, global_batch_size: 8, micro_batch_size: 1, tensor_model_parallel_size: 8}";
  const std::string base = "name: w\ncluster: {pools: [{node: hgx-h100, count: 4}], fabric: {ports_per_leaf: 16, spines: 4}}\n"
                           "simulation: {fidelity: analytical}\noutputs: {timeline: false}\n";
  Scenario sprayed = from_text(base + "policies: {load_balancing: spray}\njobs:\n  - {name: train, nodes: 2, workload: " +
                               megatron + "}\n  - {name: bench, nodes: 2, workload: " + kNccl + "}\n");
  const RunResult r = run_scenario(sprayed);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("policies.load_balancing (spray) changes little or nothing for job train: on the "
                               "analytical fidelity"),
            std::string::npos)
      << r.warnings[0];
  Scenario by_default = from_text(base + "workload: " + megatron + "\n");
  EXPECT_TRUE(run_scenario(by_default).warnings.empty());
}

// On the analytical model batches meet only on switch-to-switch links, so a job whose traffic stays under its own
// leaf runs exactly as the same workload alone on a cluster of its own size; here two jobs at once, each on the two
// nodes of one leaf of a four-node cluster. Placed across the leaves instead, the two jobs share the spine uplinks
// (each leaf's 16 x 400G NICs over 4 x 400G uplinks) and slow each other down, as on the flow model.
TEST(Jobs, AJobOnPartOfTheClusterRunsAsOnAClusterOfItsOwn) {
  const std::string four = "name: t\ncluster: {pools: [{node: hgx-h100, count: 4}], fabric: {ports_per_leaf: 16, spines: 4}}\n"
                           "simulation: {fidelity: analytical}\npolicies: {load_balancing: spray}\n";
  Scenario both = from_text(four + "jobs:\n  - {name: a, node_ids: [0, 1], workload: " + kNccl +
                            "}\n  - {name: b, node_ids: [2, 3], workload: " + kNccl + "}\n");
  const RunResult r = run_scenario(both);  // the queue backend: in-process, no SimGrid
  Scenario alone = from_text("name: t\ncluster: {pools: [{node: hgx-h100, count: 2}], fabric: {ports_per_leaf: 16, spines: 4}}\n"
                             "simulation: {fidelity: analytical}\npolicies: {load_balancing: spray}\nworkload: " +
                             kNccl + "\n");
  const RunResult a = run_scenario(alone);
  EXPECT_TRUE(r.completed);
  EXPECT_EQ(r.metrics.get("jobs_completed"), 2.0);
  // Nodes 0 and 1 share leaf 0, nodes 2 and 3 leaf 1, as the two nodes of the small cluster share its one leaf:
  // the same paths, so the times agree exactly.
  EXPECT_EQ(r.metrics.get("a.busbw_avg_bytes_per_s"), a.metrics.get("busbw_avg_bytes_per_s"));
  EXPECT_EQ(r.metrics.get("b.busbw_avg_bytes_per_s"), a.metrics.get("busbw_avg_bytes_per_s"));
  EXPECT_EQ(r.metrics.get("a.job_end_s"), a.metrics.get("sim_time_s"));
  EXPECT_EQ(r.metrics.get("collectives"), 2 * a.metrics.get("collectives"));
  // Across the leaves the jobs meet on the spines: together they take longer than one of them alone there.
  Scenario crossed = from_text(four + "jobs:\n  - {name: a, node_ids: [0, 2], workload: " + kNccl +
                               "}\n  - {name: b, node_ids: [1, 3], workload: " + kNccl + "}\n");
  const RunResult x = run_scenario(crossed);
  Scenario one = from_text(four + "jobs:\n  - {name: a, node_ids: [0, 2], workload: " + kNccl + "}\n");
  const RunResult y = run_scenario(one);
  EXPECT_GT(x.metrics.get("sim_time_s"), 1.2 * y.metrics.get("sim_time_s"));
}

// On the flow model, jobs whose rings cross the same spine uplinks slow each other down.
TEST(Jobs, JobsContendForTheFabricOnTheFlowModel) {
  auto run = [](const std::string& bench_start) {
    return testing::metrics_in_child([&] {
      Scenario sc = load_scenario("scenarios/examples/shared-cluster-jobs.yaml", {"jobs[1].start=" + bench_start});
      return run_scenario(sc).metrics;
    });
  };
  auto together = run("0.18s"), apart = run("10s");
  ASSERT_FALSE(together.count("child_failed"));
  ASSERT_FALSE(apart.count("child_failed"));
  EXPECT_GT(together.at("train.iteration_time_s"), 1.2 * apart.at("train.iteration_time_s"));
  EXPECT_LT(together.at("bench.busbw_avg_bytes_per_s"), 0.8 * apart.at("bench.busbw_avg_bytes_per_s"));
  EXPECT_EQ(apart.at("bench.job_start_s"), 10.0);
  EXPECT_EQ(together.at("jobs_completed"), 2.0);
}

TEST(Jobs, TheSingleWorkloadFormIsOneJobOnEveryNode) {
  Scenario single = from_text(kCluster + "workload: " + kNccl + "\n");
  Scenario listed = from_text(kCluster + "jobs:\n  - {name: only, workload: " + kNccl + "}\n");
  const RunResult a = run_scenario(single), b = run_scenario(listed);
  EXPECT_EQ(a.metrics.get("busbw_avg_bytes_per_s"), b.metrics.get("only.busbw_avg_bytes_per_s"));
  EXPECT_EQ(a.metrics.get("energy_mwh"), b.metrics.get("energy_mwh"));
  EXPECT_EQ(a.metrics.get("sim_time_s"), b.metrics.get("sim_time_s"));
}

// A job driven by hand: it reports completion itself, stop() cancels everything it has pending (nothing of it runs
// afterwards), and restart() runs the work again from the beginning.
class JobLifecycle : public ::testing::Test {
 protected:
  JobLifecycle()
      : topo_(net::LeafSpineConfig{}, std::vector<net::NodeShape>(2, {8, Bandwidth::gbytes_per_s(450),
                                                                      Bandwidth::gbits_per_s(400)})),
        transfer_(*engine_, topo_, spray_, {}),
        rng_(1) {
    const auto& part = hw::PartCatalog::get().part("H100-SXM-80GB");
    for (uint32_t r = 0; r < 16; ++r) {
      gpus_.push_back({r, r / 8, r % 8, &part, engine_->add_host("g" + std::to_string(r), FlopRate::tflops(1))});
    }
    cluster_ = std::make_unique<wl::ClusterRuntime>(wl::ClusterRuntime{*engine_, gpus_, topo_, transfer_, nullptr,
                                                                       config_, 8, tracer_, rng_, 0});
  }
  static std::unique_ptr<wl::Workload> nccl() {
    auto w = std::make_unique<wl::NcclTests>();
    ConfigValue tree = parse_yaml_text("{operation: all_reduce, min_bytes: 1MiB, max_bytes: 64MiB, step_factor: 8}", "test");
    Diagnostics d;
    Section s = Section::parser(&tree, "workload", &d);
    w->visit(s);
    s.finish();
    d.throw_if_any();
    return w;
  }
  std::unique_ptr<sim::Engine> engine_ = sim::make_engine("queue");
  net::LeafSpine topo_;
  policy::Spray spray_;
  net::AnalyticalTransfer transfer_;
  net::CollectiveConfig config_;
  Tracer tracer_;
  RngFactory rng_;
  std::vector<wl::Gpu> gpus_;
  std::unique_ptr<wl::ClusterRuntime> cluster_;
};

TEST_F(JobLifecycle, ReportsCompletionStopsAndRestarts) {
  // How long the work takes undisturbed, on the upper node (ranks 8-15).
  std::vector<uint32_t> upper;
  for (uint32_t r = 8; r < 16; ++r) upper.push_back(r);
  auto first = nccl();
  wl::Job job("bench", 7, upper, *first, [](const std::vector<wl::Gpu>&) { return nccl(); }, *cluster_);
  EXPECT_EQ(job.gpus().front().rank, 0u);  // the job sees its GPUs as ranks 0..7 on its node 0
  EXPECT_EQ(job.gpus().front().node, 0u);
  EXPECT_EQ(job.collectives().endpoint(0), 8u);
  job.start();
  engine_->run(Duration::seconds(100));
  ASSERT_TRUE(job.finished());
  const double alone = job.finished_at().s();
  ASSERT_GT(alone, 0);

  // Again: stopped halfway (nothing of it may run after that), restarted later, finished once.
  auto second = nccl();
  wl::Job again("bench2", 8, upper, *second, [](const std::vector<wl::Gpu>&) { return nccl(); }, *cluster_);
  int finished_calls = 0;
  again.on_finished([&] { ++finished_calls; });
  const double t0 = engine_->now().s();
  again.start();
  size_t pending_after_stop = 1;
  engine_->at(Duration::seconds(t0 + alone * 0.5), [&] {
    EXPECT_EQ(again.state(), wl::Job::State::kRunning);
    again.stop();
    EXPECT_EQ(again.state(), wl::Job::State::kStopped);
    pending_after_stop = engine_->events_pending();
  });
  engine_->at(Duration::seconds(t0 + 2 * alone), [&] {
    EXPECT_FALSE(again.finished());  // nothing ran between stop and here
    again.restart();
  });
  engine_->run(Duration::seconds(100));
  EXPECT_EQ(pending_after_stop, 1u);  // only the restart timer was left
  ASSERT_TRUE(again.finished());
  EXPECT_EQ(finished_calls, 1);
  EXPECT_EQ(again.starts(), 2u);
  EXPECT_DOUBLE_EQ(again.started_at().s(), t0 + 2 * alone);
  EXPECT_NEAR(again.finished_at().s() - again.started_at().s(), alone, 1e-12);
  EXPECT_EQ(transfer_.current_rate(topo_.find_links("n1.gpu0.nic_up").at(0)).bps(), 0.0);  // nothing left behind
  EXPECT_NE(&again.workload(), second.get());  // the restart ran a fresh workload
}

// Every event a job emits reaches the cluster's subscribers with the job's id and the cluster's ranks, whether the
// job holds part of the cluster (ranks mapped) or all of it in order (ranks kept).
TEST_F(JobLifecycle, EventsCarryTheJobAndClusterRanks) {
  struct Recorder final : TraceSink {
    std::vector<BusyEvent> busy;
    void on_busy(const BusyEvent& e) override { busy.push_back(e); }
    bool wants_spans() const override { return false; }
  } rec;
  tracer_.subscribe(&rec);
  std::vector<uint32_t> upper, all;
  for (uint32_t r = 0; r < 16; ++r) (r >= 8 ? upper : all).push_back(r);
  for (uint32_t r = 8; r < 16; ++r) all.push_back(r);
  auto a = nccl(), b = nccl();
  wl::Job part("part", 3, upper, *a, [](const std::vector<wl::Gpu>&) { return nccl(); }, *cluster_);
  part.start();
  engine_->run(Duration::seconds(100));
  ASSERT_FALSE(rec.busy.empty());
  for (const auto& e : rec.busy) {
    EXPECT_EQ(e.job, 3u);
    EXPECT_GE(e.rank, 8u);
    EXPECT_GT(e.comm.s(), 0);
  }
  rec.busy.clear();
  wl::Job whole("whole", 4, all, *b, [](const std::vector<wl::Gpu>&) { return nccl(); }, *cluster_);
  whole.start();
  engine_->run(Duration::seconds(200));
  ASSERT_FALSE(rec.busy.empty());
  std::set<uint32_t> ranks;
  for (const auto& e : rec.busy) {
    EXPECT_EQ(e.job, 4u);
    ranks.insert(e.rank);
  }
  EXPECT_EQ(ranks.size(), 16u);
}

// Energy is integrated per pool from what each GPU did: on a cluster of two parts, each job's GPUs are charged to
// their own pool (communication time at the communicating power), and a pool nobody used draws idle power only.
TEST(Jobs, EnergyIsChargedToThePoolsWhoseGpusWorked) {
  Scenario sc = from_text(kCluster + "jobs:\n  - {name: a, pool: big, nodes: 2, workload: " + kNccl +
                          "}\n  - {name: b, pool: old, workload: " + kNccl + "}\n");
  const RunResult r = run_scenario(sc);
  const MetricSet& m = r.metrics;
  const double span = m.get("sim_time_s");
  ASSERT_GT(span, 0);
  // Pool big: 2 of its 4 nodes communicated for job a's whole run; pool old: all of its GPUs for job b's.
  EXPECT_NEAR(m.get("gpu_comm_fraction_big"), 0.5 * m.get("a.job_end_s") / span, 1e-12);
  EXPECT_NEAR(m.get("gpu_comm_fraction_old"), m.get("b.job_end_s") / span, 1e-12);
  EXPECT_EQ(m.get("gpu_busy_fraction_big"), 0.0);  // collectives only: no compute
  EXPECT_EQ(m.get("energy_gpu_compute_mwh"), 0.0);
  EXPECT_GT(m.get("energy_gpu_comm_mwh"), 0.0);
  EXPECT_NEAR(m.get("energy_it_mwh"),
              m.get("energy_it_mwh_big") + m.get("energy_it_mwh_old") + m.get("energy_network_mwh"), 1e-15);
  EXPECT_NEAR(m.get("energy_mwh"), 1.3 * m.get("energy_it_mwh"), 1e-15);
  // The same jobs with job b left out: pool old idles, and costs idle power only.
  Scenario idle = from_text(kCluster + "jobs:\n  - {name: a, pool: big, nodes: 2, workload: " + kNccl + "}\n");
  const RunResult i = run_scenario(idle);
  const double hours = i.metrics.get("sim_time_s") / 3600;
  const double old_idle_kwh = 2 * (8 * 50.0 + 1200.0) * hours / 1000;  // dgx-a100: 50 W per idle GPU, 1.2 kW host
  EXPECT_NEAR(i.metrics.get("energy_it_mwh_old") * 1000, old_idle_kwh, 1e-12);
}

}  // namespace
}  // namespace lcsim
