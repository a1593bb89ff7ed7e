// lcsim-gui under Qt Test on the offscreen platform (ctest sets QT_QPA_PLATFORM=offscreen): loading a run folder,
// zoom, pan, selection, filters, grouping, bookmarks, two runs on one axis with their metric differences, PNG/SVG
// export, and a screenshot of a small shipped run compared with a committed reference image within a tolerance.
//
// The runs are tests/gui/run-a and run-b: `lcsim run` outputs of the demo scenario (commands in tests/gui/README.md).
// LCSIM_UPDATE_REFERENCE=1 rewrites tests/gui/reference.png instead of comparing (say so in the commit).
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QTableWidget>
#include <QtTest/QtTest>
#include <unistd.h>

#include "gui/main_window.h"
#include "gui/run_data.h"
#include "gui/timeline_view.h"
#include "sim/error.h"

using lcsim::gui::MainWindow;
using lcsim::gui::TimelineView;

namespace {

const std::string kRunA = std::string(LCSIM_SOURCE_DIR) + "/tests/gui/run-a";
const std::string kRunB = std::string(LCSIM_SOURCE_DIR) + "/tests/gui/run-b";
const QString kReference = QString(LCSIM_SOURCE_DIR) + "/tests/gui/reference.png";
const QSize kShot(900, 520);

QString temp_path(const QString& name) {
  const QString dir = QDir::tempPath() + QString("/gui_test_%1").arg(getpid());
  QDir().mkpath(dir);
  return dir + "/" + name;
}

}  // namespace

class GuiTest : public QObject {
  Q_OBJECT

