#include "models/hardware/calibration.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <sstream>

#include "sim/error.h"
#include "sim/input_file.h"
#include "sim/limits.h"

namespace lcsim::hw {
namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool parse_number(const std::string& s, double& v) {
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(v);
}

}  // namespace

std::vector<KernelMeasurement> read_measurements(const std::string& path) {
  std::istringstream in(read_input_file(path, limits::kMaxFileBytes, "input.max_file_bytes"));
  const std::vector<std::string> header = {"operator", "dtype", "m", "n", "k", "time_us"};
  Diagnostics diags;
  std::vector<KernelMeasurement> out;
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    if (line.empty() || line[0] == '#') continue;
    auto cols = split_csv(line);
    if (no == 1 || (out.empty() && cols[0] == "operator")) {
      if (cols != header) {
        diags.add({path, no, 1}, "", "expected the header 'operator,dtype,m,n,k,time_us'");
        break;
      }
      continue;
    }
    if (cols.size() != header.size()) {
      diags.add({path, no, 1}, "", "expected 6 columns, got " + std::to_string(cols.size()));
      continue;
    }
    KernelMeasurement m;
    m.line = no;
    m.op = cols[0];
    if (m.op != "gemm") diags.add({path, no, 1}, "operator", unknown_name_message("operator", m.op, {"gemm"}));
    std::vector<std::string> names = dtype_names();
    names.push_back("mxfp8");
    if (std::find(names.begin(), names.end(), cols[1]) == names.end()) {
      diags.add({path, no, 1}, "dtype", unknown_name_message("dtype", cols[1], names));
    } else if (cols[1] == "mxfp8") {
      m.dtype = DType::kFp8;
      m.block_scaled = true;
    } else {
      m.dtype = parse_dtype(cols[1]);
    }
    double v[4];
    bool ok = true;
    for (int i = 0; i < 4; ++i) {
      if (!parse_number(cols[2 + i], v[i]) || v[i] <= 0) {
        diags.add({path, no, 1}, header[2 + i], "expected a positive number, got '" + cols[2 + i] + "'");
        ok = false;
      }
    }
    if (!ok) continue;
    m.shape = {v[0], v[1], v[2], 1};
    m.time = Duration::us(v[3]);
    out.push_back(m);
  }
  if (out.empty() && diags.empty()) diags.add({path, 0, 0}, "", "no measurements");
  diags.throw_if_any();
  return out;
}

Duration predicted_time(const AcceleratorSpec& part, const KernelMeasurement& m) {
  if (m.block_scaled && part.calibration.mxfp8_gemm_slowdown > 0) {
    return gemm_time(with_mxfp8_gemms(part), m.dtype, m.shape);
  }
  return gemm_time(part, m.dtype, m.shape);
}

FitReport evaluate(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data) {
  FitReport r;
  r.calibration = part.calibration;
  std::vector<double> errs;
  for (const auto& m : data) {
    const Duration p = predicted_time(part, m);
    r.predicted.push_back(p);
    errs.push_back(std::abs(p.s() - m.time.s()) / m.time.s());
  }
  if (errs.empty()) return r;
  std::sort(errs.begin(), errs.end());
  r.median_abs_error = errs[errs.size() / 2];
  r.p90_abs_error = errs[std::min(errs.size() - 1, errs.size() * 9 / 10)];
  r.max_abs_error = errs.back();
  return r;
}

namespace {

constexpr int kDims = 4;
using Point = std::array<double, kDims>;

// Unconstrained coordinates -> parameters: logistic for fractions, exp for positive values.
KernelCalibration decode(const Point& x, KernelCalibration base) {
  auto logistic = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  base.gemm_efficiency = logistic(x[0]);
  base.gemm_k_half = std::exp(x[1]);
  base.memory_efficiency = logistic(x[2]);
  base.kernel_launch = Duration::us(std::exp(x[3]));
  return base;
}

double loss(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data, const Point& x) {
  AcceleratorSpec p = part;
  p.calibration = decode(x, part.calibration);
  double sum = 0;
  for (const auto& m : data) {
    const double e = std::log(predicted_time(p, m).s() / m.time.s());
    sum += e * e;
  }
  return sum / static_cast<double>(data.size());
}

// Nelder-Mead with the standard coefficients; a fixed number of iterations keeps it deterministic and bounded.
Point nelder_mead(const std::function<double(const Point&)>& f, Point start, double step, int iterations) {
  std::array<Point, kDims + 1> s;
  std::array<double, kDims + 1> v;
  s[0] = start;
  for (int i = 0; i < kDims; ++i) {
    s[i + 1] = start;
    s[i + 1][i] += step;
  }
  for (int i = 0; i <= kDims; ++i) v[i] = f(s[i]);
  for (int it = 0; it < iterations; ++it) {
    std::array<int, kDims + 1> order;
    for (int i = 0; i <= kDims; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return v[a] < v[b]; });
    const int best = order[0], worst = order[kDims], second = order[kDims - 1];
    Point c{};
    for (int i = 0; i < kDims; ++i) {
      for (int d = 0; d < kDims; ++d) c[d] += s[order[i]][d] / kDims;
    }
    auto along = [&](double t) {
      Point p;
      for (int d = 0; d < kDims; ++d) p[d] = c[d] + t * (s[worst][d] - c[d]);
      return p;
    };
    const Point r = along(-1.0);
    const double fr = f(r);
    if (fr < v[best]) {
      const Point e = along(-2.0);
      const double fe = f(e);
      if (fe < fr) { s[worst] = e; v[worst] = fe; } else { s[worst] = r; v[worst] = fr; }
    } else if (fr < v[second]) {
      s[worst] = r;
      v[worst] = fr;
    } else {
      const Point k = along(fr < v[worst] ? -0.5 : 0.5);
      const double fk = f(k);
      if (fk < std::min(fr, v[worst])) {
        s[worst] = k;
        v[worst] = fk;
      } else {
        for (int i = 0; i <= kDims; ++i) {
          if (i == best) continue;
          for (int d = 0; d < kDims; ++d) s[i][d] = s[best][d] + 0.5 * (s[i][d] - s[best][d]);
          v[i] = f(s[i]);
        }
      }
    }
  }
  int best = 0;
  for (int i = 1; i <= kDims; ++i) {
    if (v[i] < v[best]) best = i;
  }
  return s[best];
}

}  // namespace

