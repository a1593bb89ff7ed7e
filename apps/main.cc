// The lcsim command line: run, validate, explain, list. Exit codes: 0 success, 2 bad input, 3 the horizon cut
// the run short, 1 internal error (a bug in lcsim; no input reaches it).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "apps/cmd_sweep.h"
#include "apps/format.h"
#include "apps/summary.h"
#include "apps/validation_status.h"
#include "apps/cmd_schedule.h"
#include "eval/evaluate.h"
#include "models/failure/distribution.h"
#include "models/hardware/calibration.h"
#include "models/hardware/node.h"
#include "models/network/graph.h"
#include "policies/collective_tuner.h"
#include "policies/admission.h"
#include "policies/autoscaling.h"
#include "policies/request_routing.h"
#include "policies/scheduling.h"
#include "scenarios/catalog.h"
#include "scenarios/scenario.h"
#include "sim/engine.h"
#include "sim/error.h"

namespace {

using lcsim::InputError;

constexpr const char* kVersion = "0.1.0";
/// Exit codes: 0 done, 1 internal error (a bug in lcsim), 2 bad input, 3 the horizon cut the run short.
constexpr int kExitIncomplete = 3;

const char* kMainHelp = R"(lcsim: a discrete-event simulator of large-model (LLM) GPU clusters

usage: lcsim <command> [options]

commands:
  run FILE        simulate a scenario; print a short summary, write report.txt (every detail),
                  metrics.json, timeline.json and scenario.resolved.yaml
  validate FILE   check a scenario without running it
  explain [KEY]   keys of the scenario language: type, units, default and meaning
  topology FILE   the cluster's network: counts, bisection bandwidth, oversubscription, diameter, GraphViz
  calibrate       fit an accelerator's kernel efficiencies to measured kernel times (CSV)
  list [GROUP]    registered names: accelerators, nodes, workloads, policies, models, ...
  schedule        replay a cluster job trace under scheduling policies, side by side
  sweep PLAN      many runs into a results database; also compare, results, search, plot (docs/sweeps.md)
  plan SCENARIO   capacity planning: GPUs of which part, and layout, to train T tokens within D days (docs/sweeps.md)

options:
  -h, --help      help (also: lcsim <command> --help)
  --version       print the version

exit codes: 0 success, 2 bad input (file, key or flag), 3 the run ended at simulation.horizon before the
            workload finished (outputs written, completed: 0), 1 internal error (a bug in lcsim)
)";

const char* kRunHelp = R"(usage: lcsim run FILE [-o DIR] [--seed N] [--set KEY=VALUE ...] [--verbose | --quiet]

Simulates the scenario in FILE. Prints what will be simulated before it starts, then a short summary in
units people read (with how far the result was validated), and writes every detail to DIR/report.txt.

  -o, --output DIR   where to write report.txt, metrics.json, timeline.json, scenario.resolved.yaml
                     (default: out/<scenario name>); a new or empty directory, or one holding an
                     earlier run's outputs (lcsim will not write into /, a home or a source folder)
  --seed N           master random seed (same as --set simulation.seed=N)
  --set KEY=VALUE    override one scenario key, e.g. --set cluster.nodes=16
                     (repeatable; VALUE in YAML syntax, units required: --set cluster.fabric.nic_bandwidth=200Gb/s)
  -v, --verbose      also print the detail (the workload's tables, every metric with its meaning)
  -q, --quiet        print nothing but errors and warnings (a run cut short by simulation.horizon
                     still says so, and exits 3)
  --no-progress      no progress bar (it shows only on a terminal, for runs over a second)
  --explain-placement  print how ranks map onto GPUs (parallel groups, nodes, rails) before the run; also
                     written to placement.txt
)";

const char* kValidateHelp = R"(usage: lcsim validate FILE [--set KEY=VALUE ...]

Checks FILE (and the files it builds on) and reports every problem as file:line:col: key: message. Request
traces, which a run only streams, are read to the end: a bad row is reported as file:line: field: message.
)";

const char* kExplainHelp = R"(usage: lcsim explain [KEY] [--markdown]

Prints the scenario keys under KEY (all keys without one): type, units, default, allowed range, meaning.
  --markdown   as a Markdown table (docs/scenarios.md is checked against this)
)";

const char* kCalibrateHelp = R"(usage: lcsim calibrate --part NAME CSV [-o FILE] [--report FILE]

