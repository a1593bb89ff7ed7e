#include "gui/sweep_chart.h"

#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QScatterSeries>
#include <QVBoxLayout>
#include <QValueAxis>
#include <cmath>
#include <map>

namespace lcsim::gui {

SweepChartData sweep_chart_data(const std::vector<sweep::PointRecord>& rows, const std::string& metric,
                                const std::string& x, const std::string& group) {
  SweepChartData d;
  struct Cell {
    double sum = 0;
    int n = 0;
  };
  std::vector<QString> group_order;
  std::map<QString, std::map<QString, Cell>> cells;  // group -> x text -> sum
  auto value_of = [](const sweep::PointRecord& r, const std::string& axis, QString* out) {
    for (const auto& [k, v] : r.axes) {
      if (k == axis) {
        *out = QString::fromStdString(v);
        return true;
      }
    }
    return false;
  };
  for (const auto& r : rows) {
    if (r.status != "completed") continue;
    double v = std::nan("");
    for (const auto& [k, m] : r.metrics) {
      if (k == metric) v = m;
    }
    QString xv, gv;
    if (std::isnan(v) || !value_of(r, x, &xv)) continue;
    if (!group.empty() && !value_of(r, group, &gv)) continue;
    bool num = false;
    xv.toDouble(&num);
    d.numeric_x = d.numeric_x && num;
    if (!d.categories.contains(xv)) d.categories.push_back(xv);
    if (std::find(group_order.begin(), group_order.end(), gv) == group_order.end()) group_order.push_back(gv);
    Cell& c = cells[gv][xv];
    c.sum += v;
    ++c.n;
  }
  for (const auto& g : group_order) {
    SweepSeries s;
    s.name = group.empty() ? QString::fromStdString(metric) : QString::fromStdString(group) + " = " + g;
    std::vector<std::pair<double, std::pair<double, int>>> pts;
    for (const auto& [xv, c] : cells[g]) {
      const double xn = d.numeric_x ? xv.toDouble() : static_cast<double>(d.categories.indexOf(xv));
      pts.push_back({xn, {c.sum / c.n, c.n}});
    }
    std::sort(pts.begin(), pts.end());
    for (const auto& [xn, vc] : pts) {
      s.points.push_back(QPointF(xn, vc.first));
      s.counts.push_back(vc.second);
    }
    d.series.push_back(std::move(s));
  }
  return d;
}

SweepChart::SweepChart(QWidget* parent) : QWidget(parent) {
  metric_box_ = new QComboBox;
  x_box_ = new QComboBox;
  group_box_ = new QComboBox;
  status_ = new QLabel;
  view_ = new QChartView;
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel("metric"));
  bar->addWidget(metric_box_, 2);
  bar->addWidget(new QLabel("against"));
  bar->addWidget(x_box_, 1);
  bar->addWidget(new QLabel("grouped by"));
  bar->addWidget(group_box_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(view_, 1);
  layout->addWidget(status_);
  for (QComboBox* b : {metric_box_, x_box_, group_box_}) {
    connect(b, &QComboBox::currentIndexChanged, this, [this] {
      if (!filling_) rebuild();
    });
  }
}

void SweepChart::open(const std::string& path) {
  sweep::ResultsDb db(path);
  rows_ = db.rows();
  metrics_.clear();
  axes_.clear();
  for (const auto& a : db.axis_names()) axes_.push_back(QString::fromStdString(a));
  for (const auto& r : rows_) {
    for (const auto& [k, v] : r.metrics) {
      if (!metrics_.contains(QString::fromStdString(k))) metrics_.push_back(QString::fromStdString(k));
    }
  }
  filling_ = true;
  metric_box_->clear();
  metric_box_->addItems(metrics_);
  x_box_->clear();
  x_box_->addItems(axes_);
  group_box_->clear();
  group_box_->addItem("(none)");
  group_box_->addItems(axes_);
  filling_ = false;
  rebuild();
}

bool SweepChart::set_chart(const QString& metric, const QString& x, const QString& group) {
  const int m = metrics_.indexOf(metric), xi = axes_.indexOf(x),
            g = group.isEmpty() ? -1 : axes_.indexOf(group);
  if (m < 0 || xi < 0 || (!group.isEmpty() && g < 0)) return false;
  filling_ = true;
  metric_box_->setCurrentIndex(m);
  x_box_->setCurrentIndex(xi);
  group_box_->setCurrentIndex(g + 1);
  filling_ = false;
  rebuild();
  return true;
}

void SweepChart::rebuild() {
  const std::string metric = metric_box_->currentText().toStdString(),
                    x = x_box_->currentText().toStdString();
  const std::string group = group_box_->currentIndex() > 0 ? group_box_->currentText().toStdString() : "";
  data_ = sweep_chart_data(rows_, metric, x, group);
  auto* chart = new QChart;
  chart->setTitle(QString::fromStdString(metric) + " against " + QString::fromStdString(x));
  auto* ax = new QValueAxis;
  auto* ay = new QValueAxis;
  ax->setTitleText(QString::fromStdString(x));
  ay->setTitleText(QString::fromStdString(metric));
  QAbstractAxis* xaxis = ax;
  if (!data_.numeric_x) {
    auto* cat = new QCategoryAxis;
    cat->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    for (int i = 0; i < data_.categories.size(); ++i) cat->append(data_.categories[i], i);
    cat->setRange(-0.5, std::max(0.5, data_.categories.size() - 0.5));
    cat->setTitleText(QString::fromStdString(x));
    delete ax;
    xaxis = cat;
  }
  chart->addAxis(xaxis, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  size_t points = 0;
  for (const auto& s : data_.series) {
    auto* line = new QLineSeries;
    line->setName(s.name);
    line->setPointsVisible(true);
    for (const auto& p : s.points) line->append(p);
    points += s.points.size();
    chart->addSeries(line);
    line->attachAxis(xaxis);
    line->attachAxis(ay);
  }
  if (points == 0) chart->setTitle(chart->title() + " (no completed point has both)");
  QChart* old = view_->chart();
  view_->setChart(chart);
  delete old;
  status_->setText(QString("%1 points, %2 series").arg(points).arg(data_.series.size()));
}

QImage SweepChart::render_image(QSize size) {
  resize(size);
  QImage img(size, QImage::Format_RGB32);
  img.fill(Qt::white);
  render(&img);
  return img;
}

}  // namespace lcsim::gui
