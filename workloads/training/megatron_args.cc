#include "workloads/training/megatron_args.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "sim/config.h"
#include "sim/error.h"

namespace lcsim::wl {

namespace {

// How one Megatron argument maps onto a key: a value argument, or a flag that sets the key to a fixed value.
struct ArgRule {
  std::string key;
  const char* flag_value = nullptr;  // non-null: a store_true style flag
};

const std::map<std::string, ArgRule>& rules() {
  static const std::map<std::string, ArgRule> r = [] {
    std::map<std::string, ArgRule> m;
    // Value arguments whose key is the argument's own name with underscores (under `prefix`).
    auto same_name = [&m](const std::string& prefix, std::initializer_list<const char*> args) {
      for (const char* k : args) {
        std::string key = k;
        std::replace(key.begin(), key.end(), '-', '_');
        m[k] = {prefix + key};
      }
    };
    same_name("model.", {"num-layers", "hidden-size", "ffn-hidden-size", "num-attention-heads", "num-query-groups",
                         "kv-channels", "seq-length", "vocab-size", "normalization", "position-embedding-type",
                         "num-experts", "moe-router-topk", "moe-ffn-hidden-size",
                         "moe-shared-expert-intermediate-size", "moe-layer-freq", "moe-router-num-groups",
                         "moe-router-group-topk"});
    m["group-query-attention"] = {"model.group_query_attention", "true"};
    m["swiglu"] = {"model.swiglu", "true"};
    m["disable-bias-linear"] = {"model.add_bias_linear", "false"};
    m["untie-embeddings-and-output-weights"] = {"model.untie_embeddings_and_output_weights", "true"};
    m["use-rotary-position-embeddings"] = {"model.position_embedding_type", "rope"};
    m["no-position-embedding"] = {"model.position_embedding_type", "rope"};
    same_name("", {"global-batch-size", "micro-batch-size", "tensor-model-parallel-size",
                   "pipeline-model-parallel-size", "num-layers-per-virtual-pipeline-stage", "context-parallel-size",
                   "expert-model-parallel-size", "recompute-granularity", "moe-token-dispatcher-type"});
    // The job's length, not the iterations to simulate: a pasted production line says --train-iters 500000.
    m["train-iters"] = {"job_train_iters"};
    m["sequence-parallel"] = {"sequence_parallel", "true"};
    m["use-distributed-optimizer"] = {"use_distributed_optimizer", "true"};
    m["use-torch-fsdp2"] = {"use_torch_fsdp2", "true"};
    m["overlap-grad-reduce"] = {"overlap_grad_reduce", "true"};
    m["overlap-param-gather"] = {"overlap_param_gather", "true"};
    m["tp-comm-overlap"] = {"tp_comm_overlap", "true"};
    m["overlap-moe-expert-parallel-comm"] = {"overlap_moe_expert_parallel_comm", "true"};
    m["accumulate-allreduce-grads-in-fp32"] = {"accumulate_allreduce_grads_in_fp32", "true"};
    m["use-flash-attn"] = {"use_flash_attn", "true"};
    m["recompute-activations"] = {"recompute_granularity", "selective"};
    m["bf16"] = {"precision", "bf16"};
    m["fp16"] = {"precision", "fp16"};
    m["fp8-format"] = {"precision"};  // its value (hybrid, e4m3) is replaced by fp8 below
    return m;
  }();
  return r;
}

// Arguments that change numerics, data, logging or checkpointing but not the time or memory lcsim models.
// Value arguments take one value; flags none.
const std::set<std::string>& ignored_values() {
  static const std::set<std::string> s = {
      "lr", "min-lr", "lr-decay-style", "lr-decay-iters", "lr-decay-samples", "lr-warmup-iters",
      "lr-warmup-samples", "lr-warmup-fraction", "lr-warmup-init", "weight-decay", "start-weight-decay",
      "end-weight-decay", "clip-grad", "adam-beta1", "adam-beta2", "adam-eps", "init-method-std",
      "attention-dropout", "hidden-dropout", "data-path", "train-data-path", "valid-data-path", "test-data-path",
      "split", "tokenizer-type", "tokenizer-model", "vocab-file", "merge-file", "save", "load", "save-interval",
      "eval-interval", "eval-iters", "log-interval", "tensorboard-dir", "wandb-project", "wandb-exp-name",
      "seed", "train-samples", "max-position-embeddings", "rotary-base", "rotary-percent", "norm-epsilon",
      "distributed-backend", "distributed-timeout-minutes", "data-cache-path", "num-workers", "exit-interval",
      "exit-duration-in-mins", "loss-scale", "initial-loss-scale", "min-loss-scale", "loss-scale-window",
      "hysteresis", "attention-softmax-in-fp32", "moe-router-load-balancing-type", "moe-aux-loss-coeff",
      "moe-z-loss-coeff", "moe-grouped-gemm", "moe-enable-deepep", "transformer-impl",
      "fp8-amax-history-len", "fp8-amax-compute-algo",
      "ckpt-format", "timing-log-level", "data-parallel-random-init", "make-vocab-size-divisible-by",
      "tensorboard-log-interval", "log-throughput", "use-mcore-models", "no-masked-softmax-fusion",
      "no-bias-gelu-fusion", "no-bias-dropout-fusion", "no-gradient-accumulation-fusion",
      "apply-layernorm-1p",
      "no-async-tensor-model-parallel-allreduce", "log-timers-to-tensorboard", "log-memory-to-tensorboard",
      "log-validation-ppl-to-tensorboard", "no-load-optim", "no-load-rng", "no-save-optim", "no-save-rng",
      "use-checkpoint-args", "mock-data", "moe-router-dtype", "cross-entropy-loss-fusion",
      "manual-gc", "manual-gc-interval", "check-for-nan-in-loss-and-grad", "bias-swiglu-fusion", "no-rope-fusion", "calculate-per-token-loss"};
  return s;
}

std::vector<std::string> tokenize(std::string text) {
  // Backslash-newline continuations and quotes as a shell would (no variables or escapes beyond that).
  std::string clean;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == '\r')) continue;
    if (text[i] == '"' || text[i] == '\'') continue;
    clean += text[i];
  }
  std::vector<std::string> out;
  std::stringstream ss(clean);
  std::string tok;
  while (ss >> tok) out.push_back(tok);
  return out;
}

}  // namespace