Fits the kernel-efficiency parameters of accelerator NAME (lcsim list accelerators, or one that a node template
defines, e.g. GB200-GPU of gb200-nvl72) to the measured kernel times in CSV (header: operator,dtype,m,n,k,time_us;
operator gemm) and prints the model's error before and after.
  -o FILE        write the fitted calibration (YAML); a scenario uses it as
                 cluster.accelerator: {base: NAME, calibration_file: FILE}
  --report FILE  write every measurement with the fitted model's prediction and error (Markdown)
  --evaluate     do not fit: report the catalog calibration's error
  --sustained-from US
                 fit gemm_sustained_efficiency alone (the 16-bit throughput ceiling of long GEMMs) to the
                 measurements that ran US microseconds or longer, keeping the part's other terms
  --from US      fit only the measurements that ran US microseconds or longer (training-size kernels);
                 the errors and the report still cover every measurement
)";

const char* kTopologyHelp = R"(usage: lcsim topology FILE [--dot FILE] [--set KEY=VALUE ...]

Describes the cluster's network: devices and switches per kind, links per tier, bisection bandwidth,
oversubscription and diameter; --dot writes it as a GraphViz graph (dot -Tsvg FILE > fabric.svg).
)";

const char* kListHelp = R"(usage: lcsim list [GROUP]

Prints every registered name with a one-line description; without GROUP, every group. Groups:
  accelerators     catalog parts (cluster.accelerator, a node's accelerator)
  nodes            node templates (cluster.pools[].node)
  workloads        workload.type
  load-balancing   policies.load_balancing
  collectives      collective algorithms (policies.collectives.algorithm)
  routing          request routers (inference_serving: workload.routing)
  admission        admission policies (inference_serving: workload.admission.policy)
  autoscaling      instance autoscalers (inference_serving: workload.autoscaling.policy)
  topologies       cluster.topology
  fidelities       simulation.fidelity
  engines          event engines behind the fidelities
  policies         load-balancing and collectives
  models           topologies, fidelities and engines
)";

struct Args {
  std::vector<std::string> items;
  size_t pos = 0;
  bool done() const { return pos >= items.size(); }
  const std::string& peek() const { return items[pos]; }
  std::string next() { return items[pos++]; }
  std::string value_of(const std::string& flag) {
    if (done()) throw InputError("option " + flag + " needs a value (see lcsim run --help)");
    return next();
  }
};

bool is_help(const std::string& a) { return a == "-h" || a == "--help" || a == "help"; }

[[noreturn]] void unknown_option(const std::string& cmd, const std::string& opt) {
  throw InputError("unknown option '" + opt + "' for 'lcsim " + cmd + "' (see lcsim " + cmd + " --help)");
}

/// A scenario name as one path component: no separators, no "." or "..", not empty.
std::string safe_file_name(const std::string& name) {
  std::string out;
  for (char c : name.substr(0, 200)) out += (c == '/' || c == '\\' || c == '\0') ? '_' : c;
  if (out.empty() || out == "." || out == "..") out = "unnamed";
  return out;
}

/// An output directory is new, empty, or holds an earlier run's outputs; anything else (`/`, a home directory,
/// a source tree) is refused rather than written into.
void check_output_directory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(dir);
  const bool existed = fs::exists(p, ec);
  if (ec) throw InputError("cannot use output directory '" + dir + "': " + ec.message());
  if (existed) {
    if (!fs::is_directory(p, ec)) throw InputError("cannot use output directory '" + dir + "': not a directory");
    bool empty = true, earlier_run = false;
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      empty = false;
      const std::string f = it->path().filename().string();
      if (f == "metrics.json" || f == "scenario.resolved.yaml") earlier_run = true;
    }
    if (ec) throw InputError("cannot use output directory '" + dir + "': " + ec.message());
    if (!empty && !earlier_run) {
      throw InputError("will not write into output directory '" + dir +
                       "': it is not empty and holds no earlier lcsim outputs (metrics.json, "
                       "scenario.resolved.yaml); give a new or empty directory");
    }
    return;
  }
  fs::create_directories(p, ec);
  if (ec || !fs::is_directory(p, ec)) {
    throw InputError("cannot use output directory '" + dir + "': " + (ec ? ec.message() : "not a directory"));
  }
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  if (!out) throw InputError("cannot write " + p.string());
  out << text;
}

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)), start_(clock::now()) {}
  void update(double fraction, double sim_s) {
    if (!enabled_) return;
    const double wall = std::chrono::duration<double>(clock::now() - start_).count();
    if (wall < 1.0 || wall - last_ < 0.1) return;
    last_ = wall;
    const int width = 30, filled = static_cast<int>(fraction * width + 0.5);
    std::fprintf(stderr, "\r[%.*s%*s] %3.0f%%  simulated %.4gs  wall %.1fs", filled,
                 "##############################", width - filled, "", fraction * 100, sim_s, wall);
    shown_ = true;
  }
  ~ProgressBar() {
    if (shown_) std::fprintf(stderr, "\r%*s\r", 80, "");
  }

 private:
  using clock = std::chrono::steady_clock;
  bool enabled_;
  clock::time_point start_;
  double last_ = 0;
  bool shown_ = false;
};

