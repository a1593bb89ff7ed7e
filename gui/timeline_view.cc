#include "gui/timeline_view.h"

#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QSvgGenerator>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace lcsim::gui {

namespace {

constexpr int kRunRowHeight = 20, kGroupRowHeight = 18, kSliceRowHeight = 16, kCounterRowHeight = 30;

uint32_t fnv(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

QFont fixed_font() {
  QFont f("DejaVu Sans");
  f.setPixelSize(10);
  f.setHintingPreference(QFont::PreferFullHinting);
  return f;
}

}  // namespace

QColor slice_color(const std::string& category, const std::string& name) {
  // Name without digits, so "F3c1" and "F4c1" share a colour family and an op's passes look alike.
  std::string key;
  for (char c : name) {
    if (c < '0' || c > '9') key += c;
  }
  const uint32_t h = fnv(key);
  int hue = 0;
  if (category == "compute") hue = 200 + static_cast<int>(h % 40);       // blues
  else if (category == "comm") hue = 20 + static_cast<int>(h % 30);      // oranges
  else if (category == "host") hue = 100 + static_cast<int>(h % 40);     // greens
  else if (category == "link") hue = 270 + static_cast<int>(h % 30);     // purples
  else hue = static_cast<int>(h % 360);
  return QColor::fromHsl(hue, 150 + static_cast<int>((h >> 8) % 60), 120 + static_cast<int>((h >> 16) % 50));
}

QString format_ns(double ns) {
  const double a = std::abs(ns);
  if (a >= 1e9) return QString::number(ns / 1e9, 'g', 4) + " s";
  if (a >= 1e6) return QString::number(ns / 1e6, 'g', 4) + " ms";
  if (a >= 1e3) return QString::number(ns / 1e3, 'g', 4) + " us";
  return QString::number(ns, 'g', 4) + " ns";
}

TimelineView::TimelineView(QWidget* parent) : QWidget(parent) {
  setFocusPolicy(Qt::StrongFocus);
  setMouseTracking(false);
  setMinimumSize(400, 200);
}

void TimelineView::set_runs(std::vector<const RunData*> runs) {
  runs_ = std::move(runs);
  sel_ = {};
  crit_.clear();
  crit_run_ = -1;
  collapsed_.clear();
  rebuild_rows();
  zoom_to_fit();
}

int64_t TimelineView::view_end() const { return t0_ + static_cast<int64_t>(ns_per_px_ * plot_width(width())); }

void TimelineView::set_view(int64_t start_ns, int64_t end_ns) {
  if (end_ns <= start_ns) end_ns = start_ns + 1;
  t0_ = start_ns;
  ns_per_px_ = std::max(1e-3, static_cast<double>(end_ns - start_ns) / plot_width(width()));
  update();
  emit view_changed();
}

void TimelineView::zoom_to_fit() {
  int64_t lo = 0, hi = 0;
  bool any = false;
  for (const RunData* r : runs_) {
    if (r->trace.slice_count() + r->trace.sample_count() == 0) continue;
    lo = any ? std::min(lo, r->trace.begin_ns()) : r->trace.begin_ns();
    hi = any ? std::max(hi, r->trace.end_ns()) : r->trace.end_ns();
    any = true;
  }
  if (!any) hi = 1000;
  set_view(lo, hi + (hi - lo) / 50 + 1);
}

void TimelineView::zoom(double factor, int x) {
  const int64_t anchor = t_of(x);
  ns_per_px_ = std::clamp(ns_per_px_ / factor, 1e-3, 1e15);
  t0_ = anchor - static_cast<int64_t>((x - kLabelWidth) * ns_per_px_);
  update();
  emit view_changed();
}

void TimelineView::pan(int dx, int dy) {
  t0_ -= static_cast<int64_t>(dx * ns_per_px_);
  scroll_y_ = std::clamp(scroll_y_ - dy, 0, std::max(0, content_height_ - (height() - kRulerHeight)));
  update();
  emit view_changed();
}

QStringList TimelineView::grouping_names() {
  return {"group: node / link tier", "group: row kind", "group: rack", "group: pipeline stage", "group: plane",
          "group: job"};
}

void TimelineView::set_grouping(Grouping g) {
  grouping_ = g;
  collapsed_.clear();
  rebuild_rows();
  update();
}

void TimelineView::set_lane_filter(const QString& filter) {
  lane_terms_ = filter.toLower().split(' ', Qt::SkipEmptyParts);
  rebuild_rows();
  update();
}

void TimelineView::set_event_filter(const QString& filter) {
  event_filter_ = filter.trimmed().toLower();
  update();
}

void TimelineView::toggle_group(const QString& key) {
  auto it = std::find(collapsed_.begin(), collapsed_.end(), key);
  if (it == collapsed_.end()) collapsed_.push_back(key);
  else collapsed_.erase(it);
  rebuild_rows();
  update();
}

QString TimelineView::group_key(int run, const timeline::Track& t) const {
  QString g = QString::fromStdString(t.group);
  if (grouping_ == Grouping::kKind && t.group.rfind("node", 0) == 0) {
    // A GPU's lanes by row ("gpu3 compute" -> compute), its counters by what they count ("gpu3 HBM (GB)").
    const auto space = t.counter ? t.name.find(' ') : t.name.rfind(' ');
    g = QString::fromStdString(space == std::string::npos ? t.name : t.name.substr(space + 1));
  }
  const char* attr = grouping_ == Grouping::kRack    ? "rack"
                     : grouping_ == Grouping::kStage ? "stage"
                     : grouping_ == Grouping::kPlane ? "plane"
                     : grouping_ == Grouping::kJob   ? "job"
                                                     : nullptr;
  if (attr) {
    const std::string v = t.attr(attr);
    g = v.empty() ? QString("(no %1)").arg(attr) : QString("%1 %2").arg(attr, QString::fromStdString(v));
  }
  return (runs_.size() > 1 ? QString("%1: ").arg(QChar('A' + run)) : QString()) + g;
}

bool TimelineView::lane_matches(int run, const timeline::Track& t) const {
  if (lane_terms_.isEmpty()) return true;
  const QString text = (group_key(run, t) + "/" + QString::fromStdString(t.group + "/" + t.name)).toLower();
  for (const auto& term : lane_terms_) {
    if (!text.contains(term)) return false;
  }
  return true;
}

bool TimelineView::event_matches(const timeline::Trace& tr, const timeline::Slice& s) const {
  if (event_filter_.isEmpty()) return true;
  if (QString::fromStdString(tr.str(s.name)).toLower().contains(event_filter_)) return true;
  for (const auto& [k, v] : tr.slice_args(s)) {
    if (QString::fromStdString(k + "=" + v).toLower().contains(event_filter_)) return true;
  }
  return false;
}

void TimelineView::rebuild_rows() {
  rows_.clear();
  int y = 0;
  auto add = [&](Row r) {
    r.y = y;
    y += r.h;
    rows_.push_back(std::move(r));
  };
  for (int run = 0; run < static_cast<int>(runs_.size()); ++run) {
    const auto& trace = runs_[run]->trace;
    if (runs_.size() > 1) {
      add({Row::kRun, run, {}, QString("%1: %2").arg(QChar('A' + run)).arg(QString::fromStdString(runs_[run]->label)),
           0, 0, kRunRowHeight});
    }
    // Groups in order of first appearance; lanes in trace order within each.
    std::vector<QString> order;
    std::vector<std::vector<size_t>> members;
    for (size_t i = 0; i < trace.tracks.size(); ++i) {
      const auto& t = trace.tracks[i];
      if (!lane_matches(run, t)) continue;
      const QString key = group_key(run, t);
      auto it = std::find(order.begin(), order.end(), key);
      if (it == order.end()) {
        order.push_back(key);
        members.push_back({});
        it = order.end() - 1;
      }
      members[static_cast<size_t>(it - order.begin())].push_back(i);
    }
    for (auto& m : members) {  // counters under the lanes of their group
      std::stable_partition(m.begin(), m.end(), [&trace](size_t i) { return !trace.tracks[i].counter; });
    }
    for (size_t g = 0; g < order.size(); ++g) {
      const bool closed = std::find(collapsed_.begin(), collapsed_.end(), order[g]) != collapsed_.end();
      add({Row::kGroup, run, order[g],
           QString("%1 %2 (%3)").arg(closed ? "+" : "-").arg(order[g]).arg(members[g].size()), 0, 0,
           kGroupRowHeight});
      if (closed) continue;
      for (size_t i : members[g]) {
        const auto& t = trace.tracks[i];
        add({Row::kTrack, run, order[g], QString::fromStdString(t.name), i, 0,
             t.counter ? kCounterRowHeight : kSliceRowHeight});
      }
    }
  }
  content_height_ = y;
  scroll_y_ = std::clamp(scroll_y_, 0, std::max(0, content_height_ - (height() - kRulerHeight)));
}

std::vector<QString> TimelineView::group_keys() const {
  std::vector<QString> out;
  for (const auto& r : rows_) {
    if (r.kind == Row::kGroup) out.push_back(r.key);
  }
  return out;
}

std::vector<QString> TimelineView::lane_names() const {
  std::vector<QString> out;
  for (const auto& r : rows_) {
    if (r.kind != Row::kTrack) continue;
    const auto& t = runs_[r.run]->trace.tracks[r.track];
    out.push_back(QString("%1:%2/%3").arg(QChar('A' + r.run)).arg(QString::fromStdString(t.group),
                                                                 QString::fromStdString(t.name)));
  }
  return out;
}

const TimelineView::Row* TimelineView::row_at(int y) const {
  const int cy = y - kRulerHeight + scroll_y_;
  for (const auto& r : rows_) {
    if (cy >= r.y && cy < r.y + r.h) return &r;
  }
  return nullptr;
}

bool TimelineView::select_at(QPoint p) {
  sel_ = {};
  const Row* r = p.y() >= kRulerHeight ? row_at(p.y()) : nullptr;
  if (r && r->kind == Row::kGroup && p.x() < kLabelWidth) {
    toggle_group(r->key);
    emit selection_changed();
    return false;
  }
  if (!r || r->kind != Row::kTrack || p.x() < kLabelWidth) {
    update();
    emit selection_changed();
    return false;
  }
  const auto& t = runs_[r->run]->trace.tracks[r->track];
  // Within two pixels: the slice covering the time, else the nearest that starts or ends that close.
  const int64_t t0 = t_of(p.x() - 2), t1 = t_of(p.x() + 2), tc = t_of(p.x());
  const auto [lo, hi] = t.visible(t0, t1);
  size_t best = hi;
  int64_t best_d = INT64_MAX;
  for (size_t i = lo; i < hi; ++i) {
    const auto& s = t.slices[i];
    if (s.end_ns() < t0) continue;
    const int64_t d = (tc >= s.start_ns && tc <= s.end_ns()) ? 0 : std::min(std::llabs(tc - s.start_ns), std::llabs(tc - s.end_ns()));
    if (d < best_d || (d == best_d && best < hi && s.dur_ns < t.slices[best].dur_ns)) {
      best = i;
      best_d = d;
    }
  }
  if (best < hi) sel_ = {r->run, r->track, best};
  update();
  emit selection_changed();
  return sel_.valid();
}

bool TimelineView::find_next(const QString& text) {
  const QString needle = text.toLower();
  if (needle.isEmpty() || runs_.empty()) return false;
  // Lanes in display order, slices by start; the search wraps once.
  std::vector<const Row*> lanes;
  for (const auto& r : rows_) {
    if (r.kind == Row::kTrack) lanes.push_back(&r);
  }
  size_t start_lane = 0, start_slice = 0;
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (sel_.valid() && lanes[i]->run == sel_.run && lanes[i]->track == sel_.track) {
      start_lane = i;
      start_slice = sel_.slice + 1;
    }
  }
  for (size_t n = 0; n <= lanes.size(); ++n) {
    const Row* r = lanes[(start_lane + n) % std::max<size_t>(1, lanes.size())];
    const auto& tr = runs_[r->run]->trace;
    const auto& t = tr.tracks[r->track];
    for (size_t i = n == 0 ? start_slice : 0; i < t.slices.size(); ++i) {
      if (QString::fromStdString(tr.str(t.slices[i].name)).toLower().contains(needle)) {
        sel_ = {r->run, r->track, i};
        const auto& s = t.slices[i];
        const int64_t span = std::max<int64_t>(s.dur_ns * 4, 1000);
        set_view(s.start_ns - span / 2 + s.dur_ns / 2, s.start_ns + span / 2 + s.dur_ns / 2);
        const int visible = height() - kRulerHeight;
        if (r->y < scroll_y_ || r->y + r->h > scroll_y_ + visible) scroll_y_ = std::max(0, r->y - visible / 2);
        emit selection_changed();
        return true;
      }
    }
  }
  return false;
}

