// lcsim sweep / compare / results: front ends over sweep/ (plans, the results database, the runner, statistics).
#include "apps/cmd_sweep.h"

#include "apps/cmd_plan.h"
#include "apps/cmd_search.h"
#include "apps/cmd_sweep_mpi.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <fstream>
#include <iostream>

#include "sim/error.h"
#include "sweep/compare.h"
#include "sweep/plan.h"
#include "sweep/plot.h"
#include "sweep/progress.h"
#include "sweep/results_db.h"
#include "sweep/runner.h"

namespace lcsim::app {

namespace {

using namespace lcsim::sweep;

constexpr int kExitSomeFailed = 4;

const char* kSweepHelp = R"(usage: lcsim sweep PLAN.yaml [-o DB] [-j N] [--shard I/N] [--dry-run] [--no-progress]

Runs every point of a sweep plan (a base scenario, axes over scenario keys, samples, constraints, repetitions,
compare: alternatives; docs/sweeps.md) and stores each point's axis values, seed, status, error, wall time,
resolved-scenario hash and every metric in one SQLite file, as points finish. Re-running the same command
skips the points already in the file (a killed sweep resumes); a failed point keeps its error and does not
stop the others. Analytical points run in threads, flow points as child lcsim processes.

  -o, --output DB   the results database (default: out/sweeps/<plan name>.db, or
                    out/sweeps/<plan name>.shard-I-of-N.db with --shard)
  -j, --jobs N      points at once (default: every core)
  --shard I/N       run only points with id % N == I (0 <= I < N), e.g. one task of a Slurm job array
                    (--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT); join with lcsim results merge
  --dry-run         list the points (id, alternative, repetition, overrides) and run nothing
  --no-progress     no progress output (a bar with ETA on a terminal, plain lines otherwise)

Under mpirun (mpirun -n N lcsim sweep PLAN.yaml), rank r runs the points with id % N == r (in DB.rank-r-of-N,
kept for resuming) and rank 0 gathers every rank's points into DB over MPI.

exit codes: 0 every point ran, 4 some points failed (their errors are in the database), 2 bad plan or flag
)";

const char* kCompareHelp = R"(usage: lcsim compare A.yaml B.yaml [C.yaml ...] [-r N] [--seed S] [--set KEY=VALUE ...] [-j N] [-o DB] [--all]

Runs each scenario N times with the same seeds (common random numbers: repetition r of every scenario gets
the same seed) and prints every metric side by side: each scenario's mean (± the 95% confidence interval with
N >= 2), the delta and relative delta against A, the delta's 95% interval, and a verdict (better, worse, or not
significant at 5%: paired t-test over the repetitions).

  -r, --repetitions N  runs per scenario (default 1: deterministic deltas, no intervals)
  --seed S             master seed the repetitions' seeds derive from (default 1)
  --set KEY=VALUE      override a key in every scenario (repeatable)
  -j, --jobs N         runs at once (default: every core)
  -o, --output DB      keep the runs in a results database (default: in memory)
  --all                also list metrics that are equal in every scenario
)";

const char* kResultsHelp = R"(usage: lcsim results export DB (--csv | --jsonl) [-o FILE] [--no-wall]
       lcsim results merge OUT.db IN.db [IN.db ...]
       lcsim results show DB
       lcsim results compare DB [--all]

  export    every point as CSV (a column per axis and per metric) or JSON lines, to FILE or stdout;
            --no-wall drops wall_s, the one column that differs between identical runs
  merge     copies the points of each IN (shards of one plan: the plan's fingerprint must match) into OUT
  show      the plan, how many points finished in each status, and each failed point's error
  compare   the alternatives of a plan with compare: (or repetitions) side by side, per axis combination
)";

const char* kPlotHelp = R"(usage: lcsim plot DB --x COLUMN --y METRIC [--group COLUMN] [--kind line|bar|heatmap] [-o PREFIX]
                  [--title TEXT] [--where COLUMN=VALUE ...]

Plots METRIC of a results database against COLUMN (an axis name, alternative, repetition or seed), one series
per value of --group, the repetitions averaged (line: error bars of the 95% interval). heatmap: --x across,
--group up, the metric as colour. Writes PREFIX.svg and PREFIX.png (gnuplot), with the data (PREFIX.dat) and
the gnuplot script (PREFIX.gp) beside them. PREFIX defaults to the database's name plus -METRIC-by-COLUMN.
Points of every other axis are averaged together with the repetitions: pin them with --where (repeatable).
)";

