#include "workloads/training/batch_schedule.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

namespace lcsim::wl {
namespace {

// Batch sizes a schedule may step through: more is no schedule anyone runs, and each costs a loop step.
constexpr int64_t kMaxBatches = 100000;

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

BatchSchedule BatchSchedule::rampup(int64_t start, int64_t increment, int64_t samples, int64_t global) {
  // RampupBatchsizeNumMicroBatchesCalculator.__init__'s assertions, and its division by the number of increments.
  if (start <= 0) throw std::invalid_argument("the start batch size must be positive, got " + str(start));
  if (increment <= 0) throw std::invalid_argument("the batch size increment must be positive, got " + str(increment));
  if (samples <= 0) {
    throw std::invalid_argument("the ramp-up samples must be positive, got " + str(samples) +
                                (samples == 0 ? " (Megatron-core asserts >= 0, then divides 0 samples by their 0 per "
                                                "increment)" : ""));
  }
  const int64_t diff = global - start;
  if (diff <= 0) {
    throw std::invalid_argument("the start batch size (" + str(start) + ") must be less than the global batch size (" +
                                str(global) + "): Megatron-core divides the ramp-up samples by (global - start) / "
                                "increment increments" + (diff == 0 ? ", here 0" : ""));
  }
  if (diff % increment != 0) {
    throw std::invalid_argument("global batch size - start (" + str(global) + " - " + str(start) + " = " + str(diff) +
                                ") must be a multiple of the increment (" + str(increment) + ")");
  }
  if (diff / increment > kMaxBatches) {
    throw std::invalid_argument(str(diff / increment) + " increments, more than lcsim steps through (" +
                                str(kMaxBatches) + ")");
  }
  BatchSchedule s;
  s.kind_ = Kind::kRampup;
  s.global_ = global;
  s.start_ = start;
  s.increment_ = increment;
  s.samples_ = samples;
  s.per_increment_ = static_cast<double>(samples) / static_cast<double>(diff / increment);
  return s;
}

BatchSchedule BatchSchedule::steps(const std::string& text, int64_t seq_length) {
  BatchSchedule s;
  s.kind_ = Kind::kSteps;
  s.text_ = text;
  std::istringstream in(text);
  std::string pair;
  int64_t last_tokens = -1;
  while (in >> pair) {
    const size_t colon = pair.find(':');
    auto bad = [&pair](const std::string& why) { return std::invalid_argument("'" + pair + "': " + why); };
    if (colon == std::string::npos) throw bad("expected THRESHOLD:BATCH");
    std::string threshold = pair.substr(0, colon);
    const std::string batch = pair.substr(colon + 1);
    double scale = 1;
    if (!threshold.empty()) {
      switch (std::toupper(static_cast<unsigned char>(threshold.back()))) {
        case 'K': scale = 1e3; break;
        case 'M': scale = 1e6; break;
        case 'B': scale = 1e9; break;
        case 'T': scale = 1e12; break;
        default: break;
      }
      if (scale > 1) threshold.pop_back();
    }
    auto digits = [](const std::string& x) {
      return !x.empty() && x.size() <= 15 && std::all_of(x.begin(), x.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(threshold)) throw bad("the threshold must be a whole number of tokens, with K, M, B or T after it");
    if (!digits(batch) || std::stoll(batch) <= 0) throw bad("the batch size must be a positive whole number");
    const double tokens = static_cast<double>(std::stoll(threshold)) * scale;
    if (tokens > 1e18) throw bad("the threshold is more than 1e18 tokens");
    const auto t = static_cast<int64_t>(tokens);
    if (s.steps_.empty() && t != 0) throw bad("the first threshold must be 0");
    if (!s.steps_.empty() && t <= last_tokens) throw bad("thresholds must increase");
    if (!s.steps_.empty() && std::stoll(batch) < s.steps_.back().second) {
      throw bad("lcsim times schedules whose batch grows: each batch at least the one before");
    }
    if (static_cast<int64_t>(s.steps_.size()) >= kMaxBatches) throw bad("more than " + str(kMaxBatches) + " steps");
    last_tokens = t;
    s.steps_.push_back({t / std::max<int64_t>(1, seq_length), std::stoll(batch)});
  }
  if (s.steps_.empty()) throw std::invalid_argument("no THRESHOLD:BATCH pair");
  s.global_ = s.steps_.back().second;
  return s;
}

int64_t BatchSchedule::batch_at(int64_t consumed) const {
  switch (kind_) {
    case Kind::kNone:
      return global_;
    case Kind::kRampup: {
      // update(): the global batch once more than the ramp's samples are consumed, else start + int(consumed /
      // samples per increment) increments (a float division, truncated).
      if (consumed > samples_) return global_;
      const auto steps = static_cast<int64_t>(static_cast<double>(consumed) / per_increment_);
      return std::min(global_, start_ + steps * increment_);
    }
    case Kind::kSteps: {
      int64_t b = steps_.front().second;
      for (const auto& [threshold, batch] : steps_) {
        if (consumed >= threshold) b = batch;
      }
      return b;
    }
  }
  return global_;
}

std::vector<int64_t> BatchSchedule::batches() const {
  std::vector<int64_t> out;
  if (kind_ == Kind::kRampup) {
    for (int64_t b = start_; b < global_; b += increment_) out.push_back(b);
  } else if (kind_ == Kind::kSteps) {
    for (const auto& st : steps_) {
      if (st.second != global_) out.push_back(st.second);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  return out;
}

std::vector<BatchSchedule::Phase> BatchSchedule::phases(int64_t train_samples) const {
  std::vector<Phase> out;
  auto add = [&out](int64_t batch, int64_t n) {
    if (n <= 0) return;
    if (!out.empty() && out.back().batch == batch) out.back().iterations += n;
    else out.push_back({batch, n});
  };
  int64_t consumed = 0;
  if (kind_ == Kind::kRampup) {
    // update_train_iters: while consumed <= the ramp's samples and <= train_samples, one iteration of the batch at
    // `consumed`; then (train_samples - consumed) // global. Each batch's run of iterations is counted at once: the
    // largest j with consumed + j x batch still at that batch and inside both bounds.
    const int64_t bound = std::min(samples_, train_samples);
    while (consumed <= bound) {
      const int64_t b = batch_at(consumed);
      auto same = [&](int64_t j) {
        const int64_t x = consumed + j * b;
        return x <= bound && batch_at(x) == b;
      };
      int64_t j = 0;
      if (b < global_) {
        const double next = (static_cast<double>((b - start_) / increment_) + 1) * per_increment_;
        j = std::max<int64_t>(0, static_cast<int64_t>((std::min(next, static_cast<double>(bound)) - consumed) / b));
      } else {
        j = (bound - consumed) / b;
      }
      while (j > 0 && !same(j)) --j;
      while (same(j + 1)) ++j;
      add(b, j + 1);
      consumed += (j + 1) * b;
    }
    if (train_samples > consumed) add(global_, (train_samples - consumed) / global_);
    return out;
  }
  if (kind_ == Kind::kSteps) {
    // lcsim's reading (Megatron-LM's sample count for steps not read): each step's batch while fewer samples than
    // the next threshold are consumed, whole batches only.
    for (size_t i = 0; i < steps_.size(); ++i) {
      const int64_t b = steps_[i].second;
      if (consumed >= train_samples) break;
      int64_t n = (train_samples - consumed) / b;
      if (i + 1 < steps_.size()) {
        const int64_t next = steps_[i + 1].first;
        n = consumed >= next ? 0 : std::min(n, (next - consumed + b - 1) / b);
      }
      add(b, n);
      consumed += n * b;
    }
    return out;
  }
  add(global_, global_ > 0 ? train_samples / global_ : 0);
  return out;
}

std::string BatchSchedule::describe() const {
  if (kind_ == Kind::kRampup) {
    return "ramp-up from " + str(start_) + " by " + str(increment_) + " every " + str(static_cast<int64_t>(per_increment_)) +
           " samples to " + str(global_) + " after " + str(samples_) + " samples (Megatron-LM's --rampup-batch-size)";
  }
  if (kind_ == Kind::kSteps) return "steps \"" + text_ + "\" (Megatron-LM's --step-batch-size-schedule)";
  return "";
}

}  // namespace lcsim::wl
