// Hostile input: each case here used to crash lcsim, hang it, exhaust its memory, end in an internal error or
// be accepted although wrong; now each is an InputError that names the file, the key and the limit. Cases that
// fit in a small file are in tests/bad_input/ instead; these are generated (too big to ship) or binary.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <tuple>
#include <vector>

#include "proto/et_def.pb.h"
#include "scenarios/scenario.h"
#include "sim/config_tree.h"
#include "sim/limits.h"
#include "workloads/traces/chakra.h"

namespace lcsim {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string yaml_error(const std::string& text) {
  return error_of([&] { parse_yaml_text(text, "t.yaml"); });
}

fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(::testing::TempDir()) / (std::string("hostile_") + info->name());
  fs::create_directories(dir);
  return dir;
}

TEST(HostileYaml, LimitsAreNamedInTheError) {
  EXPECT_EQ(yaml_error("name: " + std::string(70'000, 'x') + "\n"),
            "error: t.yaml:1:7: name: a value of 70000 bytes, longer than allowed (limit: input.max_scalar_bytes = "
            "65536)");
  std::string list = "xs: [";
  for (int i = 0; i < 70'000; ++i) list += "1,";
  list += "1]\n";
  EXPECT_EQ(yaml_error(list),
            "error: t.yaml:1:5: xs: a list or mapping of 70001 items, more than allowed (limit: "
            "input.max_list_items = 65536)");
  // Many values without aliases: 300 lists of 1,001.
  std::string values;
  for (int k = 0; k < 300; ++k) {
    values += "k" + std::to_string(k) + ": [";
    for (int i = 0; i < 1000; ++i) values += "1,";
    values += "1]\n";
  }
  EXPECT_NE(yaml_error(values).find("values (after expanding aliases) (limit: input.max_values = 250000)"),
            std::string::npos);
  const std::string huge(limits::kMaxFileBytes + 1, '#');
  EXPECT_NE(yaml_error(huge).find("(limit: input.max_file_bytes = 4194304)"), std::string::npos);
}

/// The billion laughs: `levels` lists of 10 aliases of the list before, 10^(levels + 1) values when expanded.
std::string billion_laughs(int levels) {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= levels; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

TEST(HostileYaml, BillionLaughsIsRejectedQuickly) {
  // 9 levels of 10: 10^9 values when expanded. Before the limit, 7 levels took 11.6 s and 3.4 GB.
  const std::string text = billion_laughs(9);
  EXPECT_NE(yaml_error(text).find("(limit: input.max_values = 250000)"), std::string::npos);
}

// Past the value limit through aliases, a dry walk finds the error without building values (sim/yaml_io.cc,
// convert_document). It must report the very error the full conversion reports: each expected message below is
// what lcsim printed before the dry walk existed (main 69e66d7), for errors before and after the crossing point,
// and a shared list re-entered deeper than the depth limit allows.
TEST(HostileYaml, TheDryWalkReportsTheConversionsFirstError) {
  const std::string laughs = billion_laughs(8);
  const auto deep = [](int n, const std::string& inner) {
    return std::string(static_cast<size_t>(n), '[') + inner + std::string(static_cast<size_t>(n), ']');
  };
  const std::string over = "(limit: input.max_values = 250000)";
  const std::string depth = "mappings and lists nested deeper than 32 levels";
  std::string d31;
  for (int i = 0; i < 31; ++i) d31 += "[0]";
  EXPECT_EQ(yaml_error(laughs), "error: t.yaml:1:45: a5[1][1][3][8][8][7]: the document has more than 250000 values "
                                "(after expanding aliases) " + over);
  EXPECT_EQ(yaml_error("d: " + deep(40, "x") + "\n" + laughs),
            "error: t.yaml:1:35: d" + d31 + ": " + depth + " (limit: input.max_depth = 32)");
  EXPECT_NE(yaml_error(laughs + "d: " + deep(40, "x") + "\n").find("a5[1][1][3][8][8][7]: the document has more"),
            std::string::npos);
  EXPECT_EQ(yaml_error("c: &r [1, *r]\n" + laughs),
            "error: t.yaml:1:4: c[1]: an alias refers to a value that contains it (a cycle)");
  EXPECT_NE(yaml_error(laughs + "c: &r [1, *r]\n").find("a5[1][1][3][8][8][7]"), std::string::npos);
  // A 20-deep list used at the top, then under 15 more levels: the second use passes the depth limit.
  const std::string shared = "s: &s " + deep(20, "x") + "\nt: " + deep(15, "*s") + "\n";
  EXPECT_EQ(yaml_error(shared + laughs), "error: t.yaml:1:23: t" + d31 + ": " + depth + " (limit: input.max_depth = 32)");
  EXPECT_NE(yaml_error("s: &s " + deep(20, "x") + "\n" + laughs + "t: " + deep(15, "*s") + "\n")
                .find("2:50: a5[1][1][3][8][6][8]: the document has more"),
            std::string::npos);
  // Duplicate keys inside the shared maps count once, as the conversion counts them.
  std::string dups = "m0: &m0 {a: 1, a: 2, b: [1,2,3,4,5,6,7,8,9]}\n";
  for (int i = 1; i <= 6; ++i) {
    dups += "m" + std::to_string(i) + ": &m" + std::to_string(i) + " [";
    for (int k = 0; k < 12; ++k) dups += (k ? ", *m" : "*m") + std::to_string(i - 1);
    dups += "]\n";
  }
  EXPECT_EQ(yaml_error(dups), "error: t.yaml:1:34: m4[10][10][5][11].b[4]: the document has more than 250000 "
                              "values (after expanding aliases) " + over);
  // The count to the value: with 501 uses of the 500-value list the limit is passed at b[498][497]; with 498 it fits.
  std::string ones;
  for (int i = 0; i < 499; ++i) ones += i ? ",1" : "1";
  std::string uses;
  for (int i = 0; i < 501; ++i) uses += i ? ",*a0" : "*a0";
  EXPECT_EQ(yaml_error("a0: &a0 [" + ones + "]\nb: [" + uses + "]\n").substr(0, 35), "error: t.yaml:1:1004: b[498][497]: ");
  EXPECT_EQ(yaml_error("a0: &a0 [" + ones + "]\nb: [" + uses.substr(0, uses.size() - 12) + "]\n"), "(accepted)");
}

TEST(HostileYaml, UnterminatedQuotesAnywhere) {
  // yaml-cpp itself reports one without a newline; with one (the usual end of a file) it accepted it.
  EXPECT_EQ(yaml_error("name: \"abc"), "error: t.yaml:1:11: invalid YAML: illegal EOF in scalar");
  EXPECT_EQ(yaml_error("name: \"abc\n"), "error: t.yaml:1:7: name: invalid YAML: unterminated quoted string (no closing \")");
  EXPECT_EQ(yaml_error("name: 'abc\n"), "error: t.yaml:1:7: name: invalid YAML: unterminated quoted string (no closing ')");
  EXPECT_EQ(yaml_error("name: \"a\\\"b\"\nx: 'it''s'\n"), "(accepted)");
}

TEST(HostileYaml, SetOverridesGoThroughTheSameLimits) {
  ConfigValue tree = parse_yaml_text("name: x\n", "t.yaml");
  EXPECT_NE(error_of([&] { apply_override(tree, "foo=&r [*r]"); }).find("a cycle"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(tree, "name=\"abc\n"); }).find("unterminated quoted string"),
            std::string::npos);
}

// --- Chakra traces ----------------------------------------------------------------------------------------------

void put(std::string& out, const google::protobuf::MessageLite& m) {
  const std::string s = m.SerializeAsString();
  for (uint64_t v = s.size();; v >>= 7) {
    out.push_back(static_cast<char>(v < 0x80 ? v : (v & 0x7f) | 0x80));
    if (v < 0x80) break;
  }
  out += s;
}

// One all-reduce node whose comm_size attribute is set by `set`; returns the validate error.
std::string collective_error(const std::string& name, const std::function<void(ChakraProtoMsg::AttributeProto*)>& set,
                             const std::string& inputs = "") {
  const fs::path dir = test_dir();
  std::string out;
  ChakraProtoMsg::GlobalMetadata meta;
  meta.set_version("0.0.4");
  put(out, meta);
  ChakraProtoMsg::Node n;
  n.set_id(1);
  n.set_name("ar");
  n.set_type(ChakraProtoMsg::COMM_COLL_NODE);
  auto* t = n.add_attr();
  t->set_name("comm_type");
  t->set_int64_val(0);
  auto* a = n.add_attr();
  a->set_name("comm_size");
  set(a);
  if (!inputs.empty()) n.mutable_inputs()->set_values(inputs);
  put(out, n);
  const fs::path trace = dir / (name + ".et");
  std::ofstream(trace, std::ios::binary) << out;
  const fs::path sc = dir / "s.yaml";
  std::ofstream(sc) << "cluster: {accelerator: H100-SXM-80GB, nodes: 1, gpus_per_node: 8}\n"
                       "workload: {type: chakra_replay, trace: " << trace.string() << ", ranks: 2}\n";
  return error_of([&] { load_scenario(sc.string()); });
}

TEST(HostileChakra, CommSizeThatIsNotAByteCountIsNamedNotCalledMissing) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (const auto& [name, value, text] : std::vector<std::tuple<std::string, double, std::string>>{
           {"nan", nan, "has comm_size nan, not a whole number"},
           {"inf", inf, "has comm_size inf, not a whole number"},
           {"big", 1e300, "has comm_size 1e+300, not a whole number"}}) {
    const std::string err = collective_error(name, [v = value](auto* a) { a->set_double_val(v); });
    EXPECT_NE(err.find("node 1 'ar' " + text), std::string::npos) << err;
    EXPECT_EQ(err.find("without a comm_size"), std::string::npos) << err;
  }
  std::string err = collective_error("neg", [](auto* a) { a->set_int64_val(-5); });
  EXPECT_NE(err.find("node 1 'ar' has comm_size -5, outside 0..1125899906842624 bytes (limit: trace.max_bytes = "
                     "1125899906842624)"),
            std::string::npos)
      << err;
  // 2^62 bytes ran into the 30-day horizon and "completed" with replay_time_s 0; now it is out of range.
  err = collective_error("huge", [](auto* a) { a->set_int64_val(int64_t{1} << 62); });
  EXPECT_NE(err.find("has comm_size 4611686018427387904, outside 0..1125899906842624 bytes"), std::string::npos)
      << err;
}

TEST(HostileChakra, TensorShapeThatOverflowsIsAnError) {
  // numel x itemsize overflowed int64 (undefined behaviour) and validate called the trace fine.
  EXPECT_FALSE(wl::chakra_tensor_bytes("[[1, 2, 0, 9223372036854775807, 8, 'cuda:0']]").has_value());
  EXPECT_FALSE(wl::chakra_tensor_bytes("[[1, 2, 0, 1125899906842624, 2, 'cuda:0']]").has_value());
  EXPECT_EQ(wl::chakra_tensor_bytes("[[1, 2, 0, 64, 4, 'cuda:0']]"), 256);
  const std::string err = collective_error("tensor", [](auto* a) { a->set_int64_val(1024); },
                                           "[[1, 2, 0, 4611686018427387904, 4, 'cuda:0']]");
  EXPECT_NE(err.find("node 1 'ar' has input and output tensors of more than 1125899906842624 bytes (limit: "
                     "trace.max_bytes = 1125899906842624)"),
            std::string::npos)
      << err;
}

TEST(HostileChakra, DevicesAreNotTraces) {
  EXPECT_NE(error_of([] { wl::read_chakra_trace("/dev/zero"); }).find("is not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace lcsim
