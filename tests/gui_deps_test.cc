// lcsim-gui's views added for issue 17 items 1, 2 and 6, under Qt Test on the offscreen platform: lanes
// grouped by rack, pipeline stage, plane and job (the lane attributes the run writes); a selection's
// dependencies and the critical path of a pipeline-parallel run; a sweep database charted with Qt Charts.
//
// tests/gui/run-pp is an `lcsim run` output of a small pipeline (command in tests/gui/README.md).
#include <unistd.h>

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QPlainTextEdit>
#include <QtTest/QtTest>
#include <fstream>
#include <set>

#include "gui/main_window.h"
#include "gui/run_data.h"
#include "gui/sweep_chart.h"
#include "gui/timeline_view.h"
#include "sim/trace.h"
#include "sweep/results_db.h"

using lcsim::gui::MainWindow;
using lcsim::gui::TimelineView;

namespace {

const std::string kRunPp = std::string(LCSIM_SOURCE_DIR) + "/tests/gui/run-pp";
const std::string kRunDp = std::string(LCSIM_SOURCE_DIR) + "/tests/gui/run-dp";

QString temp_path(const QString& name) {
  const QString dir = QDir::tempPath() + QString("/gui_deps_test_%1").arg(getpid());
  QDir().mkpath(dir);
  return dir + "/" + name;
}

// The compute lane of `stage` and the index of its slice named `name`.
std::pair<size_t, size_t> find_slice(const lcsim::timeline::Trace& t, const std::string& stage,
                                     const std::string& name) {
  for (size_t i = 0; i < t.tracks.size(); ++i) {
    const auto& tr = t.tracks[i];
    if (tr.attr("stage") != stage || tr.name.find("compute") == std::string::npos) continue;
    for (size_t j = 0; j < tr.slices.size(); ++j) {
      if (t.str(tr.slices[j].name) == name) return {i, j};
    }
  }
  return {0, SIZE_MAX};
}

// `run` opened in `w` at the size the tests' pixel positions assume; its timeline view.
TimelineView* open_run(MainWindow& w, const std::string& run) {
  w.resize(1400, 800);
  w.open_runs({run});
  TimelineView* v = w.view();
  v->resize(1100, 700);
  return v;
}

}  // namespace

class GuiDepsTest : public QObject {
  Q_OBJECT

