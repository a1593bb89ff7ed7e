#include "workloads/inference/request_trace.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

#include "sim/error.h"
#include "sim/input_file.h"

namespace lcsim::inf {
namespace {

constexpr uint64_t kMaxLength = 10'000'000;  // tokens in one request: beyond any model's context

/// Line-by-line reading with the file name and line number for errors.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path) {
    const std::string problem = input_file_problem(path, UINT64_MAX, "");
    if (!problem.empty()) throw InputError(path + ": " + problem);
    in_.open(path);
    if (!in_) throw InputError(path + ": cannot open the trace");
  }
  /// The next non-empty line (a trailing '\r' removed), or false at the end.
  bool next(std::string& line) {
    while (std::getline(in_, line)) {
      ++line_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) return true;
    }
    return false;
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw InputError(path_ + ":" + std::to_string(line_) + ": " + message);
  }
  int line() const { return line_; }

 private:
  std::string path_;
  std::ifstream in_;
  int line_ = 0;
};

/// Parses a non-negative number field; fails with the field's name.
double parse_number(const LineReader& r, std::string_view text, const std::string& field) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  double v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (res.ec != std::errc() || res.ptr != text.data() + text.size() || !std::isfinite(v)) {
    r.fail(field + ": expected a number, got '" + std::string(text) + "'");
  }
  if (v < 0) r.fail(field + ": must not be negative, got '" + std::string(text) + "'");
  return v;
}

uint32_t parse_length(const LineReader& r, std::string_view text, const std::string& field) {
  const double v = parse_number(r, text, field);
  if (v != std::floor(v) || v < 1 || v > static_cast<double>(kMaxLength)) {
    r.fail(field + ": expected a whole number of tokens from 1 to 10,000,000, got '" + std::string(text) + "'");
  }
  return static_cast<uint32_t>(v);
}

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ',') {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

/// A reader that checks arrival order and numbers requests.
class OrderedSource : public RequestSource {
 public:
  explicit OrderedSource(const std::string& path) : r_(path) {}
  bool next(Request& req) final {
    req.hash_ids.clear();
    if (!read(req)) return false;
    if (req.arrival_s < last_) {
      r_.fail("arrival time goes backwards (" + std::to_string(req.arrival_s) + " s after " + std::to_string(last_) +
              " s); a trace must be in arrival order");
    }
    last_ = req.arrival_s;
    req.id = count_++;
    return true;
  }

 protected:
  virtual bool read(Request& req) = 0;
  LineReader r_;

 private:
  double last_ = 0;
  uint64_t count_ = 0;
};

class MooncakeReader final : public OrderedSource {
 public:
  using OrderedSource::OrderedSource;

 private:
  bool read(Request& req) override {
    if (!r_.next(line_)) return false;
    std::string_view s = line_;
    size_t i = 0;
    auto ws = [&] {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    auto expect = [&](char c) {
      ws();
      if (i >= s.size() || s[i] != c) {
        r_.fail("expected '" + std::string(1, c) + "' at column " + std::to_string(i + 1) +
                " (one JSON object per line: timestamp, input_length, output_length, hash_ids)");
      }
      ++i;
    };
    auto scalar = [&] {
      ws();
      const size_t b = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
      return s.substr(b, i - b);
    };
    bool seen[4] = {false, false, false, false};
    expect('{');
    ws();
    if (i < s.size() && s[i] == '}') r_.fail("empty object; needs timestamp, input_length and output_length");
    while (true) {
      expect('"');
      const size_t b = i;
      while (i < s.size() && s[i] != '"') ++i;
      const std::string key(s.substr(b, i - b));
      expect('"');
      expect(':');
      if (key == "timestamp") {
        req.arrival_s = parse_number(r_, scalar(), "timestamp") / 1e3;
        seen[0] = true;
      } else if (key == "input_length") {
        req.input_tokens = parse_length(r_, scalar(), "input_length");
        seen[1] = true;
      } else if (key == "output_length") {
        req.output_tokens = parse_length(r_, scalar(), "output_length");
        seen[2] = true;
      } else if (key == "hash_ids") {
        expect('[');
        ws();
        if (i < s.size() && s[i] == ']') {
          ++i;
        } else {
          while (true) {
            const double h = parse_number(r_, scalar(), "hash_ids");
            if (h != std::floor(h) || h > 9.0e15) r_.fail("hash_ids: expected whole numbers");
            req.hash_ids.push_back(static_cast<uint64_t>(h));
            ws();
            if (i < s.size() && s[i] == ',') {
              ++i;
              continue;
            }
            expect(']');
            break;
          }
        }
        seen[3] = true;
      } else {
        r_.fail("unknown field '" + key + "' (valid: timestamp, input_length, output_length, hash_ids)");
      }
      ws();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      expect('}');
      break;
    }
    ws();
    if (i != s.size()) r_.fail("text after the closing '}'");
    const char* names[] = {"timestamp", "input_length", "output_length"};
    for (int k = 0; k < 3; ++k) {
      if (!seen[k]) r_.fail(std::string("missing field '") + names[k] + "'");
    }
    return true;
  }
  std::string line_;
};

/// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

class AzureReader final : public OrderedSource {
 public:
  explicit AzureReader(const std::string& path) : OrderedSource(path) {
    std::string header;
    if (!r_.next(header)) r_.fail("empty file; expected the header TIMESTAMP,ContextTokens,GeneratedTokens");
    if (header != "TIMESTAMP,ContextTokens,GeneratedTokens") {
      r_.fail("expected the header TIMESTAMP,ContextTokens,GeneratedTokens, got '" + header + "'");
    }
  }

 private:
  bool read(Request& req) override {
    if (!r_.next(line_)) return false;
    const auto f = split_csv(line_);
    if (f.size() != 3) r_.fail("expected 3 columns (TIMESTAMP,ContextTokens,GeneratedTokens), got " +
                               std::to_string(f.size()));
    const double t = parse_time(f[0]);
    if (first_ < 0) first_ = t;
    req.arrival_s = t - first_;
    req.input_tokens = parse_length(r_, f[1], "ContextTokens");
    req.output_tokens = parse_length(r_, f[2], "GeneratedTokens");
    return true;
  }
  /// "YYYY-MM-DD HH:MM:SS[.fraction]" -> seconds since 1970 (no time zone: the trace's own clock).
  double parse_time(std::string_view t) const {
    auto bad = [&] {
      r_.fail("TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS.fffffff', got '" + std::string(t) + "'");
    };
    if (t.size() < 19 || t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':') bad();
    auto num = [&](size_t pos, size_t len) {
      int v = 0;
      const auto res = std::from_chars(t.data() + pos, t.data() + pos + len, v);
      if (res.ec != std::errc() || res.ptr != t.data() + pos + len) bad();
      return v;
    };
    const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) bad();
    double frac = 0;
    if (t.size() > 19) {
      if (t[19] != '.' || t.size() == 20) bad();
      double scale = 0.1;
      for (size_t i = 20; i < t.size(); ++i) {
        if (t[i] < '0' || t[i] > '9') bad();
        frac += (t[i] - '0') * scale;
        scale /= 10;
      }
    }
    return static_cast<double>(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d))) * 86400.0 +
           h * 3600.0 + mi * 60.0 + s + frac;
  }
  std::string line_;
  double first_ = -1;
};

