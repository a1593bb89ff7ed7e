#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "sim/config.h"

namespace lcsim {
namespace {

struct Link {
  Bandwidth bandwidth = Bandwidth::gbits_per_s(400);
  Duration latency = Duration::us(1);
  int count = 2;
  bool shared = true;
  std::string kind = "nic";
  void visit(Section& s) {
    s.field("bandwidth", bandwidth, "link bandwidth", Range::positive());
    s.field("latency", latency, "one-way latency", Range::at_least(0));
    s.field("count", count, "links", Range::between(1, 64));
    s.field("shared", shared, "shared by flows");
    s.choice("kind", kind, {"nic", "nvlink"}, "link kind");
  }
};

struct Parsed {
  Link link;
  std::vector<Diagnostic> errors;
};

Parsed parse(const std::string& yaml) {
  Parsed p;
  ConfigValue tree = parse_yaml_text(yaml, "t.yaml");
  Diagnostics d;
  Section root = Section::parser(&tree, "", &d);
  root.section("link", "a link", [&](Section& s) { p.link.visit(s); });
  root.finish();
  p.errors = d.items();
  return p;
}

std::vector<std::string> messages(const Parsed& p) {
  std::vector<std::string> out;
  for (const auto& e : p.errors) out.push_back(e.to_string());
  return out;
}

TEST(Config, ParsesTypedValuesAndKeepsDefaults) {
  Parsed p = parse("link:\n  bandwidth: 200Gb/s\n  count: 4\n");
  ASSERT_TRUE(p.errors.empty()) << messages(p).front();
  EXPECT_DOUBLE_EQ(p.link.bandwidth.bps(), 25e9);
  EXPECT_EQ(p.link.count, 4);
  EXPECT_DOUBLE_EQ(p.link.latency.s(), 1e-6);  // default kept
  EXPECT_TRUE(p.link.shared);
}

TEST(Config, ReportsEveryProblemWithFileLineColumnAndKey) {
  Parsed p = parse(
      "link:\n"
      "  bandwith: 200Gb/s\n"
      "  latency: 5\n"
      "  count: 100\n"
      "  shared: yes\n"
      "  kind: nvlnk\n"
      "extra: 1\n");
  EXPECT_EQ(messages(p), (std::vector<std::string>{
                             "t.yaml:3:12: link.latency: missing unit in '5' (a duration needs one of: ps, ns, us, "
                             "ms, s, min, h, d)",
                             "t.yaml:4:10: link.count: must be 1 to 64, got '100'",
                             "t.yaml:5:11: link.shared: expected true or false, got 'yes'",
                             "t.yaml:6:9: link.kind: unknown value 'nvlnk'; did you mean 'nvlink'? (valid: nic, "
                             "nvlink)",
                             "t.yaml:2:3: link.bandwith: unknown key 'bandwith'; did you mean 'bandwidth'? (valid: "
                             "bandwidth, count, kind, latency, shared)",
                             "t.yaml:7:1: extra: unknown key 'extra' (valid: link)"}));
}

TEST(Config, WrongShapesAreErrors) {
  Parsed p = parse("link:\n  count: [1, 2]\n");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].to_string(), "t.yaml:2:10: link.count: expected an integer, got a list");
  Parsed q = parse("link: 3\n");
  ASSERT_EQ(q.errors.size(), 1u);
  EXPECT_EQ(q.errors[0].to_string(), "t.yaml:1:7: link: expected a mapping of keys, got a single value");
}

TEST(Config, DuplicateKeysAndSyntaxErrorsAreReportedAtTheirPosition) {
  try {
    parse_yaml_text("a: 1\nb: 2\na: 3\n", "d.yaml");
    FAIL() << "duplicate key accepted";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "error: d.yaml:3:1: a: duplicate key 'a'");
  }
  try {
    parse_yaml_text("a: [1, 2\n", "s.yaml");
    FAIL() << "bad YAML accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("error: s.yaml:", 0), 0u) << e.what();
  }
}