int cmd_run(Args& a) {
  std::string file, out_dir;
  std::vector<std::string> sets;
  bool quiet = false, verbose = false, progress = true, placement = false;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kRunHelp;
      return 0;
    }
    if (x == "-o" || x == "--output") {
      out_dir = a.value_of(x);
      if (out_dir.empty()) throw InputError("-o needs a directory name, got an empty one (leave -o out for out/<scenario name>)");
    }
    else if (x == "--seed") {
      const std::string v = a.value_of(x);
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        throw InputError("--seed expects a non-negative integer, got '" + v + "'");
      }
      sets.push_back("simulation.seed=" + v);
    } else if (x == "--set") sets.push_back(a.value_of(x));
    else if (x == "-q" || x == "--quiet") quiet = true;
    else if (x == "-v" || x == "--verbose") verbose = true;
    else if (x == "--no-progress") progress = false;
    else if (x == "--explain-placement") placement = true;
    else if (!x.empty() && x[0] == '-') unknown_option("run", x);
    else if (file.empty()) file = x;
    else throw InputError("lcsim run takes one scenario file; got a second one: '" + x + "'");
  }
  if (file.empty()) throw InputError("lcsim run needs a scenario file (see lcsim run --help)");
  lcsim::Scenario sc = lcsim::load_scenario(file, sets);
  if (!sc.has_workload) {
    throw InputError(file + ": no workload section: nothing to run (a cluster-only file is meant as a base:)");
  }
  if (out_dir.empty()) out_dir = "out/" + safe_file_name(sc.name);
  check_output_directory(out_dir);
  // Write the resolved input first: a run that fails can still be reproduced.
  if (sc.outputs.resolved_scenario) write_file(std::filesystem::path(out_dir) / "scenario.resolved.yaml", lcsim::resolved_yaml(sc));
  if (placement) {
    std::string text;
    for (const auto& l : sc.workload->explain_placement(lcsim::cluster_gpus(sc.cluster))) text += l + "\n";
    if (text.empty()) text = "workload " + sc.workload_type + " places no ranks (nothing to explain)\n";
    write_file(std::filesystem::path(out_dir) / "placement.txt", text);
    if (!quiet) std::printf("%s\n", text.c_str());
  }

  const auto wall_start = std::chrono::steady_clock::now();
  lcsim::Result r;
  {
    ProgressBar bar(progress && !quiet);
    lcsim::EvalOptions opts;
    opts.progress = [&bar](double f, double s) { bar.update(f, s); };
    // What will be simulated, before the simulation starts.
    opts.started = [quiet, &sc](const std::vector<std::string>& header) {
      if (quiet) return;
      std::printf("%s", lcsim::app::run_header(kVersion, sc.name, header).c_str());
      std::fflush(stdout);
    };
    // The timeline streams to its file (timeline.json or timeline.pftrace: outputs.timeline_format) while the run
    // goes.
    // In auto format both files may be opened (timeline.json first; timeline.pftrace if the JSON grows past the
    // limit): one stream each.
    std::map<std::string, std::ofstream> timeline;
    if (sc.outputs.timeline) {
      opts.timeline = true;
      opts.open_timeline = [&timeline, &out_dir](const std::string& name) -> std::ostream& {
        const auto path = std::filesystem::path(out_dir) / name;
        std::ofstream& f = timeline[name];
        f.open(path, std::ios::binary);
        if (!f) throw InputError("cannot write '" + path.string() + "'");
        return f;
      };
    }
    r = lcsim::evaluate(static_cast<const lcsim::Scenario&>(sc), opts);
  }
  // Only the timeline the run chose stays: the other is a partial JSON left by an auto switch, or an earlier run's.
  if (!r.timeline_file.empty()) {
    for (const char* name : {"timeline.json", "timeline.pftrace"}) {
      if (r.timeline_file != name) std::filesystem::remove(std::filesystem::path(out_dir) / name);
    }
  }
  if (r.status == lcsim::Result::Status::kError) {
    if (r.internal_error) throw std::runtime_error(r.error);
    // r.error is an InputError's text, already "error: ..."; InputError(string) would prefix it again.
    const std::string prefix = "error: ";
    throw InputError(r.error.rfind(prefix, 0) == 0 ? r.error.substr(prefix.size()) : r.error);
  }
  const bool completed = r.status == lcsim::Result::Status::kCompleted;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (sc.outputs.metrics) write_file(std::filesystem::path(out_dir) / "metrics.json", r.metrics.to_json());
  if (!r.utilization_csv.empty()) write_file(std::filesystem::path(out_dir) / "link_utilization.csv", r.utilization_csv);
  const auto summary = lcsim::app::short_summary(sc, r, lcsim::app::ValidationStatus::builtin());
  std::string summary_text;
  for (const auto& l : summary) summary_text += "  " + l + "\n";
  const std::string detail = lcsim::app::detail(r);
  write_file(std::filesystem::path(out_dir) / "report.txt",
             lcsim::app::run_header(kVersion, sc.name, r.header) + "\n" + summary_text + "\n" + detail);
  // A run the horizon cut short did not do its work: evaluate() says so among its warnings (printed even with -q);
  // the exit code is 3.
  const char* kCutShort = "run incomplete (completed: 0 in metrics.json): exit code 3\n";
  for (const auto& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (quiet) {
    if (!completed) std::fprintf(stderr, "%s", kCutShort);
    return completed ? 0 : kExitIncomplete;
  }
  std::printf("\n%s", summary_text.c_str());
  if (verbose) std::printf("\n%s", detail.c_str());
  std::printf("\n  wall time %s, %s events; outputs in %s/ (report.txt: every detail%s)\n",
              lcsim::app::format_duration(wall).c_str(), lcsim::app::format_count(static_cast<double>(r.events)).c_str(),
              out_dir.c_str(), r.timeline_file.empty() ? "" : ("; " + r.timeline_file + ": open in ui.perfetto.dev").c_str());
  if (!completed) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s", kCutShort);
    return kExitIncomplete;
  }
  return 0;
}

