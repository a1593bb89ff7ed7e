#include "sim/trace.h"

#include "sim/json.h"

namespace lcsim {

void TimelineRecorder::on_span(const SpanEvent& e) {
  auto g = groups_.find(e.group);
  if (g == groups_.end()) {
    g = groups_.emplace(e.group, static_cast<int>(groups_.size()) + 1).first;
    group_names_.push_back(e.group);
  }
  const int pid = g->second;
  auto t = tracks_.find({pid, e.track});
  if (t == tracks_.end()) {
    t = tracks_.emplace(std::make_pair(pid, e.track), static_cast<int>(tracks_.size()) + 1).first;
    track_names_.push_back({{pid, t->second}, e.track});
  }
  spans_.push_back({Track{pid, t->second}, e});
}

void TimelineRecorder::on_counter(const CounterEvent& e) {
  auto g = groups_.find(e.group);
  if (g == groups_.end()) {
    g = groups_.emplace(e.group, static_cast<int>(groups_.size()) + 1).first;
    group_names_.push_back(e.group);
  }
  counters_.push_back({g->second, e});
}

std::string TimelineRecorder::to_json() const {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  bool first = true;
  auto line = [&](const std::string& s) {
    out += (first ? "" : ",\n") + s;
    first = false;
  };
  for (size_t i = 0; i < group_names_.size(); ++i) {
    const std::string pid = std::to_string(i + 1);
    line("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + pid + ",\"args\":{\"name\":" +
         json_escape(group_names_[i]) + "}}");
    line("{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + pid + ",\"args\":{\"sort_index\":" + pid +
         "}}");
  }
  for (const auto& [ids, name] : track_names_) {
    const std::string pid = std::to_string(ids.first), tid = std::to_string(ids.second);
    line("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + pid + ",\"tid\":" + tid + ",\"args\":{\"name\":" +
         json_escape(name) + "}}");
    line("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":" + pid + ",\"tid\":" + tid +
         ",\"args\":{\"sort_index\":" + tid + "}}");
  }
  for (const auto& [track, e] : spans_) {
    std::string s = "{\"ph\":\"X\",\"pid\":" + std::to_string(track.pid) + ",\"tid\":" + std::to_string(track.tid) +
                    ",\"name\":" + json_escape(e.name) + ",\"cat\":" + json_escape(e.category) +
                    ",\"ts\":" + json_number(e.start.s() * 1e6) + ",\"dur\":" +
                    json_number((e.end - e.start).s() * 1e6);
    if (!e.args.empty()) {
      s += ",\"args\":{";
      for (size_t i = 0; i < e.args.size(); ++i) {
        s += (i ? "," : "") + json_escape(e.args[i].first) + ":" + json_escape(e.args[i].second);
      }
      s += "}";
    }
    line(s + "}");
  }
  for (const auto& [pid, c] : counters_) {
    line("{\"ph\":\"C\",\"pid\":" + std::to_string(pid) + ",\"name\":" + json_escape(c.name) +
         ",\"ts\":" + json_number(c.time.s() * 1e6) + ",\"args\":{\"value\":" + json_number(c.value) + "}}");
  }
  return out + "\n]}\n";
}

}  // namespace lcsim
