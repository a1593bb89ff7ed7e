#include "gui/main_window.h"

#include <QAction>
#include <QComboBox>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolBar>
#include <cmath>

#include "sim/error.h"

namespace lcsim::gui {

namespace {

QString number(double v) { return std::isnan(v) ? QString("-") : QString::number(v, 'g', 6); }

}  // namespace

MainWindow::MainWindow() {
  setWindowTitle("lcsim-gui");
  view_ = new TimelineView;
  auto* tabs = new QTabWidget;
  details_ = new QPlainTextEdit;
  details_->setReadOnly(true);
  QFont mono("DejaVu Sans Mono");
  mono.setPixelSize(11);
  details_->setFont(mono);
  metrics_ = new QTableWidget;
  metrics_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  metrics_->verticalHeader()->setVisible(false);
  bookmarks_ = new QListWidget;
  tabs->addTab(details_, "Details");
  tabs->addTab(metrics_, "Metrics");
  tabs->addTab(bookmarks_, "Bookmarks");
  sweep_ = new SweepChart;
  tabs->addTab(sweep_, "Sweep");
  tabs_ = tabs;
  auto* split = new QSplitter;
  split->addWidget(view_);
  split->addWidget(tabs);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 1);
  setCentralWidget(split);

  auto* bar = addToolBar("main");
  bar->addAction("Open run...", this, [this] { choose_and_open(false); });
  bar->addAction("Compare with...", this, [this] { choose_and_open(true); });
  bar->addSeparator();
  bar->addAction("Fit", view_, &TimelineView::zoom_to_fit);
  auto* grouping = new QComboBox;
  grouping->addItems(TimelineView::grouping_names());
  connect(grouping, &QComboBox::currentIndexChanged, this,
          [this](int i) { view_->set_grouping(static_cast<TimelineView::Grouping>(i)); });
  bar->addWidget(grouping);
  grouping_ = grouping;
  critical_ = bar->addAction("Critical path");
  critical_->setCheckable(true);
  critical_->setToolTip("The chain of waits that ends at the selected slice (or the run's last compute slice)");
  connect(critical_, &QAction::toggled, this, [this](bool on) {
    view_->show_critical_path(on);
    details_->setPlainText(view_->selection_details() + "\n" + view_->critical_path_text());
  });
  lane_filter_ = new QLineEdit;
  lane_filter_->setPlaceholderText("lanes: node1 gpu3 spine comm");
  lane_filter_->setClearButtonEnabled(true);
  connect(lane_filter_, &QLineEdit::textChanged, view_, &TimelineView::set_lane_filter);
  bar->addWidget(lane_filter_);
  event_filter_ = new QLineEdit;
  event_filter_->setPlaceholderText("events: all-reduce, F3, group=dp0");
  event_filter_->setClearButtonEnabled(true);
  connect(event_filter_, &QLineEdit::textChanged, view_, &TimelineView::set_event_filter);
  bar->addWidget(event_filter_);
  find_ = new QLineEdit;
  find_->setPlaceholderText("find (Enter: next)");
  connect(find_, &QLineEdit::returnPressed, this, [this] {
    if (!view_->find_next(find_->text())) statusBar()->showMessage("no slice named like '" + find_->text() + "'");
  });
  bar->addWidget(find_);
  bar->addSeparator();
  bar->addAction("Bookmark", this, [this] { view_->add_bookmark({}); });
  bar->addAction("Export PNG...", this, [this] { export_view(false); });
  bar->addAction("Export SVG...", this, [this] { export_view(true); });

  connect(view_, &TimelineView::selection_changed, this, [this] {
    details_->setPlainText(view_->selection_details() + "\n" + view_->critical_path_text());
  });
  connect(view_, &TimelineView::bookmarks_changed, this, &MainWindow::fill_bookmarks);
  connect(bookmarks_, &QListWidget::itemActivated, this,
          [this](QListWidgetItem* it) { view_->go_to_bookmark(static_cast<size_t>(bookmarks_->row(it))); });
  connect(view_, &TimelineView::view_changed, this, [this] {
    statusBar()->showMessage(QString("%1 .. %2   (W/S zoom, A/D or drag pan, Shift+wheel scroll, F fit, B bookmark)")
                                 .arg(format_ns(static_cast<double>(view_->view_start())),
                                      format_ns(static_cast<double>(view_->view_end()))));
  });
  details_->setPlainText(view_->selection_details());
  resize(1400, 800);
}

