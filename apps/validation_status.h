// How far to trust a run: the validation status of each scenario family (accelerator part x workload kind),
// read from data/validation_status.yaml (compiled into lcsim), which summarises the rows of
// docs/validation.md (tests/validation_status_test.cc checks that the two agree).
#pragma once

#include <string>
#include <vector>

namespace lcsim::app {

/// Workload kinds, as families name them: "dense training", "MoE training", "collectives", "synthetic
/// traffic", "trace replay".
std::string workload_kind(const std::string& workload_type, bool moe);

/// One scenario family and what it was validated on.
struct ValidationFamily {
  std::string family;              // "A100 dense training"
  std::vector<std::string> parts;  // catalog names (lcsim list accelerators) the family covers
  std::string workload;            // a workload_kind()
  std::string doc_table;           // which tables of docs/validation.md hold its rows: training or nccl
  std::string doc_part;            // how those rows (or their section heading) name the part: "A100"
  std::string evidence = "published runs";  // what a row is
  std::string covers;                       // what the rows span, in a few words
  std::vector<double> gpus;                 // [fewest, most] GPUs (ranks) of its rows; empty: not given
  std::vector<double> parameters;  // [smallest, largest] model parameters of its rows; empty: not given
  std::vector<double> nodes;       // [fewest, most] nodes (scale-up domains) its rows span; empty: not given
  std::vector<std::string> sources;
  int rows = 0;
  double mean_abs_error_pct = 0;
  double max_abs_error_pct = 0;
};

class ValidationStatus {
 public:
  /// Parses the YAML text of data/validation_status.yaml; throws InputError naming `source_name`, line and
  /// key.
  static ValidationStatus parse(const std::string& yaml_text, const std::string& source_name);
  /// data/validation_status.yaml as compiled into this program.
  static const ValidationStatus& builtin();

  const std::vector<ValidationFamily>& families() const { return families_; }
  /// The family of these parts (every GPU of the run) and workload kind; null when none was validated.
  const ValidationFamily* find(const std::vector<std::string>& parts, const std::string& kind) const;
  /// "A100 dense training: validated on 11 published runs (...), mean |error| 7.6%, max 14.5%
  /// (docs/validation.md)" or "not validated for H100-SXM-80GB collectives (...)".
  /// With `gpus`, `parameters` and `nodes` of the run (0: unknown), a validated line also says when the run lies
  /// outside the range of GPU counts, model sizes or nodes (scale-up domains) the rows cover.
  std::string confidence(const std::vector<std::string>& parts, const std::string& kind, double gpus = 0,
                         double parameters = 0, double nodes = 0) const;

 private:
  std::vector<ValidationFamily> families_;
};

}  // namespace lcsim::app
