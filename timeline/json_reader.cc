// timeline.json (Chrome trace-event JSON) into the in-memory model.
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/error.h"
#include "timeline/model.h"

namespace lcsim::timeline {

namespace {

using nlohmann::json;

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

Trace read_json_timeline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read timeline '" + path + "'");
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number such as 1e999
    throw InputError(path + ": not valid JSON (" + e.what() + ")");
  }
  const json* events = &doc;
  if (doc.is_object()) {
    auto it = doc.find("traceEvents");
    if (it == doc.end() || !it->is_array()) throw InputError(path + ": no 'traceEvents' array");
    events = &*it;
  } else if (!doc.is_array()) {
    throw InputError(path + ": expected a JSON object with 'traceEvents' or an array of events");
  }
  Trace trace;
  trace.format = "json";
  std::map<int64_t, std::string> processes;
  std::map<std::pair<int64_t, int64_t>, std::string> threads;
  std::map<std::pair<int64_t, int64_t>, size_t> thread_tracks;
  size_t index = 0;
  auto bad = [&](const std::string& what) {
    return InputError(path + ": traceEvents[" + std::to_string(index) + "]: " + what);
  };
  // Microseconds (a number) to ns, within the range the model holds.
  auto time_ns = [&](const json& v, const char* key) {
    const double ns = v.get<double>() * 1e3;
    if (!(std::fabs(ns) <= static_cast<double>(kMaxAbsTimeNs))) {
      throw bad(std::string("'") + key + "' is out of range (at most about 73 years either side of zero)");
    }
    return static_cast<int64_t>(std::llround(ns));
  };
  // 'pid' / 'tid': an integer (a whole number written as a float is taken); absent or another type: 0.
  auto id_of = [&](const json& e, const char* key) -> int64_t {
    auto it = e.find(key);
    if (it == e.end() || !it->is_number()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    const double d = it->get<double>();
    if (!(std::fabs(d) < 9.0e18)) throw bad(std::string("'") + key + "' is out of range");
    return static_cast<int64_t>(d);
  };
  auto group_of = [&](int64_t pid) {
    auto it = processes.find(pid);
    return it != processes.end() ? it->second : "pid " + std::to_string(pid);
  };
  auto thread_track = [&](int64_t pid, int64_t tid) {
    auto it = thread_tracks.find({pid, tid});
    if (it != thread_tracks.end()) return it->second;
    auto n = threads.find({pid, tid});
    const size_t t = trace.track(group_of(pid), n != threads.end() ? n->second : "tid " + std::to_string(tid), false);
    thread_tracks[{pid, tid}] = t;
    return t;
  };
  try {
    for (const auto& e : *events) {
      if (!e.is_object()) throw bad("expected an object");
      const std::string ph = e.value("ph", "");
      const int64_t pid = id_of(e, "pid");
      const int64_t tid = id_of(e, "tid");
      if (ph == "M") {
        const std::string name = e.value("name", "");
        const auto& args = e.contains("args") ? e["args"] : json::object();
        if (name == "process_name") processes[pid] = args.value("name", "");
        if (name == "thread_name") {
          threads[{pid, tid}] = args.value("name", "");
          thread_track(pid, tid);
        }
        if (name == "lane_attr" && args.is_object()) {  // lcsim's lane attributes (rack, stage, plane, job)
          Track& t = trace.tracks[thread_track(pid, tid)];
          for (const auto& [k, v] : args.items()) t.attrs.push_back({k, text_of(v)});
        }
      } else if (ph == "X") {
        if (!e.contains("ts") || !e["ts"].is_number()) throw bad("an 'X' event needs a number 'ts'");
        Slice s;
        s.start_ns = time_ns(e["ts"], "ts");
        s.dur_ns = e.contains("dur") && e["dur"].is_number() ? time_ns(e["dur"], "dur") : 0;
        s.name = trace.intern(e.value("name", ""));
        s.category = trace.category(e.value("cat", ""));
        if (e.contains("args") && e["args"].is_object() && !e["args"].empty()) {
          std::vector<std::pair<uint32_t, uint32_t>> a;
          for (const auto& [k, v] : e["args"].items()) a.push_back({trace.intern(k), trace.intern(text_of(v))});
          trace.args.push_back(std::move(a));
          s.args = static_cast<uint32_t>(trace.args.size());
        }
        const size_t track = thread_track(pid, tid);
        trace.tracks[track].slices.push_back(s);
        // Flow v2: "bind_id" (a number or a string) with "flow_in" and/or "flow_out".
        if (e.contains("bind_id") && (e.value("flow_in", false) || e.value("flow_out", false))) {
          const auto& b = e["bind_id"];
          uint64_t id = 0;
          if (b.is_number_unsigned() || b.is_number_integer()) id = b.get<uint64_t>();
          else if (b.is_string()) id = std::hash<std::string>()(b.get<std::string>());
          else throw bad("'bind_id' must be a number or a string");
          trace.add_flow_step(id, track, e.value("flow_in", false), e.value("flow_out", false));
        }
      } else if (ph == "s" || ph == "t" || ph == "f") {
        // Flow v1, as lcsim writes a span's further chains: bound to the slice on its lane that encloses "ts"
        // (lcsim writes it right after its slice, at the slice's start: the latest such slice).
        if (!e.contains("ts") || !e["ts"].is_number()) throw bad("a flow event ('" + ph + "') needs a number 'ts'");
        if (!e.contains("id")) throw bad("a flow event ('" + ph + "') needs an 'id'");
        const auto& b = e["id"];
        uint64_t id = 0;
        if (b.is_number_unsigned() || b.is_number_integer()) id = b.get<uint64_t>();
        else if (b.is_string()) id = std::hash<std::string>()(b.get<std::string>());
        else throw bad("a flow event's 'id' must be a number or a string");
        const int64_t ts = time_ns(e["ts"], "ts");
        const size_t track = thread_track(pid, tid);
        const auto& slices = trace.tracks[track].slices;
        for (size_t i = slices.size(); i-- > 0;) {
          if (slices[i].start_ns <= ts && ts <= slices[i].end_ns()) {
            trace.add_flow_step(id, track, i, ph != "s", ph != "f");
            break;
          }
          if (slices.size() - i >= 64) break;  // not one of lcsim's: nothing near to bind to
        }
      } else if (ph == "C") {
        if (!e.contains("ts") || !e["ts"].is_number()) throw bad("a 'C' event needs a number 'ts'");
        const auto& args = e.contains("args") ? e["args"] : json::object();
        const std::string name = e.value("name", "");
        for (const auto& [k, v] : args.items()) {
          if (!v.is_number()) continue;
          const size_t t = trace.track(group_of(pid), k == "value" ? name : name + " " + k, true);
          trace.tracks[t].samples.push_back({time_ns(e["ts"], "ts"), v.get<double>()});
        }
      }
      ++index;
    }
  } catch (const json::exception& e) {
    throw bad(e.what());
  }
  trace.finish();
  return trace;
}

}  // namespace lcsim::timeline