 private slots:
  void loads_a_run_folder() {
    const auto run = lcsim::gui::load_run(kRunA);
    QVERIFY(run.trace.slice_count() > 100);
    QVERIFY(!run.metrics.empty());
    // Units and meanings come with the metrics.
    bool found = false;
    for (const auto& m : run.metrics) {
      if (m.name == "iteration_time_s") {
        found = true;
        QCOMPARE(QString::fromStdString(m.unit), QString("s"));
        QVERIFY(!m.meaning.empty());
        QVERIFY(m.value > 0);
      }
    }
    QVERIFY(found);
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA});
    QCOMPARE(w.metrics_table()->rowCount(), static_cast<int>(run.metrics.size()));
    QCOMPARE(w.metrics_table()->columnCount(), 4);
    QVERIFY(w.view()->lane_names().size() > 10);
  }

  void rejects_a_folder_without_outputs() {
    const QString empty = temp_path("empty");
    QDir().mkpath(empty);
    try {
      lcsim::gui::load_run(empty.toStdString());
      QFAIL("an empty folder loaded");
    } catch (const lcsim::InputError& e) {
      QVERIFY(QString(e.what()).contains("holds neither timeline.pftrace, timeline.json nor metrics.json"));
    }
  }

  void zooms_and_pans() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA});
    TimelineView* v = w.view();
    const int64_t s0 = v->view_start(), e0 = v->view_end();
    QVERIFY(e0 > s0);
    const int mid = TimelineView::kLabelWidth + (v->width() - TimelineView::kLabelWidth) / 2;
    v->zoom(4.0, mid);
    const int64_t s1 = v->view_start(), e1 = v->view_end();
    // A quarter of the span, around the same centre (within a pixel's worth of rounding).
    QVERIFY(std::abs(static_cast<double>(e1 - s1) * 4 - static_cast<double>(e0 - s0)) < 8 * v->ns_per_pixel() * 4);
    QVERIFY(std::abs(static_cast<double>((s1 + e1) / 2 - (s0 + e0) / 2)) < 4 * v->ns_per_pixel() * 4);
    v->pan(100, 0);  // drag right: earlier times come into view
    QVERIFY(std::abs(static_cast<double>(s1 - v->view_start()) - 100 * v->ns_per_pixel()) < 2);
    QTest::keyClick(v, Qt::Key_F);  // fit
    QCOMPARE(v->view_start(), s0);
    // Wheel over the plot zooms in at the cursor.
    QWheelEvent wheel(QPointF(mid, 200), QPointF(mid, 200), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                      Qt::NoScrollPhase, false);
    QApplication::sendEvent(v, &wheel);
    QVERIFY(v->view_end() - v->view_start() < e0 - s0);
  }

  void selects_a_slice_and_shows_its_details() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA});
    TimelineView* v = w.view();
    QVERIFY(v->find_next("all-reduce") || v->find_next("F"));
    const auto sel = v->selection();
    QVERIFY(sel.valid());
    // Clicking where that slice is drawn selects it again.
    const QPoint at = v->slice_position(sel.run, sel.track, sel.slice);
    QVERIFY(at.x() > TimelineView::kLabelWidth);
    QTest::mouseClick(v, Qt::LeftButton, Qt::NoModifier, QPoint(at.x(), at.y()));
    QVERIFY(v->selection().valid());
    QCOMPARE(v->selection().track, sel.track);
    const QString d = w.details()->toPlainText();
    QVERIFY2(d.contains("duration") && d.contains("lane"), qPrintable(d));
    // Clicking the empty label column clears it.
    QTest::mouseClick(v, Qt::LeftButton, Qt::NoModifier, QPoint(5, v->height() - 3));
    QVERIFY(!v->selection().valid());
  }

  void filters_lanes_and_groups() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA});
    TimelineView* v = w.view();
    const auto all = v->lane_names();
    w.lane_filter()->setText("compute");
    const auto compute = v->lane_names();
    QVERIFY(!compute.empty());
    QVERIFY(compute.size() < all.size());
    for (const auto& n : compute) QVERIFY2(n.contains("compute"), qPrintable(n));
    w.lane_filter()->setText("node0 gpu1");
    for (const auto& n : v->lane_names()) QVERIFY2(n.contains("node0") && n.contains("gpu1"), qPrintable(n));
    w.lane_filter()->clear();
    QCOMPARE(v->lane_names().size(), all.size());
    // Collapsing a group hides its lanes; expanding brings them back.
    const QString g = v->group_keys().front();
    v->toggle_group(g);
    QVERIFY(v->lane_names().size() < all.size());
    v->toggle_group(g);
    QCOMPARE(v->lane_names().size(), all.size());
    // Grouping by row kind regroups the same lanes.
    v->set_grouping(TimelineView::Grouping::kKind);
    QCOMPARE(v->lane_names().size(), all.size());
    QVERIFY(std::find(v->group_keys().begin(), v->group_keys().end(), QString("compute")) != v->group_keys().end());
    // The event filter greys what does not match: the picture changes, the lanes do not.
    v->set_grouping(TimelineView::Grouping::kTrace);
    const QImage before = v->render_image(kShot);
    w.event_filter()->setText("no-such-op");
    const QImage after = v->render_image(kShot);
    QVERIFY(before != after);
    QCOMPARE(v->lane_names().size(), all.size());
  }

  void level_of_detail_merges_small_slices() {
    MainWindow w;
    w.open_runs({kRunA});
    TimelineView* v = w.view();
    size_t slices = 0;
    const auto run = lcsim::gui::load_run(kRunA);
    slices = run.trace.slice_count();
    v->render_image(QSize(1200, 4000));  // every lane in view
    const size_t full = v->last_blocks_painted();
    // Zoomed far out, the whole run is ~10 pixels wide: each lane's slices merge into a few blocks.
    v->zoom(1.0 / 100, TimelineView::kLabelWidth);
    v->render_image(QSize(1200, 4000));
    const size_t merged = v->last_blocks_painted();
    QVERIFY(merged > 0);
    QVERIFY2(merged * 4 < full && full <= slices,
             qPrintable(QString("%1 blocks zoomed out, %2 fitted, %3 slices").arg(merged).arg(full).arg(slices)));
  }

  void bookmarks_return_to_a_view() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA});
    TimelineView* v = w.view();
    v->zoom(10, 600);
    const int64_t s = v->view_start(), e = v->view_end();
    QTest::keyClick(v, Qt::Key_B);
    QCOMPARE(v->bookmarks().size(), size_t{1});
    v->zoom_to_fit();
    QVERIFY(v->view_start() != s);
    v->go_to_bookmark(0);
    QCOMPARE(v->view_start(), s);
    QVERIFY(std::abs(v->view_end() - e) <= 1 + static_cast<int64_t>(v->ns_per_pixel()));
  }

  void two_runs_share_one_axis_with_their_differences() {
    MainWindow w;
    w.resize(1200, 700);
    w.open_runs({kRunA, kRunB});
    TimelineView* v = w.view();
    const auto lanes = v->lane_names();
    QVERIFY(std::any_of(lanes.begin(), lanes.end(), [](const QString& n) { return n.startsWith("A:"); }));
    QVERIFY(std::any_of(lanes.begin(), lanes.end(), [](const QString& n) { return n.startsWith("B:"); }));
    QTableWidget* t = w.metrics_table();
    QCOMPARE(t->columnCount(), 7);
    QCOMPARE(t->horizontalHeaderItem(3)->text(), QString("B - A"));
    bool checked = false;
    for (int i = 0; i < t->rowCount(); ++i) {
      if (t->item(i, 0)->text() != "iteration_time_s") continue;
      const double a = t->item(i, 1)->text().toDouble(), b = t->item(i, 2)->text().toDouble();
      QVERIFY(a > 0 && b > 0);
      QVERIFY(std::abs(t->item(i, 3)->text().toDouble() - (b - a)) <= 1e-5 * std::max(a, b));
      checked = true;
    }
    QVERIFY(checked);
  }

  void exports_png_and_svg() {
    MainWindow w;
    w.open_runs({kRunA});
    const QString png = temp_path("view.png"), svg = temp_path("view.svg");
    QVERIFY(w.view()->export_png(png, kShot));
    QVERIFY(w.view()->export_svg(svg, kShot));
    QImage img(png);
    QCOMPARE(img.size(), kShot);
    QFile f(svg);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray text = f.readAll();
    QVERIFY(text.contains("<svg"));
    QVERIFY(text.contains("gpu0 compute"));  // lane labels are text in the SVG
  }

  void screenshot_matches_the_reference() {
    MainWindow w;
    w.open_runs({kRunA});
    const QImage img = w.view()->render_image(kShot).convertToFormat(QImage::Format_RGB32);
    if (qEnvironmentVariableIsSet("LCSIM_UPDATE_REFERENCE")) {
      QVERIFY(img.save(kReference));
      QSKIP("reference rewritten");
    }
    QImage ref(kReference);
    QVERIFY2(!ref.isNull(), qPrintable("no reference image " + kReference));
    ref = ref.convertToFormat(QImage::Format_RGB32);
    QCOMPARE(ref.size(), img.size());
    // Fonts may render a little differently across machines: count pixels that differ clearly.
    int64_t differ = 0;
    for (int y = 0; y < img.height(); ++y) {
      const auto* a = reinterpret_cast<const QRgb*>(img.constScanLine(y));
      const auto* b = reinterpret_cast<const QRgb*>(ref.constScanLine(y));
      for (int x = 0; x < img.width(); ++x) {
        const int d = std::max({std::abs(qRed(a[x]) - qRed(b[x])), std::abs(qGreen(a[x]) - qGreen(b[x])),
                                std::abs(qBlue(a[x]) - qBlue(b[x]))});
        differ += d > 48;
      }
    }
    const double frac = static_cast<double>(differ) / (img.width() * img.height());
    if (frac > 0.02) img.save(temp_path("screenshot_actual.png"));
    QVERIFY2(frac <= 0.02, qPrintable(QString("%1% of pixels differ from %2 (actual saved as %3)")
                                          .arg(frac * 100, 0, 'f', 2)
                                          .arg(kReference, temp_path("screenshot_actual.png"))));
  }
};

QTEST_MAIN(GuiTest)
#include "gui_test.moc"