bool is_help(const std::string& a) { return a == "-h" || a == "--help" || a == "help"; }

struct ArgList {
  std::vector<std::string> items;
  size_t pos = 0;
  std::string cmd;
  bool done() const { return pos >= items.size(); }
  std::string next() { return items[pos++]; }
  std::string value_of(const std::string& flag) {
    if (done()) throw InputError("option " + flag + " needs a value (see lcsim " + cmd + " --help)");
    return next();
  }
  int int_of(const std::string& flag, int lo, int hi) {
    const std::string v = value_of(flag);
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < lo || n > hi) {
      throw InputError("option " + flag + ": expected an integer in " + std::to_string(lo) + ".." +
                       std::to_string(hi) + ", got '" + v + "'");
    }
    return static_cast<int>(n);
  }
  [[noreturn]] void unknown(const std::string& opt) const {
    throw InputError("unknown option '" + opt + "' for 'lcsim " + cmd + "' (see lcsim " + cmd + " --help)");
  }
};

std::string self_binary() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

void print_summary(const RunSummary& s, const std::string& db_path) {
  std::printf("lcsim sweep: %zu points: %zu completed, %zu incomplete (horizon), %zu failed, %zu already done; "
              "%s\n",
              s.points, s.completed, s.incomplete, s.failed, s.skipped, format_duration(s.wall_s).c_str());
  if (db_path != ":memory:") {
    std::printf("  results in %s (lcsim results export %s --csv; lcsim results show %s)\n", db_path.c_str(),
                db_path.c_str(), db_path.c_str());
  }
}

void print_comparisons(const ResultsDb& db, bool all) {
  for (const auto& c : compare_rows(db.rows())) std::printf("%s", format_comparison(c, all).c_str());
}

int cmd_sweep(ArgList& a) {
  std::string plan_file, db_path;
  RunOptions opt;
  bool dry = false, progress = true, shard_given = false;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kSweepHelp;
      return 0;
    }
    if (x == "-o" || x == "--output") db_path = a.value_of(x);
    else if (x == "-j" || x == "--jobs") opt.jobs = a.int_of(x, 1, 4096);
    else if (x == "--shard") {
      opt.shard = parse_shard(a.value_of(x));
      shard_given = true;
    } else if (x == "--dry-run") dry = true;
    else if (x == "--no-progress") progress = false;
    else if (!x.empty() && x[0] == '-') a.unknown(x);
    else if (plan_file.empty()) plan_file = x;
    else throw InputError("lcsim sweep takes one plan file, got '" + plan_file + "' and '" + x + "'");
  }
  if (plan_file.empty()) throw InputError(std::string("lcsim sweep needs a plan file\n") + kSweepHelp);
  const Plan plan = load_plan(plan_file);
  const std::vector<Point> points = expand(plan);
  if (dry) {
    size_t mine = 0;
    for (const auto& p : points) {
      if (!opt.shard.owns(p.id)) continue;
      ++mine;
      std::printf("%zu%s%s rep %d: %s\n", p.id, p.alternative.empty() ? "" : " ", p.alternative.c_str(),
                  p.repetition, p.identity().c_str());
    }
    std::printf("%zu points (%zu in this shard); fingerprint %s\n", points.size(), mine,
                plan_fingerprint(points).c_str());
    return 0;
  }
  if (db_path.empty()) {
    db_path = "out/sweeps/" + plan.name +
              (shard_given ? ".shard-" + std::to_string(opt.shard.index) + "-of-" + std::to_string(opt.shard.count)
                           : std::string()) +
              ".db";
  }
  if (const auto parent = std::filesystem::path(db_path).parent_path(); !parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  opt.lcsim_binary = self_binary();
  if (progress) {
    opt.progress = &std::cerr;
    opt.progress_tty = ::isatty(2) != 0;
  }
  if (launched_by_mpirun()) {
    if (shard_given) throw InputError("--shard and mpirun both split the points: use one of them");
    if (opt.jobs == 0) {  // share the machine's cores among the ranks on it
      const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
      const int ranks_here = local ? std::max(1, std::atoi(local)) : 1;
      opt.jobs = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks_here);
    }
    return mpi_sweep(plan, points, db_path, opt);
  }
  ResultsDb db(db_path);
  db.bind_plan(plan.name, plan_fingerprint(points), points.size(), plan.axis_names());
  const RunSummary s = run_points(points, db, opt);
  print_summary(s, db_path);
  if (!plan.alternatives.empty() && !shard_given) print_comparisons(db, false);
  return s.failed ? kExitSomeFailed : 0;
}

