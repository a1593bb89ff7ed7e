// Every file in tests/bad_input/ is a scenario with mistakes; its .expected neighbour holds the exact error text
// lcsim must print (file:line:col: key.path: message, one line per problem). Runs in tests/bad_input/.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scenarios/scenario.h"

namespace lcsim {
namespace {

std::vector<std::string> bad_files() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(".")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class BadInput : public ::testing::TestWithParam<std::string> {};

TEST_P(BadInput, FailsWithTheExactExpectedMessage) {
  const std::string file = GetParam();
  const std::string expected_file = file.substr(0, file.size() - 5) + ".expected";
  ASSERT_TRUE(std::filesystem::exists(expected_file)) << "no " << expected_file << " beside " << file;
  try {
    load_scenario(file);
    FAIL() << file << " was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), read(expected_file));
    EXPECT_FALSE(e.diagnostics().empty());
  }
}

TEST(BadInputFolder, HasFiles) { EXPECT_GE(bad_files().size(), 10u); }

INSTANTIATE_TEST_SUITE_P(Files, BadInput, ::testing::ValuesIn(bad_files()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param.substr(0, p.param.size() - 5);
                           std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(c); }, '_');
                           return n;
                         });

}  // namespace
}  // namespace lcsim
