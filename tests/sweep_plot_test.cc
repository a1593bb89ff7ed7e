// lcsim plot: the data written for gnuplot (repetitions averaged, series per group, numeric axes sorted), the
// errors for unknown columns and metrics, and real SVG and PNG files from gnuplot (skipped without gnuplot).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sim/error.h"
#include "sweep/plot.h"

namespace lcsim::sweep {
namespace {

PointRecord row(int64_t id, const std::string& nodes, const std::string& lb, int rep, double v) {
  PointRecord r;
  r.id = id;
  r.repetition = rep;
  r.status = "completed";
  r.axes = {{"nodes", nodes}, {"lb", lb}};
  r.metrics = {{"iteration_time_s", v}};
  return r;
}

std::vector<PointRecord> rows() {
  // nodes 16 listed before 4 (numeric sort must fix the order); two repetitions each.
  return {row(0, "16", "ecmp", 0, 1.0), row(1, "16", "ecmp", 1, 3.0), row(2, "16", "spray", 0, 0.5),
          row(3, "16", "spray", 1, 0.5), row(4, "4", "ecmp", 0, 4.0),  row(5, "4", "ecmp", 1, 4.0),
          row(6, "4", "spray", 0, 2.0),  row(7, "4", "spray", 1, 2.0)};
}

TEST(SweepPlot, LineDataAveragesRepetitionsPerGroup) {
  PlotRequest req;
  req.x = "nodes";
  req.y = "iteration_time_s";
  req.group = "lb";
  req.prefix = "p";
  const PlotFiles f = make_plot(rows(), {"nodes", "lb"}, req);
  EXPECT_EQ(f.points, 4u);
  // ecmp at 16 nodes: mean 2, 95% half-width t(0.975, 1) x sd / sqrt 2 = 12.706 x 1.414 / 1.414.
  EXPECT_EQ(f.data.substr(0, 38), "# lb=ecmp\n4 4 0 \"4\"\n16 2 12.7062047361");
  EXPECT_NE(f.data.find("# lb=spray\n4 2 0 \"4\"\n16 0.5 0 \"16\"\n"), std::string::npos) << f.data;
  EXPECT_NE(f.script.find("set terminal svg"), std::string::npos);
  EXPECT_NE(f.script.find("set terminal pngcairo"), std::string::npos);
  EXPECT_NE(f.script.find("title \"lb=spray\""), std::string::npos) << f.script;
}

TEST(SweepPlot, BarAndHeatmapTables) {
  PlotRequest req;
  req.x = "lb";
  req.y = "iteration_time_s";
  req.group = "nodes";
  req.kind = "bar";
  req.prefix = "p";
  const PlotFiles bar = make_plot(rows(), {"nodes", "lb"}, req);
  EXPECT_EQ(bar.data, "\"lb\" \"4\" \"16\"\n\"ecmp\" 4 2\n\"spray\" 2 0.5\n");
  req.where = {{"nodes", "16"}};  // only the 16-node points
  EXPECT_EQ(make_plot(rows(), {"nodes", "lb"}, req).data, "\"lb\" \"16\"\n\"ecmp\" 2\n\"spray\" 0.5\n");
  req.where.clear();
  req.kind = "heatmap";
  const PlotFiles heat = make_plot(rows(), {"nodes", "lb"}, req);
  EXPECT_EQ(heat.data, "\"nodes/lb\" \"ecmp\" \"spray\"\n\"4\" 4 2\n\"16\" 2 0.5\n");
}

TEST(SweepPlot, UnknownColumnsAndMetricsAreNamed) {
  PlotRequest req;
  req.x = "node";
  req.y = "iteration_time_s";
  try {
    make_plot(rows(), {"nodes", "lb"}, req);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--x: unknown column 'node'; did you mean 'nodes'?"), std::string::npos)
        << e.what();
  }
  req.x = "nodes";
  req.y = "iteration_time";
  EXPECT_THROW(make_plot(rows(), {"nodes", "lb"}, req), InputError);
  req.y = "iteration_time_s";
  req.kind = "pie";
  EXPECT_THROW(make_plot(rows(), {"nodes", "lb"}, req), InputError);
}

TEST(SweepPlot, GnuplotWritesSvgAndPng) {
  ASSERT_EQ(std::system("command -v gnuplot >/dev/null 2>&1"), 0) << "gnuplot missing: scripts/install-deps.sh installs it";
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("lcsim-plot-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* kind : {"line", "bar", "heatmap"}) {
    PlotRequest req;
    req.x = "nodes";
    req.y = "iteration_time_s";
    req.group = "lb";
    req.kind = kind;
    req.prefix = (dir / kind).string();
    render_plot(make_plot(rows(), {"nodes", "lb"}, req), req);
    std::ifstream svg(req.prefix + ".svg");
    const std::string s((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    EXPECT_NE(s.find("<svg"), std::string::npos) << kind;
    std::ifstream png(req.prefix + ".png", std::ios::binary);
    char magic[8] = {};
    png.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << kind;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lcsim::sweep
