#include "workloads/training/megatron_args.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "sim/config.h"
#include "sim/error.h"
#include "workloads/training/megatron_args_lists.h"
#include "workloads/training/moe_layer_freq.h"
#include "workloads/training/tokenizers.h"

namespace lcsim::wl {

namespace {

// One word of the command line and where it starts in it (1-based line and column of the megatron_args text).
struct Token {
  std::string text;
  int line = 1, column = 1;
};

// `unclosed`: where a quote that is never closed opens (its text the quote; empty where every quote closes).
std::vector<Token> tokenize(const std::string& text, Token* unclosed) {
  // Backslash-newline continuations, quotes and comments as a shell would (no variables or escapes beyond that): a
  // '#' that starts a word starts a comment to the end of its line, as in a pasted script's argument arrays.
  std::vector<Token> out;
  Token cur;
  bool in_word = false;
  char quote = 0;  // the quote a quoted part of the word opened (its spaces are the word's)
  int line = 1, column = 1;
  for (size_t i = 0; i < text.size(); ++i, ++column) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '\n' || text[i + 1] == '\r')) continue;
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else {
        cur.text += c;
      }
      if (c == '\n') ++line, column = 0;
      continue;
    }
    if (c == '#' && !in_word) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i, ++column;
      continue;
    }
    if (c == '\n') {
      if (in_word) out.push_back(cur);
      in_word = false;
      ++line;
      column = 0;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      if (in_word) out.push_back(cur);
      in_word = false;
      continue;
    }
    if (!in_word) {
      cur = Token{"", line, column};
      in_word = true;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      *unclosed = Token{std::string(1, c), line, column};
    } else {
      cur.text += c;
    }
  }
  if (in_word) out.push_back(cur);
  if (!quote) *unclosed = Token{};
  std::erase_if(out, [](const Token& t) { return t.text.empty(); });
  return out;
}

}  // namespace

