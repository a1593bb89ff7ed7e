// See plot.h.
#include "sweep/plot.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "sim/config.h"
#include "sim/error.h"
#include "sim/json.h"
#include "sweep/expr.h"
#include "sweep/stats.h"

namespace lcsim::sweep {

namespace {

std::string value_of(const PointRecord& r, const std::string& column) {
  if (column == "alternative") return r.alternative;
  if (column == "repetition") return std::to_string(r.repetition);
  if (column == "seed") return std::to_string(r.seed);
  for (const auto& [n, v] : r.axes) {
    if (n == column) return v;
  }
  return "";
}

/// Sorts labels numerically when they all read as numbers, else keeps their first-seen order.
void order(std::vector<std::string>& labels) {
  const bool numeric = std::all_of(labels.begin(), labels.end(), [](const std::string& s) {
    return ExprValue::parse(s).is_number;
  });
  if (numeric) {
    std::stable_sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
      return ExprValue::parse(a).number < ExprValue::parse(b).number;
    });
  }
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string gnuplot_string(const std::string& s) {  // single quotes: no escapes inside
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

PlotFiles make_plot(const std::vector<PointRecord>& rows, const std::vector<std::string>& axis_names,
                    const PlotRequest& req) {
  std::vector<std::string> columns = axis_names;
  for (const char* c : {"alternative", "repetition", "seed"}) columns.push_back(c);
  auto check_column = [&](const std::string& flag, const std::string& name) {
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) {
      throw InputError(flag + ": " + unknown_name_message("column", name, columns));
    }
  };
  check_column("--x", req.x);
  if (!req.group.empty()) check_column("--group", req.group);
  for (const auto& [column, value] : req.where) check_column("--where", column);
  if (req.kind != "line" && req.kind != "bar" && req.kind != "heatmap") {
    throw InputError("--kind: " + unknown_name_message("kind", req.kind, {"line", "bar", "heatmap"}));
  }
  if (req.kind == "heatmap" && req.group.empty()) {
    throw InputError("--kind heatmap needs --group (the vertical axis)");
  }
  std::vector<std::string> metrics;
  std::vector<std::string> xs, groups;
  std::map<std::string, std::map<std::string, std::vector<double>>> cells;  // group -> x -> values
  for (const auto& r : rows) {
    for (const auto& m : r.metrics) {
      if (std::find(metrics.begin(), metrics.end(), m.first) == metrics.end()) metrics.push_back(m.first);
    }
    if (r.status == "error") continue;
    bool selected = true;
    for (const auto& [column, value] : req.where) selected = selected && value_of(r, column) == value;
    if (!selected) continue;
    for (const auto& [name, v] : r.metrics) {
      if (name != req.y || !std::isfinite(v)) continue;
      const std::string x = value_of(r, req.x);
      const std::string g = req.group.empty() ? req.y : value_of(r, req.group);
      if (std::find(xs.begin(), xs.end(), x) == xs.end()) xs.push_back(x);
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
      cells[g][x].push_back(v);
    }
  }
  if (std::find(metrics.begin(), metrics.end(), req.y) == metrics.end()) {
    throw InputError("--y: " + unknown_name_message("metric", req.y, metrics));
  }
  if (cells.empty()) throw InputError("--y " + req.y + ": no finished point has this metric; nothing to plot");
  order(xs);
  order(groups);
  const bool numeric_x = std::all_of(xs.begin(), xs.end(), [](const std::string& s) {
    return ExprValue::parse(s).is_number;
  });
  PlotFiles f;
  std::string& d = f.data;
  auto mean_ci = [&](const std::string& g, const std::string& x, double& mean, double& ci) {
    auto gi = cells.find(g);
    if (gi == cells.end() || !gi->second.count(x)) return false;
    const Summary s = summarize(gi->second.at(x));
    mean = s.mean;
    ci = std::isnan(s.ci_half) ? 0 : s.ci_half;
    return true;
  };
  std::string plot;
  const std::string title = req.title.empty() ? req.y + " by " + req.x : req.title;
  std::string s = "# written by lcsim plot; gnuplot " + req.prefix + ".gp renders " + req.prefix + ".svg and .png\n";
  s += "set title " + quoted(title) + " noenhanced\nset xlabel " + quoted(req.x) + " noenhanced\n";
  s += "set ylabel " + quoted(req.y) + " noenhanced\nset grid\nset key outside right noenhanced\n";
  if (req.kind == "line") {
    // One block per group: x mean ci (categorical x: index mean ci label).
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      d += "# " + (req.group.empty() ? req.y : req.group + "=" + groups[gi]) + "\n";
      for (size_t xi = 0; xi < xs.size(); ++xi) {
        double m = 0, ci = 0;
        if (!mean_ci(groups[gi], xs[xi], m, ci)) continue;
        ++f.points;
        d += (numeric_x ? xs[xi] : std::to_string(xi)) + " " + json_number(m) + " " + json_number(ci) + " " +
             quoted(xs[xi]) + "\n";
      }
      d += "\n\n";
      plot += std::string(gi ? ", \\\n     " : "plot ") + gnuplot_string(req.prefix + ".dat") + " index " +
              std::to_string(gi) + (numeric_x ? " using 1:2:3" : " using 1:2:3:xtic(4)") +
              " with yerrorlines title " +
              quoted(req.group.empty() ? req.y : req.group + "=" + groups[gi]);
    }
  } else if (req.kind == "bar") {
    d += quoted(req.x);
    for (const auto& g : groups) d += " " + quoted(g);
    d += "\n";
    for (const auto& x : xs) {
      d += quoted(x);
      for (const auto& g : groups) {
        double m = 0, ci = 0;
        if (mean_ci(g, x, m, ci)) {
          ++f.points;
          d += " " + json_number(m);
        } else {
          d += " NaN";
        }
      }
      d += "\n";
    }
    s += "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n";
    s += "set yrange [0:*]\n";
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      plot += std::string(gi ? ", \\\n     " : "plot ") + gnuplot_string(req.prefix + ".dat") + " using " +
              std::to_string(gi + 2) + (gi == 0 ? ":xtic(1)" : "") + " title columnheader(" +
              std::to_string(gi + 2) + ")";
    }
  } else {
    // Heatmap: rows are groups (y), columns are x; cells the metric's mean.
    d += quoted(req.group + "/" + req.x);
    for (const auto& x : xs) d += " " + quoted(x);
    d += "\n";
    for (const auto& g : groups) {
      d += quoted(g);
      for (const auto& x : xs) {
        double m = 0, ci = 0;
        if (mean_ci(g, x, m, ci)) ++f.points;
        else m = std::nan("");
        d += " " + (std::isnan(m) ? std::string("NaN") : json_number(m));
      }
      d += "\n";
    }
    s += "set ylabel " + quoted(req.group) + " noenhanced\nset view map\nset cblabel " + quoted(req.y) +
         " noenhanced\nset palette rgbformulae 33,13,10\nunset grid\n";
    plot = "plot " + gnuplot_string(req.prefix + ".dat") + " matrix rowheaders columnheaders with image notitle";
  }
  s += "set terminal svg size 900,540 dynamic background rgb 'white'\nset output " +
       gnuplot_string(req.prefix + ".svg") + "\n" + plot + "\n";
  s += "set terminal pngcairo size 900,540\nset output " + gnuplot_string(req.prefix + ".png") + "\nreplot\n";
  s += "unset output\n";
  f.script = s;
  return f;
}

void render_plot(const PlotFiles& files, const PlotRequest& req) {
  {
    std::ofstream d(req.prefix + ".dat");
    d << files.data;
    std::ofstream g(req.prefix + ".gp");
    g << files.script;
    if (!d || !g) throw InputError("cannot write " + req.prefix + ".dat / .gp");
  }
  std::string cmd = "gnuplot " + gnuplot_string(req.prefix + ".gp") + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw InputError("cannot run gnuplot (install gnuplot-nox)");
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw InputError("gnuplot failed on " + req.prefix + ".gp" +
                     (WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (not installed: apt-get install gnuplot-nox)"
                                                                      : ": " + out));
  }
}

}  // namespace lcsim::sweep
