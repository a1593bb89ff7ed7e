#include "sim/trace.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "sim/json.h"

namespace lcsim {

const char* span_row(SpanKind kind) {
  switch (kind) {
    case SpanKind::kCompute: return "compute";
    case SpanKind::kComm: return "comm";
    case SpanKind::kPipeline: return "pp";
    case SpanKind::kDataParallel: return "dp";
    case SpanKind::kHost: return "cpu";
    case SpanKind::kSend: return "send";
    case SpanKind::kRecv: return "recv";
    case SpanKind::kLink: return "busy";
    case SpanKind::kPhase: return "phases";
  }
  return "?";
}

const char* span_category(SpanKind kind) {
  switch (kind) {
    case SpanKind::kCompute: return "compute";
    case SpanKind::kHost: return "host";
    case SpanKind::kLink: return "link";
    case SpanKind::kPhase: return "reliability";
    default: return "comm";
  }
}

const std::vector<std::string>& span_kind_names() {
  static const std::vector<std::string> names = {"compute", "comm", "pp", "dp", "host", "send", "recv", "links",
                                                   "reliability"};
  return names;
}

bool parse_span_kind(const std::string& name, SpanKind* kind) {
  const auto& names = span_kind_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) {
      *kind = static_cast<SpanKind>(i);
      return true;
    }
  }
  return false;
}

namespace {
constexpr size_t kFlushAt = 1 << 20;
}  // namespace

TimelineWriter::TimelineWriter(std::ostream& out, TimelineLayout layout, std::vector<SpanKind> kinds)
    : out_(out), layout_(std::move(layout)) {
  if (!kinds.empty()) {
    kinds_mask_ = 0;
    for (SpanKind k : kinds) kinds_mask_ |= 1u << static_cast<uint32_t>(k);
  }
  gpu_tracks_.resize(layout_.gpu.size());
  buf_.reserve(kFlushAt + 4096);
  buf_ = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
}

TimelineWriter::~TimelineWriter() { close(); }

void TimelineWriter::close() {
  if (closed_) return;
  closed_ = true;
  buf_ += "\n]}\n";
  out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  out_.flush();
  buf_.clear();
}

void TimelineWriter::begin_event() {
  if (buf_.size() >= kFlushAt) {
    out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    buf_.clear();
  }
  if (!first_) buf_ += ",\n";
  first_ = false;
}

void TimelineWriter::number(double v) {
  if (!std::isfinite(v)) {
    buf_ += "null";
    return;
  }
  const bool integral = v == std::floor(v) && std::abs(v) < 1e15;
  if (!integral) {
    // The shortest round-trip text of a double costs ~570 instructions; a run's timeline repeats few distinct
    // fractional values (the busy spans of a collective's links share their start and duration, each stage repeats
    // its pass times): a small cache by bit pattern gives the same text (87% hits on the 175B layout's timeline).
    struct Entry {
      uint64_t bits = 0;
      uint8_t size = 0;  // 0: empty (a double's text is never empty)
      char text[31];
    };
    static thread_local Entry cache[256];
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    Entry& e = cache[(bits * 0x9E3779B97F4A7C15ull) >> 56];
    if (e.size == 0 || e.bits != bits) {
      const auto r = std::to_chars(e.text, e.text + sizeof e.text, v);
      e.bits = bits;
      e.size = static_cast<uint8_t>(r.ptr - e.text);
    }
    buf_.append(e.text, e.size);
    return;
  }
  char tmp[32];
  // An integral value below 1e15 (< 2^53: exact in a double) prints in fixed notation as its integer's digits, so
  // the integer conversion writes the same text at a fraction of the cost (pids, tids, whole microseconds); -0
  // keeps its sign through the double path.
  const auto r = !std::signbit(v) ? std::to_chars(tmp, tmp + sizeof tmp, static_cast<int64_t>(v))
                                  : std::to_chars(tmp, tmp + sizeof tmp, v, std::chars_format::fixed);
  buf_.append(tmp, r.ptr);
}

void TimelineWriter::string(std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      buf_ += json_escape(s);
      return;
    }
  }
  buf_ += '"';
  buf_ += s;
  buf_ += '"';
}

int TimelineWriter::group_id(const std::string& group) {
  for (const auto& [name, pid] : groups_) {
    if (name == group) return pid;
  }
  const int pid = static_cast<int>(groups_.size()) + 1;
  groups_.push_back({group, pid});
  const std::string p = std::to_string(pid);
  begin_event();
  buf_ += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + p + ",\"args\":{\"name\":";
  string(group);
  buf_ += "}}";
  begin_event();
  buf_ += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + p + ",\"args\":{\"sort_index\":" + p + "}}";
  return pid;
}

int TimelineWriter::new_track(int pid, const std::string& name) {
  const int tid = next_tid_++;
  const std::string p = std::to_string(pid), t = std::to_string(tid);
  begin_event();
  buf_ += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + p + ",\"tid\":" + t + ",\"args\":{\"name\":";
  string(name);
  buf_ += "}}";
  begin_event();
  buf_ += "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":" + p + ",\"tid\":" + t +
          ",\"args\":{\"sort_index\":" + t + "}}";
  return tid;
}

std::pair<int, int> TimelineWriter::gpu_track(uint32_t rank, SpanKind kind) {
  auto& tracks = gpu_tracks_.at(rank);
  if (tracks.empty()) tracks.assign(kSpanKinds, {0, 0});
  auto& t = tracks[static_cast<size_t>(kind)];
  if (t.first == 0) {
    const auto [node, local] = layout_.gpu[rank];
    t.first = group_id("node" + std::to_string(node));
    t.second = new_track(t.first, "gpu" + std::to_string(local) + " " + span_row(kind));
    auto a = attrs_.find({false, rank});
    if (a != attrs_.end()) {
      for (const auto& [k, v] : a->second) write_attr(t.first, t.second, k, v);
    }
  }
  return t;
}

