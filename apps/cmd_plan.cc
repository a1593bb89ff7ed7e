// lcsim plan: parses the flags into CapacityOptions and prints the plan.
#include "apps/cmd_plan.h"

#include <cstdio>

#include "apps/search_flags.h"
#include "sim/error.h"
#include "sweep/capacity.h"

namespace lcsim::app {

namespace {

const char* kPlanHelp = R"(usage: lcsim plan SCENARIO.yaml --tokens T --days D --gpus LIST [--parts LIST]
                  [--confidence P] [--seeds N] [--tp LIST] [--pp LIST] [--vpp LIST] [--cp LIST] [--ep LIST]
                  [--mbs LIST] [--recompute LIST] [--dist-opt LIST] [--set KEY=VALUE ...] [-j N]

How many GPUs of which kind, and which layout, train the scenario's Megatron model on T tokens within D days.
For each part and GPU count, lcsim search finds the layout with the shortest time to train (tokens / tokens/s);
the plan prints its time, GPU-hours, energy and cost. Where the scenario enables reliability:, each best layout
is run again with failures, once per seed: mean time with its 95% interval, the time that the asked share of
seeds finishes within, GPU-hours, energy and cost; a configuration meets the deadline when at least P of the
seeds finish by then. Last, per part, the smallest GPU count that meets it.

  --tokens T      tokens to train (e.g. 1e12)
  --days D        deadline in days
  --gpus LIST     GPU counts (multiples of cluster.gpus_per_node): counts and ranges, e.g. 64,128,
                  64-512 (doubling) or 64-256/64 (step 64)
  --parts LIST    catalog parts (lcsim list accelerators) or prefixes naming one, e.g. H100,H200;
                  default: the scenario's
  --confidence P  share of failure seeds that must finish by the deadline, 0 < P < 1 (default 0.9)
  --seeds N       seeds with failures per configuration (default: the scenario's reliability.seeds)
@SPACE_FLAGS@  --set K=V       override a scenario key first (repeatable)
  -j N            threads (default: every core)

exit codes: 0 a configuration meets the deadline, 4 none does, 2 bad scenario or flag
)";

}  // namespace

int cmd_plan(const std::vector<std::string>& args) {
  sweep::CapacityOptions opt;
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& x = args[i];
    if (x == "-h" || x == "--help") {
      std::fputs(with_space_flags(kPlanHelp).c_str(), stdout);
      return 0;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw InputError("option " + x + " needs a value (see lcsim plan --help)");
      return args[++i];
    };
    if (parse_space_flag(x, value, opt.space)) continue;
    if (x == "--tokens") opt.tokens = positive_number(x, value());
    else if (x == "--days") opt.deadline_days = positive_number(x, value());
    else if (x == "--gpus") opt.gpus = gpu_counts(x, value());
    else if (x == "--parts") {
      opt.parts = split_list(value());
      for (const auto& p : opt.parts) {
        if (p.empty()) throw InputError("--parts: expected comma-separated catalog parts, e.g. H100,H200, got ''");
      }
    } else if (x == "--confidence") {
      opt.confidence = positive_number(x, value());
      if (opt.confidence >= 1) throw InputError("--confidence: expected a share between 0 and 1, e.g. 0.9");
    } else if (x == "--seeds") opt.seeds = int_list(x, value()).front();
    else if (x == "--set") opt.sets.push_back(value());
    else if (x == "-j" || x == "--jobs") opt.jobs = int_list(x, value()).front();
    else if (!x.empty() && x[0] == '-') {
      throw InputError("unknown option '" + x + "' for 'lcsim plan' (see lcsim plan --help)");
    } else if (file.empty()) file = x;
    else throw InputError("lcsim plan takes one scenario file, got '" + file + "' and '" + x + "'");
  }
  if (file.empty()) throw InputError("lcsim plan needs a scenario file (see lcsim plan --help)");
  const sweep::CapacityPlan p = sweep::plan_capacity(file, opt);
  std::printf("%s", sweep::format_capacity(p).c_str());
  for (size_t b : p.best) {
    if (b < p.rows.size()) return 0;
  }
  return 4;
}

}  // namespace lcsim::app
