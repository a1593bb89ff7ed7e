// Request streams for inference serving: readers for real traces (Mooncake JSONL, Azure LLM inference CSV, a plain
// CSV), synthetic arrivals (Poisson, gamma bursts, a diurnal rate curve) with lengths fitted from a trace, and
// rate scaling and time windows over any stream. Every source streams: it reads one line per request, so a trace of
// a million rows never sits in memory. A bad row throws InputError "file:line: what is wrong".
//
// Formats (docs/inference.md):
//   mooncake:  {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [block ids]} per line;
//              each hash id names one 512-token prefix block (kvcache-ai/Mooncake FAST'25 traces).
//   azure:     TIMESTAMP,ContextTokens,GeneratedTokens with "YYYY-MM-DD HH:MM:SS.fffffff" times (Azure LLM
//              inference trace 2023); times become seconds after the first row.
//   csv:       arrival_s,input_tokens,output_tokens (seconds, tokens), a header line first.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "sim/rng.h"

namespace lcsim::inf {

/// One request as a trace gives it.
struct Request {
  uint64_t id = 0;
  double arrival_s = 0;
  uint32_t input_tokens = 0;
  uint32_t output_tokens = 0;
  std::vector<uint64_t> hash_ids;  // prefix blocks (Mooncake); empty where the trace has none
};

/// A stream of requests in arrival order.
class RequestSource {
 public:
  virtual ~RequestSource() = default;
  /// The next request, or false at the end.
  virtual bool next(Request& r) = 0;
};

/// The trace formats lcsim reads.
const std::vector<std::string>& trace_format_names();  // mooncake, azure, csv

/// A reader of `path` in `format` (one of trace_format_names()); InputError if the file cannot be opened.
/// Arrival times must not decrease (file:line error otherwise).
std::unique_ptr<RequestSource> open_trace(const std::string& path, const std::string& format);

/// Arrival times divided by `rate_scale` (2 = twice the rate), then only requests with arrival in
/// [window_start_s, window_end_s) (end <= 0: no end), re-based so the window starts at 0.
std::unique_ptr<RequestSource> scale_and_window(std::unique_ptr<RequestSource> inner, double rate_scale,
                                                double window_start_s, double window_end_s);

/// Token lengths as a log-normal distribution (fitted by the mean and standard deviation of log length), clamped to
/// [1, max].
struct LengthFit {
  double mu = 0, sigma = 0;
  double max = 1;
  uint32_t sample(RandomStream& rng) const;
};
struct LengthFits {
  LengthFit input, output;
  uint64_t rows = 0;
};
/// Fits input and output lengths to the first `max_rows` requests of a source (0: all of them).
LengthFits fit_lengths(RequestSource& source, uint64_t max_rows = 0);

/// Arrival process of a synthetic stream.
struct ArrivalConfig {
  std::string process = "poisson";  // poisson, gamma, diurnal
  double rate_per_s = 1;            // mean arrivals per second (diurnal: the daily mean)
  double burstiness = 1;            // gamma: coefficient of variation of inter-arrival times (1 = Poisson)
  double diurnal_amplitude = 0.5;   // diurnal: rate(t) = rate x (1 + a cos(2 pi (t - peak) / period))
  double diurnal_period_s = 86400;
  double diurnal_peak_s = 50400;    // time of day of the peak (14:00)
  int64_t requests = 1000;          // how many to generate
};
const std::vector<std::string>& arrival_process_names();

/// A synthetic stream: arrivals from `arrivals`, lengths drawn from `lengths`, all from `rng`.
std::unique_ptr<RequestSource> synthetic_requests(const ArrivalConfig& arrivals, const LengthFits& lengths,
                                                  RandomStream rng);

/// Standard normal and gamma variates (our own, so that every standard library gives the same numbers).
double normal_variate(RandomStream& rng);
double gamma_variate(RandomStream& rng, double shape);  // scale 1

}  // namespace lcsim::inf
