// SQLite storage of sweep results (see results_db.h). WAL journal: a point's transaction is durable once
// committed, even if the process is killed right after (synchronous=NORMAL guards against process death, which
// is what a killed sweep is; a power cut may lose the last points, which a re-run then redoes).
#include "sweep/results_db.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "sim/error.h"
#include "sim/json.h"

namespace lcsim::sweep {

namespace {

constexpr int kBusyTimeoutMs = 60000;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
  id INTEGER PRIMARY KEY, alternative TEXT NOT NULL, repetition INTEGER NOT NULL, seed INTEGER NOT NULL,
  status TEXT NOT NULL, error TEXT NOT NULL, wall_s REAL NOT NULL, scenario_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS axis_values (
  point_id INTEGER NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (point_id, position));
CREATE TABLE IF NOT EXISTS metrics (
  point_id INTEGER NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
  PRIMARY KEY (point_id, name));
)";

/// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) {
      throw InputError("results database: " + std::string(sqlite3_errmsg(db)) + " in: " + sql);
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    if (std::isnan(v)) sqlite3_bind_null(s_, i);
    else sqlite3_bind_double(s_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw InputError("results database: " + std::string(sqlite3_errmsg(db_)));
  }
  void run() {
    step();
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const {
    return sqlite3_column_type(s_, c) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(s_, c);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> metric_columns(const std::vector<PointRecord>& rows) {
  std::vector<std::string> names;
  std::map<std::string, bool> seen;
  for (const auto& r : rows) {
    for (const auto& m : r.metrics) {
      if (!seen[m.first]) {
        seen[m.first] = true;
        names.push_back(m.first);
      }
    }
  }
  return names;
}

}  // namespace

ResultsDb::ResultsDb(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError("cannot open results database '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  try {
    // Another process may be opening the same new file (a sweep and a reader watching it): switching the journal
    // to WAL returns SQLITE_BUSY at once, without the busy handler, while the other holds the file, so it is
    // retried; the schema is created under a write lock taken up front (BEGIN IMMEDIATE waits on the handler),
    // never by a read upgraded to a write, which SQLite also refuses at once.
    exec_retrying("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    in_transaction("BEGIN IMMEDIATE", [&] { exec(kSchema); });
  } catch (const InputError& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError("'" + path + "' is not an lcsim results database (" + e.what() + ")");
  }
}

ResultsDb::~ResultsDb() { sqlite3_close(db_); }

void ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw InputError("results database '" + path_ + "': " + msg);
  }
}

template <class Body>
void ResultsDb::in_transaction(const char* begin, Body&& body) const {
  exec(begin);
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void ResultsDb::exec_retrying(const std::string& sql) const {
  for (int waited_ms = 0;; ++waited_ms) {
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) {
      throw InputError("results database '" + path_ + "': " + sqlite3_errmsg(db_));
    }
    sqlite3_sleep(1);
  }
}

std::optional<std::string> ResultsDb::meta(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (s.step()) return s.text(0);
  return std::nullopt;
}

void ResultsDb::bind_plan(const std::string& name, const std::string& fingerprint, size_t points,
                          const std::vector<std::string>& axis_names) {
  if (auto fp = meta("plan_fingerprint")) {
    if (*fp != fingerprint) {
      throw InputError("results database '" + path_ + "' holds the results of another plan ('" +
                       meta("plan_name").value_or("?") + "', fingerprint " + *fp + "; this plan: '" + name +
                       "', " + fingerprint + "): write to a new file (-o) or delete it");
    }
    return;
  }
  std::string axes;
  for (const auto& a : axis_names) axes += (axes.empty() ? "" : "\n") + a;
  in_transaction("BEGIN IMMEDIATE", [&] {
    Stmt s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
    s.bind(1, std::string("plan_name")).bind(2, name).run();
    s.bind(1, std::string("plan_fingerprint")).bind(2, fingerprint).run();
    s.bind(1, std::string("points")).bind(2, std::to_string(points)).run();
    s.bind(1, std::string("axes")).bind(2, axes).run();
    s.bind(1, std::string("schema")).bind(2, std::string("1")).run();
  });
}

std::vector<std::string> ResultsDb::axis_names() const {
  std::vector<std::string> out;
  const std::string axes = meta("axes").value_or("");
  size_t start = 0;
  while (start < axes.size()) {
    const size_t nl = axes.find('\n', start);
    out.push_back(axes.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

std::set<int64_t> ResultsDb::finished_ids() const {
  std::set<int64_t> out;
  Stmt s(db_, "SELECT id FROM points");
  while (s.step()) out.insert(s.integer(0));
  return out;
}

bool ResultsDb::record(const PointRecord& r) {
  bool stored = false;
  in_transaction("BEGIN IMMEDIATE", [&] {
    // Another sweep of the same plan writing to the same file may have stored this point since this one read
    // finished_ids(): its row stands (the same plan and seed give the same result) and this one adds nothing.
    Stmt p(db_, "INSERT INTO points(id, alternative, repetition, seed, status, error, wall_s, scenario_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING");
    p.bind(1, r.id).bind(2, r.alternative).bind(3, static_cast<int64_t>(r.repetition)).bind(4, r.seed);
    p.bind(5, r.status).bind(6, r.error).bind(7, r.wall_s).bind(8, r.scenario_hash).run();
    if (sqlite3_changes(db_) == 0) return;
    stored = true;
    Stmt a(db_, "INSERT INTO axis_values(point_id, position, name, value) VALUES (?, ?, ?, ?)");
    for (size_t i = 0; i < r.axes.size(); ++i) {
      a.bind(1, r.id).bind(2, static_cast<int64_t>(i)).bind(3, r.axes[i].first).bind(4, r.axes[i].second).run();
    }
    Stmt m(db_, "INSERT OR REPLACE INTO metrics(point_id, position, name, value) VALUES (?, ?, ?, ?)");
    for (size_t i = 0; i < r.metrics.size(); ++i) {
      m.bind(1, r.id).bind(2, static_cast<int64_t>(i)).bind(3, r.metrics[i].first).bind(4, r.metrics[i].second);
      m.run();
    }
  });
  return stored;
}

std::vector<PointRecord> ResultsDb::rows() const {
  // One read transaction: the three tables as of one instant, though a running sweep commits points meanwhile.
  std::vector<PointRecord> out;
  in_transaction("BEGIN", [&] { out = rows_in_transaction(); });
  return out;
}

std::vector<PointRecord> ResultsDb::rows_in_transaction() const {
  std::vector<PointRecord> out;
  std::map<int64_t, size_t> at;
  {
    Stmt s(db_, "SELECT id, alternative, repetition, seed, status, error, wall_s, scenario_hash FROM points "
                "ORDER BY id");
    while (s.step()) {
      PointRecord r;
      r.id = s.integer(0);
      r.alternative = s.text(1);
      r.repetition = static_cast<int>(s.integer(2));
      r.seed = s.integer(3);
      r.status = s.text(4);
      r.error = s.text(5);
      r.wall_s = s.real(6);
      r.scenario_hash = s.text(7);
      at[r.id] = out.size();
      out.push_back(std::move(r));
    }
  }
  {
    Stmt s(db_, "SELECT point_id, name, value FROM axis_values ORDER BY point_id, position");
    while (s.step()) out[at.at(s.integer(0))].axes.emplace_back(s.text(1), s.text(2));
  }
  {
    Stmt s(db_, "SELECT point_id, name, value FROM metrics ORDER BY point_id, position");
    while (s.step()) out[at.at(s.integer(0))].metrics.emplace_back(s.text(1), s.real(2));
  }
  return out;
}

size_t ResultsDb::merge_from(const std::string& other_path) {
  ResultsDb other(other_path);
  auto fp = other.meta("plan_fingerprint");
  if (!fp) throw InputError("'" + other_path + "' holds no sweep (no plan recorded)");
  bind_plan(other.meta("plan_name").value_or(""), *fp, std::stoul(other.meta("points").value_or("0")),
            other.axis_names());
  const std::set<int64_t> have = finished_ids();
  size_t added = 0;
  for (const auto& r : other.rows()) {
    if (have.count(r.id)) continue;
    added += record(r) ? 1 : 0;
  }
  return added;
}

std::string export_csv(const ResultsDb& db, bool wall) {
  const std::vector<PointRecord> rows = db.rows();
  const std::vector<std::string> axes = db.axis_names();
  const std::vector<std::string> metrics = metric_columns(rows);
  std::string out = "id,alternative,repetition,seed";
  for (const auto& a : axes) out += "," + csv_field(a);
  out += ",status,error";
  if (wall) out += ",wall_s";
  out += ",scenario_hash";
  for (const auto& m : metrics) out += "," + csv_field(m);
  out += "\n";
  for (const auto& r : rows) {
    out += std::to_string(r.id) + "," + csv_field(r.alternative) + "," + std::to_string(r.repetition) + "," +
           std::to_string(r.seed);
    std::map<std::string, std::string> av(r.axes.begin(), r.axes.end());
    for (const auto& a : axes) out += "," + csv_field(av.count(a) ? av[a] : "");
    out += "," + r.status + "," + csv_field(r.error);
    if (wall) out += "," + json_number(r.wall_s);
    out += "," + r.scenario_hash;
    std::map<std::string, double> mv(r.metrics.begin(), r.metrics.end());
    for (const auto& m : metrics) {
      auto it = mv.find(m);
      out += ",";
      if (it != mv.end() && std::isfinite(it->second)) out += json_number(it->second);
    }
    out += "\n";
  }
  return out;
}

std::string export_jsonl(const ResultsDb& db, bool wall) {
  std::string out;
  for (const auto& r : db.rows()) {
    out += "{\"id\": " + std::to_string(r.id) + ", \"alternative\": " + json_escape(r.alternative) +
           ", \"repetition\": " + std::to_string(r.repetition) + ", \"seed\": " + std::to_string(r.seed) +
           ", \"axes\": {";
    for (size_t i = 0; i < r.axes.size(); ++i) {
      out += (i ? ", " : "") + json_escape(r.axes[i].first) + ": " + json_escape(r.axes[i].second);
    }
    out += "}, \"status\": " + json_escape(r.status) + ", \"error\": " + json_escape(r.error);
    if (wall) out += ", \"wall_s\": " + json_number(r.wall_s);
    out += ", \"scenario_hash\": " + json_escape(r.scenario_hash) + ", \"metrics\": {";
    for (size_t i = 0; i < r.metrics.size(); ++i) {
      out += (i ? ", " : "") + json_escape(r.metrics[i].first) + ": " + json_number(r.metrics[i].second);
    }
    out += "}}\n";
  }
  return out;
}

}  // namespace lcsim::sweep