int cmd_validate(Args& a) {
  std::string file;
  std::vector<std::string> sets;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kValidateHelp;
      return 0;
    }
    if (x == "--set") sets.push_back(a.value_of(x));
    else if (!x.empty() && x[0] == '-') unknown_option("validate", x);
    else if (file.empty()) file = x;
    else throw InputError("lcsim validate takes one scenario file; got a second one: '" + x + "'");
  }
  if (file.empty()) throw InputError("lcsim validate needs a scenario file");
  lcsim::Scenario sc = lcsim::load_scenario(file, sets);
  // Inputs a run would only stream (request traces) are read to the end here, so that their bad rows are found now.
  std::vector<std::string> read;
  if (sc.workload) read.push_back(sc.workload->check_inputs());
  for (const auto& j : sc.jobs) {
    if (j.workload) read.push_back(j.workload->check_inputs());
  }
  std::printf("%s: ok (%s%s)\n", file.c_str(), sc.name.c_str(), sc.has_workload ? "" : "; cluster only, no workload");
  for (const auto& line : read) {
    if (!line.empty()) std::printf("  %s\n", line.c_str());
  }
  return 0;
}

std::string cell(std::string s) {
  for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
  return s;
}

int cmd_explain(Args& a) {
  std::string key;
  bool markdown = false;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kExplainHelp;
      return 0;
    }
    if (x == "--markdown") markdown = true;
    else if (!x.empty() && x[0] == '-') unknown_option("explain", x);
    else key = x;
  }
  const auto docs = lcsim::describe_scenario_keys();
  std::vector<lcsim::KeyDoc> hits;
  auto plain = [](std::string p) {  // "cluster.pools[].count" matches "cluster.pools.count"
    for (size_t i; (i = p.find("[]")) != std::string::npos;) p.erase(i, 2);
    return p;
  };
  // Keys of one workload type come after a heading "workload (type: X)": group[i] is the heading's index for
  // them (-1 for keys every scenario has). A listing keeps the heading of every group it shows a key of, and
  // tags each such key with its type, so the same key of two types is never ambiguous.
  std::vector<int> group(docs.size(), -1);
  std::vector<std::string> group_type(docs.size());
  for (size_t i = 0, open = 0; i < docs.size(); ++i) {
    const auto& d = docs[i];
    const auto at = d.path.find(" (type: ");
    if (d.type == "section" && at != std::string::npos) {
      open = i + 1;  // 1-based while open, 0 when no heading is open
      const auto end = d.path.find_first_of(",)", at + 8);
      group_type[i] = d.path.substr(0, at) + " type: " + d.path.substr(at + 8, end - at - 8);
      continue;
    }
    const std::string prefix = open ? docs[open - 1].path.substr(0, docs[open - 1].path.find(" (type: ")) + "." : "";
    if (open && d.path.rfind(prefix, 0) == 0) {
      group[i] = static_cast<int>(open - 1);
      group_type[i] = group_type[open - 1];
    } else {
      open = 0;
    }
  }
  const std::string want = plain(key);
  std::vector<std::string> tags;  // per hit: "workload type: X" for a key of one type, else ""
  int shown_heading = -1;
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto& d = docs[i];
    const std::string p = plain(d.path);
    const bool is_heading = group_type[i].size() && group[i] < 0;
    if (is_heading && !want.empty()) continue;  // printed before its first key that matches
    if (!(want.empty() || p == want || p.rfind(want + ".", 0) == 0)) continue;
    if (is_heading) shown_heading = static_cast<int>(i);
    if (group[i] >= 0 && group[i] != shown_heading) {
      hits.push_back(docs[static_cast<size_t>(group[i])]);
      tags.push_back("");
      shown_heading = group[i];
    }
    hits.push_back(d);
    tags.push_back(group[i] >= 0 ? group_type[i] : "");
  }
  if (hits.empty()) {
    std::vector<std::string> all;
    for (const auto& d : docs) all.push_back(d.path);
    const std::string guess = lcsim::did_you_mean(key, all);
    throw InputError("no scenario key '" + key + "'" + (guess.empty() ? "" : "; did you mean '" + guess + "'?") +
                     " (lcsim explain lists them all)");
  }
  if (markdown) {
    std::printf("| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for (const auto& d : hits) {
      if (d.type == "section") {
        std::printf("| **%s** | section | | | %s |\n", d.path.c_str(), cell(d.help).c_str());
        continue;
      }
      std::string allowed = d.range;
      if (!d.units.empty()) allowed += (allowed.empty() ? "" : "; ") + std::string("units: ") + d.units;
      std::printf("| `%s` | %s | %s | %s | %s |\n", d.path.c_str(), cell(d.type).c_str(),
                  d.default_value.empty() ? "" : ("`" + d.default_value + "`").c_str(), cell(allowed).c_str(),
                  cell(d.help).c_str());
    }
    return 0;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    const auto& d = hits[i];
    if (d.type == "section") {
      std::printf("%s:  (section) %s\n", d.path.c_str(), d.help.c_str());
      continue;
    }
    std::printf("%s%s\n    %s. type: %s", d.path.c_str(), tags[i].empty() ? "" : ("  (" + tags[i] + ")").c_str(),
                d.help.c_str(), d.type.c_str());
    if (!d.default_value.empty()) std::printf("; default: %s", d.default_value.c_str());
    if (!d.range.empty()) std::printf("; allowed: %s", d.range.c_str());
    if (!d.units.empty()) std::printf("\n    units: %s", d.units.c_str());
    std::printf("\n");
  }
  return 0;
}