QPoint TimelineView::slice_position(int run, size_t track, size_t slice) const {
  for (const auto& r : rows_) {
    if (r.kind == Row::kTrack && r.run == run && r.track == track) {
      const auto& s = runs_[run]->trace.tracks[track].slices.at(slice);
      const double x = x_of(s.start_ns + s.dur_ns / 2);
      return QPoint(static_cast<int>(x), kRulerHeight + r.y - scroll_y_ + r.h / 2);
    }
  }
  return QPoint(-1, -1);
}

QString TimelineView::selection_details() const {
  if (!sel_.valid()) return "Nothing selected. Click a slice; Ctrl+F finds one by name.";
  const auto& tr = runs_[sel_.run]->trace;
  const auto& t = tr.tracks[sel_.track];
  const auto& s = t.slices[sel_.slice];
  QString out;
  out += QString("%1\n").arg(QString::fromStdString(tr.str(s.name)));
  if (runs_.size() > 1) out += QString("run        %1\n").arg(QString::fromStdString(runs_[sel_.run]->label));
  out += QString("lane       %1 / %2\n").arg(QString::fromStdString(t.group), QString::fromStdString(t.name));
  out += QString("category   %1\n").arg(QString::fromStdString(tr.category_name(s.category)));
  out += QString("start      %1\nduration   %2\nend        %3\n")
             .arg(format_ns(static_cast<double>(s.start_ns)), format_ns(static_cast<double>(s.dur_ns)),
                  format_ns(static_cast<double>(s.end_ns())));
  for (const auto& [k, v] : tr.slice_args(s)) {
    out += QString("%1 %2\n").arg(QString::fromStdString(k).leftJustified(10), QString::fromStdString(v));
  }
  out += dependency_text(tr, {static_cast<uint32_t>(sel_.track), static_cast<uint32_t>(sel_.slice)});
  // On a lane, a slice also comes after the one before it (its stream is in order).
  if (sel_.slice > 0) {
    const auto& p = t.slices[sel_.slice - 1];
    out += QString("after      %1 (ended %2 before)\n")
               .arg(QString::fromStdString(tr.str(p.name)), format_ns(static_cast<double>(s.start_ns - p.end_ns())));
  }
  if (sel_.slice + 1 < t.slices.size()) {
    const auto& n = t.slices[sel_.slice + 1];
    out += QString("before     %1 (starts %2 after)\n")
               .arg(QString::fromStdString(tr.str(n.name)), format_ns(static_cast<double>(n.start_ns - s.end_ns())));
  }
  return out;
}

