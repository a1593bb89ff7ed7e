// The timeline formats: the Perfetto protobuf writer against the schema (proto/perfetto_trace.proto, Perfetto's
// field numbers), both formats read back to the same events, the auto choice, the readers' errors and the per-track
// index the GUI draws from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "proto/perfetto_trace.pb.h"
#include "scenarios/scenario.h"
#include "sim/error.h"
#include "timeline/model.h"
#include "timeline_support.h"
#include "timeline/perfetto_writer.h"
#include "timeline/timeline_sink.h"

namespace lcsim::timeline {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) { return support::temp_dir("timeline_test", name); }
using support::write;

TimelineLayout small_layout() {
  TimelineLayout l;
  l.gpu = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  l.link = [](uint32_t id) { return std::make_pair(std::string(id < 10 ? "leaf" : "spine"), "link" + std::to_string(id)); };
  return l;
}

// A few spans of every kind, odd names, args, durations that are not whole nanoseconds, and counters.
void emit(TraceSink& s) {
  const SpanKind kinds[] = {SpanKind::kCompute, SpanKind::kComm, SpanKind::kPipeline, SpanKind::kDataParallel,
                            SpanKind::kHost, SpanKind::kSend, SpanKind::kRecv};
  for (int i = 0; i < 40; ++i) {
    SpanEvent e;
    e.kind = kinds[i % 7];
    e.rank = static_cast<uint32_t>(i % 4);
    e.start = Duration::seconds(1e-3 * i + 1.0 / 3.0 * 1e-7);
    e.end = e.start + Duration::seconds(2.5e-4 + 1e-10 * i);
    const std::string name = i % 5 == 0 ? "all-reduce \"grad\" \xce\xbc" : "F" + std::to_string(i) + "c1";
    e.name = name;
    if (i % 3 == 0) e.args = {{"bytes", std::to_string(i * 1000)}, {"group", "dp\\" + std::to_string(i % 2)}};
    s.on_span(e);
  }
  for (uint32_t link : {3u, 12u}) {
    SpanEvent e;
    e.kind = SpanKind::kLink;
    e.rank = link;
    e.start = Duration::us(5);
    e.end = Duration::us(17.25);
    e.name = "busy";
    s.on_span(e);
  }
  for (int i = 0; i < 5; ++i) {
    s.on_counter({"link utilization", "spine mean", Duration::ms(i), 0.1 * i});
    s.on_counter({"link utilization", "spine max", Duration::ms(i), 0.2 * i + 0.05});
  }
}

// `n` spans on 4 GPUs in dependency chains of `chain` steps (each step waits on the one before). Plain: compute and
// send spans named "step", 7 us every 10 us; varied: compute and comm spans of 2 to 6 us every 3 us, 97 names, args
// on every seventh.
void chained_spans(TraceSink& s, int n, int chain, bool varied) {
  for (int i = 0; i < n; ++i) {
    SpanEvent e;
    e.kind = varied ? (i % 3 ? SpanKind::kCompute : SpanKind::kComm) : (i % 2 ? SpanKind::kSend : SpanKind::kCompute);
    e.rank = static_cast<uint32_t>(i % 4);
    e.start = Duration::us((varied ? 3.0 : 10.0) * i);
    e.end = e.start + Duration::us(varied ? 2 + i % 5 : 7);
    const std::string name = varied ? "op" + std::to_string(i % 97) : "step";  // e.name is a view of it
    e.name = name;
    if (varied && i % 7 == 0) e.args = {{"bytes", std::to_string(i)}, {"group", "tp" + std::to_string(i % 3)}};
    e.flow = 1 + static_cast<uint64_t>(i / chain);
    e.flow_in = i % chain != 0;
    e.flow_out = i % chain != chain - 1;
    s.on_span(e);
  }
}

