#include "models/failure/straggler.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <vector>

#include "sim/error.h"
#include "sim/rng.h"

namespace lcsim::failure {
namespace {

bool number(const std::string& s, double* out) {
  const char* b = s.data();
  const auto r = std::from_chars(b, b + s.size(), *out);
  return r.ec == std::errc() && r.ptr == b + s.size() && std::isfinite(*out);
}

}  // namespace

WorkerSpread load_worker_spread(const std::string& path) {
  std::ifstream in(path);
  Diagnostics diags;
  if (!in) {
    diags.add({path, 0, 0}, "", "cannot open the per-worker step-time file");
    diags.throw_if_any();
  }
  std::string line;
  int n = 0;
  std::map<long, std::map<long, double>> steps;  // step -> worker -> time
  while (std::getline(in, line)) {
    ++n;
    if (n == 1) continue;  // header
    if (line.empty()) continue;
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == ',') {
        f.push_back(line.substr(start, i - start));
        start = i + 1;
      }
    }
    double worker = 0, step = 0, t = 0;
    if (f.size() != 5 || !number(f[1], &worker) || !number(f[3], &step) || !number(f[4], &t) || t <= 0) {
      diags.add({path, n, 0}, "", "expected 5 columns (index, worker, gpu, time, batch_time_norm > 0), got '" + line +
                                       "'");
      continue;
    }
    steps[static_cast<long>(step)][static_cast<long>(worker)] = t;
  }
  diags.throw_if_any();
  WorkerSpread w;
  for (const auto& [step, workers] : steps) w.workers = std::max(w.workers, static_cast<int>(workers.size()));
  double cv = 0, ratio = 0;
  for (const auto& [step, workers] : steps) {
    if (static_cast<int>(workers.size()) != w.workers) continue;
    double mean = 0, top = 0;
    for (const auto& [id, t] : workers) {
      mean += t / w.workers;
      top = std::max(top, t);
    }
    double var = 0;
    for (const auto& [id, t] : workers) var += (t - mean) * (t - mean) / w.workers;
    cv += std::sqrt(var) / mean;
    ratio += top / mean;
    ++w.steps;
  }
  if (w.steps > 0) {
    w.cv = cv / w.steps;
    w.max_over_mean = ratio / w.steps;
  }
  return w;
}

double sync_step_slowdown(double cv, int n, double slow_factor, int samples, uint64_t seed) {
  RandomStream rng(seed);
  double sum = 0;
  for (int s = 0; s < samples; ++s) {
    double top = 0;
    for (int i = 0; i < n; ++i) {
      double u = rng.uniform();
      while (u <= 0) u = rng.uniform();
      const double z = std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * rng.uniform());
      const double t = (i == 0 ? std::max(1.0, slow_factor) : 1.0) * (1 + cv * z);
      top = std::max(top, t);
    }
    sum += top;
  }
  return sum / samples;
}

}  // namespace lcsim::failure