void TimelineView::add_bookmark(const QString& name) {
  bookmarks_.push_back({name.isEmpty() ? QString("bookmark %1").arg(bookmarks_.size() + 1) : name, t0_, view_end()});
  emit bookmarks_changed();
}

void TimelineView::go_to_bookmark(size_t i) {
  if (i < bookmarks_.size()) set_view(bookmarks_[i].start_ns, bookmarks_[i].end_ns);
}

// ---- painting ----

void TimelineView::paint_ruler(QPainter& p, int width) {
  p.fillRect(0, 0, width, kRulerHeight, QColor(236, 236, 236));
  p.setPen(QColor(90, 90, 90));
  const double span = ns_per_px_ * plot_width(width);
  double step = std::pow(10.0, std::floor(std::log10(std::max(span / 8, 1e-3))));
  for (double m : {2.0, 5.0, 10.0}) {
    if (span / step > 10) step *= m / (m == 2.0 ? 1 : (m == 5.0 ? 2 : 5));
  }
  const double first = std::ceil(static_cast<double>(t0_) / step) * step;
  for (double t = first; t <= static_cast<double>(t0_) + span; t += step) {
    const int x = static_cast<int>(std::lround(kLabelWidth + (t - static_cast<double>(t0_)) / ns_per_px_));
    p.drawLine(x, kRulerHeight - 6, x, kRulerHeight);
    p.drawText(x + 3, kRulerHeight - 8, format_ns(t));
  }
  p.drawLine(0, kRulerHeight - 1, width, kRulerHeight - 1);
}

