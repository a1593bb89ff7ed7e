// Chakra execution traces from ../shared/data/training parse with lcsim's own schema; broken files fail with
// the file, the byte offset and the last good node.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "workloads/traces/chakra.h"

namespace lcsim::wl {
namespace {

const std::string kData = std::string(LCSIM_SOURCE_DIR) + "/../shared/data/training/";
constexpr int kCompNode = 4, kCommCollNode = 7;

TEST(Chakra, ReadsTheRealPyTorchTrace) {
  const ChakraTrace t = read_chakra_trace(kData + "chakra_pytorch_3664_nodes.0.et");
  EXPECT_EQ(t.nodes.size(), 3664u);
  EXPECT_EQ(t.count(kCommCollNode), 21u);  // as the data README says
  EXPECT_GT(t.count(kCompNode), 1000u);
  size_t with_deps = 0;
  for (const auto& n : t.nodes) with_deps += !n.data_deps.empty() || !n.ctrl_deps.empty();
  EXPECT_GT(with_deps, 3000u);
  // Its collectives are recorded PyTorch calls (14 of them "c10d::..."), without comm_type attributes.
  size_t c10d = 0;
  for (const auto& n : t.nodes) c10d += n.type == kCommCollNode && n.name.rfind("c10d::", 0) == 0;
  EXPECT_EQ(c10d, 14u);
}

TEST(Chakra, ReadsEveryAstraMicrobenchmark) {
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(kData + "astra_microbenchmarks")) {
    if (e.path().extension() != ".et") continue;
    const ChakraTrace t = read_chakra_trace(e.path().string());
    EXPECT_GE(t.count(kCommCollNode) + t.count(5) + t.count(6), 1u) << e.path();
    for (const auto& n : t.nodes) {
      if (n.type == kCommCollNode) {
        EXPECT_GT(n.comm_size, 0) << e.path() << " node " << n.id;
        EXPECT_GE(n.comm_type, 0) << e.path() << " node " << n.id;
      }
    }
    ++files;
  }
  EXPECT_GE(files, 30);
}

TEST(Chakra, TruncatedAndCorruptTracesNameFileOffsetAndNode) {
  std::ifstream in(kData + "chakra_pytorch_3664_nodes.0.et", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const std::string path = ::testing::TempDir() + "truncated.et";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 7);
  try {
    read_chakra_trace(path);
    FAIL() << "a truncated trace was accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("error: " + path + ": truncated trace: a message of ", 0), 0u) << msg;
    EXPECT_NE(msg.find(" at byte offset "), std::string::npos) << msg;
    EXPECT_NE(msg.find("(after node id "), std::string::npos) << msg;
  }
  const std::string garbage = ::testing::TempDir() + "garbage.et";
  std::ofstream(garbage, std::ios::binary) << bytes.substr(0, 200) << std::string("\x05\xff\xff\xff\xff\xff", 6);
  EXPECT_THROW(read_chakra_trace(garbage), InputError);
  EXPECT_THROW(read_chakra_trace(kData + "no-such.et"), InputError);
}

}  // namespace
}  // namespace lcsim::wl
