// lcsim search: parses the flags into a SearchSpace and SearchOptions and prints the ranking.
#include "apps/cmd_search.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "sim/error.h"
#include "sweep/search.h"

namespace lcsim::app {

namespace {

const char* kSearchHelp = R"(usage: lcsim search SCENARIO.yaml [--objective throughput|time|cost] [--top N] [--tp LIST] [--pp LIST]
                    [--vpp LIST] [--cp LIST] [--mbs LIST] [--recompute LIST] [--dist-opt LIST]
                    [--deadline DAYS] [--budget MONEY] [--set KEY=VALUE ...] [-j N]

Finds the best parallel layout of the scenario's Megatron workload on its cluster and global batch: every
combination of the lists (defaults: tp 1,2,4,8; pp 1,2,4,8,16; vpp 1,2 virtual stages per pipeline rank;
cp 1; mbs 1,2,4; recompute none,selective,full; dist-opt false,true; DP is what the GPUs leave), pruned
before simulating when the numbers do not divide (GPUs, global batch, layers) or the model does not fit in
memory, the rest simulated on the analytical fidelity in threads and ranked.

  --objective   throughput (tokens/s, default), time (iteration time, or days for cost.token_budget), cost
                (cost_total, or budget_cost_total for cost.token_budget)
  --top N       layouts to print (default 5), then why the best beats the runner-up (time breakdown)
  --deadline D  keep layouts that train cost.token_budget within D days
  --budget M    keep layouts that train cost.token_budget for at most M (the scenario's currency)
  --set K=V     override a scenario key first (repeatable), e.g. --set cluster.nodes=32
  -j N          threads (default: every core)

exit codes: 0 a layout works, 4 none does, 2 bad scenario or flag
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
    if (x.empty() || *end != '\0' || v < 1 || v > 65536) {
      throw InputError(flag + ": expected a comma-separated list of positive integers, e.g. 1,2,4, got '" + s + "'");
    }
    out.push_back(static_cast<int>(v));
  }
  return out;
}

double positive(const std::string& flag, const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v > 0)) throw InputError(flag + ": expected a positive number, got '" + s + "'");
  return v;
}

}  // namespace

int cmd_search(const std::vector<std::string>& args) {
  sweep::SearchSpace space;
  sweep::SearchOptions opt;
  std::string file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& x = args[i];
    if (x == "-h" || x == "--help") {
      std::cout << kSearchHelp;
      return 0;
    }
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw InputError("option " + x + " needs a value (see lcsim search --help)");
      return args[++i];
    };
    if (x == "--objective") opt.objective = value();
    else if (x == "--top") opt.top = static_cast<size_t>(ints(x, value()).front());
    else if (x == "--tp") space.tp = ints(x, value());
    else if (x == "--pp") space.pp = ints(x, value());
    else if (x == "--vpp") space.virtual_stages = ints(x, value());
    else if (x == "--cp") space.cp = ints(x, value());
    else if (x == "--mbs") space.micro_batch = ints(x, value());
    else if (x == "--recompute") {
      space.recompute = split(value());
      for (const auto& r : space.recompute) {
        if (r != "none" && r != "selective" && r != "full") {
          throw InputError("--recompute: expected none, selective or full (comma-separated), got '" + r + "'");
        }
      }
    } else if (x == "--dist-opt") {
      space.distributed_optimizer.clear();
      for (const auto& b : split(value())) {
        if (b != "true" && b != "false") throw InputError("--dist-opt: expected true and/or false, got '" + b + "'");
        space.distributed_optimizer.push_back(b == "true");
      }
    } else if (x == "--deadline") opt.deadline_days = positive(x, value());
    else if (x == "--budget") opt.budget = positive(x, value());
    else if (x == "--set") opt.sets.push_back(value());
    else if (x == "-j" || x == "--jobs") opt.jobs = ints(x, value()).front();
    else if (!x.empty() && x[0] == '-') {
      throw InputError("unknown option '" + x + "' for 'lcsim search' (see lcsim search --help)");
    } else if (file.empty()) file = x;
    else throw InputError("lcsim search takes one scenario file, got '" + file + "' and '" + x + "'");
  }
  if (file.empty()) throw InputError(std::string("lcsim search needs a scenario file\n") + kSearchHelp);
  const sweep::SearchResult r = sweep::search(file, space, opt);
  std::printf("%s", sweep::format_search(r, opt.top).c_str());
  return r.ranked.empty() ? 4 : 0;
}

}  // namespace lcsim::app