void TimelineView::paint_slices(QPainter& p, const Row& row, int y, int width) {
  const auto& tr = runs_[row.run]->trace;
  const auto& t = tr.tracks[row.track];
  const int64_t tl = t_of(kLabelWidth), tr_end = t_of(width);
  const auto [lo, hi] = t.visible(tl, tr_end);
  const int h = row.h - 3;
  const QColor merged(130, 130, 130), dim(215, 215, 215);
  bool sel_lane = sel_.valid() && sel_.run == row.run && sel_.track == row.track;
  if (t.max_dur_ns < ns_per_px_ && hi > lo) {
    // Every slice is under a pixel: one binary search per pixel column.
    size_t i = lo;
    int run_from = -1;
    for (int x = kLabelWidth; x <= width; ++x) {
      const int64_t c0 = t_of(x), c1 = t_of(x + 1);
      i = t.first_at(c0 - t.max_dur_ns, i);
      const bool busy = x < width && i < hi && t.slices[i].start_ns < c1;
      if (busy && run_from < 0) run_from = x;
      if (!busy && run_from >= 0) {
        p.fillRect(run_from, y + 1, x - run_from, h, merged);
        ++blocks_;
        run_from = -1;
      }
    }
  } else {
    // Neighbours within a pixel merge into one block; wide slices get their name.
    double bx0 = -1, bx1 = -1;
    QColor bcol;
    size_t bcount = 0;
    auto flush = [&]() {
      if (bcount == 0) return;
      const int x0 = static_cast<int>(std::floor(std::max<double>(bx0, kLabelWidth)));
      const int x1 = std::max(x0 + 1, static_cast<int>(std::ceil(std::min<double>(bx1, width))));
      p.fillRect(x0, y + 1, x1 - x0, h, bcount > 1 ? merged : bcol);
      ++blocks_;
      bcount = 0;
    };
    for (size_t i = lo; i < hi; ++i) {
      const auto& s = t.slices[i];
      if (s.end_ns() < tl) continue;
      const double x0 = x_of(s.start_ns), x1 = x_of(s.end_ns());
      const bool match = event_matches(tr, s);
      const QColor c = match ? slice_color(tr.category_name(s.category), tr.str(s.name)) : dim;
      if (x1 - x0 < 1.5 && bcount > 0 && x0 <= bx1 + 1) {
        bx1 = std::max(bx1, x1);
        ++bcount;
        continue;
      }
      flush();
      if (x1 - x0 < 1.5) {
        bx0 = x0;
        bx1 = x1;
        bcol = c;
        bcount = 1;
        continue;
      }
      const QRectF r(std::max<double>(x0, kLabelWidth), y + 1, std::min<double>(x1, width) - std::max<double>(x0, kLabelWidth), h);
      p.fillRect(r, c);
      ++blocks_;
      if (r.width() > 30) {
        p.setPen(match ? Qt::white : QColor(150, 150, 150));
        p.drawText(r.adjusted(3, 0, -2, 0), Qt::AlignVCenter | Qt::AlignLeft,
                   p.fontMetrics().elidedText(QString::fromStdString(tr.str(s.name)), Qt::ElideRight,
                                              static_cast<int>(r.width()) - 5));
      }
    }
    flush();
  }
  if (sel_lane) {
    const auto& s = t.slices[sel_.slice];
    const double x0 = x_of(s.start_ns), x1 = std::max(x_of(s.end_ns()), x0 + 2);
    p.setPen(QPen(Qt::black, 2));
    p.setBrush(Qt::NoBrush);
    p.drawRect(QRectF(x0, y + 0.5, x1 - x0, h + 1));
  }
}