class PlainCsvReader final : public OrderedSource {
 public:
  explicit PlainCsvReader(const std::string& path) : OrderedSource(path) {
    std::string header;
    if (!r_.next(header)) r_.fail("empty file; expected the header arrival_s,input_tokens,output_tokens");
    if (header != "arrival_s,input_tokens,output_tokens") {
      r_.fail("expected the header arrival_s,input_tokens,output_tokens, got '" + header + "'");
    }
  }

 private:
  bool read(Request& req) override {
    if (!r_.next(line_)) return false;
    const auto f = split_csv(line_);
    if (f.size() != 3) {
      r_.fail("expected 3 columns (arrival_s,input_tokens,output_tokens), got " + std::to_string(f.size()));
    }
    req.arrival_s = parse_number(r_, f[0], "arrival_s");
    req.input_tokens = parse_length(r_, f[1], "input_tokens");
    req.output_tokens = parse_length(r_, f[2], "output_tokens");
    return true;
  }
  std::string line_;
};

class ScaledWindow final : public RequestSource {
 public:
  ScaledWindow(std::unique_ptr<RequestSource> inner, double scale, double start, double end)
      : inner_(std::move(inner)), scale_(scale), start_(start), end_(end) {}
  bool next(Request& r) override {
    while (inner_->next(r)) {
      const double t = r.arrival_s / scale_;
      if (t < start_) continue;
      if (end_ > 0 && t >= end_) return false;
      r.arrival_s = t - start_;
      r.id = count_++;
      return true;
    }
    return false;
  }

 private:
  std::unique_ptr<RequestSource> inner_;
  double scale_, start_, end_;
  uint64_t count_ = 0;
};

class Synthetic final : public RequestSource {
 public:
  Synthetic(const ArrivalConfig& a, const LengthFits& l, RandomStream rng) : a_(a), l_(l), rng_(rng) {}
  bool next(Request& r) override {
    if (count_ >= static_cast<uint64_t>(a_.requests)) return false;
    t_ += gap();
    r.id = count_++;
    r.arrival_s = t_;
    r.input_tokens = l_.input.sample(rng_);
    r.output_tokens = l_.output.sample(rng_);
    r.hash_ids.clear();
    return true;
  }