// One term alone (`term` of the part's calibration), by golden-section search on the squared log error over
// [lo, hi]; the part's other terms are kept.
static FitReport fit_one(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data,
                         double KernelCalibration::*term, double lo, double hi) {
  auto f = [&](double value) {
    AcceleratorSpec p = part;
    p.calibration.*term = value;
    double sum = 0;
    for (const auto& m : data) {
      const double e = std::log(predicted_time(p, m).s() / m.time.s());
      sum += e * e;
    }
    return sum;
  };
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = lo, b = hi, x1 = b - g * (b - a), x2 = a + g * (b - a), f1 = f(x1), f2 = f(x2);
  for (int i = 0; i < 100; ++i) {
    if (f1 < f2) {
      b = x2; x2 = x1; f2 = f1; x1 = b - g * (b - a); f1 = f(x1);
    } else {
      a = x1; x1 = x2; f1 = f2; x2 = a + g * (b - a); f2 = f(x2);
    }
  }
  AcceleratorSpec fitted = part;
  fitted.calibration.*term = (a + b) / 2;
  return evaluate(fitted, data);
}

// The measurements that ran `from` or longer; an error if none did.
static std::vector<KernelMeasurement> ran_at_least(const std::vector<KernelMeasurement>& data, Duration from) {
  std::vector<KernelMeasurement> longer;
  std::copy_if(data.begin(), data.end(), std::back_inserter(longer),
               [&](const KernelMeasurement& m) { return m.time >= from; });
  if (longer.empty()) throw InputError("no measured kernel runs " + to_string(from) + " or longer");
  return longer;
}

FitReport fit_sustained(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data, Duration from) {
  const std::vector<KernelMeasurement> longer = ran_at_least(data, from);
  AcceleratorSpec fitted = part;
  fitted.calibration.gemm_sustained_efficiency =
      fit_one(part, longer, &KernelCalibration::gemm_sustained_efficiency, 0.05, 1.0).calibration
          .gemm_sustained_efficiency;
  return evaluate(fitted, data);
}

FitReport fit(const AcceleratorSpec& part, const std::vector<KernelMeasurement>& data, Duration from) {
  if (from > Duration()) {
    AcceleratorSpec fitted = part;
    fitted.calibration = fit(part, ran_at_least(data, from)).calibration;
    return evaluate(fitted, data);
  }
  const bool all_fp8 = !data.empty() && std::all_of(data.begin(), data.end(),
                                                    [](const KernelMeasurement& m) { return m.dtype == DType::kFp8; });
  // FP8 GEMMs only: fp8_gemm_efficiency alone (one measured table of a few large FP8 shapes cannot pin down four
  // terms; the 16-bit k_half, launch and memory terms are kept).
  if (all_fp8) return fit_one(part, data, &KernelCalibration::fp8_gemm_efficiency, 0.05, 1.0);
  // NVFP4 GEMMs only: fp4_gemm_efficiency alone, likewise.
  const bool all_fp4 = !data.empty() && std::all_of(data.begin(), data.end(),
                                                    [](const KernelMeasurement& m) { return m.dtype == DType::kFp4; });
  if (all_fp4) return fit_one(part, data, &KernelCalibration::fp4_gemm_efficiency, 0.05, 1.0);
  auto f = [&](const Point& x) { return loss(part, data, x); };
  // A few fixed starting points (efficiency ~0.5/0.8, k_half 64/512, memory 0.8, launch 2/8 us); keep the best.
  Point best{};
  double best_v = std::numeric_limits<double>::infinity();
  for (double e0 : {0.0, 1.4}) {
    for (double k0 : {std::log(64.0), std::log(512.0)}) {
      for (double l0 : {std::log(2.0), std::log(8.0)}) {
        Point x = nelder_mead(f, {e0, k0, 1.4, l0}, 0.5, 400);
        x = nelder_mead(f, x, 0.1, 200);  // restart to escape a collapsed simplex
        const double v = f(x);
        if (v < best_v) {
          best_v = v;
          best = x;
        }
      }
    }
  }
  AcceleratorSpec fitted = part;
  fitted.calibration = decode(best, part.calibration);
  return evaluate(fitted, data);
}

std::string calibration_yaml(const std::string& part_name, const KernelCalibration& c) {
  ConfigValue root;
  root.kind = ConfigValue::Kind::kMap;
  ConfigValue name;
  name.kind = ConfigValue::Kind::kScalar;
  name.scalar = part_name;
  root.set("part", name);
  ConfigValue cal;
  KernelCalibration copy = c;
  Section e = Section::emitter("calibration", &cal);
  copy.visit(e);
  root.set("calibration", cal);
  return emit_yaml(root, "Kernel calibration written by lcsim calibrate. Use it in a scenario:\n"
                         "  cluster: {accelerator: {base: " + part_name + ", calibration_file: THIS_FILE}}");
}

}  // namespace lcsim::hw
