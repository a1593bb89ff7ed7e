#include "workloads/training/module_calls.h"

#include <string_view>

#include "workloads/training/gpt_model.h"

namespace lcsim::wl {

namespace {

bool cp_step(std::string_view name) { return name.starts_with("attention_step") || name.starts_with("attention_chunk"); }

// A GEMM that is not a module call of its own: a weight gradient (its layer's backward call holds it), the router's
// gate (costed by its launches) and an unfused attention's second GEMM (one core-attention call with the first).
bool inside_another_call(const hw::OpWork& op) {
  const std::string_view name = op.name;
  return is_wgrad(op) || name.starts_with("router") || name.starts_with("attn_values");
}

}  // namespace

size_t ModuleCalls::count(const hw::OpWork& op) {
  switch (op.op_class) {
    case hw::OpClass::kGemm:
      return inside_another_call(op) ? 0 : 1;
    case hw::OpClass::kAttention: {
      if (!cp_step(op.name)) return 1;
      bool& seen = op.attention.backward ? cp_backward_ : cp_forward_;
      if (seen) return 0;
      seen = true;
      return 1;
    }
    case hw::OpClass::kMemory:
      return 0;
  }
  return 0;
}

size_t ModuleCalls::count(const std::vector<hw::OpWork>& ops) {
  size_t n = 0;
  for (const hw::OpWork& op : ops) n += count(op);
  return n;
}

size_t module_calls(const std::vector<hw::OpWork>& ops) { return ModuleCalls().count(ops); }

size_t expert_module_calls(const std::vector<hw::OpWork>& ops) { return per_expert_calls(ops).modules; }

}  // namespace lcsim::wl
