// lcsim plot: a metric of a results database against an axis, one series per value of another axis (line or
// bar chart; or a heatmap over two axes), the repetitions averaged (error bars: 95% interval). The data and a
// gnuplot script are written beside the pictures, and gnuplot renders SVG and PNG (docs/sweeps.md says why
// gnuplot).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sweep/results_db.h"

namespace lcsim::sweep {

struct PlotRequest {
  std::string x;       // an axis name, or alternative / repetition / seed
  std::string y;       // a metric
  std::string group;   // optional: one series per value (heatmap: the vertical axis)
  std::string kind = "line";  // line, bar, heatmap
  std::string prefix;  // output files: PREFIX.dat, PREFIX.gp, PREFIX.svg, PREFIX.png
  std::string title;
  /// Only rows whose column has this value (axes neither x nor group are otherwise averaged with the repetitions).
  std::vector<std::pair<std::string, std::string>> where;
};

struct PlotFiles {
  std::string data;    // gnuplot data
  std::string script;  // gnuplot script (writes PREFIX.svg and PREFIX.png)
  size_t points = 0;   // (x, group) cells with data
};

/// Builds the data and script from the rows. Throws InputError naming the valid columns when x, y or group is
/// not in the database, or when nothing is left to plot.
PlotFiles make_plot(const std::vector<PointRecord>& rows, const std::vector<std::string>& axis_names,
                    const PlotRequest& request);

/// Writes PREFIX.dat and PREFIX.gp and runs `gnuplot PREFIX.gp`. Throws InputError if gnuplot is missing or fails.
void render_plot(const PlotFiles& files, const PlotRequest& request);

}  // namespace lcsim::sweep