int cmd_compare(ArgList& a) {
  Plan plan;
  plan.name = "compare";
  std::vector<std::string> files;
  std::string db_path = ":memory:";
  RunOptions opt;
  bool all = false, progress = true;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kCompareHelp;
      return 0;
    }
    if (x == "-r" || x == "--repetitions") plan.repetitions = a.int_of(x, 1, 100000);
    else if (x == "--seed") plan.seed = static_cast<uint64_t>(a.int_of(x, 0, 2147483647));
    else if (x == "--set") plan.sets.push_back(a.value_of(x));
    else if (x == "-j" || x == "--jobs") opt.jobs = a.int_of(x, 1, 4096);
    else if (x == "-o" || x == "--output") db_path = a.value_of(x);
    else if (x == "--all") all = true;
    else if (x == "--no-progress") progress = false;
    else if (!x.empty() && x[0] == '-') a.unknown(x);
    else files.push_back(x);
  }
  if (files.size() < 2) throw InputError(std::string("lcsim compare needs two scenario files or more\n") + kCompareHelp);
  for (size_t i = 0; i < files.size(); ++i) {
    Alternative alt;
    alt.name = std::filesystem::path(files[i]).stem().string();
    for (size_t j = 0; j < i; ++j) {
      if (plan.alternatives[j].name == alt.name) alt.name += "#" + std::to_string(i + 1);
    }
    alt.base = files[i];
    plan.alternatives.push_back(alt);
  }
  if (!plan.seed) plan.seed = 1;  // always derive: every alternative gets the same seeds
  const std::vector<Point> points = expand(plan);
  ResultsDb db(db_path);
  db.bind_plan(plan.name, plan_fingerprint(points), points.size(), plan.axis_names());
  opt.lcsim_binary = self_binary();
  if (progress && points.size() > 1) {
    opt.progress = &std::cerr;
    opt.progress_tty = ::isatty(2) != 0;
  }
  const RunSummary s = run_points(points, db, opt);
  for (const auto& r : db.rows()) {
    if (r.status == "error") {
      std::fprintf(stderr, "error: %s repetition %d: %s\n", r.alternative.c_str(), r.repetition, r.error.c_str());
    }
  }
  print_comparisons(db, all);
  if (db_path != ":memory:") print_summary(s, db_path);
  return s.failed ? kExitSomeFailed : 0;
}

void require_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw InputError("no such results database: '" + path + "'");
}