void TimelineView::paint_counter(QPainter& p, const Row& row, int y, int width) {
  const auto& t = runs_[row.run]->trace.tracks[row.track];
  if (t.samples.empty()) return;
  double vmax = 0;
  for (const auto& c : t.samples) vmax = std::max(vmax, c.value);
  if (vmax <= 0) vmax = 1;
  const int h = row.h - 4;
  // A step function: each sample holds until the next.
  QPolygonF poly;
  const double base = y + 2 + h;
  poly << QPointF(kLabelWidth, base);
  double last_y = base;
  for (size_t i = 0; i < t.samples.size(); ++i) {
    const double x = std::clamp(x_of(t.samples[i].time_ns), double(kLabelWidth), double(width));
    const double vy = base - h * std::max(0.0, t.samples[i].value) / vmax;
    poly << QPointF(x, last_y) << QPointF(x, vy);
    last_y = vy;
  }
  poly << QPointF(width, last_y) << QPointF(width, base);
  p.setPen(QColor(40, 110, 60));
  p.setBrush(QColor(120, 190, 130));
  p.drawPolygon(poly);
  p.setPen(QColor(60, 60, 60));
  p.drawText(QRect(width - 90, y, 86, 12), Qt::AlignRight, "max " + QString::number(vmax, 'g', 3));
}

