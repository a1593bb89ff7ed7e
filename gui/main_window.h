// lcsim-gui's window: the timeline (gui/timeline_view.h) with a side panel of tabs: the selected slice's details,
// the metrics table (one run: value, unit, meaning; two runs: both values and their difference), bookmarks. The
// toolbar opens runs, filters lanes and events, finds a slice by name, groups lanes, exports PNG and SVG.
#pragma once

#include <QMainWindow>
#include <memory>
#include <string>
#include <vector>

#include "gui/run_data.h"
#include "gui/sweep_chart.h"
#include "gui/timeline_view.h"

class QAction;
class QComboBox;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QTabWidget;
class QTableWidget;

namespace lcsim::gui {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  MainWindow();
  /// Opens one or two run folders (replacing what was open). Throws InputError if one does not load.
  void open_runs(const std::vector<std::string>& dirs);
  /// Opens a sweep's result database (`lcsim sweep`'s .db) in the Sweep tab and shows it. Throws InputError.
  void open_sweep(const std::string& path);
  SweepChart* sweep_chart() { return sweep_; }
  TimelineView* view() { return view_; }
  QTableWidget* metrics_table() { return metrics_; }
  QPlainTextEdit* details() { return details_; }
  QLineEdit* lane_filter() { return lane_filter_; }
  QLineEdit* event_filter() { return event_filter_; }
  QComboBox* grouping() { return grouping_; }
  QAction* critical_path_action() { return critical_; }

 private:
  void fill_metrics();
  void fill_bookmarks();
  void choose_and_open(bool second);
  void export_view(bool svg);

  std::vector<std::unique_ptr<RunData>> runs_;
  TimelineView* view_;
  QTableWidget* metrics_;
  QPlainTextEdit* details_;
  QListWidget* bookmarks_;
  QLineEdit* lane_filter_;
  QLineEdit* event_filter_;
  QLineEdit* find_;
  QComboBox* grouping_;
  QTabWidget* tabs_;
  SweepChart* sweep_;
  QAction* critical_;
};

}  // namespace lcsim::gui
