// Every shipped scenario against its fingerprint in tests/fingerprints/ (see tests/fingerprint.h). A change that
// claims to change nothing leaves every fingerprint alone; a change that moves numbers rewrites them with
// `make fingerprints` in the same commit and says which numbers moved and why.
#include <gtest/gtest.h>
#include <unistd.h>

#include "fingerprint.h"

namespace lcsim::fingerprint {
namespace {

class Fingerprints : public ::testing::TestWithParam<fs::path> {};

TEST_P(Fingerprints, Unchanged) {
  const fs::path scenario = GetParam();
  const fs::path out = fs::temp_directory_path() / ("lcsim_fp_" + std::to_string(::getpid()));
  fs::remove_all(out);
  std::string error;
  const Fingerprint got = take(scenario, out, &error);
  fs::remove_all(out);
  fs::remove(out.string() + ".log");
  ASSERT_TRUE(error.empty()) << scenario << ": " << error;
  ASSERT_FALSE(got.lines.empty());
  const fs::path file = fingerprint_file(scenario);
  ASSERT_TRUE(fs::exists(file)) << "no fingerprint for " << scenario << " (" << file
                                << "): run make fingerprints";
  std::map<std::string, std::string> want;
  std::istringstream in(slurp(file));
  std::string line;
  std::vector<std::string> order;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find(' ');
    want[line.substr(0, sp)] = line.substr(sp + 1);
    order.push_back(line.substr(0, sp));
  }
  std::map<std::string, std::string> have(got.lines.begin(), got.lines.end());
  for (const auto& k : order) {
    auto it = have.find(k);
    if (it == have.end()) {
      ADD_FAILURE() << scenario << ": " << k << " is gone (was " << want[k] << ")";
    } else {
      EXPECT_EQ(it->second, want[k]) << scenario << ": " << k << " moved";
    }
  }
  for (const auto& [k, v] : got.lines) {
    if (!want.count(k)) ADD_FAILURE() << scenario << ": new " << k << " = " << v << " (not in the fingerprint)";
  }
}

INSTANTIATE_TEST_SUITE_P(Shipped, Fingerprints, ::testing::ValuesIn(shipped_scenarios()),
                         [](const ::testing::TestParamInfo<fs::path>& p) {
                           std::string n = p.param.string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

/// The fingerprint set covers every shipped scenario and nothing else.
TEST(FingerprintFiles, OnePerShippedScenario) {
  std::vector<std::string> expected;
  for (const auto& s : shipped_scenarios()) expected.push_back(fingerprint_file(s).filename().string());
  std::vector<std::string> present;
  for (const auto& e : fs::directory_iterator(kSource / "tests" / "fingerprints")) {
    present.push_back(e.path().filename().string());
  }
  std::sort(present.begin(), present.end());
  EXPECT_EQ(present, expected);
}

}  // namespace
}  // namespace lcsim::fingerprint