// Every track, slice and sample as text, in the model's order (tracks sorted by group and name).
std::string dump(const Trace& t) {
  std::vector<const Track*> tracks;
  for (const auto& tr : t.tracks) tracks.push_back(&tr);
  std::sort(tracks.begin(), tracks.end(), [](const Track* a, const Track* b) {
    return std::tie(a->group, a->name, a->counter) < std::tie(b->group, b->name, b->counter);
  });
  std::ostringstream o;
  for (const Track* tr : tracks) {
    o << "[" << tr->group << "] " << tr->name << (tr->counter ? " (counter)" : "") << "\n";
    for (const auto& s : tr->slices) {
      o << "  " << s.start_ns << " +" << s.dur_ns << " " << t.str(s.name) << " cat=" << t.category_name(s.category);
      for (const auto& [k, v] : t.slice_args(s)) o << " " << k << "=" << v;
      o << "\n";
    }
    for (const auto& c : tr->samples) o << "  @" << c.time_ns << " = " << c.value << "\n";
  }
  return o.str();
}

TEST(Timeline, BothFormatsReadBackToTheSameEvents) {
  const fs::path d = temp_dir("both");
  {
    std::ofstream json(d / "t.json", std::ios::binary), pf(d / "t.pftrace", std::ios::binary);
    TimelineWriter jw(json, small_layout());
    PerfettoWriter pw(pf, small_layout());
    emit(jw);
    emit(pw);
  }
  const Trace a = read_timeline((d / "t.json").string());
  const Trace b = read_timeline((d / "t.pftrace").string());
  EXPECT_EQ(a.format, "json");
  EXPECT_EQ(b.format, "protobuf");
  EXPECT_EQ(a.slice_count(), 42u);
  EXPECT_EQ(a.sample_count(), 10u);
  EXPECT_EQ(dump(a), dump(b));
  // One value by hand: span 0 starts at 1/3 * 1e-7 s = 33.33 ns -> 33 ns and lasts 250 us.
  ASSERT_NE(a.find("node0", "gpu0 compute"), nullptr);
  const auto& gpu0 = *a.find("node0", "gpu0 compute");
  ASSERT_FALSE(gpu0.slices.empty());
  EXPECT_EQ(gpu0.slices[0].start_ns, 33);
  EXPECT_EQ(gpu0.slices[0].dur_ns, 250000);
  EXPECT_EQ(a.str(gpu0.slices[0].name), "all-reduce \"grad\" \xce\xbc");
  EXPECT_EQ(a.begin_ns(), 0);  // the first counter sample
  EXPECT_EQ(b.begin_ns(), 0);
  fs::remove_all(d);
}

TEST(Timeline, PerfettoFileParsesWithTheSchemasFieldNumbers) {
  std::ostringstream out;
  {
    PerfettoWriter w(out, small_layout());
    emit(w);
  }
  perfetto::protos::Trace trace;
  ASSERT_TRUE(trace.ParseFromString(out.str()));
  int descriptors = 0, begins = 0, ends = 0, counters = 0;
  std::map<uint64_t, perfetto::protos::TrackDescriptor> tracks;
  for (const auto& p : trace.packet()) {
    EXPECT_EQ(p.trusted_packet_sequence_id(), 1u);
    EXPECT_TRUE(p.unknown_fields().empty());
    if (p.has_track_descriptor()) {
      ++descriptors;
      tracks[p.track_descriptor().uuid()] = p.track_descriptor();
    } else {
      ASSERT_TRUE(p.has_track_event());
      const auto& e = p.track_event();
      ASSERT_TRUE(tracks.count(e.track_uuid())) << "event before its track is described";
      if (e.type() == perfetto::protos::TrackEvent::TYPE_SLICE_BEGIN) ++begins;
      if (e.type() == perfetto::protos::TrackEvent::TYPE_SLICE_END) ++ends;
      if (e.type() == perfetto::protos::TrackEvent::TYPE_COUNTER) {
        ++counters;
        EXPECT_TRUE(tracks[e.track_uuid()].has_counter());
        EXPECT_TRUE(e.has_double_counter_value());
      }
    }
  }
  EXPECT_EQ(trace.packet(0).sequence_flags(), 1u);  // SEQ_INCREMENTAL_STATE_CLEARED
  EXPECT_EQ(begins, 42);
  EXPECT_EQ(ends, 42);
  EXPECT_EQ(counters, 10);
  // Tracks: 4 GPUs x the kinds each got + 2 links + 2 counters, and their groups (2 nodes, 2 tiers, 1 counter group).
  int rows = 0, groups = 0;
  for (const auto& [uuid, t] : tracks) {
    if (t.has_parent_uuid()) {
      ++rows;
      EXPECT_FALSE(tracks.at(t.parent_uuid()).has_parent_uuid());
    } else {
      ++groups;
    }
  }
  EXPECT_EQ(groups, 5);
  EXPECT_EQ(descriptors, rows + groups);
  // The first slice as Perfetto would show it.
  const auto& first = trace.packet(2);  // after node0 and node0/gpu0 compute
  EXPECT_EQ(first.timestamp(), 33u);
  EXPECT_EQ(first.track_event().name(), "all-reduce \"grad\" \xce\xbc");
  EXPECT_EQ(first.track_event().categories(0), "compute");
  ASSERT_EQ(first.track_event().debug_annotations_size(), 2);
  EXPECT_EQ(first.track_event().debug_annotations(1).name(), "group");
  EXPECT_EQ(first.track_event().debug_annotations(1).string_value(), "dp\\0");
}