 private slots:
  void groups_lanes_by_rack_stage_plane_and_job() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunPp});
    TimelineView* v = w.view();
    const auto all = v->lane_names();
    QVERIFY(all.size() > 8);
    // The combo box offers every grouping, in Grouping order.
    QCOMPARE(w.grouping()->count(), 6);
    w.grouping()->setCurrentIndex(static_cast<int>(TimelineView::Grouping::kStage));
    QCOMPARE(v->lane_names().size(), all.size());
    auto keys = v->group_keys();
    for (const char* k : {"stage 0", "stage 1", "stage 2", "stage 3"}) {
      QVERIFY2(std::find(keys.begin(), keys.end(), QString(k)) != keys.end(), k);
    }
    // Collapsing a stage hides exactly its lanes.
    const auto run = lcsim::gui::load_run(kRunPp);
    int stage1 = 0;
    for (const auto& t : run.trace.tracks) stage1 += t.attr("stage") == "1";
    QVERIFY(stage1 > 0);
    v->toggle_group("stage 1");
    QCOMPARE(static_cast<int>(v->lane_names().size()), static_cast<int>(all.size()) - stage1);
    v->toggle_group("stage 1");
    // Job: every GPU lane in the scenario's one job; links have none.
    v->set_grouping(TimelineView::Grouping::kJob);
    keys = v->group_keys();
    QVERIFY(std::find(keys.begin(), keys.end(), QString("job train-h100")) != keys.end());
    // Rack: the leaf each GPU's NIC is on (rail-optimized: a leaf per rail, so one per traced GPU here).
    v->set_grouping(TimelineView::Grouping::kRack);
    keys = v->group_keys();
    std::set<std::string> racks;
    for (const auto& t : run.trace.tracks) {
      if (!t.attr("rack").empty()) racks.insert(t.attr("rack"));
    }
    QVERIFY(racks.size() >= 2);
    int rack_groups = 0;
    for (const auto& k : keys) rack_groups += k.startsWith("rack ");
    QCOMPARE(rack_groups, static_cast<int>(racks.size()));
    // Plane: the busy links' plane (one plane here); GPU lanes have none.
    v->set_grouping(TimelineView::Grouping::kPlane);
    keys = v->group_keys();
    QVERIFY(std::find(keys.begin(), keys.end(), QString("(no plane)")) != keys.end());
    QVERIFY(std::find(keys.begin(), keys.end(), QString("plane 0")) != keys.end());
    QCOMPARE(v->lane_names().size(), all.size());
  }

  void shows_dependencies_and_the_critical_path() {
    MainWindow w;
    TimelineView* v = open_run(w, kRunPp);
    const auto run = lcsim::gui::load_run(kRunPp);
    const auto [track, slice] = find_slice(run.trace, "0", "B3");
    QVERIFY(slice != SIZE_MAX);
    const QPoint at = v->slice_position(0, track, slice);
    QVERIFY(at.x() >= 0);
    QVERIFY(v->select_at(at));
    QCOMPARE(v->selection().track, track);
    // B3 on the first stage waited on the gradients stage 1 sent; it ends its micro-batch's chain.
    const auto waited = v->selection_waited_on();
    QCOMPARE(waited.size(), size_t(1));
    QCOMPARE(QString::fromStdString(run.trace.str(run.trace.slice(waited[0]).name)),
             QString("send gradients"));
    QCOMPARE(run.trace.tracks[waited[0].track].attr("stage"), std::string("1"));
    QVERIFY(v->selection_dependents().empty());
    QVERIFY2(w.details()->toPlainText().contains("waited on  send gradients"),
             qPrintable(w.details()->toPlainText()));
    const QImage plain = v->render_image(QSize(1100, 700));
    // The critical path on demand: the 1F1B chain (timeline_deps_test checks it step by step), drawn in red.
    w.critical_path_action()->trigger();
    QCOMPARE(v->critical_path().size(), size_t(20));
    QVERIFY(v->critical_path().back() ==
            (lcsim::timeline::SliceRef{static_cast<uint32_t>(track), static_cast<uint32_t>(slice)}));
    QVERIFY(w.details()->toPlainText().contains("critical path: 20 steps"));
    const QImage marked = v->render_image(QSize(1100, 700));
    int red = 0;
    for (int y = 0; y < marked.height(); ++y) {
      for (int x = 0; x < marked.width(); ++x) {
        const QRgb c = marked.pixel(x, y);
        red += qRed(c) > 190 && qGreen(c) < 60 && qBlue(c) < 60;
      }
    }
    QVERIFY2(red > 100, qPrintable(QString("%1 red pixels").arg(red)));
    QVERIFY(plain != marked);
    w.critical_path_action()->trigger();
    QVERIFY(v->critical_path().empty());
  }

  // run-dp: eight data-parallel ranks, every one simulated and traced: the first gradient collective on gpu0
  // waited on every rank's backward pass, and the critical path through it goes to the one that ended last.
  void selects_a_collective_and_sees_every_participant() {
    MainWindow w;
    TimelineView* v = open_run(w, kRunDp);
    const auto run = lcsim::gui::load_run(kRunDp);
    const lcsim::timeline::Track* dp = run.trace.find("node0", "gpu0 dp");
    QVERIFY(dp != nullptr && !dp->slices.empty());
    const size_t track = static_cast<size_t>(dp - run.trace.tracks.data());
    const QPoint at = v->slice_position(0, track, 0);
    QVERIFY(at.x() >= 0);
    QVERIFY(v->select_at(at));
    QCOMPARE(v->selection().track, track);
    const auto waited = v->selection_waited_on();
    QCOMPARE(waited.size(), size_t(8));
    std::set<std::string> lanes;
    int64_t last = 0;
    for (const auto& r : waited) {
      QCOMPARE(QString::fromStdString(run.trace.str(run.trace.slice(r).name)), QString("B0"));
      lanes.insert(run.trace.tracks[r.track].name);
      last = std::max(last, run.trace.slice(r).end_ns());
    }
    QCOMPARE(lanes.size(), size_t(8));
    const QString text = w.details()->toPlainText();
    QCOMPARE(text.count("waited on  B0"), 8);
    w.critical_path_action()->trigger();
    const auto path = v->critical_path();
    QVERIFY(path.size() >= 2);
    QCOMPARE(run.trace.slice(path[path.size() - 2]).end_ns(), last);
  }

  void draws_gpu_counters_under_their_lanes() {
    // A run's timeline whose per-GPU counters (HBM, power) come first in the file, before the GPU's spans.
    const QString dir = temp_path("counters");
    QDir().mkpath(dir);
    {
      std::ofstream out((dir + "/timeline.json").toStdString(), std::ios::binary);
      lcsim::TimelineLayout layout;
      layout.gpu = {{0, 0}};
      layout.link = [](uint32_t) { return std::make_pair(std::string("leaf"), std::string("l")); };
      lcsim::TimelineWriter w(out, layout);
      using lcsim::Duration;
      w.on_counter({"node0", "gpu0 HBM (GB)", Duration::us(0), 30});
      w.on_counter({"node0", "gpu0 HBM (GB)", Duration::us(50), 60});
      w.on_span({.kind = lcsim::SpanKind::kCompute, .rank = 0, .start = Duration::us(0), .end = Duration::us(50),
                 .name = "F0"});
      w.on_span({.kind = lcsim::SpanKind::kComm, .rank = 0, .start = Duration::us(50), .end = Duration::us(80),
                 .name = "all-reduce"});
      w.on_counter({"node0", "gpu0 power (W)", Duration::us(0), 700});
      w.on_counter({"node0", "gpu0 power (W)", Duration::us(50), 300});
    }
    MainWindow w;
    w.resize(1000, 500);
    w.open_runs({dir.toStdString()});
    TimelineView* v = w.view();
    // In the node's group, the lanes first, then the counters (in file order).
    const auto lanes = v->lane_names();
    QCOMPARE(static_cast<int>(lanes.size()), 4);
    QCOMPARE(lanes[0], QString("A:node0/gpu0 compute"));
    QCOMPARE(lanes[1], QString("A:node0/gpu0 comm"));
    QCOMPARE(lanes[2], QString("A:node0/gpu0 HBM (GB)"));
    QCOMPARE(lanes[3], QString("A:node0/gpu0 power (W)"));
    // Grouped by kind: a GPU's counters by what they count, beside the row kinds.
    v->set_grouping(TimelineView::Grouping::kKind);
    const auto keys = v->group_keys();
    for (const char* k : {"compute", "comm", "HBM (GB)", "power (W)"}) {
      QVERIFY2(std::find(keys.begin(), keys.end(), QString(k)) != keys.end(), k);
    }
    // The counters are drawn: their fill colour below the slice lanes.
    v->set_grouping(TimelineView::Grouping::kTrace);
    v->resize(1000, 500);
    v->zoom_to_fit();
    const QImage img = v->render_image(QSize(1000, 500));
    int fill = 0;
    for (int y = 0; y < img.height(); ++y) {
      for (int x = 0; x < img.width(); ++x) fill += img.pixel(x, y) == QColor(120, 190, 130).rgb();
    }
    QVERIFY2(fill > 500, qPrintable(QString("%1 counter pixels").arg(fill)));
  }

  void charts_a_sweep_database() {
    const QString db = temp_path("sweep.db");
    QFile::remove(db);
    {
      lcsim::sweep::ResultsDb out(db.toStdString());
      out.bind_plan("t", "fp", 7, {"nic", "lb"});
      int64_t id = 0;
      for (const char* lb : {"ecmp", "spray"}) {
        for (int nic : {100, 200, 400}) {
          for (int rep = 0; rep < 2; ++rep) {
            lcsim::sweep::PointRecord r;
            r.id = ++id;
            r.repetition = rep;
            r.axes = {{"nic", std::to_string(nic)}, {"lb", lb}};
            r.status = "completed";
            // Repetitions differ by 2: the chart shows their mean.
            r.metrics = {{"iteration_time_s", 40.0 / nic + (lb[0] == 's' ? 0.1 : 0.0) + rep * 2.0},
                         {"mfu", 0.4}};
            out.record(r);
          }
        }
      }
      lcsim::sweep::PointRecord bad;
      bad.id = ++id;
      bad.axes = {{"nic", "50"}, {"lb", "ecmp"}};
      bad.status = "error";
      bad.error = "out of memory";
      out.record(bad);
    }
    MainWindow w;
    w.open_sweep(db.toStdString());
    lcsim::gui::SweepChart* c = w.sweep_chart();
    QVERIFY(c->metrics().contains("iteration_time_s"));
    QCOMPARE(c->axes(), QStringList({"nic", "lb"}));
    QVERIFY(c->set_chart("iteration_time_s", "nic", "lb"));
    const auto& d = c->data();
    QVERIFY(d.numeric_x);
    QCOMPARE(d.series.size(), size_t(2));
    QCOMPARE(d.series[0].name, QString("lb = ecmp"));
    QCOMPARE(d.series[0].points.size(), size_t(3));  // the failed point is left out
    QCOMPARE(d.series[0].points[0], QPointF(100, 40.0 / 100 + 1.0));
    QCOMPARE(d.series[1].points[2], QPointF(400, 40.0 / 400 + 0.1 + 1.0));
    QCOMPARE(d.series[1].counts[2], 2);
    // Against a text axis: categories, one series when not grouped.
    QVERIFY(c->set_chart("iteration_time_s", "lb", ""));
    QVERIFY(!c->data().numeric_x);
    QCOMPARE(c->data().categories, QStringList({"ecmp", "spray"}));
    QCOMPARE(c->data().series.size(), size_t(1));
    QVERIFY(!c->set_chart("no_such_metric", "nic", ""));
    // It draws: something besides the background.
    const QImage img = c->render_image(QSize(700, 450));
    int dark = 0;
    for (int y = 0; y < img.height(); y += 2) {
      for (int x = 0; x < img.width(); x += 2) dark += qGray(img.pixel(x, y)) < 128;
    }
    QVERIFY(dark > 50);
    QFile::remove(db);
  }
};

QTEST_MAIN(GuiDepsTest)
#include "gui_deps_test.moc"
