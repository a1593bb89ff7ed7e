// A Perfetto protobuf trace into the in-memory model. The file is a Trace message, i.e. a run of `packet = 1`
// fields. The file is mapped into memory and read in windows of packets: the packets of a window are decoded in
// parallel (oneTBB; a decoded packet is plain data with views into the mapping), then applied to the model one by
// one in file order, so the result and the first error reported are those of a sequential read.
//
// The decoder walks the wire format by hand (no generated message objects: they cost an allocation per string and
// per annotation) and reads only the fields the model keeps, with the field numbers of proto/perfetto_trace.proto;
// names, categories and annotation texts are looked up in the trace's tables as views into the file, so a slice
// costs no allocation unless its text is new; identical argument lists are stored once. Everything else (unknown
// fields, other packets) is skipped by wire type, as protobuf does.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tbb/parallel_for.h>

#include "sim/error.h"
#include "timeline/model.h"

namespace lcsim::timeline {

namespace {

constexpr size_t kWindow = 1 << 16;  // packets decoded together, then applied

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


// One DebugAnnotation, decoded.
struct Annotation {
  std::string_view key, text;
  int64_t int_value = 0;
  double double_value = 0;
  bool is_string = false, is_int = false;
};

// One TracePacket, decoded without touching the model (safe to run on several packets at once). Views point into the
// file; annotations and flow ids live in the window's side tables.
struct Packet {
  enum Kind : uint8_t { kSkip, kDescriptor, kEvent, kBad };
  Kind kind = kSkip;
  int64_t ts = 0;
  uint64_t uuid = 0;
  // kDescriptor
  uint64_t parent = 0;
  bool has_parent = false, counter = false;
  // both: the track's or the event's name
  std::string_view name;
  // kEvent
  uint64_t type = 0;
  std::string_view category;
  double counter_value = 0;
  uint32_t annotations = 0, flow_ids = 0, ending_ids = 0;  // counts; the lists are the window's, per packet
};

// A window of packets. Decoding packet i writes only slot i of each list.
struct Window {
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // offset and length of each packet's bytes in the file
  std::vector<uint64_t> headers;                     // file offset of each packet's header (for errors)
  std::vector<Packet> packets;
  std::vector<std::vector<Annotation>> annotations;  // per packet (most have none: no allocation)
  std::vector<std::vector<uint64_t>> ids;            // per packet: flow ids, then terminating flow ids
};

bool decode_annotation(std::string_view bytes, Annotation* a) {
  Fields d(bytes);
  while (d.next()) {
    if (d.field == kDaName && d.wire == kLength) a->key = d.bytes;
    else if (d.field == kDaString && d.wire == kLength) a->text = d.bytes, a->is_string = true;
    else if (d.field == kDaInt && d.wire == kVarint) a->int_value = static_cast<int64_t>(d.value), a->is_int = true;
    else if (d.field == kDaDouble && d.wire == kFixed64) a->double_value = d.as_double();
  }
  return d.ok;
}

// Decodes packet `i` of `w` from `data`; a packet that does not parse becomes kBad.
void decode(const char* data, Window& w, size_t i) {
  Packet& out = w.packets[i];
  out = Packet();
  Fields pk(data + w.spans[i].first, static_cast<size_t>(w.spans[i].second));
  std::string_view event, descriptor;
  bool has_event = false, has_descriptor = false;
  while (pk.next()) {
    if (pk.field == kTimestamp && pk.wire == kVarint) out.ts = static_cast<int64_t>(pk.value);
    else if (pk.field == kTrackEvent && pk.wire == kLength) event = pk.bytes, has_event = true;
    else if (pk.field == kTrackDescriptor && pk.wire == kLength) descriptor = pk.bytes, has_descriptor = true;
  }
  if (!pk.ok) {
    out.kind = Packet::kBad;
    return;
  }
  if (has_descriptor) {
    Fields f(descriptor);
    while (f.next()) {
      if (f.field == kTdUuid && f.wire == kVarint) out.uuid = f.value;
      else if (f.field == kTdName && f.wire == kLength) out.name = f.bytes;
      else if (f.field == kTdParent && f.wire == kVarint) out.parent = f.value, out.has_parent = true;
      else if (f.field == kTdCounter && f.wire == kLength) out.counter = true;
    }
    out.kind = f.ok ? Packet::kDescriptor : Packet::kBad;
    return;
  }
  if (!has_event) return;
  Fields f(event);
  bool has_category = false, double_counter = false;
  std::string_view annotations[16];
  size_t n_annotations = 0;
  std::vector<std::string_view> more_annotations;
  uint64_t flow_ids[8], ending_ids[8];
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
        if (f.wire == kVarint) out.type = f.value;
        break;
      case kTeTrack:
        if (f.wire == kVarint) out.uuid = f.value;
        break;
      case kTeCategories:
        if (f.wire == kLength && !has_category) out.category = f.bytes, has_category = true;
        break;
      case kTeName:
        if (f.wire == kLength) out.name = f.bytes;
        break;
      case kTeCounter:
        if (f.wire == kVarint && !double_counter) out.counter_value = static_cast<double>(static_cast<int64_t>(f.value));
        break;
      case kTeDoubleCounter:
        if (f.wire == kFixed64) out.counter_value = f.as_double(), double_counter = true;
        break;
      case kTeFlowIds:
      case kTeTerminatingFlowIds: {
        const bool ending = f.field == kTeTerminatingFlowIds;
        if (!each_fixed64(f, [&](uint64_t id) {
              if (ending) n_ending < 8 ? void(ending_ids[n_ending++] = id) : more_ending.push_back(id);
              else n_flow < 8 ? void(flow_ids[n_flow++] = id) : more_flow.push_back(id);
            })) {
          out.kind = Packet::kBad;
          return;
        }
        break;
      }
      default: break;
    }
  }
  if (!f.ok) {
    out.kind = Packet::kBad;
    return;
  }
  out.kind = Packet::kEvent;
  if (n_flow + n_ending > 0) {
    std::vector<uint64_t>& ids = w.ids[i];
    ids.assign(flow_ids, flow_ids + n_flow);
    ids.insert(ids.end(), more_flow.begin(), more_flow.end());
    ids.insert(ids.end(), ending_ids, ending_ids + n_ending);
    ids.insert(ids.end(), more_ending.begin(), more_ending.end());
    out.flow_ids = static_cast<uint32_t>(n_flow + more_flow.size());
    out.ending_ids = static_cast<uint32_t>(n_ending + more_ending.size());
  }
  // Annotations matter (and must parse) on slices and instants only.
  if ((out.type == kSliceBegin || out.type == kInstant) && n_annotations > 0) {
    std::vector<Annotation>& list = w.annotations[i];
    list.resize(n_annotations + more_annotations.size());
    for (size_t k = 0; k < list.size(); ++k) {
      if (!decode_annotation(k < n_annotations ? annotations[k] : more_annotations[k - n_annotations], &list[k])) {
        out.kind = Packet::kBad;
        return;
      }
    }
    out.annotations = static_cast<uint32_t>(list.size());
  }
}

