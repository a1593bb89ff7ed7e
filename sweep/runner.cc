// See runner.h. Child processes are started with posix_spawn (safe from a threaded process, unlike fork).
#include "sweep/runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "eval/batch.h"
#include "eval/evaluate.h"
#include "sim/error.h"
#include "sim/rng.h"
#include "sweep/progress.h"

extern char** environ;

namespace lcsim::sweep {

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

/// Runs `lcsim run` for one flow point in a fresh process; fills status, error and metrics.
void run_child(const Point& p, const RunOptions& options, PointRecord& rec) {
  namespace fs = std::filesystem;
  static std::atomic<uint64_t> counter{0};
  const fs::path work = fs::temp_directory_path() /
                        ("lcsim-sweep-" + std::to_string(::getpid()) + "-" + std::to_string(p.id) + "-" +
                         std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work);
  const std::string out_dir = (work / "out").string();
  const std::string err_file = (work / "stderr.txt").string();
  std::vector<std::string> args = {options.lcsim_binary, "run", p.base, "-q", "--no-progress", "-o", out_dir};
  for (const auto& o : p.overrides) {
    args.push_back("--set");
    args.push_back(o);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, options.lcsim_binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    rec.status = "error";
    rec.error = "cannot start '" + options.lcsim_binary + "' for a flow-fidelity point: " + std::strerror(rc);
    fs::remove_all(work, ec);
    return;
  }
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const std::string err = trim(read_file(err_file));
  const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (code == 0 || code == 3) {
    try {
      rec.metrics = read_metrics_json(read_file(fs::path(out_dir) / "metrics.json"));
      rec.status = code == 0 ? "completed" : "incomplete";
      if (code == 3) rec.error = err;
    } catch (const std::exception& e) {
      rec.status = "error";
      rec.error = std::string("lcsim run wrote no readable metrics.json: ") + e.what();
    }
  } else {
    rec.status = "error";
    rec.error = err.empty() ? "lcsim run " + std::string(WIFSIGNALED(wstatus) ? "was killed by signal " +
                                                                                    std::to_string(WTERMSIG(wstatus))
                                                                              : "exited " + std::to_string(code))
                            : err;
  }
  fs::remove_all(work, ec);
}

}  // namespace

Shard parse_shard(const std::string& text) {
  Shard s;
  const auto slash = text.find('/');
  char* e1 = nullptr;
  char* e2 = nullptr;
  if (slash != std::string::npos) {
    const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
    s.index = static_cast<int>(std::strtol(a.c_str(), &e1, 10));
    s.count = static_cast<int>(std::strtol(b.c_str(), &e2, 10));
    if (!a.empty() && !b.empty() && *e1 == '\0' && *e2 == '\0' && s.count >= 1 && s.count <= 1000000 &&
        s.index >= 0 && s.index < s.count) {
      return s;
    }
  }
  throw InputError("--shard: expected I/N with 0 <= I < N (e.g. --shard 0/4, or --shard $SLURM_ARRAY_TASK_ID/4), "
                   "got '" + text + "'");
}

std::vector<std::pair<std::string, double>> read_metrics_json(const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  size_t pos = text.find("\"metrics\"");
  if (pos == std::string::npos) throw std::runtime_error("no \"metrics\" object");
  pos = text.find('{', pos);
  if (pos == std::string::npos) throw std::runtime_error("no \"metrics\" object");
  ++pos;
  auto skip = [&] {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\r' || text[pos] == '\t' ||
                                 text[pos] == ',')) {
      ++pos;
    }
  };
  for (;;) {
    skip();
    if (pos >= text.size()) throw std::runtime_error("metrics object not closed");
    if (text[pos] == '}') break;
    if (text[pos] != '"') throw std::runtime_error("expected a metric name");
    std::string name;
    for (++pos; pos < text.size() && text[pos] != '"'; ++pos) {
      if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
      name += text[pos];
    }
    pos = text.find(':', pos);
    if (pos == std::string::npos) throw std::runtime_error("expected ':'");
    ++pos;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    if (text.compare(pos, 4, "null") == 0) {
      out.emplace_back(name, std::nan(""));
      pos += 4;
      continue;
    }
    char* end = nullptr;
    const double v = std::strtod(text.c_str() + pos, &end);
    if (end == text.c_str() + pos) throw std::runtime_error("metric '" + name + "' is not a number");
    out.emplace_back(name, v);
    pos = static_cast<size_t>(end - text.c_str());
  }
  return out;
}

PointRecord run_point(const Point& p, const RunOptions& options, EvalContext* shared) {
  const auto t0 = std::chrono::steady_clock::now();
  PointRecord rec;
  rec.id = static_cast<int64_t>(p.id);
  rec.alternative = p.alternative;
  rec.repetition = p.repetition;
  rec.axes = p.axes;
  rec.seed = p.seed.value_or(0);
  try {
    Scenario sc = load_scenario(p.base, p.overrides);
    rec.seed = sc.simulation.seed;
    rec.scenario_hash = hex64(hash_name(resolved_yaml(sc)));
    if (uses_simgrid(sc)) {
      if (options.lcsim_binary.empty()) {
        rec.status = "error";
        rec.error = "flow-fidelity points run as child lcsim processes, and no lcsim program was given";
      } else {
        run_child(p, options, rec);
      }
    } else {
      EvalOptions eval;
      eval.context = shared;  // the sweep's points share their clusters' fabrics
      eval.table = false;     // a point keeps only its metrics
      Result r = evaluate(std::move(sc), eval);
      if (r.ok()) {
        rec.status = r.status == Result::Status::kCompleted ? "completed" : "incomplete";
        for (const auto& m : r.metrics.metrics()) rec.metrics.emplace_back(m.name, m.value);
        if (r.status == Result::Status::kIncomplete && !r.warnings.empty()) rec.error = r.warnings.back();
      } else {
        rec.status = "error";
        rec.error = trim(r.error);
      }
    }
  } catch (const std::exception& e) {  // InputError from loading the scenario, or anything else
    rec.status = "error";
    rec.error = trim(e.what());
  }
  rec.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rec;
}

RunSummary run_points(const std::vector<Point>& points, ResultsDb& db, const RunOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  RunSummary sum;
  const std::set<int64_t> done = db.finished_ids();
  std::vector<const Point*> todo;
  for (const auto& p : points) {
    if (!options.shard.owns(p.id)) continue;
    ++sum.points;
    if (done.count(static_cast<int64_t>(p.id))) ++sum.skipped;
    else todo.push_back(&p);
  }
  Progress progress(todo.size(), sum.skipped, options.progress, options.progress_tty);
  std::mutex mu;
  EvalContext shared;
  for_each_index(todo.size(), options.jobs, [&](size_t i) {
    PointRecord rec = run_point(*todo[i], options, &shared);
    std::lock_guard<std::mutex> lock(mu);
    if (!db.record(rec)) ++sum.skipped;  // another sweep writing to the file stored it first
    else if (rec.status == "completed") ++sum.completed;
    else if (rec.status == "incomplete") ++sum.incomplete;
    else ++sum.failed;
    progress.point_done(rec);
  });
  progress.finish();
  sum.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace lcsim::sweep