std::vector<std::string> megatron_arg_names() {
  std::vector<std::string> out;
  for (const auto& [k, r] : rules()) out.push_back(k);
  out.push_back("recompute-method");
  out.push_back("recompute-num-layers");
  return out;
}

std::vector<std::string> megatron_ignored_arg_names() {
  return {ignored_values().begin(), ignored_values().end()};
}

ImportedArgs import_megatron_args(const std::string& args, const SourceLocation& where) {
  std::vector<std::string> toks = tokenize(args);
  // Skip a launcher and the script: everything up to the last token naming a .py file, if any.
  for (size_t i = toks.size(); i-- > 0;) {
    if (toks[i].size() > 3 && toks[i].substr(toks[i].size() - 3) == ".py") {
      toks.erase(toks.begin(), toks.begin() + static_cast<long>(i) + 1);
      break;
    }
  }
  auto fail = [&](const std::string& msg) -> void {
    throw InputError(std::vector<Diagnostic>{{where, "megatron_args", msg}});
  };
  ImportedArgs out;
  out.tree.kind = ConfigValue::Kind::kMap;
  out.tree.location = where;
  auto put = [&](const std::string& path, const std::string& value) {
    ConfigValue* node = &out.tree;
    std::stringstream ss(path);
    std::string part;
    std::vector<std::string> parts;
    while (std::getline(ss, part, '.')) parts.push_back(part);
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      ConfigValue* next = node->find(parts[i]);
      if (!next) {
        ConfigValue m;
        m.kind = ConfigValue::Kind::kMap;
        m.location = m.key_location = where;
        next = &node->set(parts[i], m);
        next->key_location = where;
      }
      node = next;
    }
    ConfigValue v;
    v.kind = ConfigValue::Kind::kScalar;
    v.scalar = value;
    v.location = where;
    ConfigValue& set = node->set(parts.back(), v);
    set.key_location = where;
  };
  for (size_t i = 0; i < toks.size(); ++i) {
    const std::string& tok = toks[i];
    if (tok.rfind("--", 0) != 0) fail("expected an --argument, got '" + tok + "'");
    std::string name = tok.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    std::replace(name.begin(), name.end(), '_', '-');
    auto next_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 < toks.size() && toks[i + 1].rfind("--", 0) != 0) {
        value = toks[++i];
        return true;
      }
      return false;
    };
    if (name == "recompute-method" || name == "recompute-num-layers") {
      // Uniform recomputation in groups of N layers recomputes every layer, as recompute_granularity: full
      // does; block recomputes only the first N layers of each stage, which lcsim does not model.
      if (!next_value()) fail("--" + name + " needs a value");
      if (name == "recompute-method" && value != "uniform") {
        fail("--recompute-method " + value + " (recomputing only some layers) is not modelled; use uniform");
      }
      out.ignored.push_back("--" + name + " (uniform: every layer)");
      continue;
    }
    if (auto it = rules().find(name); it != rules().end()) {
      if (it->second.flag_value) {
        put(it->second.key, it->second.flag_value);
      } else {
        if (!next_value()) fail("--" + name + " needs a value");
        put(it->second.key, name == "fp8-format" ? "fp8" : value);
      }
    } else if (ignored_values().count(name)) {
      next_value();  // flags take none; a value argument takes its value along
      out.ignored.push_back("--" + name);
    } else {
      std::vector<std::string> known = megatron_arg_names();
      known.insert(known.end(), ignored_values().begin(), ignored_values().end());
      const std::string best = did_you_mean(name, known);
      fail("unknown Megatron argument '--" + name + "'" + (best.empty() ? "" : "; did you mean '--" + best + "'?") +
           " (the arguments lcsim knows are listed in docs/training.md)");
    }
  }
  return out;
}

}  // namespace lcsim::wl