// The file's bytes: mapped, or read whole where it cannot be mapped.
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError("cannot read timeline '" + path + "'");
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) {
        ::madvise(m, size_, MADV_SEQUENTIAL);
        map_ = static_cast<const char*>(m);
      }
    }
    ::close(fd);
    if (map_) return;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError("cannot read timeline '" + path + "'");
    copy_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    size_ = copy_.size();
  }
  ~FileBytes() {
    if (map_) ::munmap(const_cast<char*>(map_), size_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  const char* data() const { return map_ ? map_ : copy_.data(); }
  size_t size() const { return size_; }
  /// The bytes before `end` will not be read again: their pages leave the process (its resident size stays that
  /// of a window, not of the file).
  void release_before(size_t end) {
    if (!map_) return;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t upto = end / page * page;
    if (upto > released_) ::madvise(const_cast<char*>(map_) + released_, upto - released_, MADV_DONTNEED);
    released_ = std::max(released_, upto);
  }

 private:
  const char* map_ = nullptr;
  std::string copy_;
  size_t size_ = 0, released_ = 0;
};

}  // namespace

Trace read_perfetto_timeline(const std::string& path) {
  FileBytes file(path);
  const char* const data = file.data();
  const size_t size = file.size();
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
  auto bad = [&](uint64_t offset, const std::string& what) {
    return InputError(path + ": byte " + std::to_string(offset) + ": " + what +
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
  // Applies decoded packet `i` of `w` to the model.
  auto apply = [&](const Window& w, size_t i) {
    const Packet& p = w.packets[i];
    if (p.kind == Packet::kBad) throw bad(w.headers[i], "packet does not parse");
    if (p.kind == Packet::kDescriptor) {
      described[p.uuid] = {std::string(p.name), p.parent, p.counter};
      // A track with a parent is a row; one without, a group (it gets a row only if events land on it).
      if (p.has_parent) lane_of(p.uuid);
      return;
    }
    if (p.kind != Packet::kEvent) return;
    if (p.ts < -kMaxAbsTimeNs || p.ts > kMaxAbsTimeNs) {
      throw bad(w.headers[i], "timestamp " + std::to_string(p.ts) + " ns is out of range (at most 2^61 ns)");
    }
    switch (p.type) {
      case kSliceBegin:
      case kInstant: {
        Lane& lane = lane_of(p.uuid);
        Track& t = trace.tracks[lane.track];
        const bool meta = p.type == kInstant && p.name == "lane_attr" && p.category == "lcsim.meta";
        arg_ids.clear();
        if (p.annotations > 0) {
          for (const Annotation& a : w.annotations[i]) {
            if (meta) {
              t.attrs.push_back({std::string(a.key), std::string(a.text)});
              continue;
            }
            const uint32_t v = a.is_string ? trace.intern(a.text)
                               : a.is_int  ? trace.intern(std::to_string(a.int_value))
                                           : trace.intern(std::to_string(a.double_value));
            arg_ids.push_back({trace.intern(a.key), v});
          }
        }
        if (meta) break;  // a lane attribute (rack, stage, ...), not a slice
        Slice s;
        s.start_ns = p.ts;
        s.name = trace.intern(p.name);
        s.category = trace.category(p.category);
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
        if (p.flow_ids + p.ending_ids > 0) {
          const std::vector<uint64_t>& ids = w.ids[i];
          for (uint32_t k = 0; k < p.flow_ids; ++k) trace.add_flow_step(ids[k], lane.track, true, true);
          for (uint32_t k = p.flow_ids; k < ids.size(); ++k) trace.add_flow_step(ids[k], lane.track, true, false);
        }
        if (p.type == kSliceBegin) lane.open.push_back(t.slices.size() - 1);
        break;
      }
      case kSliceEnd: {
        Lane& lane = lane_of(p.uuid);
        if (lane.open.empty()) throw bad(w.headers[i], "SLICE_END on track " + std::to_string(p.uuid) + " with no open slice");
        Slice& s = trace.tracks[lane.track].slices[lane.open.back()];
        s.dur_ns = p.ts - s.start_ns;
        lane.open.pop_back();
        break;
      }
      case kCounter:
        trace.tracks[lane_of(p.uuid).track].samples.push_back({p.ts, p.counter_value});
        break;
      default: break;
    }
  };
  Window w;
  size_t pos = 0;
  while (pos < size) {
    // Finds the next window's packets (field 1; other fields are skipped), up to the first malformed header,
    // whose error comes after the packets before it have been applied.
    w.spans.clear();
    w.headers.clear();
    std::string error;
    uint64_t error_at = 0;
    while (pos < size && w.spans.size() < kWindow) {
      size_t at = pos;
      uint64_t key = 0, len = 0;
      if (!read_varint(data, size, &at, &key) || !read_varint(data, size, &at, &len)) {
        error = "truncated packet header", error_at = pos;
        break;
      }
      const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
      if (wire != 2) {
        error = "field " + std::to_string(field) + " has wire type " + std::to_string(wire), error_at = pos;
        break;
      }
      if (len > (1ull << 31)) {
        error = "packet of " + std::to_string(len) + " bytes", error_at = pos;
        break;
      }
      if (size - at < len) {
        error = "truncated packet (" + std::to_string(len) + " bytes announced)", error_at = pos;
        break;
      }
      if (field == 1) {
        w.spans.emplace_back(at, len);
        w.headers.push_back(pos);
      }
      pos = at + static_cast<size_t>(len);
    }
    const size_t n = w.spans.size();
    w.packets.resize(n);
    w.annotations.resize(n);
    w.ids.resize(n);
    tbb::parallel_for(tbb::blocked_range<size_t>(0, n, 512), [&](const tbb::blocked_range<size_t>& r) {
      for (size_t i = r.begin(); i != r.end(); ++i) {
        w.annotations[i].clear();
        w.ids[i].clear();
        decode(data, w, i);
      }
    });
    for (size_t i = 0; i < n; ++i) apply(w, i);
    if (!error.empty()) throw bad(error_at, error);
    file.release_before(pos);
  }
  trace.finish();
  return trace;
}

}  // namespace lcsim::timeline
