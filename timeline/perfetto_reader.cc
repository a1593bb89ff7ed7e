// A Perfetto protobuf trace into the in-memory model. The file is a Trace message, i.e. a run of `packet = 1`
// fields; it is read in 8 MiB chunks and each packet parsed on its own (one reused TracePacket), so a trace of any
// size streams through without a copy of the whole file.
#include <fstream>
#include <unordered_map>
#include <vector>

#include "proto/perfetto_trace.pb.h"
#include "sim/error.h"
#include "timeline/model.h"

namespace lcsim::timeline {

namespace {

constexpr size_t kChunk = 8 << 20;

// Reads a varint at data[*pos] (at most 10 bytes, within `size`); false if it runs past the end.
bool read_varint(const char* data, size_t size, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *pos < size; shift += 7) {
    const auto b = static_cast<uint8_t>(data[(*pos)++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

struct Described {
  std::string name;
  uint64_t parent = 0;
  bool counter = false;
};

}  // namespace

Trace read_perfetto_timeline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read timeline '" + path + "'");
  Trace trace;
  trace.format = "protobuf";
  std::unordered_map<uint64_t, Described> described;
  std::unordered_map<uint64_t, size_t> tracks;                // uuid -> model track
  std::unordered_map<uint64_t, std::vector<size_t>> open;     // uuid -> open slices (index into its track)
  perfetto::protos::TracePacket p;
  std::vector<char> buf;
  size_t begin = 0;  // first unread byte in buf
  uint64_t file_offset = 0;  // of buf[begin]
  bool eof = false;
  auto refill = [&](size_t need) {
    // Keeps buf[begin..] and reads until `need` bytes are available or the file ends.
    if (begin > 0) {
      buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(begin));
      begin = 0;
    }
    while (!eof && buf.size() < need) {
      const size_t old = buf.size();
      buf.resize(old + std::max(kChunk, need - old));
      in.read(buf.data() + old, static_cast<std::streamsize>(buf.size() - old));
      buf.resize(old + static_cast<size_t>(in.gcount()));
      if (!in) eof = true;
    }
  };
  auto bad = [&](const std::string& what) {
    return InputError(path + ": byte " + std::to_string(file_offset) + ": " + what +
                      " (expected a Perfetto protobuf trace: a run of TracePacket fields)");
  };
  auto track_of = [&](uint64_t uuid) -> size_t {
    auto it = tracks.find(uuid);
    if (it != tracks.end()) return it->second;
    auto d = described.find(uuid);
    std::string group, name = "track " + std::to_string(uuid);
    bool counter = false;
    if (d != described.end()) {
      name = d->second.name;
      counter = d->second.counter;
      auto parent = described.find(d->second.parent);
      if (parent != described.end()) group = parent->second.name;
    }
    const size_t t = trace.track(group, name, counter);
    tracks[uuid] = t;
    return t;
  };
  refill(kChunk);
  while (begin < buf.size() || !eof) {
    if (buf.size() - begin < 16 && !eof) refill(kChunk);
    if (begin >= buf.size()) break;
    size_t pos = begin;
    uint64_t key = 0, len = 0;
    bool ok = read_varint(buf.data(), buf.size(), &pos, &key) && read_varint(buf.data(), buf.size(), &pos, &len);
    if (!ok && !eof) {
      refill(buf.size() - begin + 16);
      continue;
    }
    if (!ok) throw bad("truncated packet header");
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (wire != 2) throw bad("field " + std::to_string(field) + " has wire type " + std::to_string(wire));
    if (len > (1ull << 31)) throw bad("packet of " + std::to_string(len) + " bytes");
    const size_t header = pos - begin;
    if (buf.size() - pos < len) {
      if (eof) throw bad("truncated packet (" + std::to_string(len) + " bytes announced)");
      refill(header + len);
      continue;
    }
    if (field == 1) {
      if (!p.ParseFromArray(buf.data() + pos, static_cast<int>(len))) throw bad("packet does not parse");
      if (p.has_track_descriptor()) {
        const auto& d = p.track_descriptor();
        described[d.uuid()] = {d.name(), d.parent_uuid(), d.has_counter()};
        // A track with a parent is a row; one without, a group (it gets a row only if events land on it).
        if (d.has_parent_uuid()) track_of(d.uuid());
      } else if (p.has_track_event()) {
        const auto& e = p.track_event();
        const int64_t ts = static_cast<int64_t>(p.timestamp());
        const uint64_t uuid = e.track_uuid();
        switch (e.type()) {
          case perfetto::protos::TrackEvent::TYPE_SLICE_BEGIN:
          case perfetto::protos::TrackEvent::TYPE_INSTANT: {
            const size_t track = track_of(uuid);
            Track& t = trace.tracks[track];
            if (e.type() == perfetto::protos::TrackEvent::TYPE_INSTANT && e.name() == "lane_attr" &&
                e.categories_size() && e.categories(0) == "lcsim.meta") {  // a lane attribute (rack, stage, ...)
              for (const auto& d : e.debug_annotations()) t.attrs.push_back({d.name(), d.string_value()});
              break;
            }
            Slice s;
            s.start_ns = ts;
            s.name = trace.intern(e.name());
            s.category = trace.category(e.categories_size() ? e.categories(0) : "");
            if (e.debug_annotations_size()) {
              std::vector<std::pair<uint32_t, uint32_t>> a;
              for (const auto& d : e.debug_annotations()) {
                std::string v = d.has_string_value() ? d.string_value()
                                 : d.has_int_value() ? std::to_string(d.int_value())
                                                     : std::to_string(d.double_value());
                a.push_back({trace.intern(d.name()), trace.intern(v)});
              }
              trace.args.push_back(std::move(a));
              s.args = static_cast<uint32_t>(trace.args.size());
            }
            t.slices.push_back(s);
            // Flows: an id in flow_ids leads on to the flow's next event; a terminating id ends it here.
            for (uint64_t id : e.flow_ids()) trace.add_flow_step(id, track, true, true);
            for (uint64_t id : e.terminating_flow_ids()) trace.add_flow_step(id, track, true, false);
            if (e.type() == perfetto::protos::TrackEvent::TYPE_SLICE_BEGIN) open[uuid].push_back(t.slices.size() - 1);
            break;
          }
          case perfetto::protos::TrackEvent::TYPE_SLICE_END: {
            auto& stack = open[uuid];
            if (stack.empty()) throw bad("SLICE_END on track " + std::to_string(uuid) + " with no open slice");
            Slice& s = trace.tracks[track_of(uuid)].slices[stack.back()];
            s.dur_ns = ts - s.start_ns;
            stack.pop_back();
            break;
          }
          case perfetto::protos::TrackEvent::TYPE_COUNTER: {
            const double v = e.has_double_counter_value() ? e.double_counter_value()
                                                          : static_cast<double>(e.counter_value());
            trace.tracks[track_of(uuid)].samples.push_back({ts, v});
            break;
          }
          default: break;
        }
      }
    }
    file_offset += header + len;
    begin = pos + len;
  }
  trace.finish();
  return trace;
}

}  // namespace lcsim::timeline