void list_entry(const std::string& name, const std::string& description) {
  std::printf("  %-20s %s\n", name.c_str(), description.c_str());
}

template <class R>
void list_registry(const R& r) {
  for (const auto& [name, e] : r.entries()) list_entry(name, e.description);
}

int cmd_list(Args& a) {
  std::string what;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kListHelp;
      return 0;
    }
    if (!x.empty() && x[0] == '-') unknown_option("list", x);
    what = x;
  }
  const auto& c = lcsim::Catalog::get();
  // Every group of registered names, in print order; `policies` and `models` name several groups.
  const std::vector<std::string> groups = {"accelerators", "nodes",         "workloads",     "load-balancing",
                                           "collectives",  "routing",       "admission",     "autoscaling",
                                           "scheduling",   "topologies",    "fidelities",    "engines",
                                           "distributions", "storage-tiers"};
  const std::map<std::string, std::vector<std::string>> aliases = {
      {"policies", {"load-balancing", "collectives", "routing", "admission", "autoscaling", "scheduling"}},
      {"models", {"topologies", "fidelities", "engines", "distributions", "storage-tiers"}}};
  std::vector<std::string> valid = groups;
  for (const auto& [alias, members] : aliases) valid.push_back(alias);
  if (!what.empty() && std::find(valid.begin(), valid.end(), what) == valid.end()) {
    throw InputError(lcsim::unknown_name_message("list group", what, valid));
  }
  auto shown = [&](const std::string& g) {
    if (what.empty() || what == g) return true;
    auto it = aliases.find(what);
    return it != aliases.end() && std::find(it->second.begin(), it->second.end(), g) != it->second.end();
  };
  bool first = true;
  auto heading = [&](const std::string& g, const std::string& title) {
    if (!shown(g)) return false;
    if (!first) std::printf("\n");
    first = false;
    std::printf("%s:\n", title.c_str());
    return true;
  };
  if (heading("accelerators", "accelerators (dense peak bf16, HBM, scale-up per direction, TDP; confidence)")) {
    for (const auto& p : lcsim::hw::PartCatalog::get().parts()) {
      const auto bf16 = p.dense_peak.count(lcsim::hw::DType::kBf16) ? lcsim::to_string(p.dense_peak.at(lcsim::hw::DType::kBf16)) : "-";
      std::printf("  %-20s %s %s, %s, %s at %s, %s, %s; %s\n", p.name.c_str(), p.vendor.c_str(), bf16.c_str(),
                  lcsim::to_string(p.hbm_capacity).c_str(), lcsim::to_string(p.hbm_bandwidth).c_str(),
                  lcsim::to_string(p.scale_up_bandwidth).c_str(), std::to_string(p.scale_up_domain).append("-way").c_str(),
                  lcsim::to_string(p.tdp).c_str(), p.confidence.c_str());
    }
  }
  if (heading("nodes", "nodes (node templates: cluster.pools[].node)")) {
    for (const auto& n : lcsim::hw::NodeCatalog::get().nodes()) list_entry(n.name, n.description);
  }
  if (heading("workloads", "workloads (workload.type)")) list_registry(c.workloads);
  if (heading("load-balancing", "load-balancing (policies.load_balancing)")) list_registry(c.load_balancers);
  if (heading("collectives", "collectives (policies.collectives.algorithm; auto: the tuner picks per call)")) {
    list_registry(c.collective_algorithms);
  }
  if (heading("routing", "routing (request routers of inference_serving: workload.routing)")) {
    lcsim::Registry<lcsim::policy::RouterFactory> routers{"request router"};
    lcsim::policy::register_request_routers(routers);
    list_registry(routers);
  }
  if (heading("admission", "admission (admission policies of inference_serving: workload.admission.policy)")) {
    lcsim::Registry<lcsim::policy::AdmissionFactory> admission{"admission policy"};
    lcsim::policy::register_admission_policies(admission);
    list_registry(admission);
  }
  if (heading("autoscaling", "autoscaling (instance autoscalers of inference_serving: workload.autoscaling.policy)")) {
    lcsim::Registry<lcsim::policy::AutoscalerFactory> autoscalers{"autoscaler"};
    lcsim::policy::register_autoscalers(autoscalers);
    list_registry(autoscalers);
  }
  if (heading("scheduling", "scheduling (cluster scheduling policies: lcsim schedule --policies)")) {
    lcsim::Registry<lcsim::policy::SchedulingPolicyFactory> scheduling{"scheduling policy"};
    lcsim::policy::register_scheduling_policies(scheduling);
    list_registry(scheduling);
  }
  if (heading("topologies", "topologies (cluster.topology)")) list_registry(c.topologies);
  if (heading("fidelities", "fidelities (simulation.fidelity)")) list_registry(c.fidelities);
  if (heading("engines", "engines (event engines: flow runs on simgrid, analytical on queue)")) {
    for (const auto& [name, description] : lcsim::sim::engine_backends()) list_entry(name, description);
  }
  if (heading("distributions", "distributions (failure and repair times: models/failure, dist:)")) {
    for (const auto& [name, description] : lcsim::failure::distribution_names()) list_entry(name, description);
  }
  if (heading("storage-tiers", "storage-tiers (storage tiers: cluster.storage, checkpoint.levels[].tier)")) {
    list_registry(c.storage_tiers);
  }
  return 0;
}

}  // namespace

