// Chakra execution traces from data/training parse with lcsim's own schema; broken files fail with
// the file, the byte offset and the last good node.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "workloads/traces/chakra.h"

namespace lcsim::wl {
namespace {

const std::string kData = std::string(LCSIM_SOURCE_DIR) + "/data/training/";
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

TEST(Chakra, ReadsHostOpsTensorsAndPointToPointAttributes) {
  const ChakraTrace t = read_chakra_trace(kData + "chakra_pytorch_3664_nodes.0.et");
  size_t cpu = 0, with_bytes = 0;
  for (const auto& n : t.nodes) {
    cpu += n.is_cpu_op;
    with_bytes += n.tensor_bytes >= 0;
  }
  EXPECT_EQ(cpu, 2434u + 14u);  // host operators, the 14 c10d:: calls among them
  EXPECT_EQ(with_bytes, 3664u);
  // The first broadcast kernel reads one tensor of 53,120 floats.
  for (const auto& n : t.nodes) {
    if (n.id == 435) {
      EXPECT_EQ(n.tensor_bytes, 53120 * 4);
    }
  }
  const ChakraTrace ring =
      read_chakra_trace(kData + "astra_microbenchmarks/custom_ring_allreduce_8npus_1MB/custom_allreduce.3.et");
  ASSERT_GE(ring.nodes.size(), 2u);
  EXPECT_EQ(ring.nodes[0].type, 5);  // COMM_SEND_NODE to the next rank
  EXPECT_EQ(ring.nodes[0].comm_dst, 4);
  EXPECT_EQ(ring.nodes[0].comm_tag, 0);
  EXPECT_EQ(ring.nodes[1].type, 6);  // COMM_RECV_NODE from the previous one
  EXPECT_EQ(ring.nodes[1].comm_src, 2);
  EXPECT_EQ(ring.nodes[1].comm_size, 131072);
}

TEST(Chakra, TensorBytesFromExecutionTraceValues) {
  EXPECT_EQ(chakra_tensor_bytes("[[4, 5, 0, 64, 4, 'cuda:0'], [290, 431, 0, 64, 4, 'cuda:0'], True]"), 512);
  EXPECT_EQ(chakra_tensor_bytes("[[[1, 2, 0, 3, 8, 'cuda:0'], [3, 4, 0, 5, 2, 'cpu']], 0]"), 24 + 10);
  EXPECT_EQ(chakra_tensor_bytes("[]"), 0);
  EXPECT_EQ(chakra_tensor_bytes("[1, 2, 3, 4, 5, 6]"), 0);  // six numbers, no device: not a tensor
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