TEST(Timeline, AutoFormatSwitchesToProtobufPastTheLimit) {
  // emit() gives ~10 kB of JSON; 200 rounds pass 1 MiB, the granularity at which the JSON writer hands text over.
  constexpr int kRounds = 200;
  for (const uint64_t limit : {uint64_t{1} << 30, uint64_t{100000}}) {
    std::map<std::string, std::ostringstream> files;
    TimelineSink sink(Format::kAuto, limit, [&](const std::string& f) -> std::ostream& { return files[f]; },
                      small_layout(), {});
    for (int i = 0; i < kRounds; ++i) emit(sink);
    const std::string written = sink.close();
    // The JSON streams from the start; a switch opens timeline.pftrace too (the caller deletes the partial JSON).
    ASSERT_EQ(files.size(), limit > 1000000 ? 1u : 2u);
    ASSERT_EQ(files.count(written), 1u);
    const fs::path d = temp_dir("auto" + std::to_string(limit));
    write(d / written, files[written].str());
    const Trace t = read_timeline((d / written).string());
    EXPECT_EQ(t.slice_count(), 42u * kRounds);
    if (limit > 1000000) {
      EXPECT_EQ(written, "timeline.json");
    } else {
      EXPECT_EQ(written, "timeline.pftrace");
      std::ostringstream direct;
      {
        PerfettoWriter w(direct, small_layout());
        for (int i = 0; i < kRounds; ++i) emit(w);
      }
      EXPECT_EQ(files[written].str(), direct.str()) << "switching mid-run must not lose or repeat packets";
      EXPECT_GT(files["timeline.json"].str().size(), limit) << "the JSON streamed until the limit";
    }
    fs::remove_all(d);
  }
}

TEST(Timeline, AutoFormatSwitchKeepsTheLaneAttributesGivenBeforeIt) {
  // Lane attributes (a GPU's rack and stage, a link's plane) name and group the protobuf writer's tracks; those
  // given before the switch went to the JSON only, and the switched file lacked them (4,327 bytes short of what
  // protobuf writes on the 175B layout of issue 10). They are logged with the events now.
  constexpr int kRounds = 200;  // past 1 MiB: the switch comes mid-run
  auto attrs = [](TraceSink& s, int round) {
    s.on_lane_attr({.link = false, .id = static_cast<uint32_t>(round % 4), .key = "stage", .value = std::to_string(round % 3)});
    if (round == 0) s.on_lane_attr({.link = true, .id = 12, .key = "plane", .value = "1"});
  };
  std::map<std::string, std::ostringstream> files;
  TimelineSink sink(Format::kAuto, 100000, [&](const std::string& f) -> std::ostream& { return files[f]; },
                    small_layout(), {});
  std::ostringstream direct;
  {
    PerfettoWriter w(direct, small_layout());
    for (int i = 0; i < kRounds; ++i) {
      if (i % 50 == 0) {
        attrs(sink, i);
        attrs(w, i);
      }
      emit(sink);
      emit(w);
    }
  }
  ASSERT_EQ(sink.close(), "timeline.pftrace");
  EXPECT_EQ(files["timeline.pftrace"].str(), direct.str());
}