// A catalog part, or the accelerator a node template defines for itself (the GB200 NVL72 rack's GB200-GPU).
const lcsim::hw::AcceleratorSpec& calibration_part(const std::string& name) {
  const auto& parts = lcsim::hw::PartCatalog::get();
  if (parts.contains(name)) return parts.part(name);
  if (const auto* node = lcsim::hw::NodeCatalog::get().first_with_part(name)) return node->accelerator;
  std::string valid;
  for (const auto& n : parts.names()) valid += (valid.empty() ? "" : ", ") + n;
  std::set<std::string> seen;
  for (const auto& node : lcsim::hw::NodeCatalog::get().nodes()) {
    const std::string& own = node.accelerator.name;
    if (!parts.contains(own) && seen.insert(own).second) valid += ", " + own + " (node template " + node.name + ")";
  }
  throw InputError("lcsim calibrate --part: unknown accelerator '" + name + "' (valid: " + valid + ")");
}

int cmd_calibrate(Args& a) {
  std::string part_name, csv, out, report;
  bool evaluate_only = false;
  double sustained_from_us = 0, from_us = 0;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kCalibrateHelp;
      return 0;
    }
    if (x == "--part") part_name = a.value_of(x);
    else if (x == "-o" || x == "--output") out = a.value_of(x);
    else if (x == "--report") report = a.value_of(x);
    else if (x == "--evaluate") evaluate_only = true;
    else if (x == "--sustained-from" || x == "--from") {
      const std::string v = a.value_of(x);
      char* end = nullptr;
      const double us = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || !(us > 0) || !std::isfinite(us)) {
        throw InputError("lcsim calibrate " + x + ": '" + v + "' is not a positive number of microseconds");
      }
      (x == "--from" ? from_us : sustained_from_us) = us;
    } else if (!x.empty() && x[0] == '-') unknown_option("calibrate", x);
    else if (csv.empty()) csv = x;
    else throw InputError("lcsim calibrate takes one CSV file; got a second one: '" + x + "'");
  }
  if (part_name.empty() || csv.empty()) throw InputError("lcsim calibrate needs --part NAME and a CSV file");
  const auto& part = calibration_part(part_name);
  const auto data = lcsim::hw::read_measurements(csv);
  const auto before = lcsim::hw::evaluate(part, data);
  if (sustained_from_us > 0 && from_us > 0) {
    throw InputError("lcsim calibrate: --sustained-from and --from each choose the measurements fitted; give one");
  }
  const auto after = evaluate_only ? before
                     : sustained_from_us > 0
                         ? lcsim::hw::fit_sustained(part, data, lcsim::Duration::us(sustained_from_us))
                         : lcsim::hw::fit(part, data, lcsim::Duration::us(from_us));
  const auto& c = after.calibration;
  std::printf("%s: %zu measurements from %s\n", part_name.c_str(), data.size(), csv.c_str());
  std::printf("  fitted: gemm_efficiency %.4f, gemm_k_half %.1f, memory_efficiency %.4f, kernel_launch %s\n",
              c.gemm_efficiency, c.gemm_k_half, c.memory_efficiency, lcsim::to_string(c.kernel_launch).c_str());
  if (c.fp8_gemm_efficiency > 0) std::printf("  fp8_gemm_efficiency %.4f\n", c.fp8_gemm_efficiency);
  if (c.fp4_gemm_efficiency > 0) std::printf("  fp4_gemm_efficiency %.4f\n", c.fp4_gemm_efficiency);
  if (c.gemm_sustained_efficiency > 0) std::printf("  gemm_sustained_efficiency %.4f\n", c.gemm_sustained_efficiency);
  std::printf("  |error| before (catalog calibration): median %.1f%%, p90 %.1f%%, max %.1f%%\n",
              100 * before.median_abs_error, 100 * before.p90_abs_error, 100 * before.max_abs_error);
  std::printf("  |error| after fit:                    median %.1f%%, p90 %.1f%%, max %.1f%%\n",
              100 * after.median_abs_error, 100 * after.p90_abs_error, 100 * after.max_abs_error);
  if (!out.empty()) {
    lcsim::hw::KernelCalibration cal = c;
    char src[512];
    std::snprintf(src, sizeof src, "fitted by lcsim calibrate to %s (%zu GEMMs): median |error| %.1f%%, p90 %.1f%%",
                  std::filesystem::path(csv).filename().c_str(), data.size(), 100 * after.median_abs_error,
                  100 * after.p90_abs_error);
    cal.source = src;
    write_file(out, lcsim::hw::calibration_yaml(part_name, cal));
    std::printf("  wrote %s\n", out.c_str());
  }
  if (!report.empty()) {
    std::string md = "| m | n | k | dtype | measured (us) | model (us) | error |\n|---:|---:|---:|---|---:|---:|---:|\n";
    for (size_t i = 0; i < data.size(); ++i) {
      char row[256];
      const double meas = data[i].time.s() * 1e6, pred = after.predicted[i].s() * 1e6;
      std::snprintf(row, sizeof row, "| %.0f | %.0f | %.0f | %s | %.1f | %.1f | %+.1f%% |\n", data[i].shape.m,
                    data[i].shape.n, data[i].shape.k, data[i].dtype_label().c_str(), meas, pred,
                    100 * (pred - meas) / meas);
      md += row;
    }
    write_file(report, md);
    std::printf("  wrote %s\n", report.c_str());
  }
  return 0;
}

