// A sweep's results in one SQLite file: a row per finished point (axis values, seed, status, error, wall time,
// the resolved scenario's hash) and every metric, each point written in its own transaction as it finishes, so
// a sweep killed at any moment loses no finished point and a re-run skips them. Schema in docs/sweeps.md.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace lcsim::sweep {

/// One finished point, as stored.
struct PointRecord {
  int64_t id = 0;
  std::string alternative;
  int repetition = 0;
  int64_t seed = 0;
  std::vector<std::pair<std::string, std::string>> axes;  // name, value
  std::string status;  // completed, incomplete (the horizon cut it short), error
  std::string error;
  double wall_s = 0;
  std::string scenario_hash;  // of the resolved scenario (16 hex digits); empty when it did not load
  std::vector<std::pair<std::string, double>> metrics;  // name, value, in the order the run reported them
};

class ResultsDb {
 public:
  /// Opens (creating if needed) the database at `path`. Throws InputError when it cannot, or when the file is
  /// not an lcsim results database.
  explicit ResultsDb(const std::string& path);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  /// Ties the database to a plan: the first call stores the name and fingerprint; later calls (a resumed or
  /// merged sweep) must match, else InputError (the file holds another plan's results).
  void bind_plan(const std::string& name, const std::string& fingerprint, size_t points,
                 const std::vector<std::string>& axis_names);
  std::optional<std::string> meta(const std::string& key) const;
  /// Ids of the points already stored.
  std::set<int64_t> finished_ids() const;
  /// Stores one point with its metrics, in one transaction (nothing or all of it is in the file). Returns false,
  /// storing nothing, when the file holds that point already (another sweep of the plan wrote it meanwhile).
  bool record(const PointRecord& r);
  /// Every point, by id.
  std::vector<PointRecord> rows() const;
  /// Axis names in column order (from the plan).
  std::vector<std::string> axis_names() const;
  /// Copies every point of `other` not already here (same plan required). Returns how many were added.
  size_t merge_from(const std::string& other_path);
  const std::string& path() const { return path_; }

 private:
  void exec(const std::string& sql) const;
  /// `exec`, retried for up to the busy timeout while SQLite answers SQLITE_BUSY without waiting itself.
  void exec_retrying(const std::string& sql) const;
  /// Runs `body` between `begin` (BEGIN or BEGIN IMMEDIATE) and COMMIT; rolls back and rethrows if it throws.
  template <class Body>
  void in_transaction(const char* begin, Body&& body) const;
  std::vector<PointRecord> rows_in_transaction() const;
  std::string path_;
  sqlite3* db_ = nullptr;
};

/// The rows as CSV: id, alternative, repetition, seed, one column per axis, status, error, wall_s,
/// scenario_hash, then one column per metric (union over the rows, in first-seen order). `wall` false drops
/// wall_s (the one column that differs between identical runs).
std::string export_csv(const ResultsDb& db, bool wall = true);
/// The rows as JSON lines, one object per point with an "axes" and a "metrics" object.
std::string export_jsonl(const ResultsDb& db, bool wall = true);

}  // namespace lcsim::sweep
