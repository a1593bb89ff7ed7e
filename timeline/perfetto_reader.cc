// A Perfetto protobuf trace into the in-memory model. The file is a Trace message, i.e. a run of `packet = 1`
// fields; it is read in 8 MiB chunks and each packet decoded on its own, so a trace of any size streams through
// without a copy of the whole file.
//
// The decoder walks the wire format by hand (no generated message objects: they cost an allocation per string and
// per annotation) and reads only the fields the model keeps, with the field numbers of proto/perfetto_trace.proto;
// names, categories and annotation texts are looked up in the trace's tables as views into the chunk, so a slice
// costs no allocation unless its text is new; identical argument lists are stored once. Everything else (unknown
// fields, other packets) is skipped by wire type, as protobuf does.
#include <cstring>
#include <fstream>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/error.h"
#include "timeline/model.h"

namespace lcsim::timeline {

namespace {

constexpr size_t kChunk = 8 << 20;

// Field numbers: Perfetto's (proto/perfetto_trace.proto lists them; docs/gui.md says where they were checked).
constexpr uint32_t kTimestamp = 8, kTrackEvent = 11, kTrackDescriptor = 60;
constexpr uint32_t kTdUuid = 1, kTdName = 2, kTdParent = 5, kTdCounter = 8;
constexpr uint32_t kTeAnnotations = 4, kTeType = 9, kTeTrack = 11, kTeCategories = 22, kTeName = 23,
                   kTeCounter = 30, kTeDoubleCounter = 44, kTeFlowIds = 47, kTeTerminatingFlowIds = 48;
constexpr uint32_t kDaInt = 4, kDaDouble = 5, kDaString = 6, kDaName = 10;
constexpr uint64_t kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter = 4;
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5;

// Reads a varint at data[*pos] (at most 10 bytes, within `size`); false if it runs past the end.
inline bool read_varint(const char* data, size_t size, size_t* pos, uint64_t* out) {
  if (*pos < size && !(static_cast<uint8_t>(data[*pos]) & 0x80)) {  // one byte: most keys, types and lengths
    *out = static_cast<uint8_t>(data[(*pos)++]);
    return true;
  }
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

// One message's fields in order. A malformed field clears `ok` and ends the walk.
struct Fields {
  const char* data;
  size_t size;
  size_t pos = 0;
  bool ok = true;
  uint32_t field = 0, wire = 0;
  uint64_t value = 0;      // varint, fixed64 (bits)
  std::string_view bytes;  // length-delimited

  Fields(const char* d, size_t n) : data(d), size(n) {}
  Fields(std::string_view s) : data(s.data()), size(s.size()) {}  // NOLINT: a nested message
  bool next() {
    if (!ok || pos >= size) return false;
    uint64_t key = 0;
    if (!read_varint(data, size, &pos, &key)) return ok = false;
    field = static_cast<uint32_t>(key >> 3);
    wire = static_cast<uint32_t>(key & 7);
    switch (wire) {
      case kVarint:
        if (!read_varint(data, size, &pos, &value)) return ok = false;
        return true;
      case kFixed64:
        if (size - pos < 8) return ok = false;
        std::memcpy(&value, data + pos, 8);  // little-endian hosts, as the writer
        pos += 8;
        return true;
      case kLength: {
        uint64_t len = 0;
        if (!read_varint(data, size, &pos, &len) || len > size - pos) return ok = false;
        bytes = std::string_view(data + pos, static_cast<size_t>(len));
        pos += static_cast<size_t>(len);
        return true;
      }
      case kFixed32:
        if (size - pos < 4) return ok = false;
        pos += 4;
        return true;
      default:
        return ok = false;  // groups (3, 4) are not used by Perfetto's track events
    }
  }
  double as_double() const {
    double d;
    std::memcpy(&d, &value, 8);
    return d;
  }
};

struct Described {
  std::string name;
  uint64_t parent = 0;
  bool counter = false;
};

// A repeated fixed64 field, packed (one length-delimited run) or not (one value per field).
template <typename F>
bool each_fixed64(const Fields& f, F&& use) {
  if (f.wire == kFixed64) {
    use(f.value);
    return true;
  }
  if (f.wire != kLength || f.bytes.size() % 8 != 0) return false;
  for (size_t i = 0; i < f.bytes.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, f.bytes.data() + i, 8);
    use(v);
  }
  return true;
}

}  // namespace

Trace read_perfetto_timeline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read timeline '" + path + "'");
  Trace trace;
  trace.format = "protobuf";
  std::unordered_map<uint64_t, Described> described;
  struct Lane {
    size_t track;
    std::vector<size_t> open;  // open slices (indices into its track)
  };
  std::unordered_map<uint64_t, Lane> lanes;  // uuid -> model track (references stay valid: node-based)
  uint64_t last_uuid = 0;
  Lane* last_lane = nullptr;
  std::unordered_map<std::string, uint32_t> arg_lists;  // an argument list's ids as bytes -> 1 + index in args
  std::vector<std::pair<uint32_t, uint32_t>> arg_ids;
  std::string arg_key;
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
  auto lane_of = [&](uint64_t uuid) -> Lane& {
    if (last_lane && uuid == last_uuid) return *last_lane;
    auto it = lanes.find(uuid);
    if (it == lanes.end()) {
      auto d = described.find(uuid);
      std::string group, name = "track " + std::to_string(uuid);
      bool counter = false;
      if (d != described.end()) {
        name = d->second.name;
        counter = d->second.counter;
        auto parent = described.find(d->second.parent);
        if (parent != described.end()) group = parent->second.name;
      }
      it = lanes.emplace(uuid, Lane{trace.track(group, name, counter), {}}).first;
    }
    last_uuid = uuid;
    last_lane = &it->second;
    return it->second;
  };
  // Decodes one TracePacket; false if it does not parse.
  auto packet = [&](const char* data, size_t size) -> bool {
    Fields pk(data, size);
    int64_t ts = 0;
    std::string_view event, descriptor;
    bool has_event = false, has_descriptor = false;
    while (pk.next()) {
      if (pk.field == kTimestamp && pk.wire == kVarint) ts = static_cast<int64_t>(pk.value);
      else if (pk.field == kTrackEvent && pk.wire == kLength) event = pk.bytes, has_event = true;
      else if (pk.field == kTrackDescriptor && pk.wire == kLength) descriptor = pk.bytes, has_descriptor = true;
    }
    if (!pk.ok) return false;
    if (has_descriptor) {
      Fields f(descriptor);
      uint64_t uuid = 0, parent = 0;
      bool has_parent = false, counter = false;
      std::string_view name;
      while (f.next()) {
        if (f.field == kTdUuid && f.wire == kVarint) uuid = f.value;
        else if (f.field == kTdName && f.wire == kLength) name = f.bytes;
        else if (f.field == kTdParent && f.wire == kVarint) parent = f.value, has_parent = true;
        else if (f.field == kTdCounter && f.wire == kLength) counter = true;
      }
      if (!f.ok) return false;
      described[uuid] = {std::string(name), parent, counter};
      // A track with a parent is a row; one without, a group (it gets a row only if events land on it).
      if (has_parent) lane_of(uuid);
      return true;
    }
    if (!has_event) return true;
    Fields f(event);
    uint64_t type = 0, uuid = 0;
    std::string_view name, category;
    bool has_category = false;
    double counter_value = 0;
    bool double_counter = false;
    std::string_view annotations[16];
    size_t n_annotations = 0;
    std::vector<std::string_view> more_annotations;
    uint64_t flow_ids[4], ending_ids[4];
    size_t n_flow = 0, n_ending = 0;
    std::vector<uint64_t> more_flow, more_ending;
    while (f.next()) {
      switch (f.field) {
        case kTeAnnotations:
          if (f.wire != kLength) break;
          if (n_annotations < 16) annotations[n_annotations++] = f.bytes;
          else more_annotations.push_back(f.bytes);
          break;
        case kTeType:
          if (f.wire == kVarint) type = f.value;
          break;
        case kTeTrack:
          if (f.wire == kVarint) uuid = f.value;
          break;
        case kTeCategories:
          if (f.wire == kLength && !has_category) category = f.bytes, has_category = true;
          break;
        case kTeName:
          if (f.wire == kLength) name = f.bytes;
          break;
        case kTeCounter:
          if (f.wire == kVarint && !double_counter) counter_value = static_cast<double>(static_cast<int64_t>(f.value));
          break;
        case kTeDoubleCounter:
          if (f.wire == kFixed64) counter_value = f.as_double(), double_counter = true;
          break;
        case kTeFlowIds:
        case kTeTerminatingFlowIds: {
          const bool ending = f.field == kTeTerminatingFlowIds;
          if (!each_fixed64(f, [&](uint64_t id) {
                if (ending) n_ending < 4 ? void(ending_ids[n_ending++] = id) : more_ending.push_back(id);
                else n_flow < 4 ? void(flow_ids[n_flow++] = id) : more_flow.push_back(id);
              })) {
            return false;
          }
          break;
        }
        default: break;
      }
    }
    if (!f.ok) return false;
    switch (type) {
      case kSliceBegin:
      case kInstant: {
        Lane& lane = lane_of(uuid);
        Track& t = trace.tracks[lane.track];
        const bool meta = type == kInstant && name == "lane_attr" && category == "lcsim.meta";
        // Annotations: (name, value text) pairs.
        arg_ids.clear();
        bool annotations_ok = true;
        auto annotation = [&](std::string_view a) {
          Fields d(a);
          std::string_view key, text;
          bool is_string = false, is_int = false;
          int64_t iv = 0;
          double dv = 0;
          while (d.next()) {
            if (d.field == kDaName && d.wire == kLength) key = d.bytes;
            else if (d.field == kDaString && d.wire == kLength) text = d.bytes, is_string = true;
            else if (d.field == kDaInt && d.wire == kVarint) iv = static_cast<int64_t>(d.value), is_int = true;
            else if (d.field == kDaDouble && d.wire == kFixed64) dv = d.as_double();
          }
          if (!d.ok) {
            annotations_ok = false;
            return;
          }
          if (meta) {
            t.attrs.push_back({std::string(key), std::string(text)});
            return;
          }
          const uint32_t v = is_string ? trace.intern(text)
                             : is_int  ? trace.intern(std::to_string(iv))
                                       : trace.intern(std::to_string(dv));
          arg_ids.push_back({trace.intern(key), v});
        };
        for (size_t i = 0; i < n_annotations; ++i) annotation(annotations[i]);
        for (auto a : more_annotations) annotation(a);
        if (!annotations_ok) return false;
        if (meta) break;  // a lane attribute (rack, stage, ...), not a slice
        Slice s;
        s.start_ns = ts;
        s.name = trace.intern(name);
        s.category = trace.category(category);
        if (!arg_ids.empty()) {
          arg_key.assign(reinterpret_cast<const char*>(arg_ids.data()), arg_ids.size() * sizeof(arg_ids[0]));
          auto [it, added] = arg_lists.try_emplace(arg_key, 0);
          if (added) {
            trace.args.push_back(arg_ids);
            it->second = static_cast<uint32_t>(trace.args.size());
          }
          s.args = it->second;
        }
        t.slices.push_back(s);
        // Flows: an id in flow_ids leads on to the flow's next event; a terminating id ends it here.
        for (size_t i = 0; i < n_flow; ++i) trace.add_flow_step(flow_ids[i], lane.track, true, true);
        for (uint64_t id : more_flow) trace.add_flow_step(id, lane.track, true, true);
        for (size_t i = 0; i < n_ending; ++i) trace.add_flow_step(ending_ids[i], lane.track, true, false);
        for (uint64_t id : more_ending) trace.add_flow_step(id, lane.track, true, false);
        if (type == kSliceBegin) lane.open.push_back(t.slices.size() - 1);
        break;
      }
      case kSliceEnd: {
        Lane& lane = lane_of(uuid);
        if (lane.open.empty()) throw bad("SLICE_END on track " + std::to_string(uuid) + " with no open slice");
        Slice& s = trace.tracks[lane.track].slices[lane.open.back()];
        s.dur_ns = ts - s.start_ns;
        lane.open.pop_back();
        break;
      }
      case kCounter:
        trace.tracks[lane_of(uuid).track].samples.push_back({ts, counter_value});
        break;
      default: break;
    }
    return true;
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
    if (field == 1 && !packet(buf.data() + pos, static_cast<size_t>(len))) throw bad("packet does not parse");
    file_offset += header + len;
    begin = pos + len;
  }
  trace.finish();
  return trace;
}

}  // namespace lcsim::timeline
