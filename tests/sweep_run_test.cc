// Running sweeps for real: every point recorded (a failed one with its error, the others unaffected), re-runs
// skip finished points, identical seeds give identical rows, shards merge into exactly the full run, a sweep
// killed with SIGKILL resumes without duplicate or missing rows, flow points run as child processes, and the
// lcsim sweep / results / compare commands.
#include <cstdlib>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "sweep/plan.h"
#include "sweep/results_db.h"
#include "sweep/runner.h"

namespace lcsim::sweep {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(LCSIM_SOURCE_DIR) + "/tests/sweep/";
const std::string kLcsim = LCSIM_BINARY;

/// A fresh directory for this test (other worktrees run the same tests at the same time).
std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path d = fs::path(::testing::TempDir()) /
                     ("lcsim-sweep-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

struct Shell {
  int rc;
  std::string out;
};
Shell shell(const std::string& cmd) {
  Shell s{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) s.out.append(buf, n);
  const int status = ::pclose(p);
  s.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return s;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

RunOptions quiet(int jobs) {
  RunOptions o;
  o.jobs = jobs;
  o.lcsim_binary = kLcsim;
  return o;
}

TEST(SweepRun, EveryPointIsRecordedAndARerunSkipsThem) {
  const std::string dir = temp_dir();
  const Plan plan = load_plan(kDir + "grid.yaml");
  const auto points = expand(plan);
  ASSERT_EQ(points.size(), 16u);
  ResultsDb db(dir + "/grid.db");
  db.bind_plan(plan.name, plan_fingerprint(points), points.size(), plan.axis_names());
  const RunSummary s = run_points(points, db, quiet(2));
  EXPECT_EQ(s.points, 16u);
  EXPECT_EQ(s.skipped, 0u);
  EXPECT_EQ(s.failed, 4u);  // micro-batch 3: 64 is not a multiple of 3 x 8 x nodes
  EXPECT_EQ(s.completed, 12u);
  const auto rows = db.rows();
  ASSERT_EQ(rows.size(), 16u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const PointRecord& r = rows[i];
    EXPECT_EQ(r.id, static_cast<int64_t>(i));
    EXPECT_EQ(r.axes, points[i].axes);
    EXPECT_EQ(r.seed, *points[i].seed);  // the derived seed is what the scenario ran with
    if (r.axes[1].second == "3") {
      EXPECT_EQ(r.status, "error");
      EXPECT_TRUE(r.scenario_hash.empty());  // the scenario did not load: nothing to hash
      EXPECT_NE(r.error.find("micro"), std::string::npos) << r.error;
      EXPECT_TRUE(r.metrics.empty());
    } else {
      EXPECT_EQ(r.status, "completed") << r.error;
      EXPECT_EQ(r.scenario_hash.size(), 16u);
      EXPECT_TRUE(r.error.empty());
      EXPECT_GT(r.metrics.size(), 5u);
    }
  }
  // More nodes at the same micro-batch: a shorter iteration (the same global batch over twice the GPUs).
  auto metric = [](const PointRecord& r, const std::string& name) {
    for (const auto& [n, v] : r.metrics) {
      if (n == name) return v;
    }
    return -1.0;
  };
  EXPECT_LT(metric(rows[8], "iteration_time_s"), metric(rows[0], "iteration_time_s"));
  EXPECT_EQ(rows[0].axes[0].second, "1");
  EXPECT_EQ(rows[8].axes[0].second, "2");
  // The repetitions of a point have different seeds, so different resolved scenarios.
  EXPECT_NE(rows[0].seed, rows[1].seed);
  EXPECT_NE(rows[0].scenario_hash, rows[1].scenario_hash);
  // Again: nothing left to run.
  const RunSummary again = run_points(points, db, quiet(2));
  EXPECT_EQ(again.skipped, 16u);
  EXPECT_EQ(again.completed + again.failed, 0u);
  EXPECT_EQ(db.rows().size(), 16u);
}

TEST(SweepRun, IdenticalSeedsGiveIdenticalRowsWhateverTheThreadCount) {
  const std::string dir = temp_dir();
  const Plan plan = load_plan(kDir + "grid.yaml");
  const auto points = expand(plan);
  std::string first;
  for (int jobs : {1, 2}) {
    ResultsDb db(dir + "/j" + std::to_string(jobs) + ".db");
    db.bind_plan(plan.name, plan_fingerprint(points), points.size(), plan.axis_names());
    run_points(points, db, quiet(jobs));
    const std::string csv = export_csv(db, false);
    if (first.empty()) first = csv;
    else EXPECT_EQ(csv, first);
  }
  EXPECT_NE(first.find("id,alternative,repetition,seed,nodes,mbs,status,error,scenario_hash,"), std::string::npos)
      << first.substr(0, 200);
}

TEST(SweepRun, ADatabaseOfAnotherPlanIsRefused) {
  const std::string dir = temp_dir();
  ResultsDb db(dir + "/x.db");
  db.bind_plan("a", "0000000000000001", 3, {"x"});
  db.bind_plan("a", "0000000000000001", 3, {"x"});  // the same plan again: fine
  EXPECT_THROW(db.bind_plan("b", "0000000000000002", 3, {"x"}), InputError);
}

// A reader (`lcsim results export`, or whoever watches a sweep) opening the file while a sweep creates it and
// commits points: neither side fails, and every point read is whole. Before the fix, one open in a few hundred
// of a new file failed with "database is locked" (the WAL switch and the schema's read-to-write upgrade return
// SQLITE_BUSY without waiting), and reads across a commit saw a point without its axes (map::at).
TEST(SweepRun, AReaderBesideAWritingSweepNeitherFailsNorSeesHalfAPoint) {
  const std::string dir = temp_dir();
  constexpr int kRounds = 150, kPoints = 40;
  int writer_failures = 0, reader_failures = 0, partial_rows = 0;
  std::string first_error;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = dir + "/r" + std::to_string(round) + ".db";
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        ResultsDb db(path);
        db.bind_plan("p", "0000000000000001", kPoints, {"x"});
        for (int i = 0; i < kPoints; ++i) {
          PointRecord r;
          r.id = i;
          r.status = "completed";
          r.axes = {{"x", std::to_string(i)}};
          r.metrics = {{"m", 1.0 * i}, {"n", 2.0 * i}};
          db.record(r);
        }
      } catch (const std::exception&) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    for (int reads = 0; reads < 3; ++reads) {
      try {
        ResultsDb db(path);
        for (const auto& r : db.rows()) partial_rows += r.axes.size() != 1 || r.metrics.size() != 2;
      } catch (const std::exception& e) {
        ++reader_failures;
        if (first_error.empty()) first_error = e.what();
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    writer_failures += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  EXPECT_EQ(writer_failures, 0);
  EXPECT_EQ(reader_failures, 0) << first_error;
  EXPECT_EQ(partial_rows, 0);
}

// Two sweeps of one plan writing to one file at once: a point the other stored first is counted as already done,
// not an error (it was "UNIQUE constraint failed: points.id", exit 2), and the file ends as one uninterrupted run's.
TEST(SweepRun, TwoSweepsIntoOneFileBothFinishWithOneRowPerPoint) {
  const std::string dir = temp_dir();
  {
    ResultsDb db(dir + "/unit.db");
    PointRecord first;
    first.id = 7;
    first.status = "completed";
    first.axes = {{"x", "1"}};
    first.metrics = {{"m", 1.0}};
    EXPECT_TRUE(db.record(first));
    PointRecord again = first;
    again.metrics = {{"m", 2.0}};
    EXPECT_FALSE(db.record(again));
    const auto rows = db.rows();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].metrics, first.metrics);
  }
  const std::string plan = kDir + "long.yaml";
  const std::string cmd = kLcsim + " sweep " + plan + " -o " + dir + "/both.db -j 1 --no-progress";
  const Shell both = shell("(" + cmd + " > " + dir + "/a.txt 2>&1; echo bg=$? >> " + dir + "/a.txt) & " + cmd +
                           "; echo rc=$?; wait; cat " + dir + "/a.txt");
  EXPECT_NE(both.out.find("rc=0"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("bg=0"), std::string::npos) << both.out;
  EXPECT_EQ(both.out.find("UNIQUE"), std::string::npos) << both.out;
  ASSERT_EQ(shell(kLcsim + " sweep " + plan + " -o " + dir + "/clean.db --no-progress").rc, 0);
  ResultsDb merged(dir + "/both.db"), clean(dir + "/clean.db");
  EXPECT_EQ(export_csv(merged, false), export_csv(clean, false));
}

TEST(SweepRun, ShardsMergeIntoExactlyTheFullRun) {
  const std::string dir = temp_dir();
  const std::string plan = kDir + "grid.yaml";
  ASSERT_EQ(shell(kLcsim + " sweep " + plan + " -o " + dir + "/full.db --no-progress").rc, 4);  // 4 points fail
  for (int i = 0; i < 3; ++i) {
    const Shell s = shell(kLcsim + " sweep " + plan + " --shard " + std::to_string(i) + "/3 -o " + dir + "/s" +
                          std::to_string(i) + ".db --no-progress");
    ASSERT_TRUE(s.rc == 0 || s.rc == 4) << s.out;
  }
  const Shell m = shell(kLcsim + " results merge " + dir + "/merged.db " + dir + "/s0.db " + dir + "/s1.db " + dir +
                        "/s2.db");
  ASSERT_EQ(m.rc, 0) << m.out;
  EXPECT_NE(m.out.find("16 points added"), std::string::npos) << m.out;
  // Merging a shard twice adds nothing.
  EXPECT_NE(shell(kLcsim + " results merge " + dir + "/merged.db " + dir + "/s1.db").out.find("0 points added"),
            std::string::npos);
  const Shell full = shell(kLcsim + " results export " + dir + "/full.db --csv --no-wall");
  const Shell merged = shell(kLcsim + " results export " + dir + "/merged.db --csv --no-wall");
  ASSERT_EQ(full.rc, 0) << full.out;
  EXPECT_EQ(merged.out, full.out);
  // Each shard alone holds only its own ids.
  ResultsDb s1(dir + "/s1.db");
  for (int64_t id : s1.finished_ids()) EXPECT_EQ(id % 3, 1);
}

TEST(SweepRun, AKilledSweepResumesWithoutDuplicateOrMissingRows) {
  const std::string dir = temp_dir();
  const std::string plan = kDir + "long.yaml";
  const std::string db_path = dir + "/long.db";
  const size_t total = expand(load_plan(plan)).size();
  ASSERT_EQ(total, 128u);
  // A point takes about a millisecond and a half: a test process descheduled for a fifth of a second on a loaded
  // machine lets the sweep finish before the kill. Such a try shows nothing and is made again on a fresh file.
  size_t after_kill = total;
  for (int attempt = 0; attempt < 5 && after_kill == total; ++attempt) {
    fs::remove(db_path);
    fs::remove(db_path + "-wal");
    fs::remove(db_path + "-shm");
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl(kLcsim.c_str(), kLcsim.c_str(), "sweep", plan.c_str(), "-o", db_path.c_str(), "-j", "1", "--no-progress",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Kill it once a few points are in (and long before all are).
    size_t before = 0;
    for (int i = 0; i < 3000 && before < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (fs::exists(db_path)) {
        try {
          ResultsDb peek(db_path);
          before = peek.finished_ids().size();
        } catch (const std::exception&) {
          before = 0;
        }
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Exited on its own: it failed (a sweep of this plan finishes only with every point in), or it finished first.
    ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        << "the sweep failed before it could be killed (exit " << WEXITSTATUS(status) << ")";
    ResultsDb db(db_path);
    after_kill = db.finished_ids().size();
    if (WIFSIGNALED(status)) {
      EXPECT_GE(after_kill, 5u);
    }
  }
  ASSERT_LT(after_kill, total) << "every point finished before the kill in five tries: the test shows nothing";
  const Shell resumed = shell(kLcsim + " sweep " + plan + " -o " + db_path + " --no-progress");
  ASSERT_EQ(resumed.rc, 0) << resumed.out;
  EXPECT_NE(resumed.out.find(std::to_string(after_kill) + " already done"), std::string::npos) << resumed.out;
  ResultsDb db(db_path);
  const auto rows = db.rows();
  ASSERT_EQ(rows.size(), total);
  std::set<int64_t> ids;
  for (const auto& r : rows) {
    ids.insert(r.id);
    EXPECT_EQ(r.status, "completed") << r.error;
  }
  EXPECT_EQ(ids.size(), total);
  EXPECT_EQ(*ids.begin(), 0);
  EXPECT_EQ(*ids.rbegin(), static_cast<int64_t>(total - 1));
  // And the rows are those of an uninterrupted run.
  ASSERT_EQ(shell(kLcsim + " sweep " + plan + " -o " + dir + "/clean.db --no-progress").rc, 0);
  ResultsDb clean(dir + "/clean.db");
  EXPECT_EQ(export_csv(db, false), export_csv(clean, false));
}

TEST(SweepRun, MpirunGathersExactlyTheLocalRows) {
  ASSERT_EQ(shell("command -v mpirun").rc, 0) << "no mpirun: scripts/install-deps.sh installs openmpi-bin";
  const std::string dir = temp_dir();
  const std::string plan = kDir + "grid.yaml";
  // Root may run mpirun in a container only when it says so; --oversubscribe: 2 ranks on any machine.
  // Under ASan, OpenMPI's own plugins leak at exit (LeakSanitizer reports them from modules already unloaded, so no
  // suppression can name them): leak checking is off for the ranks only; every other check stays on.
  const char* env = std::getenv("ASAN_OPTIONS");
  const std::string asan = env ? "ASAN_OPTIONS=" + std::string(env) + ":detect_leaks=0 " : "";
  const Shell m = shell(asan + "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 " +
                        kLcsim + " sweep " + plan + " -o " + dir + "/mpi.db --no-progress");
  ASSERT_EQ(m.out.find("built without MPI"), std::string::npos) << "lcsim was built without MPI: " << m.out;
  ASSERT_EQ(m.rc, 4) << m.out;  // the 4 failing points fail under MPI too
  EXPECT_NE(m.out.find("lcsim sweep (mpirun, 2 ranks): 16 points: 12 completed, 0 incomplete (horizon), 4 failed"),
            std::string::npos)
      << m.out;
  // Both ranks ran their share.
  ResultsDb r1(dir + "/mpi.db.rank-1-of-2");
  EXPECT_EQ(r1.finished_ids().size(), 8u);
  ASSERT_EQ(shell(kLcsim + " sweep " + plan + " -o " + dir + "/local.db --no-progress").rc, 4);
  EXPECT_EQ(shell(kLcsim + " results export " + dir + "/mpi.db --csv --no-wall").out,
            shell(kLcsim + " results export " + dir + "/local.db --csv --no-wall").out);
}

TEST(SweepRun, FlowPointsRunAsChildProcesses) {
  const std::string dir = temp_dir();
  Plan plan = load_plan(kDir + "grid.yaml");
  plan.repetitions = 1;
  plan.seed.reset();
  plan.sets = {"simulation.fidelity=flow"};
  plan.dimensions.resize(1);  // nodes 1 and 2, micro-batch 2
  plan.constraints.clear();
  std::vector<Point> points = expand(plan);
  ASSERT_EQ(points.size(), 2u);
  ResultsDb db(dir + "/flow.db");
  db.bind_plan(plan.name, plan_fingerprint(points), points.size(), plan.axis_names());
  const RunSummary s = run_points(points, db, quiet(2));
  EXPECT_EQ(s.completed, 2u);
  const auto rows = db.rows();
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.status, "completed") << r.error;
    EXPECT_GT(r.metrics.size(), 5u);
  }
  // The child's metrics are lcsim run's: the same scenario run directly gives the same iteration time.
  const Shell run = shell(kLcsim + " run " + kDir + "small.yaml -q -o " + dir + "/direct --set simulation.fidelity=flow"
                          " --set cluster.nodes=2");
  ASSERT_EQ(run.rc, 0) << run.out;
  const auto direct = read_metrics_json(read(dir + "/direct/metrics.json"));
  ASSERT_FALSE(direct.empty());
  EXPECT_EQ(rows[1].metrics, direct);
}

TEST(SweepCli, ExportFormatsAndShow) {
  const std::string dir = temp_dir();
  ASSERT_EQ(shell(kLcsim + " sweep " + kDir + "grid.yaml -o " + dir + "/g.db --no-progress").rc, 4);
  const Shell jsonl = shell(kLcsim + " results export " + dir + "/g.db --jsonl");
  ASSERT_EQ(jsonl.rc, 0);
  size_t lines = 0;
  for (char c : jsonl.out) lines += c == '\n';
  EXPECT_EQ(lines, 16u);
  EXPECT_EQ(jsonl.out.rfind("{\"id\": 0, \"alternative\": \"\", \"repetition\": 0, \"seed\": ", 0), 0u) << jsonl.out;
  EXPECT_NE(jsonl.out.find("\"axes\": {\"nodes\": \"1\", \"mbs\": \"1\"}"), std::string::npos);
  const Shell show = shell(kLcsim + " results show " + dir + "/g.db");
  EXPECT_NE(show.out.find("16 of 16 points stored: 12 completed, 0 incomplete, 4 failed"), std::string::npos)
      << show.out;
  const Shell csv = shell(kLcsim + " results export " + dir + "/g.db --csv -o " + dir + "/g.csv");
  ASSERT_EQ(csv.rc, 0) << csv.out;
  EXPECT_EQ(read(dir + "/g.csv").rfind("id,alternative,repetition,seed,nodes,mbs,status,error,wall_s,", 0), 0u);
}

TEST(SweepCli, BadPlansAndFlagsExitTwoWithTheirLocation) {
  const std::string dir = temp_dir();
  std::ofstream(dir + "/bad.yaml") << "base: small.yaml\naxes:\n  - {key: cluster.nodes, values: 4}\n";
  const Shell s = shell(kLcsim + " sweep " + dir + "/bad.yaml");
  EXPECT_EQ(s.rc, 2);
  EXPECT_NE(s.out.find(dir + "/bad.yaml:3:34: axes[0].values: expected a non-empty list"), std::string::npos)
      << s.out;
  const Shell shard = shell(kLcsim + " sweep " + kDir + "grid.yaml --shard 3/3");
  EXPECT_EQ(shard.rc, 2);
  EXPECT_NE(shard.out.find("--shard: expected I/N with 0 <= I < N"), std::string::npos) << shard.out;
  EXPECT_EQ(shell(kLcsim + " sweep " + kDir + "grid.yaml --bogus").rc, 2);
  EXPECT_EQ(shell(kLcsim + " results export " + dir + "/missing.db --csv").rc, 2);
}

TEST(SweepCli, CompareRunsTheSameSeedsAndGivesAVerdict) {
  const Shell s = shell(kLcsim + " compare " + kDir + "small.yaml " + kDir + "small-mbs4.yaml -r 3 --no-progress");
  ASSERT_EQ(s.rc, 0) << s.out;
  EXPECT_NE(s.out.find("small-mbs4"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("iteration_time_s"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("3 repetitions per alternative"), std::string::npos) << s.out;
  // Deterministic analytical runs: a difference with no spread is certain.
  EXPECT_TRUE(s.out.find("better (p=0)") != std::string::npos || s.out.find("worse (p=0)") != std::string::npos)
      << s.out;
}

}  // namespace
}  // namespace lcsim::sweep
