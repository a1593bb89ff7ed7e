// TimelineView's dependency views: the selected slice's flow edges (what it waited on, its dependents) and
// the critical path, computed by timeline::critical_path and drawn over the lanes.
#include <QPainter>
#include <algorithm>
#include <map>

#include "gui/timeline_view.h"

namespace lcsim::gui {

namespace {

QString lane_of(const timeline::Trace& tr, timeline::SliceRef r) {
  const auto& t = tr.tracks[r.track];
  return QString::fromStdString(t.group + " / " + t.name);
}

}  // namespace

QString dependency_text(const timeline::Trace& tr, timeline::SliceRef r) {
  QString out;
  const auto& s = tr.slice(r);
  for (const auto& w : tr.waited_on(r)) {
    const auto& o = tr.slice(w);
    // A collective's participant that arrived late ended after the collective began on this rank.
    const bool late = o.end_ns() > s.start_ns;
    out += QString(late ? "waited on  %1 on %2 (ended %3 after it began)\n" : "waited on  %1 on %2 (ended %3 before)\n")
               .arg(QString::fromStdString(tr.str(o.name)), lane_of(tr, w),
                    format_ns(static_cast<double>(late ? o.end_ns() - s.start_ns : s.start_ns - o.end_ns())));
  }
  for (const auto& d : tr.dependents(r)) {
    const auto& o = tr.slice(d);
    out += QString("dependent  %1 on %2 (starts %3 after)\n")
               .arg(QString::fromStdString(tr.str(o.name)), lane_of(tr, d),
                    format_ns(static_cast<double>(o.start_ns - s.end_ns())));
  }
  return out;
}

std::vector<timeline::SliceRef> TimelineView::selection_waited_on() const {
  if (!sel_.valid()) return {};
  return runs_[sel_.run]->trace.waited_on(
      {static_cast<uint32_t>(sel_.track), static_cast<uint32_t>(sel_.slice)});
}

std::vector<timeline::SliceRef> TimelineView::selection_dependents() const {
  if (!sel_.valid()) return {};
  return runs_[sel_.run]->trace.dependents(
      {static_cast<uint32_t>(sel_.track), static_cast<uint32_t>(sel_.slice)});
}

size_t TimelineView::show_critical_path(bool on) {
  crit_.clear();
  crit_run_ = -1;
  if (on && !runs_.empty()) {
    timeline::SliceRef end;
    bool found = false;
    int run = 0;
    if (sel_.valid()) {
      run = sel_.run;
      end = {static_cast<uint32_t>(sel_.track), static_cast<uint32_t>(sel_.slice)};
      found = true;
    } else {
      const auto& tr = runs_[0]->trace;
      for (uint32_t t = 0; t < tr.tracks.size(); ++t) {
        const auto& track = tr.tracks[t];
        for (uint32_t i = 0; i < track.slices.size(); ++i) {
          if (tr.category_name(track.slices[i].category) != "compute") continue;
          if (!found || track.slices[i].end_ns() > tr.slice(end).end_ns()) end = {t, i}, found = true;
        }
      }
    }
    if (found) {
      crit_ = timeline::critical_path(runs_[run]->trace, end);
      crit_run_ = run;
    }
  }
  update();
  return crit_.size();
}

QString TimelineView::critical_path_text() const {
  if (crit_.empty()) return {};
  const auto& tr = runs_[crit_run_]->trace;
  QString out = QString("critical path: %1 steps, %2\n")
                    .arg(crit_.size())
                    .arg(format_ns(static_cast<double>(tr.slice(crit_.back()).end_ns() -
                                                       tr.slice(crit_.front()).start_ns)));
  for (const auto& r : crit_) {
    const auto& s = tr.slice(r);
    out += QString("  %1  %2  at %3 for %4\n")
               .arg(lane_of(tr, r), QString::fromStdString(tr.str(s.name)),
                    format_ns(static_cast<double>(s.start_ns)), format_ns(static_cast<double>(s.dur_ns)));
  }
  return out;
}

// Lines between dependent slices: the selection's edges (grey-blue) and the critical path (red, its slices
// outlined). A step to a lane that is collapsed or filtered out is not drawn.
void TimelineView::paint_edges(QPainter& p, int width) {
  std::map<std::pair<int, size_t>, int> lane_y;  // (run, track) -> centre y
  for (const auto& r : rows_) {
    if (r.kind == Row::kTrack) lane_y[{r.run, r.track}] = kRulerHeight + r.y - scroll_y_ + r.h / 2;
  }
  auto centre = [&](int run, timeline::SliceRef s, bool at_end, QPointF* out) {
    auto it = lane_y.find({run, s.track});
    if (it == lane_y.end()) return false;
    const auto& sl = runs_[run]->trace.slice(s);
    *out = QPointF(x_of(at_end ? sl.end_ns() : sl.start_ns), it->second);
    return true;
  };
  auto arrow = [&](int run, timeline::SliceRef from, timeline::SliceRef to, const QColor& c) {
    QPointF a, b;
    if (!centre(run, from, true, &a) || !centre(run, to, false, &b)) return;
    p.setPen(QPen(c, 1.5));
    p.drawLine(a, b);
    p.setBrush(c);
    p.drawEllipse(b, 2.5, 2.5);
  };
  p.setRenderHint(QPainter::Antialiasing, true);
  if (sel_.valid()) {
    const timeline::SliceRef s{static_cast<uint32_t>(sel_.track), static_cast<uint32_t>(sel_.slice)};
    for (const auto& w : selection_waited_on()) arrow(sel_.run, w, s, QColor(40, 90, 200));
    for (const auto& d : selection_dependents()) arrow(sel_.run, s, d, QColor(40, 90, 200));
  }
  const QColor red(210, 30, 30);
  for (size_t i = 0; i < crit_.size(); ++i) {
    QPointF a;
    if (!centre(crit_run_, crit_[i], false, &a)) continue;
    const auto& sl = runs_[crit_run_]->trace.slice(crit_[i]);
    const double x0 = x_of(sl.start_ns), x1 = std::max(x_of(sl.end_ns()), x0 + 2);
    if (x1 < kLabelWidth || x0 > width) continue;
    p.setPen(QPen(red, 2));
    p.setBrush(Qt::NoBrush);
    p.drawRect(QRectF(x0, a.y() - 6, x1 - x0, 12));
    if (i + 1 < crit_.size()) arrow(crit_run_, crit_[i], crit_[i + 1], red);
  }
  p.setRenderHint(QPainter::Antialiasing, false);
}

}  // namespace lcsim::gui
