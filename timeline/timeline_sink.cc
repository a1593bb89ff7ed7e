#include "timeline/timeline_sink.h"

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
      pf_ = std::make_unique<PerfettoWriter>(pf_buf_, std::move(layout), std::move(kinds));
      break;
  }
}

TimelineSink::~TimelineSink() {
  try {
    close();
  } catch (...) {  // a destructor must not throw; close() reports failures when called directly
  }
}

void TimelineSink::switch_to_protobuf() {
  json_.reset();  // the partial timeline.json is the caller's to delete (close() names timeline.pftrace)
  json_out_->flush();
  file_ = "timeline.pftrace";
  std::ostream& out = open_(file_);
  pf_->redirect(pf_buf_);  // what the writer still holds goes to the buffer first
  const std::string head = std::move(pf_buf_).str();
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  pf_buf_ = std::ostringstream();
  pf_->redirect(out);
  decided_ = true;
}

void TimelineSink::on_span(const SpanEvent& e) {
  if (json_) json_->on_span(e);
  if (pf_) pf_->on_span(e);
  // The JSON writer hands its text over in 1 MiB pieces: the switch comes within 1 MiB past the limit.
  if (!decided_ && json_count_->count() > limit_) switch_to_protobuf();
}

void TimelineSink::on_counter(const CounterEvent& e) {
  if (json_) json_->on_counter(e);
  if (pf_) pf_->on_counter(e);
  if (!decided_ && json_count_->count() > limit_) switch_to_protobuf();
}

void TimelineSink::on_lane_attr(const LaneAttrEvent& e) {
  if (json_) json_->on_lane_attr(e);
  if (pf_) pf_->on_lane_attr(e);
}

std::string TimelineSink::close() {
  if (!decided_) {
    json_->close();  // the last piece of text: the limit is checked on the whole JSON
    if (json_count_->count() > limit_) {
      switch_to_protobuf();
    } else {
      // Auto, and the JSON stayed under the limit: it is the timeline; the protobuf copy is dropped.
      decided_ = true;
      pf_.reset();
      pf_buf_ = std::ostringstream();
    }
  }
  if (json_) json_->close();
  if (json_out_) json_out_->flush();
  if (pf_) pf_->close();
  return file_;
}

}  // namespace lcsim::timeline