void TimelineView::paint(QPainter& p, QSize size) {
  blocks_ = 0;
  const int width = size.width(), height = size.height();
  p.setFont(fixed_font());
  p.fillRect(0, 0, width, height, Qt::white);
  p.setClipRect(0, kRulerHeight, width, height - kRulerHeight);
  for (const auto& r : rows_) {
    const int y = kRulerHeight + r.y - scroll_y_;
    if (y + r.h < kRulerHeight || y > height) continue;  // culled
    if (r.kind == Row::kRun) {
      p.fillRect(0, y, width, r.h, QColor(60, 70, 90));
      p.setPen(Qt::white);
      p.drawText(QRect(6, y, width - 12, r.h), Qt::AlignVCenter, r.label);
      continue;
    }
    if (r.kind == Row::kGroup) {
      p.fillRect(0, y, width, r.h, QColor(222, 226, 232));
      p.setPen(QColor(30, 30, 30));
      p.drawText(QRect(4, y, width - 8, r.h), Qt::AlignVCenter, r.label);
      continue;
    }
    p.setClipRect(kLabelWidth, std::max(y, kRulerHeight), width - kLabelWidth, r.h);
    const auto& t = runs_[r.run]->trace.tracks[r.track];
    if (t.counter) paint_counter(p, r, y, width);
    else paint_slices(p, r, y, width);
    p.setClipRect(0, kRulerHeight, width, height - kRulerHeight);
    p.setPen(QColor(40, 40, 40));
    p.drawText(QRect(14, y, kLabelWidth - 18, r.h), Qt::AlignVCenter,
               p.fontMetrics().elidedText(r.label, Qt::ElideMiddle, kLabelWidth - 18));
    p.setPen(QColor(238, 238, 238));
    p.drawLine(0, y + r.h - 1, width, y + r.h - 1);
  }
  p.setClipRect(kLabelWidth, kRulerHeight, width - kLabelWidth, height - kRulerHeight);
  paint_edges(p, width);
  p.setClipping(false);
  p.setPen(QColor(180, 180, 180));
  p.drawLine(kLabelWidth - 1, kRulerHeight, kLabelWidth - 1, height);
  paint_ruler(p, width);
  p.fillRect(0, 0, kLabelWidth - 1, kRulerHeight, QColor(236, 236, 236));
  p.setPen(QColor(90, 90, 90));
  p.drawText(QRect(6, 0, kLabelWidth - 8, kRulerHeight), Qt::AlignVCenter,
             QString("%1 per px").arg(format_ns(ns_per_px_)));
}

