// See compare.h.
#include "sweep/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace lcsim::sweep {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string num(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string pad(const std::string& s, size_t w, bool right) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

}  // namespace

int better_direction(const std::string& m) {
  for (const char* p : {"per_s", "throughput", "mfu", "tflops", "bandwidth", "busbw", "algbw", "goodput",
                        "percent_of_ideal", "availability"}) {
    if (contains(m, p)) return +1;
  }
  for (const char* p : {"time", "cost", "usd", "energy", "_wh", "kwh", "gpu_hours", "latency", "fct", "makespan",
                        "memory", "days", "hours", "_bytes", "lost", "wasted", "downtime"}) {
    if (contains(m, p)) return -1;
  }
  if (ends_with(m, "_s")) return -1;
  return 0;
}

std::vector<Comparison> compare_rows(const std::vector<PointRecord>& rows) {
  // group key -> alternative -> repetition -> row
  std::vector<std::string> group_order, alt_order;
  std::map<std::string, std::map<std::string, std::map<int, const PointRecord*>>> groups;
  for (const auto& r : rows) {
    std::string g;
    for (const auto& [n, v] : r.axes) g += (g.empty() ? "" : ", ") + n + "=" + v;
    if (!groups.count(g)) group_order.push_back(g);
    if (std::find(alt_order.begin(), alt_order.end(), r.alternative) == alt_order.end()) {
      alt_order.push_back(r.alternative);
    }
    if (r.status != "error") groups[g][r.alternative][r.repetition] = &r;
    else groups[g];
  }
  std::vector<Comparison> out;
  for (const auto& g : group_order) {
    Comparison c;
    c.group = g;
    c.alternatives = alt_order;
    const auto& by_alt = groups[g];
    // Metric names in first-seen order.
    std::vector<std::string> names;
    for (const auto& a : alt_order) {
      auto it = by_alt.find(a);
      if (it == by_alt.end()) continue;
      for (const auto& [rep, row] : it->second) {
        c.repetitions = std::max(c.repetitions, static_cast<int>(it->second.size()));
        for (const auto& m : row->metrics) {
          if (std::find(names.begin(), names.end(), m.first) == names.end()) names.push_back(m.first);
        }
      }
    }
    for (const auto& name : names) {
      MetricDelta md;
      md.metric = name;
      std::vector<std::map<int, double>> values(alt_order.size());
      for (size_t ai = 0; ai < alt_order.size(); ++ai) {
        auto it = by_alt.find(alt_order[ai]);
        std::vector<double> xs;
        if (it != by_alt.end()) {
          for (const auto& [rep, row] : it->second) {
            for (const auto& m : row->metrics) {
              if (m.first == name && std::isfinite(m.second)) {
                values[ai][rep] = m.second;
                xs.push_back(m.second);
              }
            }
          }
        }
        md.per_alternative.push_back(summarize(xs));
      }
      for (size_t ai = 1; ai < alt_order.size(); ++ai) {
        const Summary& a = md.per_alternative[0];
        const Summary& b = md.per_alternative[ai];
        const double delta = b.mean - a.mean;
        md.delta.push_back(delta);
        md.relative.push_back(a.mean != 0 ? delta / std::fabs(a.mean) : std::nan(""));
        // Pair by repetition where both have it (common random numbers); Welch otherwise.
        std::vector<double> pa, pb;
        for (const auto& [rep, x] : values[0]) {
          auto it = values[ai].find(rep);
          if (it != values[ai].end()) {
            pa.push_back(x);
            pb.push_back(it->second);
          }
        }
        TestResult t;
        double ci = std::nan("");
        std::string verdict;
        if (a.n == 0 || b.n == 0) {
          verdict = "no data";
          t.p = std::nan("");
        } else if (pa.size() >= 2 && pa.size() == a.n && pb.size() == b.n) {
          t = paired_t_test(pa, pb);
          std::vector<double> d;
          for (size_t i = 0; i < pa.size(); ++i) d.push_back(pb[i] - pa[i]);
          ci = summarize(d).ci_half;
        } else if (a.n >= 2 && b.n >= 2) {
          std::vector<double> xa, xb;
          for (const auto& kv : values[0]) xa.push_back(kv.second);
          for (const auto& kv : values[ai]) xb.push_back(kv.second);
          t = welch_t_test(xa, xb);
          ci = student_t_quantile(0.975, t.df) *
               std::sqrt(a.sd * a.sd / static_cast<double>(a.n) + b.sd * b.sd / static_cast<double>(b.n));
        } else {
          // One run each: a deterministic difference, no interval.
          t.p = delta == 0 ? 1 : 0;
        }
        if (verdict.empty()) {
          const int dir = better_direction(name);
          if (delta == 0) verdict = "same";
          else if (t.p >= 0.05) verdict = "not significant";
          else if (dir == 0) verdict = delta > 0 ? "higher" : "lower";
          else verdict = (delta > 0) == (dir > 0) ? "better" : "worse";
          if (!std::isnan(t.p) && delta != 0 && (a.n >= 2 || b.n >= 2)) {
            char buf[32];
            std::snprintf(buf, sizeof buf, " (p=%.2g)", t.p);
            verdict += buf;
          }
        }
        md.delta_ci_half.push_back(ci);
        md.p.push_back(t.p);
        md.verdict.push_back(verdict);
      }
      c.metrics.push_back(std::move(md));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string format_comparison(const Comparison& c, bool all) {
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"metric"};
  for (const auto& a : c.alternatives) head.push_back(a.empty() ? "(base)" : a);
  for (size_t ai = 1; ai < c.alternatives.size(); ++ai) {
    const std::string who = c.alternatives.size() > 2 ? " " + c.alternatives[ai] : "";
    head.push_back("delta" + who);
    head.push_back("rel" + who);
    head.push_back("95% CI of delta" + who);
    head.push_back("verdict" + who);
  }
  table.push_back(head);
  size_t hidden = 0;
  for (const auto& m : c.metrics) {
    bool differs = false;
    for (double d : m.delta) differs = differs || (d != 0 && !std::isnan(d));
    if (!all && !differs) {
      ++hidden;
      continue;
    }
    std::vector<std::string> row = {m.metric};
    for (const auto& s : m.per_alternative) {
      row.push_back(s.n >= 2 ? num(s.mean) + " ± " + num(s.ci_half) : num(s.mean));
    }
    for (size_t i = 0; i < m.delta.size(); ++i) {
      row.push_back((m.delta[i] > 0 ? "+" : "") + num(m.delta[i]));
      char rel[32] = "-";
      if (!std::isnan(m.relative[i])) std::snprintf(rel, sizeof rel, "%+.2f%%", 100 * m.relative[i]);
      row.push_back(rel);
      row.push_back(std::isnan(m.delta_ci_half[i]) ? "-" : "± " + num(m.delta_ci_half[i]));
      row.push_back(m.verdict[i]);
    }
    table.push_back(row);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& r : table) {
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  std::string out;
  if (!c.group.empty()) out += c.group + ":\n";
  for (size_t ri = 0; ri < table.size(); ++ri) {
    std::string line;
    for (size_t i = 0; i < table[ri].size(); ++i) {
      line += (i ? "  " : "  ") + pad(table[ri][i], w[i], i > 0 && ri > 0 && head[i].rfind("verdict", 0) != 0);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  char foot[200];
  std::snprintf(foot, sizeof foot, "  (%d repetition%s per alternative, same seeds for every alternative%s)\n",
                c.repetitions, c.repetitions == 1 ? "" : "s",
                hidden ? (", " + std::to_string(hidden) + " metrics equal in every alternative not shown").c_str()
                       : "");
  out += foot;
  return out;
}

}  // namespace lcsim::sweep