TEST(Timeline, AutoFormatThatCanRerunKeepsNoLogAndAsksForTheRerunPastTheLimit) {
  // emit() gives ~10 kB of JSON: 50 rounds stay under 1 MiB, 200 pass it (the JSON writer hands text over in 1 MiB
  // pieces, so a run under 1 MiB learns its size only at close()).
  for (const int rounds : {50, 200}) {
    for (const uint64_t limit : {uint64_t{1} << 30, uint64_t{100000}}) {
      std::map<std::string, std::ostringstream> files;
      TimelineSink sink(Format::kAuto, limit, [&](const std::string& f) -> std::ostream& { return files[f]; },
                        small_layout(), {});
      sink.set_rerun_past_limit(true);
      std::ostringstream plain;
      TimelineWriter json(plain, small_layout());
      bool rerun = false;
      try {
        for (int i = 0; i < rounds; ++i) {
          emit(sink);
          emit(json);
        }
        EXPECT_EQ(sink.close(), "timeline.json");
      } catch (const TimelineSink::RerunAsProtobuf&) {
        rerun = true;
      }
      json.close();
      EXPECT_EQ(rerun, limit < plain.str().size()) << rounds << " rounds, limit " << limit;
      // Never a protobuf file: the caller reruns with protobuf; under the limit the JSON is what json writes.
      EXPECT_EQ(files.count("timeline.pftrace"), 0u);
      if (rerun) {
        EXPECT_EQ(sink.close(), "timeline.json");  // the destructor's close after the throw: no second throw
      } else {
        EXPECT_EQ(files["timeline.json"].str(), plain.str());
      }
    }
  }
}

TEST(Timeline, AutoFormatReplaysOnlyTheKindsAskedFor) {
  // The auto sink logs every event until the switch and replays it through the protobuf writer, which applies the
  // kinds filter: the result is what protobuf with the same filter writes, and the JSON before it was filtered too.
  constexpr int kRounds = 500;  // ~1.5 MB of filtered JSON: the switch comes mid-run
  const std::vector<SpanKind> kinds = {SpanKind::kCompute, SpanKind::kSend};
  std::map<std::string, std::ostringstream> files;
  TimelineSink sink(Format::kAuto, 200000, [&](const std::string& f) -> std::ostream& { return files[f]; },
                    small_layout(), kinds);
  for (int i = 0; i < kRounds; ++i) emit(sink);
  ASSERT_EQ(sink.close(), "timeline.pftrace");
  std::ostringstream direct;
  {
    PerfettoWriter w(direct, small_layout(), kinds);
    for (int i = 0; i < kRounds; ++i) emit(w);
  }
  EXPECT_EQ(files["timeline.pftrace"].str(), direct.str());
  EXPECT_EQ(files["timeline.json"].str().find("gpu0 comm"), std::string::npos) << "filtered kinds stay out of the JSON";
}