void TimelineView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  paint(p, size());
}

QImage TimelineView::render_image(QSize size) {
  const QSize old = this->size();
  const double span = ns_per_px_ * plot_width(old.width());
  if (size != old) resize(size);  // the same time span across the new width
  ns_per_px_ = span / plot_width(size.width());
  QImage img(size, QImage::Format_RGB32);
  QPainter p(&img);
  paint(p, size);
  return img;
}

bool TimelineView::export_png(const QString& path, QSize size) {
  return render_image(size.isValid() ? size : this->size()).save(path, "PNG");
}

bool TimelineView::export_svg(const QString& path, QSize size) {
  const QSize s = size.isValid() ? size : this->size();
  QSvgGenerator gen;
  gen.setFileName(path);
  gen.setSize(s);
  gen.setViewBox(QRect(QPoint(0, 0), s));
  gen.setTitle("lcsim timeline");
  QPainter p;
  if (!p.begin(&gen)) return false;
  paint(p, s);
  return p.end();
}

// ---- input ----

void TimelineView::wheelEvent(QWheelEvent* e) {
  const double steps = e->angleDelta().y() / 120.0;
  if (e->modifiers() & Qt::ShiftModifier) pan(0, static_cast<int>(steps * 40));
  else zoom(std::pow(1.25, steps), static_cast<int>(e->position().x()));
  e->accept();
}

void TimelineView::mousePressEvent(QMouseEvent* e) {
  drag_from_ = e->pos();
  dragging_ = false;
}

void TimelineView::mouseMoveEvent(QMouseEvent* e) {
  if (!(e->buttons() & Qt::LeftButton)) return;
  const QPoint d = e->pos() - drag_from_;
  if (!dragging_ && d.manhattanLength() < 4) return;
  dragging_ = true;
  pan(d.x(), d.y());
  drag_from_ = e->pos();
}

void TimelineView::mouseReleaseEvent(QMouseEvent* e) {
  if (!dragging_) select_at(e->pos());
  dragging_ = false;
}

void TimelineView::keyPressEvent(QKeyEvent* e) {
  const int cx = kLabelWidth + plot_width(width()) / 2;
  switch (e->key()) {
    case Qt::Key_W: zoom(1.5, cx); break;
    case Qt::Key_S: zoom(1 / 1.5, cx); break;
    case Qt::Key_A: pan(plot_width(width()) / 5, 0); break;
    case Qt::Key_D: pan(-plot_width(width()) / 5, 0); break;
    case Qt::Key_F: zoom_to_fit(); break;
    case Qt::Key_B: add_bookmark({}); break;
    default: QWidget::keyPressEvent(e);
  }
}

void TimelineView::resizeEvent(QResizeEvent*) { rebuild_rows(); }

}  // namespace lcsim::gui
