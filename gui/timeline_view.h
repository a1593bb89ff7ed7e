// The timeline widget of lcsim-gui: one lane per track of one or two runs (GPU streams, busy links, counters), on
// one time axis, grouped and collapsible (by the trace's groups: node, link tier, counter group; or by row kind:
// compute, comm, dp, ...), zoomed and panned like Perfetto (wheel or W/S zoom at the cursor, drag or A/D pan).
// Everything is painted with QPainter, no widget per event. Level of detail: each lane asks its track for the
// slices in view (binary search over slices sorted by start, timeline/model.h); neighbours that fall within one
// pixel are drawn as one merged block, and a lane whose slices are all narrower than a pixel is drawn pixel column
// by pixel column (one binary search per column), so a lane costs O(width x log n) however many slices it has.
#pragma once

#include <QImage>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <string>
#include <vector>

#include "gui/run_data.h"

class QPainter;

namespace lcsim::gui {

class TimelineView : public QWidget {
  Q_OBJECT

 public:
  /// kTrace: the trace's groups (node, link tier, counter group); kKind: row kind (compute, comm, dp, ...); the
  /// rest: a lane attribute the run wrote (rack: the leaf a GPU's NIC is on; pipeline stage; a link's plane; job).
  enum class Grouping { kTrace, kKind, kRack, kStage, kPlane, kJob };
  /// The names the grouping combo box shows, in Grouping order.
  static QStringList grouping_names();
  struct Selection {
    int run = -1;
    size_t track = 0;
    size_t slice = 0;
    bool valid() const { return run >= 0; }
  };
  struct Bookmark {
    QString name;
    int64_t start_ns, end_ns;
  };
  static constexpr int kLabelWidth = 190;
  static constexpr int kRulerHeight = 22;

  explicit TimelineView(QWidget* parent = nullptr);
  /// The runs to show (one or two; not owned, they must outlive the view); resets the view to fit them.
  void set_runs(std::vector<const RunData*> runs);

  int64_t view_start() const { return t0_; }
  int64_t view_end() const;
  double ns_per_pixel() const { return ns_per_px_; }
  void set_view(int64_t start_ns, int64_t end_ns);
  void zoom_to_fit();
  /// Zoom by `factor` (> 1: in) keeping the time under x (widget coordinates) in place.
  void zoom(double factor, int x);
  void pan(int dx_pixels, int dy_pixels);

  void set_grouping(Grouping g);
  /// Lanes whose "group/name" contains every space-separated term (case-insensitive); empty: all.
  void set_lane_filter(const QString& filter);
  /// Slices whose name or args contain the text are drawn in colour, the rest greyed; empty: all in colour.
  void set_event_filter(const QString& filter);
  /// Collapses or expands a group by its key (the label of its header row).
  void toggle_group(const QString& key);
  std::vector<QString> group_keys() const;
  /// The lanes (tracks) currently shown, as "run:group/name".
  std::vector<QString> lane_names() const;
  /// Number of slices drawn and blocks painted at the last paint (level-of-detail check).
  size_t last_blocks_painted() const { return blocks_; }

  /// Selects the slice under p (widget coordinates); false (and no selection) if none.
  bool select_at(QPoint p);
  /// Selects the first slice whose name contains `text` after the current selection (search); false if none.
  bool find_next(const QString& text);
  const Selection& selection() const { return sel_; }
  /// The selected slice's details as text (what, where, when, args, what came before and after it on its lane).
  QString selection_details() const;
  /// The selected slice's dependencies (flow edges of the trace): what it waited on and what waited on it.
  std::vector<timeline::SliceRef> selection_waited_on() const;
  std::vector<timeline::SliceRef> selection_dependents() const;
  /// Highlights the critical path ending at the selected slice (or, with nothing selected, at the last slice to end
  /// on a compute lane of the first run): the slices in red outline, the steps between them as lines; false clears
  /// it. Returns the path's length (0 if none).
  size_t show_critical_path(bool on);
  const std::vector<timeline::SliceRef>& critical_path() const { return crit_; }
  int critical_path_run() const { return crit_run_; }
  /// The critical path as text, one step a line ("lane  name  start  duration").
  QString critical_path_text() const;
  /// The point of the widget where slice `slice` of `track` of `run` is drawn (its centre), or (-1,-1).
  QPoint slice_position(int run, size_t track, size_t slice) const;

  void add_bookmark(const QString& name);
  const std::vector<Bookmark>& bookmarks() const { return bookmarks_; }
  void go_to_bookmark(size_t i);

  /// The view drawn at `size` (offscreen, deterministic: fixed font, no antialiasing of slices).
  QImage render_image(QSize size);
  bool export_png(const QString& path, QSize size = {});
  bool export_svg(const QString& path, QSize size = {});

 signals:
  void selection_changed();
  void view_changed();
  void bookmarks_changed();

 protected:
  void paintEvent(QPaintEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void keyPressEvent(QKeyEvent*) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  struct Row {
    enum Kind { kRun, kGroup, kTrack } kind;
    int run;
    QString key;    // group key (kGroup, kTrack)
    QString label;  // what the label column shows
    size_t track;   // kTrack
    int y, h;       // in content coordinates (below the ruler, before scrolling)
  };
  void rebuild_rows();
  void paint(QPainter& p, QSize size);
  void paint_ruler(QPainter& p, int width);
  void paint_slices(QPainter& p, const Row& row, int y, int width);
  void paint_counter(QPainter& p, const Row& row, int y, int width);
  void paint_edges(QPainter& p, int width);
  QString group_key(int run, const timeline::Track& t) const;
  bool lane_matches(int run, const timeline::Track& t) const;
  bool event_matches(const timeline::Trace& tr, const timeline::Slice& s) const;
  double x_of(int64_t t) const { return kLabelWidth + static_cast<double>(t - t0_) / ns_per_px_; }
  int64_t t_of(double x) const { return t0_ + static_cast<int64_t>((x - kLabelWidth) * ns_per_px_); }
  int plot_width(int width) const { return std::max(1, width - kLabelWidth); }
  const Row* row_at(int y) const;

  std::vector<const RunData*> runs_;
  std::vector<Row> rows_;
  std::vector<QString> collapsed_;
  Grouping grouping_ = Grouping::kTrace;
  QStringList lane_terms_;
  QString event_filter_;
  int64_t t0_ = 0;
  double ns_per_px_ = 1;
  int scroll_y_ = 0;
  int content_height_ = 0;
  Selection sel_;
  std::vector<timeline::SliceRef> crit_;
  int crit_run_ = -1;
  std::vector<Bookmark> bookmarks_;
  QPoint drag_from_;
  bool dragging_ = false;
  size_t blocks_ = 0;
};

/// A colour per slice name (stable across runs: a hash), its hue range chosen by category.
QColor slice_color(const std::string& category, const std::string& name);
/// A time in ns as text with a sensible unit ("1.25 ms").
QString format_ns(double ns);
/// "waited on" and "dependents" lines for a slice: its flow edges, each with the other slice's lane, name and the
/// gap between them.
QString dependency_text(const timeline::Trace& tr, timeline::SliceRef r);

}  // namespace lcsim::gui
