// lcsim-gui: the visual timeline of one run, or two side by side.
//
//   lcsim-gui [RUN_DIR [RUN_DIR2]] [SWEEP.db] [--screenshot FILE.png|FILE.svg] [--size WxH] [--lanes FILTER]
//
// SWEEP.db is a sweep's result database (`lcsim sweep`): charted in the Sweep tab (alone, --screenshot renders the
// chart).
// RUN_DIR is the output folder of `lcsim run -o DIR` (timeline.pftrace or timeline.json, metrics.json,
// report.txt). --screenshot renders the whole-run view at --size (default 1200x700) and exits: with
// QT_QPA_PLATFORM=offscreen it needs no display (how the README's picture is made).
#include <QApplication>
#include <QStringList>
#include <cstdio>

#include "gui/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  std::vector<std::string> dirs;
  QString shot, lanes;
  std::string sweep_db;  // a sweep's result database (lcsim sweep ... .db)
  QSize size(1200, 700);
  const QStringList args = app.arguments();
  for (int i = 1; i < args.size(); ++i) {
    const QString& a = args[i];
    auto value = [&]() -> QString {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "lcsim-gui: %s needs a value\n", qPrintable(a));
        std::exit(2);
      }
      return args[++i];
    };
    if (a == "--screenshot") shot = value();
    else if (a == "--lanes") lanes = value();
    else if (a == "--size") {
      const QStringList wh = value().split('x');
      bool ok1 = false, ok2 = false;
      if (wh.size() == 2) size = QSize(wh[0].toInt(&ok1), wh[1].toInt(&ok2));
      if (!ok1 || !ok2 || size.width() < 300 || size.height() < 100) {
        std::fprintf(stderr, "lcsim-gui: --size expects WIDTHxHEIGHT, at least 300x100 (e.g. 1200x700)\n");
        return 2;
      }
    } else if (a.startsWith("-")) {
      std::fprintf(stderr, "lcsim-gui: unknown option '%s' (valid: --screenshot, --size, --lanes)\n", qPrintable(a));
      return 2;
    } else if (a.endsWith(".db")) {
      sweep_db = a.toStdString();
    } else {
      dirs.push_back(a.toStdString());
    }
  }
  if (dirs.size() > 2) {
    std::fprintf(stderr, "lcsim-gui: at most two run folders (got %zu)\n", dirs.size());
    return 2;
  }
  lcsim::gui::MainWindow w;
  try {
    if (!dirs.empty()) w.open_runs(dirs);
    if (!sweep_db.empty()) w.open_sweep(sweep_db);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());  // InputError's text starts with "error: "
    return 2;
  }
  if (!lanes.isEmpty()) w.view()->set_lane_filter(lanes);
  if (!shot.isEmpty() && dirs.empty() && !sweep_db.empty()) {  // a sweep alone: its chart
    const bool ok = w.sweep_chart()->render_image(size).save(shot);
    if (!ok) std::fprintf(stderr, "error: cannot write '%s'\n", qPrintable(shot));
    return ok ? 0 : 1;
  }
  if (!shot.isEmpty()) {
    const bool ok = shot.endsWith(".svg") ? w.view()->export_svg(shot, size) : w.view()->export_png(shot, size);
    if (!ok) {
      std::fprintf(stderr, "error: cannot write '%s'\n", qPrintable(shot));
      return 1;
    }
    return 0;
  }
  w.show();
  return app.exec();
}
