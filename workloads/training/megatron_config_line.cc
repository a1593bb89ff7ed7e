// MegatronTraining's configuration from a pasted Megatron-LM command line (megatron_args): the line imported as
// keys with the keys written beside it on top (MegatronConfig::visit), Megatron's own checks of the line, and the
// essentials it leaves out, named in the run header (name_defaults_taken). The keys themselves: megatron_config.cc.
#include <algorithm>
#include <string>

#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"

namespace lcsim::wl {

void MegatronConfig::visit(Section& s) {
  if (s.mode() == Section::Mode::kParse && s.has("megatron_args")) {
    // The pasted command line first, then the keys written out on top of it; all parsed as one mapping.
    const ConfigValue* raw = s.node()->find("megatron_args");
    if (!raw->is_scalar()) {
      s.error("megatron_args", "expected a Megatron-LM command line as one string");
      s.skip_unknown_keys();
      return;
    }
    // An error of the line as a whole (Megatron's own checks of its arguments), at the line's key.
    const auto line_error = [&](const std::string& message) {
      s.diagnostics()->add(raw->location, s.child_path("megatron_args"), message);
    };
    try {
      ImportedArgs imported = import_megatron_args(raw->scalar, raw->location);
      ignored_args = imported.ignored;
      assumed_args = imported.assumed;
      not_modelled_args = imported.not_modelled;
      ConfigValue merged = imported.tree;
      merge_into(merged, *s.node());
      // `type` belongs to the enclosing workload section, which has consumed it already.
      std::erase_if(merged.children, [](const ConfigValue& v) { return v.key == "type"; });
      Section inner = Section::parser(&merged, s.path(), s.diagnostics());
      visit_keys(inner);
      inner.finish();
      name_defaults_taken(merged, imported.tree);
      flags_read.insert(flags_read.end(), imported.read_as.begin(), imported.read_as.end());
      // --delay-wgrad-compute is not costed (run header), but Megatron-core's TransformerConfig checks it against the
      // settings the line and the keys give: the 1F1B all-to-all overlap whose gaps the deferred weight gradients
      // fill, and Transformer Engine's grouped GEMM rather than the legacy one.
      const bool delay_wgrad = std::any_of(not_modelled_args.begin(), not_modelled_args.end(), [](const std::string& a) {
        return a.rfind("--delay-wgrad-compute", 0) == 0;
      });
      if (delay_wgrad && !overlap_moe_expert_parallel_comm) {
        line_error("--delay-wgrad-compute needs --overlap-moe-expert-parallel-comm "
                   "(overlap_moe_expert_parallel_comm: Megatron-core's TransformerConfig asserts it)");
      }
      if (delay_wgrad && moe_grouped_gemm == "single_kernel") {
        line_error("--delay-wgrad-compute is not supported with --moe-use-legacy-grouped-gemm (moe_grouped_gemm: "
                   "single_kernel; Megatron-core's TransformerConfig asserts it)");
      }
      // Megatron-core's TransformerConfig also asserts virtual pipeline stages for the 1F1B all-to-all overlap when
      // PP > 1 (its combined forward-backward schedule is the interleaved one's). A command line stands for a run
      // Megatron would start, so it is checked here; the scenario key alone still runs the overlap with 1F1B, lcsim's
      // side stream standing in (a what-if Megatron cannot run; docs/training.md).
      if (overlap_moe_expert_parallel_comm && pipeline_model_parallel_size > 1 && pipeline_schedule != "dualpipe" &&
          virtual_stages() < 2) {
        line_error("--overlap-moe-expert-parallel-comm with --pipeline-model-parallel-size " +
                       std::to_string(pipeline_model_parallel_size) +
                       " needs virtual pipeline stages (--num-layers-per-virtual-pipeline-stage, "
                       "--num-virtual-stages-per-pipeline-rank or --pipeline-model-parallel-layout: "
                       "Megatron-core's TransformerConfig asserts it)");
      }
    } catch (const InputError& e) {
      for (const auto& d : e.diagnostics()) line_error(d.message);
      if (e.diagnostics().empty()) line_error(e.what());
    }
    s.skip_unknown_keys();
    return;
  }
  visit_keys(s);
}

void MegatronConfig::name_defaults_taken(const ConfigValue& given, const ConfigValue& line) {
  // Keys a Megatron-LM run cannot do without, or whose lcsim default differs from Megatron-LM's own: when a pasted
  // command line (and the keys written beside it) leaves one out, the run header names the value used.
  auto has = [&given](const std::string& section, const std::string& key) {
    const ConfigValue* node = section.empty() ? &given : given.find(section);
    return node && node->find(key);
  };
  auto note = [this](const std::string& key, const std::string& value, const std::string& megatron) {
    defaults_taken.push_back(key + " = " + value + " (Megatron-LM: " + megatron + ")");
  };
  defaults_taken.clear();
  const auto str = [](int v) { return std::to_string(v); };
  if (!has("model", "num_layers")) note("model.num_layers", str(model.num_layers), "required, --num-layers");
  if (!has("model", "hidden_size")) note("model.hidden_size", str(model.hidden_size), "required, --hidden-size");
  if (!has("model", "num_attention_heads")) {
    note("model.num_attention_heads", str(model.num_attention_heads), "required, --num-attention-heads");
  }
  if (!has("model", "seq_length")) note("model.seq_length", str(model.seq_length), "required, --seq-length");
  if (!has("model", "vocab_size")) {
    note("model.vocab_size", str(model.vocab_size),
         "from the tokenizer, padded to a multiple of 128 x TP: give --vocab-size, or --tokenizer-type "
         "HuggingFaceTokenizer with a --tokenizer-model of a family lcsim knows (docs/training-megatron-args.md)");
  }
  if (!has("", "global_batch_size")) {
    note("global_batch_size", str(global_batch_size), "micro-batch size x data-parallel size");
  }
  if (!has("", "micro_batch_size")) note("micro_batch_size", str(micro_batch_size), "required, --micro-batch-size");
  if (!has("", "precision")) note("precision", precision, "fp32 without --bf16, --fp16 or --fp8-format");
  if (!has("", "use_flash_attn")) {
    note("use_flash_attn", use_flash_attn ? "true (fused attention)" : "false (unfused attention)",
         "--attention-backend auto: flash or cuDNN fused attention with --transformer-impl transformer_engine, the "
         "default (cuDNN on Hopper: lcsim's attention_backend auto); unfused with --transformer-impl local or "
         "--attention-backend unfused");
  }
  if (model.num_experts > 0 && !has("", "moe_token_dispatcher_type")) {
    note("moe_token_dispatcher_type", moe_token_dispatcher_type,
         "allgather without --moe-token-dispatcher-type (lcsim: moe_token_dispatcher_type: allgather)");
  }
  if (model.num_experts > 0 && !has("", "moe_grouped_gemm")) {
    note("moe_grouped_gemm", moe_grouped_gemm,
         "SequentialMLP, one MLP module per local expert, without --moe-grouped-gemm (lcsim: moe_grouped_gemm: "
         "sequential); --moe-grouped-gemm is TEGroupedMLP (multi_stream)");
  }
  if (recompute_granularity == "full" && !has("", "recompute_method")) {
    note("recompute_method", recompute_method + ", recompute_num_layers = " + std::to_string(recompute_num_layers),
         "required with --recompute-granularity full: --recompute-method uniform|block --recompute-num-layers N");
  }
  // The column-parallel input-gradient all-reduce without sequence parallelism: async beside the weight-gradient
  // GEMM since 2022 unless --no-async-tensor-model-parallel-allreduce, which later versions ignore (docs/training.md).
  flags_read.clear();
  const std::string async = "tensor_parallel_backward_async_allreduce";
  if (tensor_model_parallel_size > 1 && !sequence_parallel) {
    if (!has("", async)) {
      note(async, "true (input-gradient all-reduce beside the weight-gradient GEMM)",
           "async since 2022 (allreduce_dgrad), exposed in the 2021 code; set false for that code");
    } else if (line.find(async) && !tensor_parallel_backward_async_allreduce) {
      flags_read.push_back("--no-async-tensor-model-parallel-allreduce -> " + async +
                           " = false (honoured, as Megatron-LM did from 2022; versions that mark it deprecated "
                           "ignore it and overlap the all-reduce: set the key true for them)");
    }
  }
}

}  // namespace lcsim::wl
