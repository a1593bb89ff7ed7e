// Running a sweep's points: analytical points in oneTBB worker threads (in process, through eval/), flow points
// (SimGrid: one engine per process) as child `lcsim run` processes, N at a time; each finished point is written
// to the results database at once, and points already there are skipped (resuming a killed sweep).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "eval/evaluate.h"
#include "sweep/plan.h"
#include "sweep/results_db.h"

namespace lcsim::sweep {

struct Shard {
  int index = 0;  // 0-based
  int count = 1;
  bool owns(size_t id) const { return static_cast<int>(id % static_cast<size_t>(count)) == index; }
};
/// Reads "i/N" (0 <= i < N). Throws InputError naming the flag.
Shard parse_shard(const std::string& text);

struct RunOptions {
  int jobs = 0;               // points at once; 0: every core
  std::string lcsim_binary;   // the lcsim program, for flow points (child processes)
  Shard shard;                // run only the points this shard owns
  std::ostream* progress = nullptr;  // progress lines (or a bar when progress_tty) go here; null: none
  bool progress_tty = false;
};

struct RunSummary {
  size_t points = 0;    // in the plan (this shard's share)
  size_t skipped = 0;   // already in the database
  size_t completed = 0, incomplete = 0, failed = 0;
  double wall_s = 0;
};

/// Runs one point (no database): loads its scenario, evaluates it in process (analytical) or in a child
/// process (flow), and returns its record. Never throws for a problem with the point: it becomes the error.
/// `shared`: what in-process evaluations share (their clusters' fabrics; eval/evaluate.h), or null.
PointRecord run_point(const Point& point, const RunOptions& options, EvalContext* shared = nullptr);

/// Runs every point of `points` this shard owns that `db` does not hold yet, recording each as it finishes.
RunSummary run_points(const std::vector<Point>& points, ResultsDb& db, const RunOptions& options);

/// The metrics object of a metrics.json (name -> value; null as NaN), in file order. Throws
/// std::runtime_error if the text is not such a file.
std::vector<std::pair<std::string, double>> read_metrics_json(const std::string& text);

}  // namespace lcsim::sweep
