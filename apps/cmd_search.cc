// lcsim search: parses the flags into a SearchSpace and SearchOptions and prints the ranking.
#include "apps/cmd_search.h"

#include <cstdio>

#include "apps/search_flags.h"
#include "sim/error.h"
#include "sweep/search.h"

namespace lcsim::app {

namespace {

const char* kSearchHelp = R"(usage: lcsim search SCENARIO.yaml [--objective throughput|time|cost] [--top N] [--gpus LIST] [--parts LIST]
                    [--tp LIST] [--pp LIST] [--vpp LIST] [--cp LIST] [--ep LIST] [--mbs LIST] [--recompute LIST]
                    [--dist-opt LIST] [--deadline DAYS] [--budget MONEY] [--set KEY=VALUE ...] [-j N]

Finds the best parallel layout of the scenario's Megatron workload on its cluster and global batch: every
combination of the lists (defaults: tp 1,2,4,8; pp 1,2,4,8,16; vpp 1,2 virtual stages per pipeline rank;
cp 1; ep the scenario's; mbs 1,2,4; recompute none,selective,full; dist-opt false,true; DP is what the GPUs
leave), optionally over GPU counts and parts too, pruned before simulating when the numbers do not divide
(GPUs, global batch, layers, experts) or the model does not fit in memory, the rest simulated on the analytical
fidelity in threads and ranked.

  --objective   throughput (tokens/s, default), time (iteration time, or days for cost.token_budget), cost
                (cost_total, or budget_cost_total for cost.token_budget)
  --top N       layouts to print (default 5), then why the best beats the runner-up (time breakdown)
  --gpus LIST   GPU counts to search (multiples of cluster.gpus_per_node): counts and ranges, e.g. 8,16,
                16-128 (doubling: 16, 32, 64, 128) or 16-64/16 (step 16); default: the scenario's
  --parts LIST  catalog parts (lcsim list accelerators) or prefixes naming one, e.g. H100,H200; default: the
                scenario's
@SPACE_FLAGS@  --deadline D  keep layouts that train cost.token_budget within D days
  --budget M    keep layouts that train cost.token_budget for at most M (the scenario's currency)
  --set K=V     override a scenario key first (repeatable), e.g. --set cluster.nodes=32
  -j N          threads (default: every core)

exit codes: 0 a layout works, 4 none does, 2 bad scenario or flag
)";

}  // namespace

int cmd_search(const std::vector<std::string>& args) {
  sweep::SearchSpace space;
  sweep::SearchOptions opt;
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& x = args[i];
    if (x == "-h" || x == "--help") {
      std::fputs(with_space_flags(kSearchHelp).c_str(), stdout);
      return 0;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw InputError("option " + x + " needs a value (see lcsim search --help)");
      return args[++i];
    };
    if (parse_space_flag(x, value, space)) continue;
    if (x == "--objective") opt.objective = value();
    else if (x == "--top") opt.top = static_cast<size_t>(int_list(x, value()).front());
    else if (x == "--gpus") space.gpus = gpu_counts(x, value());
    else if (x == "--parts") {
      space.parts = split_list(value());
      for (const auto& p : space.parts) {
        if (p.empty()) throw InputError("--parts: expected comma-separated catalog parts, e.g. H100,H200, got ''");
      }
    } else if (x == "--deadline") opt.deadline_days = positive_number(x, value());
    else if (x == "--budget") opt.budget = positive_number(x, value());
    else if (x == "--set") opt.sets.push_back(value());
    else if (x == "-j" || x == "--jobs") opt.jobs = int_list(x, value()).front();
    else if (!x.empty() && x[0] == '-') {
      throw InputError("unknown option '" + x + "' for 'lcsim search' (see lcsim search --help)");
    } else if (file.empty()) file = x;
    else throw InputError("lcsim search takes one scenario file, got '" + file + "' and '" + x + "'");
  }
  if (file.empty()) throw InputError("lcsim search needs a scenario file (see lcsim search --help)");
  const sweep::SearchResult r = sweep::search(file, space, opt);
  std::printf("%s", sweep::format_search(r, opt.top).c_str());
  return r.ranked.empty() ? 4 : 0;
}

}  // namespace lcsim::app