TEST(Timeline, AutoFormatKeepsDependencyEdgesAcrossTheSwitch) {
  // Spans of dependency chains logged before the switch keep their edges in the replay: the file is byte for byte
  // what the protobuf writer makes of the same events, edges included.
  auto chains = [](TraceSink& s) { chained_spans(s, 3000, 6, false); };
  std::map<std::string, std::ostringstream> files;
  TimelineSink sink(Format::kAuto, 100000, [&](const std::string& f) -> std::ostream& { return files[f]; },
                    small_layout(), {});
  chains(sink);
  ASSERT_EQ(sink.close(), "timeline.pftrace");
  std::ostringstream direct;
  {
    PerfettoWriter w(direct, small_layout());
    chains(w);
  }
  EXPECT_EQ(files["timeline.pftrace"].str(), direct.str());
  const fs::path d = temp_dir("auto-edges");
  write(d / "timeline.pftrace", files["timeline.pftrace"].str());
  const Trace t = read_timeline((d / "timeline.pftrace").string());
  EXPECT_EQ(t.flows.size(), 500u * 5) << "five edges per chain of six steps";
  fs::remove_all(d);
}

TEST(Timeline, ScenarioRunWrittenBothWaysReadsTheSame) {
  const std::string ex = "scenarios/examples/gpt-1.3b-dp-h100.yaml";
  const std::vector<std::string> common = {"cluster.nodes=2", "simulation.fidelity=analytical",
                                           "outputs.timeline_ranks=0", "outputs.timeline_detail=kernels"};
  auto run = [&](const std::string& format) {
    auto o = common;
    o.push_back("outputs.timeline_format=" + format);
    Scenario sc = load_scenario(ex, o);
    return run_scenario(sc);
  };
  const RunResult j = run("json"), p = run("protobuf");
  EXPECT_EQ(j.timeline_file, "timeline.json");
  EXPECT_EQ(p.timeline_file, "timeline.pftrace");
  EXPECT_TRUE(p.timeline_json.empty());
  const fs::path d = temp_dir("scenario");
  write(d / "timeline.json", j.timeline_json);
  write(d / "timeline.pftrace", p.timeline_pftrace);
  const Trace a = read_timeline((d / "timeline.json").string());
  const Trace b = read_timeline((d / "timeline.pftrace").string());
  EXPECT_GT(a.slice_count(), 100u);
  EXPECT_EQ(a.slice_count(), b.slice_count());
  EXPECT_EQ(dump(a), dump(b));
  EXPECT_LT(p.timeline_pftrace.size(), j.timeline_json.size() * 3 / 4) << "protobuf should be well under the JSON";
  EXPECT_EQ(find_timeline(d.string()), (d / "timeline.pftrace").string());
  fs::remove_all(d);
}

