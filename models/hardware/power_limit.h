// GPU power limits (`nvidia-smi -pl`): how a board power limit below the part's TDP slows the kernels that are
// bound by the compute clock. The GPU enforces a limit by lowering its SM clock until the board draws no more than
// the limit (dynamic voltage and frequency scaling); the HBM clock is not lowered. So under a limit:
//   - GEMMs and attention (compute-bound) run at clock_fraction x their rate at TDP,
//   - memory-bound kernels (norms, activations, optimizer, ...) and collectives keep their speed,
//   - a computing GPU draws the limit instead of its TDP (power.h charges min(limit, tdp)).
// The clock follows the measured power-clock relation of a training step (DvfsPowerCurve), normalized to the part's
// TDP: at power fraction p = limit / tdp the clock fraction x solves p = a x + (1 - a) x^n (a linear term for the
// dynamic power at a fixed voltage, a steep one for the voltage the clock needs above the knee). Its constants are
// fitted to a measured A100 SXM sweep and assumed for other parts (docs/calibration.md, "Power limits").
#pragma once

#include "sim/config.h"
#include "sim/units.h"

namespace lcsim::hw {

/// How the clock of compute-bound kernels follows a power limit, in fractions of the part's TDP and of the clock it
/// sustains there.
class PowerLimitModel {
 public:
  virtual ~PowerLimitModel() = default;
  /// The power fraction (of TDP) a compute-bound training step draws at clock fraction `x` (of its clock at TDP).
  virtual double power_fraction(double x) const = 0;
  /// The clock fraction that draws power fraction `p`: 1 at p >= 1, falling to 0 as p does.
  virtual double clock_fraction(double p) const = 0;
};

/// p = linear_share x + (1 - linear_share) x^exponent, inverted by bisection.
class DvfsPowerCurve final : public PowerLimitModel {
 public:
  struct Config {
    // Fitted to Perseus's A100 SXM profile of a GPT-3 175B pipeline stage (bf16) at locked clocks of 855-1290 MHz
    // (ml-energy/zeus sosp24_data; bench/fit_power_clock.py; docs/calibration.md): P = 266.7 W/GHz f +
    // 2.21 W f^13.49, which draws 400 W (A100's TDP) at 1,277 MHz; 0.851 of that is the linear term.
    double linear_share = 0.8511;
    double exponent = 13.49;
    void visit(Section& s);
  };
  explicit DvfsPowerCurve(const Config& config) : config_(config) {}
  double power_fraction(double x) const override;
  double clock_fraction(double p) const override;

 private:
  Config config_;
};

}  // namespace lcsim::hw