void MainWindow::open_runs(const std::vector<std::string>& dirs) {
  std::vector<std::unique_ptr<RunData>> runs;
  for (const auto& d : dirs) runs.push_back(std::make_unique<RunData>(load_run(d)));
  runs_ = std::move(runs);
  std::vector<const RunData*> ptrs;
  QString title = "lcsim-gui:";
  for (const auto& r : runs_) {
    ptrs.push_back(r.get());
    title += " " + QString::fromStdString(r->label);
  }
  setWindowTitle(title);
  view_->set_runs(ptrs);
  fill_metrics();
  details_->setPlainText(view_->selection_details());
}

void MainWindow::open_sweep(const std::string& path) {
  sweep_->open(path);
  tabs_->setCurrentWidget(sweep_);
}

void MainWindow::fill_metrics() {
  metrics_->clear();
  if (runs_.empty()) return;
  if (runs_.size() == 1) {
    const auto& m = runs_[0]->metrics;
    metrics_->setColumnCount(4);
    metrics_->setHorizontalHeaderLabels({"metric", "value", "unit", "meaning"});
    metrics_->setRowCount(static_cast<int>(m.size()));
    for (int i = 0; i < static_cast<int>(m.size()); ++i) {
      metrics_->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(m[i].name)));
      metrics_->setItem(i, 1, new QTableWidgetItem(number(m[i].value)));
      metrics_->setItem(i, 2, new QTableWidgetItem(QString::fromStdString(m[i].unit)));
      metrics_->setItem(i, 3, new QTableWidgetItem(QString::fromStdString(m[i].meaning)));
    }
  } else {
    const auto d = diff_metrics(runs_[0]->metrics, runs_[1]->metrics);
    metrics_->setColumnCount(7);
    metrics_->setHorizontalHeaderLabels({"metric", "A", "B", "B - A", "change", "unit", "meaning"});
    metrics_->setRowCount(static_cast<int>(d.size()));
    for (int i = 0; i < static_cast<int>(d.size()); ++i) {
      const double diff = d[i].b - d[i].a;
      const double rel = d[i].a != 0 ? diff / std::abs(d[i].a) * 100 : std::nan("");
      metrics_->setItem(i, 0, new QTableWidgetItem(QString::fromStdString(d[i].name)));
      metrics_->setItem(i, 1, new QTableWidgetItem(number(d[i].a)));
      metrics_->setItem(i, 2, new QTableWidgetItem(number(d[i].b)));
      metrics_->setItem(i, 3, new QTableWidgetItem(number(diff)));
      auto* change = new QTableWidgetItem(std::isnan(rel) ? "-" : QString("%1%2%").arg(rel > 0 ? "+" : "").arg(rel, 0, 'f', 1));
      if (!std::isnan(rel) && std::abs(rel) >= 1) change->setBackground(rel > 0 ? QColor(255, 225, 210) : QColor(215, 235, 255));
      metrics_->setItem(i, 4, change);
      metrics_->setItem(i, 5, new QTableWidgetItem(QString::fromStdString(d[i].unit)));
      metrics_->setItem(i, 6, new QTableWidgetItem(QString::fromStdString(d[i].meaning)));
    }
  }
  metrics_->resizeColumnsToContents();
}

void MainWindow::fill_bookmarks() {
  bookmarks_->clear();
  for (const auto& b : view_->bookmarks()) {
    bookmarks_->addItem(QString("%1: %2 .. %3")
                            .arg(b.name, format_ns(static_cast<double>(b.start_ns)), format_ns(static_cast<double>(b.end_ns))));
  }
}

void MainWindow::choose_and_open(bool second) {
  const QString dir = QFileDialog::getExistingDirectory(this, second ? "Run to compare with" : "Run output folder");
  if (dir.isEmpty()) return;
  std::vector<std::string> dirs;
  if (second && !runs_.empty()) dirs.push_back(runs_[0]->dir);
  dirs.push_back(dir.toStdString());
  try {
    open_runs(dirs);
  } catch (const std::exception& e) {
    QMessageBox::warning(this, "lcsim-gui", e.what());
  }
}

void MainWindow::export_view(bool svg) {
  const QString path = QFileDialog::getSaveFileName(this, "Export view", svg ? "timeline.svg" : "timeline.png",
                                                    svg ? "SVG (*.svg)" : "PNG (*.png)");
  if (path.isEmpty()) return;
  const bool ok = svg ? view_->export_svg(path) : view_->export_png(path);
  statusBar()->showMessage(ok ? "wrote " + path : "could not write " + path);
}

}  // namespace lcsim::gui