int cmd_topology(Args& a) {
  std::string file, dot;
  std::vector<std::string> sets;
  while (!a.done()) {
    const std::string x = a.next();
    if (is_help(x)) {
      std::cout << kTopologyHelp;
      return 0;
    }
    if (x == "--dot") dot = a.value_of(x);
    else if (x == "--set") sets.push_back(a.value_of(x));
    else if (!x.empty() && x[0] == '-') unknown_option("topology", x);
    else if (file.empty()) file = x;
    else throw InputError("lcsim topology takes one scenario file; got a second one: '" + x + "'");
  }
  if (file.empty()) throw InputError("lcsim topology needs a scenario file");
  lcsim::Scenario sc = lcsim::load_scenario(file, sets);
  const auto fabric = lcsim::build_fabric(sc.cluster);
  const lcsim::net::TopologyGraph graph(*fabric);
  const auto r = graph.report();
  std::printf("%s\n  %s\n\n  vertices:", sc.name.c_str(), fabric->describe().c_str());
  for (const auto& [kind, count] : r.vertices_per_kind) std::printf(" %zu %s,", count, kind.c_str());
  std::printf("\n  links (bidirectional):");
  for (const auto& [tier, count] : r.links_per_tier) std::printf(" %zu %s,", count, tier.c_str());
  std::printf("\n  bisection bandwidth: %s per direction\n  oversubscription: %.3g:1\n  diameter: %d hops GPU to GPU\n",
              lcsim::to_string(r.bisection).c_str(), r.oversubscription, r.diameter_hops);
  if (!dot.empty()) {
    std::ofstream out(dot);
    if (!out) throw InputError("cannot write " + dot);
    graph.write_dot(out);
    std::printf("  wrote %s\n", dot.c_str());
  }
  return 0;
}

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) a.items.emplace_back(argv[i]);
  try {
    if (a.done()) {
      std::cerr << kMainHelp;
      return 2;
    }
    const std::string cmd = a.next();
    if (is_help(cmd)) {
      std::cout << kMainHelp;
      return 0;
    }
    if (cmd == "--version") {
      std::printf("lcsim %s\n", kVersion);
      return 0;
    }
    if (cmd == "run") return cmd_run(a);
    if (cmd == "validate") return cmd_validate(a);
    if (cmd == "explain") return cmd_explain(a);
    if (cmd == "list") return cmd_list(a);
    if (cmd == "calibrate") return cmd_calibrate(a);
    if (cmd == "topology") return cmd_topology(a);
    if (cmd == "schedule") return lcsim::app::cmd_schedule({a.items.begin() + static_cast<long>(a.pos), a.items.end()});
    if (const int rc = lcsim::app::sweep_command(a.items); rc >= 0) return rc;  // sweep, search, plot, ...
    throw InputError(
        lcsim::unknown_name_message("command", cmd, {"calibrate", "compare", "explain", "list", "plan", "plot", "results", "run",
                                                   "schedule", "search", "sweep", "topology", "validate"}));
  } catch (const InputError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lcsim: %s\n", e.what());
    return 1;
  }
}
