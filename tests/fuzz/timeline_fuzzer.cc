// libFuzzer target: the timeline readers (timeline/: Perfetto protobuf and Chrome JSON, what lcsim-gui opens),
// through read_timeline(), which picks the reader by the file's first byte. Only InputError may come out.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "sim/error.h"
#include "timeline/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/lcsim_timeline_fuzz_" + std::to_string(::getpid()) + ".trace";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                static_cast<std::streamsize>(size));
  try {
    const lcsim::timeline::Trace t = lcsim::timeline::read_timeline(path);
    // What the GUI asks of every model it draws from.
    for (size_t i = 0; i < t.tracks.size(); ++i) (void)t.tracks[i].visible(t.begin_ns(), t.end_ns());
    for (const auto& e : t.flows) {
      (void)t.waited_on(e.to);
      (void)t.dependents(e.from);
    }
  } catch (const lcsim::InputError&) {
  }
  return 0;
}
