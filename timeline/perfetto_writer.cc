#include "timeline/perfetto_writer.h"

#include <cmath>
#include <cstring>

namespace lcsim::timeline {

namespace {

constexpr size_t kFlushAt = 1 << 20;
constexpr uint32_t kSequenceId = 1;

// Protobuf wire format: a field's key is (number << 3) | wire type.
enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

// Encoded into a local buffer and appended once: appending byte by byte cost a quarter of a timeline-heavy run.
void varint(std::string& out, uint64_t v) {
  char b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out.append(b, n);
}
void key(std::string& out, uint32_t field, Wire wire) { varint(out, (static_cast<uint64_t>(field) << 3) | wire); }
void uint_field(std::string& out, uint32_t field, uint64_t v) {
  key(out, field, kVarint);
  varint(out, v);
}
void bytes_field(std::string& out, uint32_t field, std::string_view v) {
  key(out, field, kLengthDelimited);
  varint(out, v.size());
  out.append(v.data(), v.size());
}
void double_field(std::string& out, uint32_t field, double v) {
  key(out, field, kFixed64);
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian hosts only (x86-64, arm64), as protobuf's own fixed64 encoding
  out.append(b, 8);
}

// Field numbers (proto/perfetto_trace.proto, Perfetto's own).
constexpr uint32_t kTracePacket = 1;
constexpr uint32_t kTimestamp = 8, kSeqId = 10, kTrackEvent = 11, kSequenceFlags = 13, kTrackDescriptor = 60;
constexpr uint32_t kTdUuid = 1, kTdName = 2, kTdParent = 5, kTdCounter = 8;
constexpr uint32_t kTeAnnotations = 4, kTeType = 9, kTeTrack = 11, kTeCategories = 22, kTeName = 23,
                   kTeDoubleCounter = 44;
constexpr uint32_t kTeFlowIds = 47, kTeTerminatingFlowIds = 48;  // repeated fixed64
constexpr uint32_t kDaString = 6, kDaName = 10;
constexpr uint64_t kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter = 4;

void fixed64_field(std::string& out, uint32_t field, uint64_t v) {
  key(out, field, kFixed64);
  char b[8];
  std::memcpy(b, &v, 8);  // little-endian hosts only, as double_field
  out.append(b, 8);
}

}  // namespace

int64_t ns_from_seconds(double seconds) { return std::llround(seconds * 1e6 * 1e3); }

PerfettoWriter::PerfettoWriter(std::ostream& out, TimelineLayout layout, std::vector<SpanKind> kinds)
    : out_(&out), layout_(std::move(layout)) {
  if (!kinds.empty()) {
    kinds_mask_ = 0;
    for (SpanKind k : kinds) kinds_mask_ |= 1u << static_cast<uint32_t>(k);
  }
  gpu_tracks_.resize(layout_.gpu.size());
  buf_.reserve(kFlushAt + 4096);
}

PerfettoWriter::~PerfettoWriter() { close(); }

void PerfettoWriter::close() {
  if (closed_) return;
  closed_ = true;
  out_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  out_->flush();
  buf_.clear();
}

void PerfettoWriter::redirect(std::ostream& out) {
  out_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  out_->flush();
  buf_.clear();
  out_ = &out;
}

void PerfettoWriter::flush_if_full() {
  if (buf_.size() < kFlushAt) return;
  out_->write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
}

// `body` holds the packet's data fields; the sequence fields are added here.
void PerfettoWriter::packet(const std::string& body) {
  flush_if_full();
  std::string& p = pkt_;
  p.clear();
  p += body;
  uint_field(p, kSeqId, kSequenceId);
  if (first_packet_) {
    uint_field(p, kSequenceFlags, 1);  // SEQ_INCREMENTAL_STATE_CLEARED: nothing before this packet is referred to
    first_packet_ = false;
  }
  key(buf_, kTracePacket, kLengthDelimited);
  varint(buf_, p.size());
  buf_ += p;
}

uint64_t PerfettoWriter::new_track(uint64_t parent, std::string_view name, bool counter) {
  const uint64_t uuid = next_uuid_++;
  std::string& d = ev_;
  d.clear();
  uint_field(d, kTdUuid, uuid);
  if (parent) uint_field(d, kTdParent, parent);
  bytes_field(d, kTdName, name);
  if (counter) bytes_field(d, kTdCounter, "");
  std::string body;
  bytes_field(body, kTrackDescriptor, d);
  packet(body);
  return uuid;
}

uint64_t PerfettoWriter::group_track(const std::string& group) {
  for (const auto& [name, uuid] : groups_) {
    if (name == group) return uuid;
  }
  const uint64_t uuid = new_track(0, group, false);
  groups_.push_back({group, uuid});
  return uuid;
}

uint64_t PerfettoWriter::gpu_track(uint32_t rank, SpanKind kind) {
  auto& tracks = gpu_tracks_.at(rank);
  if (tracks.empty()) tracks.assign(kSpanKinds, 0);
  auto& t = tracks[static_cast<size_t>(kind)];
  if (t == 0) {
    const auto [node, local] = layout_.gpu[rank];
    const uint64_t parent = group_track("node" + std::to_string(node));
    t = new_track(parent, "gpu" + std::to_string(local) + " " + span_row(kind), false);
    auto a = attrs_.find({false, rank});
    if (a != attrs_.end()) {
      for (const auto& [k, v] : a->second) write_attr(t, k, v);
    }
  }
  return t;
}

uint64_t PerfettoWriter::link_track(uint32_t link) {
  auto& t = link_tracks_[link];
  if (t == 0) {
    const auto [tier, name] = layout_.link(link);
    const uint64_t parent = group_track("links (" + tier + ")");
    t = new_track(parent, name, false);
    auto a = attrs_.find({true, link});
    if (a != attrs_.end()) {
      for (const auto& [k, v] : a->second) write_attr(t, k, v);
    }
  }
  return t;
}

uint64_t PerfettoWriter::phase_track(uint32_t job) {
  auto& t = phase_tracks_[job];
  if (t == 0) t = new_track(group_track("reliability"), "job" + std::to_string(job) + " " + span_row(SpanKind::kPhase), false);
  return t;
}

void PerfettoWriter::on_span(const SpanEvent& e) {
  if (closed_ || !(kinds_mask_ & (1u << static_cast<uint32_t>(e.kind)))) return;
  const uint64_t track = e.kind == SpanKind::kLink    ? link_track(e.rank)
                         : e.kind == SpanKind::kPhase ? phase_track(e.rank)
                                                      : gpu_track(e.rank, e.kind);
  ++spans_;
  const int64_t start = ns_from_seconds(e.start.s());
  // The end as a JSON reader gets it: start + round(dur_us * 1000).
  const int64_t end = start + ns_from_seconds((e.end - e.start).s());
  std::string& ev = ev_;
  ev.clear();
  uint_field(ev, kTeType, kSliceBegin);
  uint_field(ev, kTeTrack, track);
  bytes_field(ev, kTeName, e.name);
  bytes_field(ev, kTeCategories, span_category(e.kind));
  if (e.flow != 0) {
    // Perfetto links the events that carry a flow id in time order; a terminating id ends the chain there.
    fixed64_field(ev, e.flow_out ? kTeFlowIds : kTeTerminatingFlowIds, e.flow);
  }
  for (const FlowStep& f : e.flows) {  // more chains (a collective's edges from each participant)
    if (f.in || f.out) fixed64_field(ev, f.out ? kTeFlowIds : kTeTerminatingFlowIds, f.id);
  }
  for (const auto& [k, v] : e.args) {
    ann_.clear();
    bytes_field(ann_, kDaName, k);
    bytes_field(ann_, kDaString, v);
    bytes_field(ev, kTeAnnotations, ann_);
  }
  std::string& body = body_;
  body.clear();
  uint_field(body, kTimestamp, static_cast<uint64_t>(start));
  bytes_field(body, kTrackEvent, ev);
  packet(body);
  ev.clear();
  uint_field(ev, kTeType, kSliceEnd);
  uint_field(ev, kTeTrack, track);
  body.clear();
  uint_field(body, kTimestamp, static_cast<uint64_t>(end));
  bytes_field(body, kTrackEvent, ev);
  packet(body);
}

void PerfettoWriter::on_counter(const CounterEvent& e) {
  if (closed_) return;
  auto& t = counter_tracks_[{e.group, e.name}];
  if (t == 0) t = new_track(group_track(e.group), e.name, true);
  std::string& ev = ev_;
  ev.clear();
  uint_field(ev, kTeType, kCounter);
  uint_field(ev, kTeTrack, t);
  double_field(ev, kTeDoubleCounter, e.value);
  std::string& body = body_;
  body.clear();
  uint_field(body, kTimestamp, static_cast<uint64_t>(ns_from_seconds(e.time.s())));
  bytes_field(body, kTrackEvent, ev);
  packet(body);
}

// A lane attribute: an instant event at time 0 on the lane, named "lane_attr" in category "lcsim.meta", the key and
// value as its one debug annotation (Perfetto shows it as a marker at 0; lcsim's reader attaches it to the lane).
void PerfettoWriter::write_attr(uint64_t track, const std::string& k, const std::string& v) {
  std::string& ev = ev_;
  ev.clear();
  uint_field(ev, kTeType, kInstant);
  uint_field(ev, kTeTrack, track);
  bytes_field(ev, kTeName, "lane_attr");
  bytes_field(ev, kTeCategories, "lcsim.meta");
  ann_.clear();
  bytes_field(ann_, kDaName, k);
  bytes_field(ann_, kDaString, v);
  bytes_field(ev, kTeAnnotations, ann_);
  std::string& body = body_;
  body.clear();
  uint_field(body, kTimestamp, 0);
  bytes_field(body, kTrackEvent, ev);
  packet(body);
}

void PerfettoWriter::on_lane_attr(const LaneAttrEvent& e) {
  if (closed_) return;
  attrs_[{e.link, e.id}].push_back({e.key, e.value});
  if (e.link) {
    auto it = link_tracks_.find(e.id);
    if (it != link_tracks_.end() && it->second != 0) write_attr(it->second, e.key, e.value);
  } else if (e.id < gpu_tracks_.size()) {
    for (uint64_t t : gpu_tracks_[e.id]) {
      if (t != 0) write_attr(t, e.key, e.value);
    }
  }
}

}  // namespace lcsim::timeline