int cmd_results(ArgList& a) {
  if (a.done()) throw InputError(std::string("lcsim results needs a subcommand\n") + kResultsHelp);
  const std::string sub = a.next();
  if (is_help(sub)) {
    std::cout << kResultsHelp;
    return 0;
  }
  a.cmd = "results " + sub;
  if (sub == "export") {
    std::string db_path, format, out_file;
    bool wall = true;
    while (!a.done()) {
      const std::string x = a.next();
      if (x == "--csv" || x == "--jsonl") format = x;
      else if (x == "-o" || x == "--output") out_file = a.value_of(x);
      else if (x == "--no-wall") wall = false;
      else if (!x.empty() && x[0] == '-') a.unknown(x);
      else db_path = x;
    }
    if (db_path.empty() || format.empty()) {
      throw InputError(std::string("lcsim results export needs DB and --csv or --jsonl\n") + kResultsHelp);
    }
    require_file(db_path);
    ResultsDb db(db_path);
    const std::string text = format == "--csv" ? export_csv(db, wall) : export_jsonl(db, wall);
    if (out_file.empty()) {
      std::cout << text;
    } else {
      std::ofstream f(out_file, std::ios::binary);
      f << text;
      if (!f) throw InputError("cannot write '" + out_file + "'");
    }
    return 0;
  }
  if (sub == "merge") {
    std::vector<std::string> files;
    while (!a.done()) {
      const std::string x = a.next();
      if (!x.empty() && x[0] == '-') a.unknown(x);
      files.push_back(x);
    }
    if (files.size() < 2) throw InputError(std::string("lcsim results merge needs OUT.db and IN.db ...\n") + kResultsHelp);
    ResultsDb out(files[0]);
    size_t added = 0;
    for (size_t i = 1; i < files.size(); ++i) {
      require_file(files[i]);
      added += out.merge_from(files[i]);
    }
    std::printf("lcsim results merge: %zu points added; %s holds %zu of the plan's %s points\n", added,
                files[0].c_str(), out.finished_ids().size(), out.meta("points").value_or("?").c_str());
    return 0;
  }
  std::string db_path;
  bool all = false;
  while (!a.done()) {
    const std::string x = a.next();
    if (x == "--all" && sub == "compare") all = true;
    else if (!x.empty() && x[0] == '-') a.unknown(x);
    else db_path = x;
  }
  if (db_path.empty()) throw InputError("lcsim results " + sub + " needs DB\n" + kResultsHelp);
  if (sub == "show") {
    require_file(db_path);
    ResultsDb db(db_path);
    const auto rows = db.rows();
    size_t completed = 0, incomplete = 0, failed = 0;
    for (const auto& r : rows) {
      if (r.status == "completed") ++completed;
      else if (r.status == "incomplete") ++incomplete;
      else ++failed;
    }
    std::printf("plan %s (fingerprint %s): %zu of %s points stored: %zu completed, %zu incomplete, %zu failed\n",
                db.meta("plan_name").value_or("?").c_str(), db.meta("plan_fingerprint").value_or("?").c_str(),
                rows.size(), db.meta("points").value_or("?").c_str(), completed, incomplete, failed);
    for (const auto& r : rows) {
      if (r.status == "error") std::printf("  point %lld: %s\n", static_cast<long long>(r.id), r.error.c_str());
    }
    return 0;
  }
  if (sub == "compare") {
    require_file(db_path);
    ResultsDb db(db_path);
    print_comparisons(db, all);
    return 0;
  }
  throw InputError("unknown subcommand 'results " + sub + "' (valid: compare, export, merge, show)");
}

int cmd_plot(ArgList& a) {
  PlotRequest req;
  std::string db_path;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kPlotHelp;
      return 0;
    }
    if (x == "--x") req.x = a.value_of(x);
    else if (x == "--y") req.y = a.value_of(x);
    else if (x == "--group") req.group = a.value_of(x);
    else if (x == "--kind") req.kind = a.value_of(x);
    else if (x == "-o" || x == "--output") req.prefix = a.value_of(x);
    else if (x == "--title") req.title = a.value_of(x);
    else if (x == "--where") {
      const std::string w = a.value_of(x);
      const auto eq = w.find('=');
      if (eq == std::string::npos || eq == 0) throw InputError("--where: expected COLUMN=VALUE, got '" + w + "'");
      req.where.emplace_back(w.substr(0, eq), w.substr(eq + 1));
    }
    else if (!x.empty() && x[0] == '-') a.unknown(x);
    else db_path = x;
  }
  if (db_path.empty() || req.x.empty() || req.y.empty()) {
    throw InputError(std::string("lcsim plot needs DB, --x and --y\n") + kPlotHelp);
  }
  require_file(db_path);
  ResultsDb db(db_path);
  if (req.prefix.empty()) {
    std::string stem = db_path;
    if (stem.size() > 3 && stem.compare(stem.size() - 3, 3, ".db") == 0) stem.resize(stem.size() - 3);
    req.prefix = stem + "-" + req.y + "-by-" + req.x;
  }
  const PlotFiles files = make_plot(db.rows(), db.axis_names(), req);
  render_plot(files, req);
  std::printf("lcsim plot: %zu points; wrote %s.svg and %s.png (data %s.dat, script %s.gp)\n", files.points,
              req.prefix.c_str(), req.prefix.c_str(), req.prefix.c_str(), req.prefix.c_str());
  return 0;
}

}  // namespace

int sweep_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return -1;
  const std::string& cmd = argv[0];
  if (cmd == "search") return cmd_search({argv.begin() + 1, argv.end()});
  if (cmd == "plan") return cmd_plan({argv.begin() + 1, argv.end()});
  if (cmd != "sweep" && cmd != "compare" && cmd != "results" && cmd != "plot") return -1;
  ArgList a;
  a.items.assign(argv.begin() + 1, argv.end());
  a.cmd = cmd;
  if (cmd == "sweep") return cmd_sweep(a);
  if (cmd == "compare") return cmd_compare(a);
  if (cmd == "plot") return cmd_plot(a);
  return cmd_results(a);
}

}  // namespace lcsim::app