std::vector<std::string> megatron_arg_names() {
  std::vector<std::string> out;
  for (const auto& [k, r] : megatron_lm::rules()) out.push_back(k);
  out.push_back("moe-layer-freq");
  out.push_back("recompute-modules");
  out.push_back("cuda-graph-scope");
  out.push_back("cuda-graph-modules");
  out.push_back("no-moe-router-aux-loss-fusion");
  out.push_back("hierarchical-context-parallel-sizes");
  out.push_back("rampup-batch-size");
  out.push_back("step-batch-size-schedule");
  for (const char* mapped : {"use-te", "use-tp-pp-dp-mapping", "moe-flex-dispatcher-backend", "main-params-dtype",
                             "main-grads-dtype"}) {
    out.push_back(mapped);
  }
  for (const auto& n : megatron_lm::listed_not_modelled()) out.push_back(n);
  for (const auto& [n, why] : megatron_lm::listed_rejected()) out.push_back(n);
  for (const auto& n : megatron_lm::not_modelled()) out.push_back(n);
  for (const auto& [n, why] : megatron_lm::rejected()) out.push_back(n);
  for (const char* read : {"optimizer", "encoder-num-layers", "encoder-seq-length", "padded-vocab-size", "squared-relu",
                           "quick-geglu", "train-samples", "tokenizer-type", "tokenizer-model", "save-interval",
                           "make-vocab-size-divisible-by", "split", "mock-data"}) {
    out.push_back(read);
  }
  out.push_back("moe-use-legacy-grouped-gemm");
  out.push_back("moe-layer-recompute");
  out.push_back("grad-reduce-in-bf16");
  for (const char* fusion : {"no-bias-gelu-fusion", "no-bias-swiglu-fusion", "bias-swiglu-fusion",
                             "cross-entropy-fusion-impl"}) {
    out.push_back(fusion);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> megatron_ignored_arg_names() {
  std::vector<std::string> out(megatron_lm::listed_ignored().begin(), megatron_lm::listed_ignored().end());
  out.insert(out.end(), megatron_lm::ignored().begin(), megatron_lm::ignored().end());
  std::sort(out.begin(), out.end());
  return out;
}

ImportedArgs import_megatron_args(const std::string& args, const SourceLocation& where) {
  Token unclosed;
  std::vector<Token> toks = tokenize(args, &unclosed);
  // Skip a launcher and the script: everything up to the last token naming a .py file, if any.
  for (size_t i = toks.size(); i-- > 0;) {
    const std::string& t = toks[i].text;
    if (t.size() > 3 && t.substr(t.size() - 3) == ".py") {
      toks.erase(toks.begin(), toks.begin() + static_cast<long>(i) + 1);
      break;
    }
  }
  // Every problem of the line is collected and reported at once, each with where it is in the line.
  const bool multiline = args.find('\n') != std::string::npos;
  std::vector<Diagnostic> problems;
  auto fail = [&](const Token& at, const std::string& msg) {
    const std::string pos = multiline ? "line " + std::to_string(at.line) + " column " + std::to_string(at.column)
                                      : "column " + std::to_string(at.column);
    problems.push_back({where, "megatron_args", "at " + pos + " of the command line: " + msg});
  };
  if (!unclosed.text.empty()) {
    fail(unclosed, "a " + unclosed.text + " quote that is never closed (a shell would wait for it)");
  }
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
  auto put_list = [&](const std::string& key, const std::vector<std::string>& items) {
    ConfigValue v;
    v.kind = ConfigValue::Kind::kSeq;
    v.location = where;
    for (const std::string& item : items) {
      ConfigValue c;
      c.kind = ConfigValue::Kind::kScalar;
      c.scalar = item;
      c.location = where;
      v.children.push_back(c);
    }
    out.tree.set(key, v).key_location = where;
  };
  int pattern_layers = -1;  // N + M of a --moe-layer-freq pattern, checked against --num-layers at the end
  struct Spelled {            // --encoder-num-layers, --encoder-seq-length, --padded-vocab-size: set at the end
    const Token* at;
    std::string name, value;
  };
  std::vector<Spelled> spelled;
  const Token* train_samples = nullptr;  // --train-samples, and its count
  unsigned long long samples = 0;
  std::string tokenizer;                // --tokenizer-type
  std::string tokenizer_model;          // --tokenizer-model (a Hugging Face hub id or path; tokenizers.h)
  const Token* save_interval = nullptr;  // --save-interval (taken with --save: Megatron saves only with a directory)
  std::string save_every;
  bool save_given = false;               // --save
  // The data sets Megatron-LM evaluates (eval_valid_set, eval_test_set): --split's shares, --mock-data (all three),
  // the per-split paths given.
  const Token* split_at = nullptr;
  std::string split;
  bool mock_data = false, split_paths[3] = {false, false, false};
  unsigned long vocab_multiple = 128;   // --make-vocab-size-divisible-by (Megatron-LM's default)
  const Token* pattern_at = nullptr;
  // Attention: --use-flash-attn and --attention-backend say it outright; --transformer-impl local (Megatron's
  // own layers) runs unfused attention unless one of them asks for flash.
  bool attention_given = false;
  std::string transformer_impl, backend;  // backend: lcsim's attention_backend from --attention-backend
  bool legacy_grouped_gemm = false;       // --moe-use-legacy-grouped-gemm: the grouped_gemm package, one kernel
  const Token* moe_layer_recompute = nullptr;  // --moe-layer-recompute (Megatron-core: selective, plus "moe")
  const Token* cp_comm_type = nullptr;         // --cp-comm-type (a2a+p2p needs the hierarchical sizes)
  // --use-flash-attn where given (it also asks for the flash-attn package, below).
  const Token* flash_at = nullptr;
  // The gradients' type: Megatron-LM's validate_args forces accumulate_allreduce_grads_in_fp32 on with --bf16
  // unless --grad-reduce-in-bf16 (which wins over the fp32 flag); with --fp16 it stays as given (off by default).
  bool grad_reduce_bf16 = false, grads_fp32_flag = false, fp16 = false;
  bool batch_schedule = false;  // --rampup-batch-size or --step-batch-size-schedule
  // --fp8-format runs the GEMMs in FP8 over a --bf16 (or --fp16) model, whichever comes first on the line: precision fp8.
  bool fp8 = false;
  const Token* fp4 = nullptr;  // --fp4-format (e2m1): NVFP4, precision fp4; not with --fp8-format (Megatron-LM)
  // --no-moe-router-aux-loss-fusion (Megatron-LM's functional tests of a version with the router's top-k and aux-loss
  // fusions apart): lcsim's moe_router_fusion is both, so both are costed unfused, whatever --moe-router-fusion says.
  bool router_aux_unfused = false;
  // Megatron's bias_activation_fusion is --no-bias-swiglu-fusion's with --swiglu, else --no-bias-gelu-fusion's
  // (core_transformer_config_from_args); each remembered as given (-1: not given, 0: off, 1: on).
  int gelu_fusion = -1, swiglu_fusion = -1;
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& at = toks[i];
    const std::string& tok = at.text;
    if (tok.rfind("--", 0) != 0) {
      fail(at, "expected an --argument, got '" + tok + "'");
      continue;
    }
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
      if (i + 1 < toks.size() && toks[i + 1].text.rfind("--", 0) != 0) {
        value = toks[++i].text;
        return true;
      }
      return false;
    };
    // A value argument with a fixed set of values: true where one of them was given, else the error at its column.
    auto choice = [&](const std::vector<std::string>& allowed) {
      if (!next_value()) {
        fail(at, "--" + name + " needs a value");
        return false;
      }
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        fail(at, unknown_name_message("--" + name, value, allowed));
        return false;
      }
      return true;
    };
    if (name == "attention-backend" || name == "transformer-impl") {
      if (!choice(name == "attention-backend" ? std::vector<std::string>{"auto", "flash", "fused", "unfused", "local"}
                                              : std::vector<std::string>{"transformer_engine", "local"})) {
        continue;
      }
      if (name == "transformer-impl") {
        transformer_impl = value;
      } else {
        // Transformer Engine's backends: fused = cuDNN fused attention, flash = the flash-attn package
        // (FlashAttention-2; FlashAttention-3 only where flash_attn_3 is installed), auto = its own choice, cuDNN
        // on Hopper (lcsim's auto: each part's default). unfused and local compute the scores.
        put("use_flash_attn", value == "unfused" || value == "local" ? "false" : "true");
        if (value == "flash") backend = "flash2";
        if (value == "fused") backend = "cudnn";
        attention_given = true;
      }
      out.assumed.push_back("--" + name + " " + value);
      continue;
    }
    if (name == "no-bias-gelu-fusion" || name == "no-bias-swiglu-fusion" || name == "bias-swiglu-fusion") {
      (name == "no-bias-gelu-fusion" ? gelu_fusion : swiglu_fusion) = name.starts_with("no-") ? 0 : 1;
      continue;
    }
    if (name == "cross-entropy-fusion-impl") {
      // native: megatron/core/fusions/fused_cross_entropy.py (what cross_entropy_loss_fusion costs); te: Transformer
      // Engine's parallel_cross_entropy, costed as native (a note in the run header).
      if (choice({"native", "te"}) && value == "te") {
        out.assumed.push_back("--cross-entropy-fusion-impl te (costed as native)");
      }
      continue;
    }
    if (name == "cp-comm-type") cp_comm_type = &at;  // and read by its rule below
    if (name == "use-te") {  // the legacy spelling of --transformer-impl transformer_engine
      transformer_impl = "transformer_engine";
      continue;
    }
    if (name == "no-check-for-nan-in-loss-and-grad" || name == "check-for-nan-in-loss-and-grad") {
      // One argument for both checks (Megatron-LM: args.check_for_nan_in_loss_and_grad, copied into the DDP config's
      // check_for_nan_in_grad and read by the loss function).
      const std::string on = name.starts_with("no-") ? "false" : "true";
      put("check_for_nan_in_grad", on);
      put("check_for_nan_in_loss", on);
      continue;
    }
    if (name == "use-tp-pp-dp-mapping") {  // Megatron-core's order with the pipeline inside data parallelism
      put("parallel_order", "tp-cp-ep-pp-dp");
      continue;
    }
    if (name == "moe-flex-dispatcher-backend") {  // with --moe-token-dispatcher-type flex: DeepEP (lcsim's flex)
      if (choice({"deepep", "hybridep"}) && value == "hybridep") {
        out.not_modelled.push_back("--moe-flex-dispatcher-backend hybridep (costed as DeepEP)");
      }
      continue;
    }
    if (name == "main-params-dtype" || name == "main-grads-dtype") {
      // Their defaults change nothing; other values type the optimizer's state in ways not modelled.
      const std::string plain = "fp32";
      if (!next_value()) {
        fail(at, "--" + name + " needs a value");
      } else if (value != plain) {
        fail(at, "--" + name + " " + value + " is not modelled (only " + plain + ", its default)");
      } else {
        out.ignored.push_back("--" + name);
      }
      continue;
    }
    // nargs='*' / '+': the values up to the next argument (checked as the key they set is).
    auto values = [&] {
      std::vector<std::string> given;
      if (has_value) given.push_back(value);
      while (i + 1 < toks.size() && toks[i + 1].text.rfind("--", 0) != 0) given.push_back(toks[++i].text);
      return given;
    };
    // The words an accepted argument takes, as Megatron-LM's parser defines it (megatron_args_lists.h): none for a
    // flag, one for a value argument, every word up to the next argument for a list, appended to `given`; false, with
    // the error at its column, where a flag was given a value or a value argument none. An argument of an older
    // version, not in today's parser, takes one word if one follows.
    auto take = [&](std::string* given) {
      const auto kind = megatron_lm::parser().find(name);
      if (kind == megatron_lm::parser().end()) {
        if (next_value()) *given += " " + value;
        return true;
      }
      switch (kind->second) {
        case megatron_lm::Takes::kNone:
          if (has_value) {
            fail(at, "--" + name + " is a flag and takes no value");
            return false;
          }
          return true;
        case megatron_lm::Takes::kOne:
          if (!next_value()) {
            fail(at, "--" + name + " needs a value");
            return false;
          }
          *given += " " + value;
          return true;
        case megatron_lm::Takes::kList:
          for (const std::string& v : values()) *given += " " + v;
          return true;
      }
      return true;
    };
    const std::string* reason = nullptr;
    for (const auto* table : {&megatron_lm::listed_rejected(), &megatron_lm::rejected()}) {
      if (auto r = table->find(name); r != table->end()) reason = &r->second;
    }
    if (reason) {
      fail(at, "--" + name + ": " + *reason);
      std::string given;
      take(&given);  // its values are not arguments of their own
      continue;
    }
    if (megatron_lm::listed_not_modelled().count(name) || megatron_lm::not_modelled().count(name)) {
      std::string given = "--" + name;
      if (take(&given)) out.not_modelled.push_back(given);
      continue;
    }
    if (name == "train-samples") {  // sample-based training: the job's length (set at the end, with the batch)
      if (!next_value() || !all_digits(value) || value.size() > 15) {
        fail(at, "--train-samples needs a whole number of samples");
      } else {
        train_samples = &at;
        samples = std::stoull(value);
      }
      continue;
    }
    if (name == "tokenizer-type") {  // the vocabulary's size before padding (below, after the loop)
      if (!next_value()) {
        fail(at, "--tokenizer-type needs a value");
      } else {
        tokenizer = value;
      }
      continue;
    }
    if (name == "save-interval") {  // taken after the loop, with --save
      if (!next_value() || !all_digits(value) || value.size() > 9) {
        fail(at, "--save-interval needs a whole number of iterations");
      } else {
        save_interval = &at;
        save_every = value;
      }
      continue;
    }
    if (name == "save") save_given = true;  // and listed as ignored below
    if (name == "split") {  // read after the loop
      if (!next_value()) {
        fail(at, "--split needs a value");
      } else {
        split_at = &at;
        split = value;
      }
      continue;
    }
    if (name == "mock-data") {
      if (has_value) {
        fail(at, "--mock-data is a flag and takes no value");
      } else {
        mock_data = true;
      }
      continue;
    }
    if (name == "train-data-path" || name == "valid-data-path" || name == "test-data-path") {  // listed as ignored
      split_paths[name[0] == 't' && name[1] == 'r' ? 0 : name[0] == 'v' ? 1 : 2] = true;
    }
    if (name == "tokenizer-model") {  // read with --tokenizer-type after the loop
      if (!next_value()) {
        fail(at, "--tokenizer-model needs a value");
      } else {
        tokenizer_model = value;
      }
      continue;
    }
    if (name == "make-vocab-size-divisible-by") {
      if (!next_value() || !all_digits(value) || value.size() > 6 || std::stoul(value) == 0) {
        fail(at, "--make-vocab-size-divisible-by needs a positive whole number");
      } else {
        vocab_multiple = std::stoul(value);
      }
      continue;
    }
    if (name == "optimizer") {  // Megatron-LM's choices; lcsim's optimizer state and step are Adam's
      if (choice({"adam", "sgd", "muon", "dist_muon", "lion", "soap", "adaptive_muon"})) {
        if (value == "adam") {
          out.ignored.push_back("--optimizer adam");
        } else {
          fail(at, "--optimizer " + value + ": only Adam's optimizer states and step are modelled (adam, Megatron-LM's "
                   "default)");
        }
      }
      continue;
    }
    if (name == "encoder-num-layers" || name == "encoder-seq-length" || name == "padded-vocab-size") {
      // Megatron-LM's older spellings of --num-layers and --seq-length (validate_args copies one into the other and
      // asserts that only one was given), and the vocabulary as padded (used as given: lcsim's vocab_size is the size
      // of the embedding table). Set after the line is read, where the other spelling is known.
      if (!next_value()) {
        fail(at, "--" + name + " needs a value");
      } else {
        spelled.push_back({&at, name, value});
      }
      continue;
    }
    if (name == "squared-relu") {  // the MLP's activation (Megatron-core: squared_relu instead of GeLU)
      out.read_as.push_back("--squared-relu -> the MLP's activation costed as GeLU's (one elementwise kernel over its "
                            "hidden activations)");
      continue;
    }
    if (name == "quick-geglu") {  // a gated MLP (Megatron-core: gated_linear_unit with quick_gelu)
      put("model.swiglu", "true");
      out.read_as.push_back("--quick-geglu -> model.swiglu = true (a gated MLP, two input projections as SwiGLU's; its "
                            "activation costed as SwiGLU's)");
      continue;
    }
    if (name == "cp-comm-type" || name == "moe-router-load-balancing-type" || name == "moe-aux-loss-coeff") {
      // nargs '+' in Megatron-LM: one value for every layer (or a router loss each); lcsim models one.
      const std::vector<std::string> given = values();
      if (given.empty()) {
        fail(at, "--" + name + " needs a value");
      } else if (name == "moe-router-load-balancing-type" &&
                 std::find(given.begin(), given.end(), "sinkhorn") != given.end()) {
        fail(at, "--moe-router-load-balancing-type sinkhorn: Sinkhorn balancing is not modelled (aux_loss, "
                 "seq_aux_loss, global_aux_loss or none)");
      } else if (std::any_of(given.begin(), given.end(), [&](const std::string& v) { return v != given.front(); })) {
        std::string list;
        for (const std::string& v : given) list += (list.empty() ? "" : " ") + v;
        fail(at, "--" + name + " " + list + ": " +
                     (name == "cp-comm-type" ? "a type per layer is not modelled (lcsim runs one type in every layer)"
                                             : "several load-balancing losses at once are not modelled (one type and "
                                               "its coefficient)"));
      } else {
        put(megatron_lm::rules().at(name).key, given.front());
      }
      continue;
    }
    if (name == "rampup-batch-size" || name == "step-batch-size-schedule") {  // batch-size schedules (checked there)
      const std::vector<std::string> given = name == "rampup-batch-size" ? values() : std::vector<std::string>{};
      if (name == "rampup-batch-size" && given.empty()) fail(at, "--rampup-batch-size needs START INCREMENT SAMPLES");
      else if (name == "rampup-batch-size") put_list("rampup_batch_size", given);
      else if (next_value()) put("step_batch_size_schedule", value);
      else fail(at, "--step-batch-size-schedule needs its \"THRESHOLD:BATCH ...\" pairs");
      batch_schedule = true;
      continue;
    }
    if (name == "hierarchical-context-parallel-sizes") {  // integers
      const std::vector<std::string> sizes = values();
      if (sizes.empty()) {
        fail(at, "--hierarchical-context-parallel-sizes needs its sizes (two: the all-to-all level, the ring)");
      } else {
        put_list("hierarchical_context_parallel_sizes", sizes);
      }
      continue;
    }
    if (name == "moe-use-legacy-grouped-gemm") {
      legacy_grouped_gemm = true;
      continue;
    }
    if (name == "moe-layer-recompute") {
      moe_layer_recompute = &at;
      continue;
    }
    if (name == "grad-reduce-in-bf16") {
      grad_reduce_bf16 = true;
      continue;
    }
    grads_fp32_flag = grads_fp32_flag || name == "accumulate-allreduce-grads-in-fp32";
    fp16 = fp16 || name == "fp16";
    fp8 = fp8 || name == "fp8-format";
    if (name == "fp4-format" || name == "fp4-recipe") {  // custom: a quantizer factory lcsim cannot read
      if (name == "fp4-format" && choice({"e2m1"})) fp4 = &at;
      if (name == "fp4-recipe" && choice({"nvfp4", "custom"}) && value == "custom") {
        fail(at, "--fp4-recipe custom: a quantizer factory (--fp4-quantizer-factory) is not modelled; nvfp4, the "
                 "default, is Transformer Engine's NVFP4BlockScaling (precision: fp4)");
      }
      continue;
    }
    // The captured modules (--cuda-graph-modules, today's name; --cuda-graph-scope, its deprecated spelling); the
    // recomputed modules.
    if (name == "cuda-graph-scope" || name == "cuda-graph-modules" || name == "recompute-modules") {
      put_list(name == "recompute-modules" ? "recompute_modules" : "cuda_graph_scope", values());
      continue;
    }
    if (name == "no-moe-router-aux-loss-fusion") {  // a Megatron-LM version's own switch for the aux loss (below)
      router_aux_unfused = true;
      continue;
    }
    if (name == "moe-layer-freq") {
      if (!next_value()) {
        fail(at, "--moe-layer-freq needs a value");
        continue;
      }
      std::vector<int> layers;
      int dense = 0, freq = 1;
      if (all_digits(value)) {
        put("model.moe_layer_freq", value);
      } else if (!parse_moe_layer_list(value, layers)) {
        fail(at, "--moe-layer-freq '" + value + "': lcsim reads an integer (every n-th layer MoE) or Megatron's "
                 "list expression of the layers, 1 for MoE and 0 for dense: bracketed lists of 0 and 1, each "
                 "optionally repeated, joined by '+' ('([0]*3+[1]*58)', '[0]+[1]*15', '([1]*3+[0])*2')");
      } else if (!moe_layer_form(layers, dense, freq)) {
        fail(at, "--moe-layer-freq '" + value + "': lcsim's model holds the first N layers dense, then every k-th "
                 "layer MoE (counted from layer 0); other layer patterns are not modelled");
      } else {
        put("model.moe_first_dense_layers", std::to_string(dense));
        put("model.moe_layer_freq", std::to_string(freq));
        pattern_layers = static_cast<int>(layers.size());
        pattern_at = &at;
      }
      continue;
    }
    if (auto it = megatron_lm::rules().find(name); it != megatron_lm::rules().end()) {
      if (it->second.flag_value) {
        put(it->second.key, it->second.flag_value);
        if (it->second.key == "use_flash_attn") attention_given = true, flash_at = &at;
      } else {
        if (!next_value()) {
          fail(at, "--" + name + " needs a value");
          continue;
        }
        put(it->second.key, name == "fp8-format" ? "fp8" : value);
      }
    } else if (megatron_lm::listed_ignored().count(name) || megatron_lm::ignored().count(name)) {
      std::string given;
      if (take(&given)) out.ignored.push_back("--" + name);
    } else {
      std::vector<std::string> known = megatron_arg_names();
      const std::vector<std::string> ignored = megatron_ignored_arg_names();
      known.insert(known.end(), ignored.begin(), ignored.end());
      const std::string best = did_you_mean(name, known);
      fail(at, "unknown Megatron argument '--" + name + "'" + (best.empty() ? "" : "; did you mean '--" + best + "'?") +
                   " (the arguments lcsim knows are listed in docs/training.md)");
      // Its value, if any, is not an argument of its own.
      if (!has_value && i + 1 < toks.size() && toks[i + 1].text.rfind("--", 0) != 0) ++i;
    }
  }
  // The vocabulary as Megatron-LM builds it (build_tokenizer, vocab_size_with_padding): the tokenizer's size
  // (line_vocabulary, tokenizers.h), padded up to a multiple of --make-vocab-size-divisible-by (128) x TP, TP as the
  // line gives it. --padded-vocab-size is used as given (below).
  const bool padded_given = std::any_of(spelled.begin(), spelled.end(),
                                        [](const Spelled& sp) { return sp.name == "padded-vocab-size"; });
  if (!padded_given) {
    const ConfigValue* model = out.tree.find("model");
    const ConfigValue* given = model ? model->find("vocab_size") : nullptr;
    const auto [base, what, known] = line_vocabulary(tokenizer, tokenizer_model, given ? &given->scalar : nullptr);
    const ConfigValue* tp_value = out.tree.find("tensor_model_parallel_size");
    const unsigned long long tp = tp_value && all_digits(tp_value->scalar) && tp_value->scalar.size() <= 6 &&
                                          std::stoull(tp_value->scalar) > 0
                                      ? std::stoull(tp_value->scalar)
                                      : 1;
    const unsigned long long multiple = vocab_multiple * tp;
    const unsigned long long padded = base == 0 ? 0 : (base + multiple - 1) / multiple * multiple;
    if (padded != 0 &&
        (!given || known || tokenizer == "HuggingFaceTokenizer" || std::to_string(padded) != given->scalar)) {
      put("model.vocab_size", std::to_string(padded));
      out.read_as.push_back(what + " -> model.vocab_size = " + std::to_string(padded) + " (Megatron-LM pads the " +
                            "vocabulary to a multiple of " + std::to_string(vocab_multiple) + " x TP " +
                            std::to_string(tp) + ")");
    }
  }
  for (const Spelled& sp : spelled) {
    if (sp.name == "padded-vocab-size") {
      put("model.vocab_size", sp.value);
      out.read_as.push_back("--padded-vocab-size " + sp.value + " -> model.vocab_size = " + sp.value);
      continue;
    }
    const bool layers = sp.name == "encoder-num-layers";
    const std::string key = layers ? "num_layers" : "seq_length";
    const ConfigValue* model = out.tree.find("model");
    if (model && model->find(key)) {
      fail(*sp.at, "--" + sp.name + " with --" + (layers ? "num-layers" : "seq-length") +
                       ": Megatron-LM asserts that only one of them is given");
      continue;
    }
    put("model." + key, sp.value);
  }
  // Megatron-LM saves every --save-interval iterations where --save names a directory (training.py: args.save and
  // args.save_interval and iteration % args.save_interval == 0).
  if (save_interval && save_given) {
    put("save_interval", save_every);
    out.read_as.push_back("--save-interval " + save_every + " -> save_interval = " + save_every +
                          " (the job's checkpoint interval for reliability: that many iterations)");
  } else if (save_interval) {
    out.ignored.push_back("--save-interval (no --save: Megatron-LM saves nothing)");
  }
  // The data sets Megatron-LM evaluates besides training (docs/training.md, "Evaluation").
  if (const megatron_lm::DataSets sets = megatron_lm::data_sets(split_at ? &split : nullptr, mock_data, split_paths);
      !sets.error.empty()) {
    fail(*split_at, sets.error);
  } else {
    if (!sets.valid) put("eval_valid_set", "false");
    if (!sets.test) put("eval_test_set", "false");
    if (!sets.reading.empty()) out.read_as.push_back(sets.reading);
  }
  if (train_samples) {
    // Megatron-LM's update_train_iters: sample-based training runs train_samples // global_batch_size iterations;
    // with a batch-size schedule the samples are the job's length and the configuration counts its iterations
    // (MegatronConfig::job_phases). validate_args asserts that --train-iters is not given too.
    const ConfigValue* gbs = out.tree.find("global_batch_size");
    if (out.tree.find("job_train_iters")) {
      fail(*train_samples, "--train-samples with --train-iters: Megatron-LM runs sample-based or iteration-based "
                           "training, not both (it asserts it)");
    } else if (batch_schedule) {
      put("job_train_samples", std::to_string(samples));
    } else if (!gbs || !all_digits(gbs->scalar) || gbs->scalar.size() > 15 || std::stoull(gbs->scalar) == 0) {
      out.read_as.push_back("--train-samples " + std::to_string(samples) + ": not taken as the job's length "
                            "(no --global-batch-size on the line to divide it by; set job_train_iters beside it)");
    } else if (samples < std::stoull(gbs->scalar)) {
      fail(*train_samples, "--train-samples " + std::to_string(samples) + " is less than one global batch (" +
                               gbs->scalar + "): Megatron-LM would run no iteration");
    } else {
      const std::string batch = gbs->scalar;  // a copy: put() below may move the tree's nodes
      const unsigned long long iters = samples / std::stoull(batch);
      put("job_train_iters", std::to_string(iters));
      out.read_as.push_back("--train-samples " + std::to_string(samples) + " -> job_train_iters = " +
                            std::to_string(iters) + " (the samples / global batch " + batch +
                            ", Megatron-LM's update_train_iters)");
    }
  }
  if (pattern_at) {
    const ConfigValue* model = out.tree.find("model");
    const ConfigValue* layers = model ? model->find("num_layers") : nullptr;
    if (layers && layers->scalar != std::to_string(pattern_layers)) {
      fail(*pattern_at, "--moe-layer-freq lists " + std::to_string(pattern_layers) + " layers but --num-layers is " +
                            layers->scalar + " (Megatron requires them equal)");
    }
  }
  if (moe_layer_recompute) {
    // Megatron-core's TransformerConfig: the deprecated flag sets selective recomputation and adds "moe" to the
    // modules (["core_attn"] unless --recompute-modules gave them); full recomputation is rejected.
    const ConfigValue* granularity = out.tree.find("recompute_granularity");
    if (granularity && granularity->scalar == "full") {
      fail(*moe_layer_recompute, "--moe-layer-recompute with --recompute-granularity full: Megatron-LM rejects it");
    } else {
      std::vector<std::string> modules = {"core_attn"};
      if (const ConfigValue* given = out.tree.find("recompute_modules")) {
        modules.clear();
        for (const ConfigValue& item : given->children) modules.push_back(item.scalar);
      }
      if (std::find(modules.begin(), modules.end(), "moe") == modules.end()) modules.push_back("moe");
      put("recompute_granularity", "selective");
      put_list("recompute_modules", modules);
    }
  }
  if (transformer_impl == "local" && out.tree.find("moe_grouped_gemm")) {
    // Megatron-core's local backend (LocalSpecProvider.grouped_mlp_modules) builds SequentialMLP whatever
    // --moe-grouped-gemm says; before the legacy GroupedMLP was removed it built that (the grouped_gemm package).
    put("moe_grouped_gemm", "sequential");
    out.read_as.push_back("--moe-grouped-gemm with --transformer-impl local -> moe_grouped_gemm = sequential "
                          "(Megatron-core's local backend builds SequentialMLP, one MLP module per local expert; "
                          "versions that still had the legacy GroupedMLP built it: set single_kernel for them)");
  } else if (legacy_grouped_gemm && out.tree.find("moe_grouped_gemm")) {
    put("moe_grouped_gemm", "single_kernel");
  }
  // Flags Megatron-core accepts where they change nothing lcsim costs: the pre-softmax order under a sigmoid score
  // function (topk_routing_with_score_function reads it for softmax only), and --qk-layernorm with multi-latent
  // attention, where it makes the query and key/value up-projections LayerNormLinear modules, the latents' norms that
  // lcsim's multi-latent attention always has (gpt_layer_specs.py).
  if (ConfigValue* model = out.tree.find("model")) {
    auto drop = [&](const std::string& key, const std::string& arg) {
      auto& c = model->children;
      c.erase(std::remove_if(c.begin(), c.end(), [&](const ConfigValue& v) { return v.key == key; }), c.end());
      out.ignored.push_back(arg);
    };
    const ConfigValue* score = model->find("moe_router_score_function");
    if (model->find("moe_router_pre_softmax") && score && score->scalar != "softmax") {
      drop("moe_router_pre_softmax", "--moe-router-pre-softmax");
    }
    const ConfigValue* mla = model->find("multi_latent_attention");
    if (model->find("qk_layernorm") && mla && mla->scalar == "true") drop("qk_layernorm", "--qk-layernorm");
  }
  if (const ConfigValue* type = out.tree.find("cp_comm_type");
      cp_comm_type && type && type->scalar == "a2a+p2p" && !out.tree.find("hierarchical_context_parallel_sizes")) {
    fail(*cp_comm_type, "--cp-comm-type a2a+p2p needs --hierarchical-context-parallel-sizes (Megatron-LM asserts it)");
  }
  if (fp8) put("precision", "fp8");
  if (fp4 && fp8) fail(*fp4, "--fp4-format and --fp8-format cannot be used simultaneously (Megatron-LM asserts it)");
  if (fp4 && !fp8) put("precision", "fp4");
  if (router_aux_unfused) {
    put("moe_router_fusion", "false");
    out.read_as.push_back("--no-moe-router-aux-loss-fusion -> moe_router_fusion = false (lcsim's router fusion is the "
                          "top-k and the auxiliary loss together: both costed unfused)");
  }
  if (fp16) {
    put("accumulate_allreduce_grads_in_fp32", grads_fp32_flag ? "true" : "false");
  } else if (grad_reduce_bf16) {
    put("accumulate_allreduce_grads_in_fp32", "false");
  }
  const ConfigValue* model = out.tree.find("model");
  const int activation_fusion = model && model->find("swiglu") ? swiglu_fusion : gelu_fusion;
  if (activation_fusion >= 0) put("bias_activation_fusion", activation_fusion ? "true" : "false");
  if (transformer_impl == "local" && !attention_given) put("use_flash_attn", "false");
  // --use-flash-attn asks for the flash-attn package (FlashAttention-2) unless --attention-backend names one.
  if (backend.empty() && flash_at) {
    backend = "flash2";
    out.assumed.push_back("--use-flash-attn");
  }
  if (!backend.empty()) put("attention_backend", backend);
  out.attention_given = attention_given || transformer_impl == "local";
  if (!problems.empty()) throw InputError(problems);
  return out;
}

}  // namespace lcsim::wl
