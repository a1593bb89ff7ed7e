// A clone of the repository runs its examples, tests and benchmarks with nothing beside it: no test source,
// shipped scenario or bench script names a path outside the repository (the project's shared data folder, a
// parent directory, an absolute path), and every file a shipped scenario reads (base, trace, calibration_file)
// exists inside it. The data they read is in data/ (data/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path kSource = fs::weakly_canonical(LCSIM_SOURCE_DIR);

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool inside_repository(const fs::path& p) {
  const fs::path c = fs::weakly_canonical(p);
  const auto [end, _] = std::mismatch(kSource.begin(), kSource.end(), c.begin(), c.end());
  return end == kSource.end();
}

/// Text files under tests/, scenarios/ and bench/ (the data itself, under data/, is not searched).
std::vector<fs::path> searched_files() {
  std::vector<fs::path> out;
  for (const char* dir : {"tests", "scenarios", "bench"}) {
    for (const auto& e : fs::recursive_directory_iterator(kSource / dir)) {
      if (!e.is_regular_file()) continue;
      const std::string ext = e.path().extension().string();
      if (ext == ".cc" || ext == ".h" || ext == ".yaml" || ext == ".sh" || ext == ".py" || ext == ".txt" ||
          ext == ".csv") {
        out.push_back(e.path());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SelfContained, NoTestScenarioOrBenchNamesAPathOutsideTheRepository) {
  // Spelled in pieces so that this file does not match itself.
  const std::vector<std::string> outside = {std::string("../") + "shared", std::string("/shared/") + "data",
                                            std::string("/work/") + "shared"};
  std::vector<std::string> offenders;
  size_t searched = 0;
  for (const auto& f : searched_files()) {
    ++searched;
    const auto lines = lines_of(f);
    for (size_t i = 0; i < lines.size(); ++i) {
      for (const auto& pattern : outside) {
        if (lines[i].find(pattern) != std::string::npos) {
          offenders.push_back(fs::relative(f, kSource).string() + ":" + std::to_string(i + 1) + ": " + lines[i]);
          break;
        }
      }
    }
  }
  EXPECT_GT(searched, 50u) << "tests/, scenarios/ and bench/ were not found under " << kSource;
  std::string list;
  for (const auto& o : offenders) list += "\n  " + o;
  EXPECT_TRUE(offenders.empty()) << offenders.size()
                                 << " line(s) name a path outside the repository; copy the file under data/ "
                                    "(see data/README.md) and point at the copy:"
                                 << list;
}

TEST(SelfContained, EveryFileAShippedScenarioReadsIsInTheRepository) {
  // The keys whose value is a path relative to the scenario file.
  const std::regex path_key(R"(^\s*(base|trace|calibration_file):\s*([^\s#{}\[\],]+))");
  std::vector<std::string> problems;
  int paths = 0;
  for (const auto& e : fs::recursive_directory_iterator(kSource / "scenarios")) {
    if (e.path().extension() != ".yaml") continue;
    const auto lines = lines_of(e.path());
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(lines[i], m, path_key)) continue;
      const std::string key = m[1], value = m[2];
      if (key == "base" && value.find('/') == std::string::npos && value.find(".yaml") == std::string::npos) {
        continue;  // a catalog name (accelerator or node base), not a file
      }
      ++paths;
      const fs::path target = e.path().parent_path() / value;
      const std::string where = fs::relative(e.path(), kSource).string() + ":" + std::to_string(i + 1) + ": " +
                                key + ": " + value;
      if (!inside_repository(target)) {
        problems.push_back(where + " (outside the repository)");
        continue;
      }
      // A trace may be a per-rank set's prefix: PREFIX.0.et is its first file.
      const bool exists = fs::exists(target) || (key == "trace" && fs::exists(target.string() + ".0.et"));
      if (!exists) problems.push_back(where + " (no such file)");
    }
  }
  EXPECT_GE(paths, 3) << "expected the chakra examples' traces and the cluster bases";
  std::string list;
  for (const auto& p : problems) list += "\n  " + p;
  EXPECT_TRUE(problems.empty()) << list;
}

}  // namespace
