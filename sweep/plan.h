// Sweep plans: a base scenario, axes over any scenario key (lists, linear and log ranges, zipped axes), random or
// Latin-hypercube samples, constraints, repetitions with derived seeds and named alternatives (`compare:`),
// expanded into points: each a base file plus `--set`-style overrides. The language is in docs/sweeps.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/config_tree.h"
#include "sweep/expr.h"

namespace lcsim::sweep {

/// One swept key and the values it takes (YAML text, as `--set KEY=VALUE` takes it).
struct Axis {
  std::string key;   // scenario key, e.g. workload.micro_batch_size
  std::string name;  // its name in constraints and result columns (default: the key's last part)
  std::vector<std::string> values;
  SourceLocation where;
};

/// Axes that vary together (`zip:`), or one axis alone: one dimension of the grid.
struct Dimension {
  std::vector<Axis> axes;  // all of the same length
  size_t size() const { return axes.empty() ? 0 : axes.front().values.size(); }
};

struct SampledAxis {
  std::string key, name;
  double min = 0, max = 1;
  bool log = false;      // uniform in log(value)
  bool integer = false;  // rounded to the nearest integer
  std::string unit;      // appended to the number ("Gb/s" -> "312.5Gb/s")
};

/// `samples:` random or Latin-hypercube points over continuous ranges: one more grid dimension of `count` points.
struct Sampling {
  std::string method = "latin_hypercube";  // or random
  size_t count = 0;
  uint64_t seed = 1;
  std::vector<SampledAxis> axes;
};

/// `compare:` one named alternative: its own base file (optional) and overrides.
struct Alternative {
  std::string name;
  std::string base;  // resolved path; empty: the plan's base
  std::vector<std::string> sets;
};

struct Constraint {
  Expr expr;
  SourceLocation where;
};

struct Plan {
  std::string name;
  std::string file;  // the plan file ("" when built in memory, e.g. by lcsim compare)
  std::string base;  // base scenario path (resolved against the plan's folder)
  std::vector<std::string> sets;  // fixed overrides for every point
  std::vector<Dimension> dimensions;
  std::optional<Sampling> sampling;
  std::vector<Constraint> constraints;
  std::vector<Alternative> alternatives;  // empty: one unnamed alternative
  int repetitions = 1;
  std::optional<uint64_t> seed;  // master seed for repetitions; unset with one repetition: the scenario's own
  /// Every axis name (grid and sampled), in column order.
  std::vector<std::string> axis_names() const;
};

/// One simulation of a sweep.
struct Point {
  size_t id = 0;  // index in the expanded plan: the same plan gives the same ids
  std::string alternative;  // "" without compare:
  int repetition = 0;
  std::optional<int64_t> seed;  // derived seed set by the plan (simulation.seed); unset: the scenario's own
  std::vector<std::pair<std::string, std::string>> axes;  // name, value (as in the plan)
  std::string base;
  std::vector<std::string> overrides;  // KEY=VALUE, applied in order
  /// base and overrides in one line: what the point runs (its identity for resuming).
  std::string identity() const;
};

/// Reads a plan file; every problem is reported as file:line:col: key: message (InputError).
Plan load_plan(const std::string& path);
/// The same from a tree (tests); `dir` resolves relative base paths.
Plan parse_plan(const ConfigValue& tree, const std::string& file, const std::string& dir);

/// Expands a plan into its points (constraints applied). Deterministic: the same plan, the same points.
std::vector<Point> expand(const Plan& plan);

/// The seed of repetition `rep` derived from `master` (the same for every alternative: common random numbers).
int64_t derive_seed(uint64_t master, int rep);

/// A YAML value as one-line flow text for KEY=VALUE ([a, b], {k: v}, quoted where YAML needs it).
std::string flow_yaml(const ConfigValue& v);

/// A 64-bit FNV-1a hash of every point's identity: two plans with the same fingerprint run the same points.
std::string plan_fingerprint(const std::vector<Point>& points);

}  // namespace lcsim::sweep