// The protobuf reader decodes windows of 65,536 packets in parallel and applies them in file order: a trace of
// several windows (50,000 spans with args and edges: 100,000 slice packets and more) reads back to exactly what the
// JSON reader makes of the same events, edges included; a bad field after the first window is reported at its byte.
TEST(Timeline, ProtobufOfSeveralDecodeWindowsReadsAsJsonDoes) {
  auto spans = [](TraceSink& s) { chained_spans(s, 50000, 4, true); };
  const fs::path d = temp_dir("windows");
  std::ostringstream pf;
  {
    std::ofstream json(d / "t.json", std::ios::binary);
    TimelineWriter jw(json, small_layout());
    PerfettoWriter pw(pf, small_layout());
    spans(jw);
    spans(pw);
  }
  write(d / "t.pftrace", pf.str());
  const Trace a = read_timeline((d / "t.json").string());
  const Trace b = read_timeline((d / "t.pftrace").string());
  EXPECT_EQ(b.slice_count(), 50000u);
  EXPECT_EQ(dump(a), dump(b));
  ASSERT_EQ(b.flows.size(), 12500u * 3) << "three edges per chain of four steps";
  ASSERT_EQ(a.flows.size(), b.flows.size());
  for (size_t i = 0; i < a.flows.size(); ++i) {
    EXPECT_EQ(a.slice(a.flows[i].from).start_ns, b.slice(b.flows[i].from).start_ns) << i;
    EXPECT_EQ(a.slice(a.flows[i].to).start_ns, b.slice(b.flows[i].to).start_ns) << i;
  }
  // Field 2 with wire type 0 after every packet: the error names its byte, the file's old size.
  write(d / "tail.pftrace", pf.str() + std::string("\x10\x01", 2));
  try {
    read_timeline((d / "tail.pftrace").string());
    FAIL() << "a trace with a bad field was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("tail.pftrace: byte " + std::to_string(pf.str().size()) +
                                         ": field 2 has wire type 0"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(d);
}

// Reading `file` fails with an InputError whose message holds every one of `parts`.
void expect_read_error(const fs::path& file, std::initializer_list<const char*> parts) {
  try {
    read_timeline(file.string());
    ADD_FAILURE() << file << " was read";
  } catch (const InputError& e) {
    for (const char* part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Timeline, BrokenFilesGiveAnErrorNamingFileAndPlace) {
  const fs::path d = temp_dir("broken");
  std::ostringstream out;
  {
    PerfettoWriter w(out, small_layout());
    emit(w);
  }
  const std::string full = out.str();
  write(d / "cut.pftrace", full.substr(0, full.size() - 7));
  expect_read_error(d / "cut.pftrace", {"cut.pftrace: byte ", "truncated packet"});
  write(d / "bad.json", "{\"traceEvents\":[{\"ph\":\"X\",\"name\":\"a\"}]}");
  expect_read_error(d / "bad.json", {"bad.json: traceEvents[0]: an 'X' event needs a number 'ts'"});
  write(d / "notjson.json", "{\"traceEvents\":[");
  expect_read_error(d / "notjson.json", {"notjson.json: not valid JSON"});
  // A number past double's range is nlohmann's out_of_range, not a parse_error: still the file's error.
  write(d / "huge.json", "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1e999}]}");
  expect_read_error(d / "huge.json", {"huge.json: not valid JSON"});
  // Numbers that parse but do not fit the model: the event's error, not undefined behaviour.
  write(d / "far.json", "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1,\"dur\":1},{\"ph\":\"X\",\"ts\":1e300}]}");
  expect_read_error(d / "far.json", {"far.json: traceEvents[1]: 'ts' is out of range"});
  write(d / "pid.json", "{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1,\"pid\":7.7e66}]}");
  expect_read_error(d / "pid.json", {"pid.json: traceEvents[0]: 'pid' is out of range"});
  std::ostringstream far;
  {
    PerfettoWriter w(far, small_layout());
    SpanEvent e;
    e.kind = SpanKind::kCompute;
    e.start = Duration::seconds(3e9);  // 3e18 ns: past the 2^61 ns the model holds
    e.end = e.start + Duration::seconds(1);
    e.name = "far";
    w.on_span(e);
  }
  write(d / "far.pftrace", far.str());
  expect_read_error(d / "far.pftrace", {"far.pftrace: byte ", "is out of range"});
  EXPECT_THROW(read_timeline((d / "missing.json").string()), InputError);
  fs::remove_all(d);
}

TEST(Timeline, TrackIndexFindsOverlappingSlices) {
  Track t;
  // [0,10) [5,100) [20,30) [40,45) [200,210)
  for (auto [s, dur] : std::vector<std::pair<int64_t, int64_t>>{{0, 10}, {5, 95}, {20, 10}, {40, 5}, {200, 10}}) {
    t.slices.push_back(Slice{s, dur, 0, 0, 0, 0});
  }
  t.max_dur_ns = 95;
  auto [lo, hi] = t.visible(50, 60);  // only [5,100) overlaps; the range may include earlier candidates
  size_t overlapping = 0;
  for (size_t i = lo; i < hi; ++i) overlapping += t.slices[i].end_ns() > 50 && t.slices[i].start_ns <= 60;
  EXPECT_EQ(overlapping, 1u);
  EXPECT_LE(lo, 1u);
  EXPECT_EQ(hi, 4u);  // [200,210) starts after 60
  EXPECT_EQ(t.first_at(21), 3u);
  EXPECT_EQ(t.first_at(21, 4), 4u);
  EXPECT_EQ(t.first_at(1000), 5u);
}

// TimelineWriter prints a whole number below 1e15 through the integer conversion (cheaper than the double one):
// the text must be what the fixed-notation double conversion gives, and everything else keeps the shortest form.
TEST(Timeline, JsonNumbersKeepTheirText) {
  std::ostringstream out;
  {
    TimelineWriter w(out, small_layout());
    SpanEvent e;
    e.name = "F0";
    e.start = Duration::seconds(0.5);                           // 500000 us: whole
    e.end = Duration::seconds(0.75);                            // 250000 us: whole
    w.on_span(e);
    e.start = Duration::seconds(67108864);                      // 2^26 s = 67108864000000 us (< 1e15): whole
    e.end = e.start + Duration::seconds(1.5e-6);                // not whole
    w.on_span(e);
    w.on_counter({"g", "zero", Duration(), -0.0});              // negative zero keeps its sign
    w.on_counter({"g", "negative", Duration(), -7.0});
    w.on_counter({"g", "big", Duration(), 1e15});               // 1e15 and up: the shortest form
    w.on_counter({"g", "fraction", Duration(), 0.1});
  }
  const std::string text = out.str();
  auto fixed = [](double v) {
    char buf[64];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed).ptr);
  };
  auto shortest = [](double v) {
    char buf[64];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  EXPECT_NE(text.find("\"ts\":500000,\"dur\":250000"), std::string::npos) << text;
  const double ts = 67108864.0 * 1e6;
  ASSERT_EQ(ts, std::floor(ts));
  EXPECT_NE(text.find("\"ts\":" + fixed(ts) + ","), std::string::npos) << text;
  const Duration base = Duration::seconds(67108864);
  const double dur = ((base + Duration::seconds(1.5e-6)) - base).s() * 1e6;
  ASSERT_NE(dur, std::floor(dur));
  EXPECT_NE(text.find("\"dur\":" + shortest(dur)), std::string::npos) << text;
  EXPECT_NE(text.find("{\"value\":-0}"), std::string::npos) << text;
  EXPECT_NE(text.find("{\"value\":-7}"), std::string::npos) << text;
  EXPECT_NE(text.find("{\"value\":1e+15}"), std::string::npos) << text;
  EXPECT_NE(text.find("{\"value\":0.1}"), std::string::npos) << text;
}

// The writer keeps the text of recent fractional values by bit pattern: every value still prints as the shortest
// round-trip form, whether it comes again, shares a cache slot with another or evicts one (more distinct values
// than slots, repeated in a different order, and values one bit apart).
TEST(Timeline, JsonNumbersRepeatedOrNotPrintTheirShortestText) {
  std::vector<double> values;
  for (int i = 0; i < 3000; ++i) values.push_back(181.36921724323668 + 0.37 * i + 1e-9 * (i % 7));
  for (int i = 0; i < 64; ++i) values.push_back(std::nextafter(values[static_cast<size_t>(i)], 1e300));
  std::vector<double> order = values;
  for (size_t i = 0; i < values.size(); ++i) order.push_back(values[(i * 7919) % values.size()]);
  for (size_t i = 0; i < 500; ++i) order.push_back(values[i % 3]);
  std::ostringstream out;
  {
    TimelineWriter w(out, small_layout());
    for (double v : order) w.on_counter({"g", "c", Duration(), v});
  }
  const std::string text = out.str();
  size_t at = 0, n = 0;
  for (double v : order) {
    ASSERT_NE(v, std::floor(v));
    char buf[64];
    const std::string want = "{\"value\":" + std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr) + "}";
    at = text.find("{\"value\":", at);
    ASSERT_NE(at, std::string::npos) << "value " << n << " missing";
    ASSERT_EQ(text.compare(at, want.size(), want), 0) << "value " << n << ": " << text.substr(at, 40) << " != " << want;
    at += want.size();
    ++n;
  }
  EXPECT_EQ(n, order.size());
}

}  // namespace
}  // namespace lcsim::timeline
