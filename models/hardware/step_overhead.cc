#include "models/hardware/step_overhead.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "models/hardware/op_cost.h"

namespace lcsim::hw {

Duration HostIssue::group_time(Duration gpu, size_t kernels) const { return group_time(gpu, kernels, 0, 1); }

Duration HostIssue::group_time(Duration gpu, size_t kernels, size_t per_expert, int experts) const {
  return work(gpu, kernels, per_expert, experts).time;
}

HostIssue::Work HostIssue::work(Duration gpu, size_t kernels, size_t per_expert, int experts, size_t modules,
                                size_t per_expert_gemms, size_t expert_modules) const {
  const size_t gemms = std::min(per_expert_gemms, per_expert);
  const double others = static_cast<double>(experts > 1 ? experts - 1 : 0);
  Duration issue = config_.op_time * static_cast<double>(kernels) +
                   config_.expert_launch_time * (static_cast<double>(per_expert - gemms) * others) +
                   config_.expert_gemm_launch_time * (static_cast<double>(gemms) * others);
  if (modules > 0) issue += config_.module_time * static_cast<double>(modules);
  if (expert_modules > 0) issue += config_.expert_module_time * (static_cast<double>(expert_modules) * others);
  if (config_.serial) return {gpu + issue, Duration(), issue, issue};
  const Duration time = std::max(gpu, issue);
  return {time, config_.runahead ? time - gpu : Duration(), issue, time - gpu};
}

std::string host_factor_label(const std::set<const AcceleratorSpec*>& parts) {
  std::map<std::string, double> slower;  // by name: the same label whatever the parts' addresses
  for (const AcceleratorSpec* p : parts) {
    if (p->host_op_time_factor != 1) slower[p->name] = p->host_op_time_factor;
  }
  std::string label;
  for (const auto& [name, f] : slower) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s%.4g (%s's host)", label.empty() ? "" : ", ", f, name.c_str());
    label += buf;
  }
  return label;
}

Bytes optimizer_step_bytes(const OptimizerStep& s) {
  return Bytes::of(s.updated_params * (s.grad_bytes + 14.0 + 2 * s.moment_bytes) + s.buffer_params * s.grad_bytes);
}

Duration optimizer_step_time(const AcceleratorSpec& part, const OptimizerStep& s) {
  // memory_time counts one launch; four more kernels follow it.
  return memory_time(part, optimizer_step_bytes(s)) + part.calibration.kernel_launch * 4.0;
}

}  // namespace lcsim::hw
