#include "apps/validation_status.h"

#include <algorithm>
#include <cstdio>

#include "apps/format.h"
#include "sim/config.h"
#include "sim/config_tree.h"
#include "sim/error.h"

namespace lcsim::app {

extern const char* const
    kValidationStatusYaml;  // generated from data/validation_status.yaml (apps/CMakeLists.txt)

std::string workload_kind(const std::string& workload_type, bool moe) {
  if (workload_type == "megatron" || workload_type == "gpt_data_parallel")
    return moe ? "MoE training" : "dense training";
  if (workload_type == "nccl_tests") return "collectives";
  if (workload_type == "traffic") return "synthetic traffic";
  if (workload_type == "chakra_replay") return "trace replay";
  return workload_type;
}

namespace {

/// "; this run is outside that range: 1.32 B parameters (validated: 405 B), 64 GPUs (validated: 8,192 to
/// 16,384)" when the run's size lies outside the family's rows; "" otherwise.
std::string outside(const ValidationFamily& f, double gpus, double parameters, double nodes) {
  std::string why;
  auto check = [&why](double x, const std::vector<double>& range, const std::string& what) {
    // Within 10% of the range counts as inside: lcsim's own parameter count of a published model differs a
    // little from the published one (e.g. DeepSeek-V3's attention), and a GPU count is a round number.
    if (x <= 0 || range.size() != 2 || (x >= 0.9 * range[0] && x <= 1.1 * range[1])) return;
    const std::string lo = format_count(range[0]), hi = format_count(range[1]);
    why += (why.empty() ? "" : ", ") + format_count(x) + " " + what + " (validated: " + lo +
           (lo == hi ? "" : " to " + hi) + ")";
  };
  check(parameters, f.parameters, "parameters");
  check(gpus, f.gpus, "GPUs");
  check(nodes, f.nodes, nodes == 1 ? "node" : "nodes");
  return why.empty() ? "" : "; this run is outside that range: " + why;
}

}  // namespace

ValidationStatus ValidationStatus::parse(const std::string& yaml_text, const std::string& source_name) {
  const ConfigValue tree = parse_yaml_text(yaml_text, source_name);
  Diagnostics diags;
  ValidationStatus out;
  Section s = Section::parser(&tree, "", &diags);
  s.list("families", "scenario families and their validation", out.families_,
         [](Section& f, ValidationFamily& v) {
           f.required("family", v.family, "name shown in the summary, e.g. A100 dense training");
           f.values("parts", v.parts, "catalog part names");
           f.choice("workload", v.workload,
                    {"dense training", "MoE training", "collectives", "synthetic traffic", "trace replay"},
                    "workload kind");
           f.choice("doc_table", v.doc_table, {"training", "nccl", "scaleup"},
                    "tables of docs/validation.md holding the rows");
           f.required("doc_part", v.doc_part, "how docs/validation.md names the part");
           f.field("evidence", v.evidence, "what one row is");
           f.field("covers", v.covers, "what the rows span");
           f.values("gpus", v.gpus, "[fewest, most] GPUs of the rows");
           f.values("parameters", v.parameters, "[smallest, largest] model parameters of the rows");
           f.values("nodes", v.nodes, "[fewest, most] nodes (scale-up domains) the rows span");
           for (const auto& [range, key] : {std::pair{&v.gpus, "gpus"}, std::pair{&v.parameters, "parameters"},
                                            std::pair{&v.nodes, "nodes"}}) {
             if (f.mode() == Section::Mode::kParse && !range->empty() &&
                 (range->size() != 2 || (*range)[0] > (*range)[1] || (*range)[0] <= 0)) {
               f.error(key, "expected [lowest, highest], both positive");
             }
           }
           f.values("sources", v.sources, "publications or data sets of the rows");
           f.required("rows", v.rows, "rows in docs/validation.md", Range::at_least(1));
           f.required("mean_abs_error_pct", v.mean_abs_error_pct, "mean |error| over the rows, in percent",
                      Range::at_least(0));
           f.required("max_abs_error_pct", v.max_abs_error_pct, "largest |error| of a row, in percent",
                      Range::at_least(0));
           if (f.mode() == Section::Mode::kParse && v.parts.empty())
             f.error("parts", "needs at least one part");
         });
  s.finish();
  diags.throw_if_any();
  return out;
}

const ValidationStatus& ValidationStatus::builtin() {
  static const ValidationStatus status = parse(kValidationStatusYaml, "data/validation_status.yaml");
  return status;
}

const ValidationFamily* ValidationStatus::find(const std::vector<std::string>& parts,
                                               const std::string& kind) const {
  if (parts.empty()) return nullptr;
  for (const auto& f : families_) {
    if (f.workload != kind) continue;
    const bool all = std::all_of(parts.begin(), parts.end(), [&f](const std::string& p) {
      return std::find(f.parts.begin(), f.parts.end(), p) != f.parts.end();
    });
    if (all) return &f;
  }
  return nullptr;
}

std::string ValidationStatus::confidence(const std::vector<std::string>& parts, const std::string& kind,
                                         double gpus, double parameters, double nodes) const {
  auto pct = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", x);
    return std::string(buf);
  };
  auto rows = [](const ValidationFamily& f) {
    return std::to_string(f.rows) + " " +
           (f.rows == 1 && f.evidence.size() > 1 && f.evidence.back() == 's'
                ? f.evidence.substr(0, f.evidence.size() - 1)
                : f.evidence);
  };
  if (const ValidationFamily* f = find(parts, kind)) {
    return f->family + ": validated on " + rows(*f) + (f->covers.empty() ? "" : " (" + f->covers + ")") +
           ", mean |error| " + pct(f->mean_abs_error_pct) + ", max " + pct(f->max_abs_error_pct) +
           " (docs/validation.md)" + outside(*f, gpus, parameters, nodes);
  }
  // A part derived from a catalog part without a name of its own (PartCatalog::resolve names it "BASE (derived)"):
  // the base's evidence, said to be the base's, since its overrides are not what the rows measured (the rows
  // themselves derive parts, e.g. H100 with NVLS off, so it is the nearest evidence there is).
  static const std::string kDerived = " (derived)";
  std::vector<std::string> bases;
  for (const auto& p : parts) {
    bases.push_back(p.size() > kDerived.size() && p.ends_with(kDerived) ? p.substr(0, p.size() - kDerived.size())
                                                                       : p);
  }
  if (bases != parts) {
    if (find(bases, kind)) {
      std::string derived;
      for (size_t i = 0; i < parts.size(); ++i) {
        if (bases[i] != parts[i] && derived.find(bases[i]) == std::string::npos)
          derived += (derived.empty() ? "" : ", ") + bases[i];
      }
      return "a part derived from " + derived + " (its overrides are not validated as such); " +
             confidence(bases, kind, gpus, parameters, nodes);
    }
  }
  std::string what;
  for (const auto& p : parts) what += (what.empty() ? "" : " + ") + p;
  std::string line = "not validated for " + (parts.size() > 1 ? "mixed " : std::string()) + what + " " + kind;
  // The nearest evidence: the same kind of work on other parts.
  std::string nearest;
  for (const auto& f : families_) {
    if (f.workload == kind)
      nearest +=
          (nearest.empty() ? "" : "; ") + f.family + " " + pct(f.mean_abs_error_pct) + " over " + rows(f);
  }
  return line + (nearest.empty() ? " (nothing of this kind is in docs/validation.md)"
                                 : " (docs/validation.md has " + nearest + ")");
}

}  // namespace lcsim::app
