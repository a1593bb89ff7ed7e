// lcsim-gui's sweep view: a sweep's result database (sweep/results_db.h, the SQLite file `lcsim sweep`
// writes) charted with Qt Charts: any metric against any axis, one line per value of another axis (or one
// line), each point the mean over the repetitions of its (axis, group) cell and failed points left out.
#pragma once

#include <QPointF>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <string>
#include <vector>

#include "sweep/results_db.h"

class QChartView;
class QComboBox;
class QLabel;

namespace lcsim::gui {

/// One line of the chart.
struct SweepSeries {
  QString name;                 // "group = value", or the metric when not grouped
  std::vector<QPointF> points;  // x: the axis value (numeric axes) or its index in SweepChartData::categories
  std::vector<int> counts;      // repetitions averaged into each point
};

struct SweepChartData {
  bool numeric_x = true;  // every x value reads as a number; else categories in order of first appearance
  QStringList categories;
  std::vector<SweepSeries> series;
};

/// The chart's data: `metric` against axis `x`, grouped by axis `group` (empty: one series). Rows whose
/// status is not "completed" and metrics that are missing or NaN are left out.
SweepChartData sweep_chart_data(const std::vector<sweep::PointRecord>& rows, const std::string& metric,
                                const std::string& x, const std::string& group);

class SweepChart : public QWidget {
  Q_OBJECT

 public:
  explicit SweepChart(QWidget* parent = nullptr);
  /// Opens a results database (throws InputError if it is not one) and charts its first metric against its
  /// first axis.
  void open(const std::string& path);
  /// Chooses what to chart (names as in the database; group empty: none). False if a name is unknown.
  bool set_chart(const QString& metric, const QString& x, const QString& group);
  QStringList metrics() const { return metrics_; }
  QStringList axes() const { return axes_; }
  const SweepChartData& data() const { return data_; }
  QImage render_image(QSize size);

 private:
  void rebuild();

  std::vector<sweep::PointRecord> rows_;
  QStringList metrics_, axes_;
  QComboBox *metric_box_, *x_box_, *group_box_;
  QLabel* status_;
  QChartView* view_;
  SweepChartData data_;
  bool filling_ = false;
};

}  // namespace lcsim::gui
