// Rewrites tests/fingerprints/ from the current binary: `make fingerprints` (or build/tests/update_fingerprints
// [SUBSTRING], only the scenarios whose path contains it). Run it after a change that moves numbers on purpose, and
// say in the commit which numbers moved and why. Removes fingerprints of scenarios that are no longer shipped.
#include <unistd.h>

#include <iostream>

#include "fingerprint.h"

int main(int argc, char** argv) {
  using namespace lcsim::fingerprint;
  const std::string only = argc > 1 ? argv[1] : "";
  const fs::path dir = kSource / "tests" / "fingerprints";
  fs::create_directories(dir);
  std::vector<fs::path> wanted;
  int failed = 0;
  for (const auto& scenario : shipped_scenarios()) {
    wanted.push_back(fingerprint_file(scenario));
    if (!only.empty() && scenario.string().find(only) == std::string::npos) continue;
    const fs::path out = fs::temp_directory_path() / ("lcsim_fp_update_" + std::to_string(::getpid()));
    fs::remove_all(out);
    std::string error;
    const Fingerprint fp = take(scenario, out, &error);
    fs::remove_all(out);
    fs::remove(out.string() + ".log");
    if (!error.empty()) {
      std::cerr << scenario << ": " << error << "\n";
      ++failed;
      continue;
    }
    std::ofstream(fingerprint_file(scenario)) << file_text(scenario, fp);
    std::cout << "wrote " << fingerprint_file(scenario).string() << "\n";
  }
  if (only.empty()) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (std::find(wanted.begin(), wanted.end(), e.path()) == wanted.end()) {
        fs::remove(e.path());
        std::cout << "removed " << e.path().string() << "\n";
      }
    }
  }
  return failed == 0 ? 0 : 1;
}
