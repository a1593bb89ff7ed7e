#include "timeline/timeline_sink.h"

#include <cstring>
#include <string_view>
#include <utility>

namespace lcsim::timeline {

bool parse_format(const std::string& name, Format* format) {
  if (name == "json") *format = Format::kJson;
  else if (name == "protobuf") *format = Format::kProtobuf;
  else if (name == "auto") *format = Format::kAuto;
  else return false;
  return true;
}

TimelineSink::TimelineSink(Format format, uint64_t json_limit_bytes, Opener open, TimelineLayout layout,
                           std::vector<SpanKind> kinds)
    : format_(format), limit_(json_limit_bytes), open_(std::move(open)) {
  switch (format_) {
    case Format::kJson:
      file_ = "timeline.json";
      json_ = std::make_unique<TimelineWriter>(open_(file_), std::move(layout), std::move(kinds));
      decided_ = true;
      break;
    case Format::kProtobuf:
      file_ = "timeline.pftrace";
      pf_ = std::make_unique<PerfettoWriter>(open_(file_), std::move(layout), std::move(kinds));
      decided_ = true;
      break;
    case Format::kAuto:
      file_ = "timeline.json";
      json_count_ = std::make_unique<CountingBuf>(open_(file_).rdbuf());
      json_out_ = std::make_unique<std::ostream>(json_count_.get());
      json_ = std::make_unique<TimelineWriter>(*json_out_, layout, kinds);
      layout_ = std::move(layout);
      kinds_ = std::move(kinds);
      break;
  }
}

TimelineSink::~TimelineSink() {
  try {
    close();
  } catch (...) {  // a destructor must not throw; close() reports failures when called directly
  }
}

namespace {
void put_piece(std::string& out, std::string_view piece) {
  const auto n = static_cast<uint32_t>(piece.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(piece);
}
// The next piece of an interned text at `at`, moving `at` past it.
std::string_view next_piece(const std::string& text, size_t& at) {
  uint32_t n = 0;
  std::memcpy(&n, text.data() + at, sizeof n);
  const std::string_view piece(text.data() + at + sizeof n, n);
  at += sizeof n + n;
  return piece;
}
}  // namespace

uint32_t TimelineSink::intern() {
  auto [it, added] = ids_.try_emplace(scratch_, static_cast<uint32_t>(texts_.size()));
  if (added) texts_.push_back(&it->first);
  return it->second;
}

void TimelineSink::log(const Logged& l) {
  if (logged_ % kBlock == 0) blocks_.push_back(std::make_unique<Logged[]>(kBlock));
  blocks_.back()[logged_ % kBlock] = l;
  ++logged_;
}

void TimelineSink::clear_log() {
  std::vector<std::unique_ptr<Logged[]>>().swap(blocks_);
  logged_ = 0;
  std::string().swap(scratch_);
  std::unordered_map<std::string, uint32_t>().swap(ids_);
  std::vector<const std::string*>().swap(texts_);
  std::vector<std::pair<size_t, FlowStep>>().swap(more_flows_);
  std::vector<std::pair<size_t, LaneAttrEvent>>().swap(lane_attrs_);
}

void TimelineSink::switch_to_protobuf() {
  json_.reset();  // the partial timeline.json is the caller's to delete (close() names timeline.pftrace)
  json_out_->flush();
  file_ = "timeline.pftrace";
  pf_ = std::make_unique<PerfettoWriter>(open_(file_), std::move(layout_), std::move(kinds_));
  // Replay the log: the writer sees the events in the order they came, so the file is what protobuf writes.
  size_t more = 0, attr = 0;
  for (size_t i = 0; i < logged_; ++i) {
    for (; attr < lane_attrs_.size() && lane_attrs_[attr].first == i; ++attr) pf_->on_lane_attr(lane_attrs_[attr].second);
    const Logged& l = blocks_[i / kBlock][i % kBlock];
    const std::string& text = *texts_[l.text];
    size_t at = 0;
    if (l.counter) {
      const std::string_view group = next_piece(text, at), name = next_piece(text, at);
      pf_->on_counter({std::string(group), std::string(name), l.start, l.bytes});
      continue;
    }
    SpanEvent e{.kind = l.kind, .rank = l.rank, .start = l.start, .end = l.end, .name = next_piece(text, at),
                .job = l.job, .bytes = l.bytes, .flops = l.flops, .flow = l.flow, .flow_in = l.flow_in,
                .flow_out = l.flow_out};
    while (at < text.size()) {
      const std::string_view key = next_piece(text, at), value = next_piece(text, at);
      e.args.emplace_back(std::string(key), std::string(value));
    }
    for (; more < more_flows_.size() && more_flows_[more].first == i; ++more) {
      e.flows.push_back(more_flows_[more].second);
    }
    pf_->on_span(e);
  }
  for (; attr < lane_attrs_.size(); ++attr) pf_->on_lane_attr(lane_attrs_[attr].second);
  clear_log();
  decided_ = true;
}

void TimelineSink::past_limit_rerun() {
  if (json_count_->count() <= limit_) return;
  decided_ = true;  // the partial timeline.json is the caller's to delete, as after a switch
  throw RerunAsProtobuf{};
}

void TimelineSink::on_span(const SpanEvent& e) {
  if (json_) json_->on_span(e);
  if (pf_) pf_->on_span(e);
  if (decided_) return;
  if (rerun_) {
    past_limit_rerun();
    return;
  }
  scratch_.clear();
  put_piece(scratch_, e.name);
  for (const auto& [key, value] : e.args) {
    put_piece(scratch_, key);
    put_piece(scratch_, value);
  }
  for (const FlowStep& f : e.flows) more_flows_.push_back({logged_, f});
  log({e.start, e.end, e.bytes, e.flops, e.rank, e.job, intern(), e.kind, false, e.flow_in, e.flow_out, e.flow});
  // The JSON writer hands its text over in 1 MiB pieces: the switch comes within 1 MiB past the limit.
  if (json_count_->count() > limit_) switch_to_protobuf();
}

void TimelineSink::on_counter(const CounterEvent& e) {
  if (!gpu_counters_ && e.group.size() > 4 && e.group.compare(0, 4, "node") == 0 &&
      e.group.find_first_not_of("0123456789", 4) == std::string::npos) {
    return;
  }
  if (json_) json_->on_counter(e);
  if (pf_) pf_->on_counter(e);
  if (decided_) return;
  if (rerun_) {
    past_limit_rerun();
    return;
  }
  scratch_.clear();
  put_piece(scratch_, e.group);
  put_piece(scratch_, e.name);
  log({e.time, Duration(), e.value, 0, 0, 0, intern(), SpanKind::kCompute, true});
  if (json_count_->count() > limit_) switch_to_protobuf();
}

void TimelineSink::on_lane_attr(const LaneAttrEvent& e) {
  if (json_) json_->on_lane_attr(e);
  if (pf_) pf_->on_lane_attr(e);
  // Logged for a switch too (the protobuf writer names and groups its tracks by them), in their place among the
  // events.
  if (!decided_ && !rerun_) lane_attrs_.push_back({logged_, e});
}

std::string TimelineSink::close() {
  if (!decided_) {
    json_->close();  // the last piece of text: the limit is checked on the whole JSON
    if (rerun_) past_limit_rerun();
    if (json_count_->count() > limit_) {
      switch_to_protobuf();
    } else {
      // Auto, and the JSON stayed under the limit: it is the timeline; the log is dropped.
      decided_ = true;
      clear_log();
    }
  }
  if (json_) json_->close();
  if (json_out_) json_out_->flush();
  if (pf_) pf_->close();
  return file_;
}

}  // namespace lcsim::timeline
