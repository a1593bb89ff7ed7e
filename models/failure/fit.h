// Maximum-likelihood fits of time distributions to observed samples (repair times, times between failures), so
// that failure processes can be parameterised from real traces (docs/calibration.md says which were fitted).
#pragma once

#include <vector>

#include "models/failure/distribution.h"

namespace lcsim::failure {

/// Exponential: mean = sample mean. Samples must be > 0.
DistributionConfig fit_exponential(const std::vector<double>& seconds);
/// Lognormal: mu, sigma = mean and (population) sd of ln(samples); returned as its mean and sigma. Samples <= 0
/// are skipped (a repair logged as instantaneous has no logarithm); at least two are needed.
DistributionConfig fit_lognormal(const std::vector<double>& seconds);
/// Weibull: the shape k solving the MLE equation (Newton's method on the profile likelihood), scale from k;
/// returned as its mean and shape. Samples <= 0 are skipped; at least two are needed.
DistributionConfig fit_weibull(const std::vector<double>& seconds);

}  // namespace lcsim::failure