std::pair<int, int> TimelineWriter::link_track(uint32_t link) {
  auto& t = link_tracks_[link];
  if (t.first == 0) {
    const auto [tier, name] = layout_.link(link);
    t.first = group_id("links (" + tier + ")");
    t.second = new_track(t.first, name);
    auto a = attrs_.find({true, link});
    if (a != attrs_.end()) {
      for (const auto& [k, v] : a->second) write_attr(t.first, t.second, k, v);
    }
  }
  return t;
}

std::pair<int, int> TimelineWriter::phase_track(uint32_t job) {
  auto& t = phase_tracks_[job];
  if (t.first == 0) {
    t.first = group_id("reliability");
    t.second = new_track(t.first, "job" + std::to_string(job) + " " + span_row(SpanKind::kPhase));
  }
  return t;
}

void Tracer::span_held(const SpanEvent& e) const {
  flush();
  // Assigned into the slot kept for it: its strings and vectors are reused from the last held span.
  held_.event = e;
  held_.name.assign(e.name);
  held_.event.name = held_.name;
  held_.pending = true;
  if (parent_) {
    parent_->flush();
    parent_->held_child_ = this;
  }
}

void Tracer::flush_held() const {
  held_.pending = false;  // first: a subscriber may emit in turn
  if (parent_ && parent_->held_child_ == this) parent_->held_child_ = nullptr;
  for (auto* s : sinks_) s->on_span(held_.event);
}

void Tracer::flush_child() const {
  const Tracer* child = held_child_;
  held_child_ = nullptr;
  child->flush();
}

void TimelineWriter::on_span(const SpanEvent& e) {
  if (closed_ || !(kinds_mask_ & (1u << static_cast<uint32_t>(e.kind)))) return;
  const auto [pid, tid] = e.kind == SpanKind::kLink    ? link_track(e.rank)
                          : e.kind == SpanKind::kPhase ? phase_track(e.rank)
                                                       : gpu_track(e.rank, e.kind);
  ++spans_;
  begin_event();
  buf_ += "{\"ph\":\"X\",\"pid\":";
  number(pid);
  buf_ += ",\"tid\":";
  number(tid);
  buf_ += ",\"name\":";
  string(e.name);
  buf_ += ",\"cat\":\"";
  buf_ += span_category(e.kind);
  buf_ += "\",\"ts\":";
  number(e.start.s() * 1e6);
  buf_ += ",\"dur\":";
  number((e.end - e.start).s() * 1e6);
  if (e.flow != 0) {  // Chrome's flow v2: the event binds to flow `bind_id`, ending (in) and/or starting (out) it
    buf_ += ",\"bind_id\":";
    buf_ += std::to_string(e.flow);
    if (e.flow_in) buf_ += ",\"flow_in\":true";
    if (e.flow_out) buf_ += ",\"flow_out\":true";
  }
  if (!e.args.empty()) {
    buf_ += ",\"args\":{";
    for (size_t i = 0; i < e.args.size(); ++i) {
      if (i) buf_ += ",";
      string(e.args[i].first);
      buf_ += ":";
      string(e.args[i].second);
    }
    buf_ += "}";
  }
  buf_ += "}";
  // More chains: Chrome's flow v1, one event per step beside the slice ("s": starts an edge, "f": ends one, "t":
  // both), at the slice's start on its lane, bound to the enclosing slice ("bp":"e").
  for (const FlowStep& f : e.flows) {
    if (!f.in && !f.out) continue;
    begin_event();
    buf_ += "{\"ph\":\"";
    buf_ += f.in && f.out ? "t" : f.out ? "s" : "f";
    buf_ += "\",\"id\":";
    buf_ += std::to_string(f.id);
    buf_ += ",\"pid\":";
    number(pid);
    buf_ += ",\"tid\":";
    number(tid);
    buf_ += ",\"name\":\"dep\",\"cat\":\"flow\",\"bp\":\"e\",\"ts\":";
    number(e.start.s() * 1e6);
    buf_ += "}";
  }
}

void TimelineWriter::on_counter(const CounterEvent& e) {
  if (closed_) return;
  const int pid = group_id(e.group);
  begin_event();
  buf_ += "{\"ph\":\"C\",\"pid\":";
  number(pid);
  buf_ += ",\"name\":";
  string(e.name);
  buf_ += ",\"ts\":";
  number(e.time.s() * 1e6);
  buf_ += ",\"args\":{\"value\":";
  number(e.value);
  buf_ += "}}";
}

void TimelineWriter::write_attr(int pid, int tid, const std::string& key, const std::string& value) {
  begin_event();
  buf_ += "{\"ph\":\"M\",\"name\":\"lane_attr\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) +
          ",\"args\":{";
  string(key);
  buf_ += ":";
  string(value);
  buf_ += "}}";
}

void TimelineWriter::on_lane_attr(const LaneAttrEvent& e) {
  if (closed_) return;
  attrs_[{e.link, e.id}].push_back({e.key, e.value});
  // Lanes already there get it now; later ones when they appear.
  if (e.link) {
    auto it = link_tracks_.find(e.id);
    if (it != link_tracks_.end() && it->second.first != 0) {
      write_attr(it->second.first, it->second.second, e.key, e.value);
    }
  } else if (e.id < gpu_tracks_.size()) {
    for (const auto& [pid, tid] : gpu_tracks_[e.id]) {
      if (pid != 0) write_attr(pid, tid, e.key, e.value);
    }
  }
}

}  // namespace lcsim