 private:
  double exponential(double rate) { return -std::log(1.0 - rng_.uniform()) / rate; }
  double gap() {
    if (a_.process == "gamma") {
      // Inter-arrival times with mean 1/rate and coefficient of variation cv: shape 1/cv^2, scale cv^2/rate.
      const double shape = 1.0 / (a_.burstiness * a_.burstiness);
      return gamma_variate(rng_, shape) / (shape * a_.rate_per_s);
    }
    if (a_.process == "diurnal") {
      // Non-homogeneous Poisson process by thinning (Lewis and Shedler 1979) under the curve's maximum.
      const double peak = a_.rate_per_s * (1 + a_.diurnal_amplitude);
      double t = t_;
      while (true) {
        t += exponential(peak);
        const double phase = 2 * std::numbers::pi * (t - a_.diurnal_peak_s) / a_.diurnal_period_s;
        const double rate = a_.rate_per_s * (1 + a_.diurnal_amplitude * std::cos(phase));
        if (rng_.uniform() * peak < rate) return t - t_;
      }
    }
    return exponential(a_.rate_per_s);
  }
  ArrivalConfig a_;
  LengthFits l_;
  RandomStream rng_;
  uint64_t count_ = 0;
  double t_ = 0;
};

}  // namespace

const std::vector<std::string>& trace_format_names() {
  static const std::vector<std::string> names = {"mooncake", "azure", "csv"};
  return names;
}

const std::vector<std::string>& arrival_process_names() {
  static const std::vector<std::string> names = {"poisson", "gamma", "diurnal"};
  return names;
}

std::unique_ptr<RequestSource> open_trace(const std::string& path, const std::string& format) {
  if (format == "mooncake") return std::make_unique<MooncakeReader>(path);
  if (format == "azure") return std::make_unique<AzureReader>(path);
  LCSIM_ASSERT(format == "csv", "unknown trace format " + format);
  return std::make_unique<PlainCsvReader>(path);
}

std::unique_ptr<RequestSource> scale_and_window(std::unique_ptr<RequestSource> inner, double rate_scale,
                                                double window_start_s, double window_end_s) {
  return std::make_unique<ScaledWindow>(std::move(inner), rate_scale, window_start_s, window_end_s);
}

std::unique_ptr<RequestSource> synthetic_requests(const ArrivalConfig& arrivals, const LengthFits& lengths,
                                                  RandomStream rng) {
  return std::make_unique<Synthetic>(arrivals, lengths, rng);
}

double normal_variate(RandomStream& rng) {
  // Box-Muller; one of the pair is used so that the stream's position depends only on the call count.
  const double u1 = 1.0 - rng.uniform();
  const double u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

double gamma_variate(RandomStream& rng, double shape) {
  // Marsaglia and Tsang (2000); shape < 1 by boosting: G(a) = G(a + 1) U^(1/a).
  if (shape < 1) return gamma_variate(rng, shape + 1) * std::pow(1.0 - rng.uniform(), 1.0 / shape);
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9 * d);
  while (true) {
    double x, v;
    do {
      x = normal_variate(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - rng.uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

uint32_t LengthFit::sample(RandomStream& rng) const {
  const double x = std::exp(mu + sigma * normal_variate(rng));
  return static_cast<uint32_t>(std::clamp(std::round(x), 1.0, max));
}

LengthFits fit_lengths(RequestSource& source, uint64_t max_rows) {
  double s[2] = {0, 0}, ss[2] = {0, 0}, mx[2] = {1, 1};
  uint64_t n = 0;
  Request r;
  while ((max_rows == 0 || n < max_rows) && source.next(r)) {
    const double x[2] = {std::log(static_cast<double>(r.input_tokens)), std::log(static_cast<double>(r.output_tokens))};
    for (int k = 0; k < 2; ++k) {
      s[k] += x[k];
      ss[k] += x[k] * x[k];
      mx[k] = std::max(mx[k], std::exp(x[k]));
    }
    ++n;
  }
  if (n == 0) throw InputError("the trace to fit lengths from has no requests");
  LengthFits f;
  f.rows = n;
  LengthFit* out[2] = {&f.input, &f.output};
  for (int k = 0; k < 2; ++k) {
    out[k]->mu = s[k] / n;
    out[k]->sigma = std::sqrt(std::max(0.0, ss[k] / n - out[k]->mu * out[k]->mu));
    out[k]->max = std::round(mx[k]);
  }
  return f;
}

}  // namespace lcsim::inf
