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
      json_ = std::make_unique<TimelineWriter>(json_buf_, layout, kinds);
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
  json_.reset();
  json_buf_ = std::ostringstream();
  file_ = "timeline.pftrace";
  std::ostream& out = open_(file_);
  pf_->redirect(pf_buf_);  // what the writer still holds goes to the buffer first
  const std::string head = pf_buf_.str();
  out.write(head.data(), static_cast<std::streamsize>(head.size()));
  pf_buf_ = std::ostringstream();
  pf_->redirect(out);
  decided_ = true;
}

void TimelineSink::on_span(const SpanEvent& e) {
  if (json_) json_->on_span(e);
  if (pf_) pf_->on_span(e);
  // The JSON writer hands its text over in 1 MiB pieces: the switch comes within 1 MiB past the limit.
  if (!decided_ && static_cast<uint64_t>(json_buf_.tellp()) > limit_) switch_to_protobuf();
}

void TimelineSink::on_counter(const CounterEvent& e) {
  if (json_) json_->on_counter(e);
  if (pf_) pf_->on_counter(e);
  if (!decided_ && static_cast<uint64_t>(json_buf_.tellp()) > limit_) switch_to_protobuf();
}

std::string TimelineSink::close() {
  if (!decided_) {
    // Auto, and the JSON stayed under the limit: it is the timeline.
    decided_ = true;
    pf_.reset();
    json_->close();
    file_ = "timeline.json";
    std::ostream& out = open_(file_);
    const std::string text = json_buf_.str();
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    json_.reset();
  }
  if (json_) json_->close();
  if (pf_) pf_->close();
  return file_;
}

}  // namespace lcsim::timeline
