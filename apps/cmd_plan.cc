// lcsim plan: parses the flags into CapacityOptions and prints the plan.
#include "apps/cmd_plan.h"

#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "sim/error.h"
#include "sweep/capacity.h"

namespace lcsim::app {

namespace {

const char* kPlanHelp = R"(usage: lcsim plan SCENARIO.yaml --tokens T --days D --gpus LIST [--parts LIST]
                  [--confidence P] [--seeds N] [--tp LIST] [--pp LIST] [--vpp LIST] [--cp LIST] [--mbs LIST]
                  [--recompute LIST] [--dist-opt LIST] [--set KEY=VALUE ...] [-j N]

How many GPUs of which kind, and which layout, train the scenario's Megatron model on T tokens within D days.
For each part and GPU count, lcsim search finds the layout with the shortest time to train (tokens / tokens/s);
the plan prints its time, GPU-hours, energy and cost. Where the scenario enables reliability:, each best layout
is run again with failures, once per seed: mean time with its 95% interval, the time that the asked share of
seeds finishes within, GPU-hours, energy and cost; a configuration meets the deadline when at least P of the
seeds finish by then. Last, per part, the smallest GPU count that meets it.

  --tokens T      tokens to train (e.g. 1e12)
  --days D        deadline in days
  --gpus LIST     GPU counts, comma-separated (multiples of cluster.gpus_per_node)
  --parts LIST    catalog parts (lcsim list accelerators) or prefixes naming one, e.g. H100,H200;
                  default: the scenario's
  --confidence P  share of failure seeds that must finish by the deadline, 0 < P < 1 (default 0.9)
  --seeds N       seeds with failures per configuration (default: the scenario's reliability.seeds)
  --tp ... --dist-opt, --set, -j   as for lcsim search

exit codes: 0 a configuration meets the deadline, 4 none does, 2 bad scenario or flag
)";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<int> ints(const std::string& flag, const std::string& s) {
  std::vector<int> out;
  for (const auto& x : split(s)) {
    char* end = nullptr;
    const long v = std::strtol(x.c_str(), &end, 10);
    if (x.empty() || *end != '\0' || v < 1 || v > 1048576) {
      throw InputError(flag + ": expected a comma-separated list of positive integers, e.g. 1,2,4, got '" + s + "'");
    }
    out.push_back(static_cast<int>(v));
  }
  return out;
}

double positive(const std::string& flag, const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
    throw InputError(flag + ": expected a positive number, got '" + s + "'");
  }
  return v;
}

}  // namespace

int cmd_plan(const std::vector<std::string>& args) {
  sweep::CapacityOptions opt;
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& x = args[i];
    if (x == "-h" || x == "--help") {
      std::cout << kPlanHelp;
      return 0;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw InputError("option " + x + " needs a value (see lcsim plan --help)");
      return args[++i];
    };
    if (x == "--tokens") opt.tokens = positive(x, value());
    else if (x == "--days") opt.deadline_days = positive(x, value());
    else if (x == "--gpus") opt.gpus = ints(x, value());
    else if (x == "--parts") {
      opt.parts = split(value());
      for (const auto& p : opt.parts) {
        if (p.empty()) throw InputError("--parts: expected comma-separated catalog parts, e.g. H100,H200, got ''");
      }
    } else if (x == "--confidence") {
      opt.confidence = positive(x, value());
      if (opt.confidence >= 1) throw InputError("--confidence: expected a share between 0 and 1, e.g. 0.9");
    } else if (x == "--seeds") opt.seeds = ints(x, value()).front();
    else if (x == "--tp") opt.space.tp = ints(x, value());
    else if (x == "--pp") opt.space.pp = ints(x, value());
    else if (x == "--vpp") opt.space.virtual_stages = ints(x, value());
    else if (x == "--cp") opt.space.cp = ints(x, value());
    else if (x == "--mbs") opt.space.micro_batch = ints(x, value());
    else if (x == "--recompute") {
      opt.space.recompute = split(value());
      for (const auto& r : opt.space.recompute) {
        if (r != "none" && r != "selective" && r != "full") {
          throw InputError("--recompute: expected none, selective or full (comma-separated), got '" + r + "'");
        }
      }
    } else if (x == "--dist-opt") {
      opt.space.distributed_optimizer.clear();
      for (const auto& b : split(value())) {
        if (b != "true" && b != "false") throw InputError("--dist-opt: expected true and/or false, got '" + b + "'");
        opt.space.distributed_optimizer.push_back(b == "true");
      }
    } else if (x == "--set") opt.sets.push_back(value());
    else if (x == "-j" || x == "--jobs") opt.jobs = ints(x, value()).front();
    else if (!x.empty() && x[0] == '-') {
      throw InputError("unknown option '" + x + "' for 'lcsim plan' (see lcsim plan --help)");
    } else if (file.empty()) file = x;
    else throw InputError("lcsim plan takes one scenario file, got '" + file + "' and '" + x + "'");
  }
  if (file.empty()) throw InputError(std::string("lcsim plan needs a scenario file\n") + kPlanHelp);
  const sweep::CapacityPlan p = sweep::plan_capacity(file, opt);
  std::printf("%s", sweep::format_capacity(p).c_str());
  for (size_t b : p.best) {
    if (b < p.rows.size()) return 0;
  }
  return 4;
}

}  // namespace lcsim::app