TEST(Config, DescribeListsTypesUnitsDefaultsAndRanges) {
  std::vector<KeyDoc> docs;
  Link link;
  Section s = Section::describer("link", &docs);
  link.visit(s);
  ASSERT_EQ(docs.size(), 5u);
  EXPECT_EQ(docs[0].path, "link.bandwidth");
  EXPECT_EQ(docs[0].type, "bandwidth");
  EXPECT_EQ(docs[0].default_value, "400Gb/s");
  EXPECT_EQ(docs[0].range, "> 0B/s");
  EXPECT_NE(docs[0].units.find("Gb/s"), std::string::npos);
  EXPECT_EQ(docs[2].range, "1 to 64");
  EXPECT_EQ(docs[4].type, "one of: nic, nvlink");
}

TEST(Config, EmitWritesEveryValueAndReadsBackTheSame) {
  Link link;
  link.latency = Duration::us(0.6);
  link.count = 7;
  ConfigValue tree;
  Section e = Section::emitter("", &tree);
  link.visit(e);
  const std::string yaml = emit_yaml(tree);
  EXPECT_EQ(yaml, "bandwidth: 400Gb/s\nlatency: 600ns\ncount: 7\nshared: true\nkind: nic\n");
  ConfigValue back = parse_yaml_text(yaml, "back.yaml");
  Diagnostics d;
  Link again;
  Section p = Section::parser(&back, "", &d);
  again.visit(p);
  p.finish();
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(again.latency.s(), link.latency.s());
  EXPECT_EQ(again.count, 7);
}

class LayeredFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("lcsim_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "clusters");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::filesystem::path dir_;
};

TEST_F(LayeredFiles, BaseMergesMapsAndLaterFilesWin) {
  write("clusters/base.yaml", "link:\n  count: 3\n  kind: nvlink\nname: base\n");
  const std::string top = write("top.yaml", "base: clusters/base.yaml\nlink:\n  count: 5\n");
  ConfigValue tree = load_layered(top);
  EXPECT_EQ(tree.find("base"), nullptr);
  EXPECT_EQ(tree.find("name")->scalar, "base");
  EXPECT_EQ(tree.find("link")->find("count")->scalar, "5");
  EXPECT_EQ(tree.find("link")->find("kind")->scalar, "nvlink");
  // Locations point at the file that set the value.
  EXPECT_EQ(tree.find("link")->find("count")->location.file, top);
  EXPECT_NE(tree.find("link")->find("kind")->location.file.find("base.yaml"), std::string::npos);
}

TEST_F(LayeredFiles, CyclesAndMissingBasesAreErrors) {
  const std::string a = write("a.yaml", "base: b.yaml\n");
  write("b.yaml", "base: a.yaml\n");
  EXPECT_THROW(load_layered(a), InputError);
  const std::string c = write("c.yaml", "base: nowhere.yaml\n");
  try {
    load_layered(c);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("c.yaml:1:7: base: file not found: 'nowhere.yaml'"), std::string::npos)
        << e.what();
  }
}

TEST(Overrides, SetCreatesAndReplacesKeys) {
  ConfigValue tree = parse_yaml_text("link:\n  count: 3\n", "t.yaml");
  apply_override(tree, "link.count=9");
  apply_override(tree, "link.kind=nvlink");
  apply_override(tree, "other.deep.key=[1, 2]");
  EXPECT_EQ(tree.find("link")->find("count")->scalar, "9");
  EXPECT_EQ(tree.find("link")->find("count")->location.file, "--set 'link.count=9'");
  EXPECT_EQ(tree.find("link")->find("kind")->scalar, "nvlink");
  EXPECT_EQ(tree.find("other")->find("deep")->find("key")->children.size(), 2u);
  EXPECT_THROW(apply_override(tree, "novalue"), InputError);
  EXPECT_THROW(apply_override(tree, "link.count.x=1"), InputError);
}

TEST(DidYouMean, SuggestsOnlyCloseNames) {
  EXPECT_EQ(did_you_mean("nodse", {"nodes", "gpus_per_node"}), "nodes");
  EXPECT_EQ(did_you_mean("zzzzzz", {"nodes", "gpus_per_node"}), "");
}

}  // namespace
}  // namespace lcsim
