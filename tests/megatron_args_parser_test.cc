// A pasted Megatron-LM command line against Megatron-LM's whole parser (workloads/training/megatron_args_lists.cc):
// every argument known, each taking its values as the parser gives them, NVIDIA's example lines, and what the line
// means beyond a plain key (sample-based training's length, the padded vocabulary). The rest of the import:
// megatron_input_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "megatron_support.h"
#include "workloads/training/megatron.h"
#include "workloads/training/megatron_args.h"
#include "workloads/training/megatron_args_lists.h"

namespace lcsim {
namespace {

using megatron_support::config_of;
using megatron_support::parse_with;

// Every argument of Megatron-LM's training parser (megatron_args_lists.cc: its add_argument calls and the arguments it
// generates from its config dataclasses) is one lcsim knows: read, ignored, not modelled or rejected with a reason,
// never "unknown". Each is given as Megatron's parser takes it (a flag alone, a value argument one word, a list two), so
// that a wrong kind would leave a word over ("expected an --argument") or ask for a value.
TEST(MegatronInput, EveryArgumentOfMegatronLmsParserIsKnown) {
  const auto& parser = wl::megatron_lm::parser();
  ASSERT_GT(parser.size(), 800u);
  size_t rejected = 0;
  for (const auto& [name, takes] : parser) {
    const std::string value = takes == wl::megatron_lm::Takes::kNone ? ""
                              : takes == wl::megatron_lm::Takes::kOne ? " 2"
                                                                      : " 2 2";
    try {
      wl::import_megatron_args("--" + name + value, SourceLocation{"mt.yaml", 1, 1});
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find("unknown Megatron argument"), std::string::npos) << name << ": " << msg;
      EXPECT_EQ(msg.find("expected an --argument"), std::string::npos) << name << ": " << msg;
      EXPECT_EQ(msg.find("needs a value"), std::string::npos) << name << ": " << msg;
      EXPECT_EQ(e.diagnostics().size(), 1u) << name << ": " << msg;
      ++rejected;
    }
  }
  // Rejected (with its reason) or refused for the value 2 (a choice): a small part of the parser, not most of it.
  EXPECT_LT(rejected, 120u);
  // The three tables lcsim keeps beside megatron_args.cc's own do not overlap.
  for (const auto& n : wl::megatron_lm::ignored()) {
    EXPECT_EQ(wl::megatron_lm::not_modelled().count(n), 0u) << n;
    EXPECT_EQ(wl::megatron_lm::rejected().count(n), 0u) << n;
    EXPECT_EQ(parser.count(n), 1u) << n;
  }
  for (const auto& n : wl::megatron_lm::not_modelled()) EXPECT_EQ(wl::megatron_lm::rejected().count(n), 0u) << n;
}

// NVIDIA's own example lines as Megatron-LM ships them: GPT-3 175B (examples/gpt3/train_gpt3_175b_distributed.sh, with
// its batch-size ramp-up, three values) and a data blend of weights and paths (examples/llama's H200 scripts pass
// --data-path with two pairs): read, the ramp-up as rampup_batch_size (with the line's --train-iters the scenario
// then meets Megatron-LM's own "expected no batch-size rampup for iteration-based training":
// BatchSchedule.APastedLineIsSampleBased).
TEST(MegatronInput, NvidiasExampleLinesAreAccepted) {
  const std::string gpt3 =
      "--num-layers 96 --hidden-size 12288 --num-attention-heads 96 --seq-length 2048 --max-position-embeddings 2048 "
      "--attention-backend auto --micro-batch-size 1 --global-batch-size 1536 --rampup-batch-size 16 16 5859375 "
      "--train-iters 500000 --weight-decay 0.1 --adam-beta1 0.9 --adam-beta2 0.95 --init-method-std 0.006 "
      "--clip-grad 1.0 --fp16 --lr 6.0e-5 --lr-decay-style cosine --min-lr 6.0e-6 --lr-warmup-fraction .001 "
      "--lr-decay-iters 430000 --tensor-model-parallel-size 8 --pipeline-model-parallel-size 16 "
      "--data-path 0.5 /data/a_text_document 0.5 /data/b_text_document --vocab-file gpt2-vocab.json "
      "--merge-file gpt2-merges.txt --split 949,50,1 --log-interval 100 --save-interval 10000 --eval-interval 1000 "
      "--save /ckpt --load /ckpt --eval-iters 10 --tensorboard-dir /tb --vocab-size 51200";
  const wl::ImportedArgs a = wl::import_megatron_args(gpt3, SourceLocation{"mt.yaml", 1, 1});
  EXPECT_TRUE(a.not_modelled.empty()) << a.not_modelled.front();
  const ConfigValue* ramp = a.tree.find("rampup_batch_size");
  ASSERT_NE(ramp, nullptr);
  ASSERT_EQ(ramp->children.size(), 3u);
  EXPECT_EQ(ramp->children[2].scalar, "5859375");
  for (const char* arg : {"--data-path", "--lr-decay-iters", "--tensorboard-dir"}) {
    EXPECT_NE(std::find(a.ignored.begin(), a.ignored.end(), arg), a.ignored.end()) << arg;
  }
  EXPECT_EQ(a.tree.find("pipeline_model_parallel_size")->scalar, "16");
  EXPECT_EQ(a.tree.find("precision")->scalar, "fp16");
}

// Each argument takes its values as Megatron-LM's parser gives them: a flag none, a value argument one, a list every
// word up to the next argument; lists lcsim models one value of take one value repeated; older spellings, the optimizer,
// the activations and the arguments Megatron-LM itself refuses.
TEST(MegatronInput, ArgumentsTakeTheValuesMegatronsParserGivesThem) {
  const auto problems = [](const std::string& line) -> std::string {
    try {
      wl::import_megatron_args(line, SourceLocation{"mt.yaml", 1, 1});
      return "";
    } catch (const InputError& e) {
      return e.what();
    }
  };
  EXPECT_NE(problems("--mock-data=yes").find("--mock-data is a flag and takes no value"), std::string::npos);
  EXPECT_NE(problems("--mock-data yes").find("expected an --argument, got 'yes'"), std::string::npos);
  EXPECT_NE(problems("--log-interval").find("--log-interval needs a value"), std::string::npos);
  EXPECT_NE(problems("--optimizer-offload-fraction").find("needs a value"), std::string::npos);
  EXPECT_EQ(problems("--iterations-to-skip 3 7 9 --profile-ranks 0 8"), "");
  // FP8 over BF16 whichever comes first (Megatron-LM's functional tests put --fp8-format before --bf16).
  EXPECT_EQ(wl::import_megatron_args("--fp8-format hybrid --bf16", SourceLocation{}).tree.find("precision")->scalar,
            "fp8");
  EXPECT_EQ(wl::import_megatron_args("--bf16 --fp8-format hybrid", SourceLocation{}).tree.find("precision")->scalar,
            "fp8");
  EXPECT_NE(problems("--moe-router-load-balancing-type sinkhorn").find("Sinkhorn balancing is not modelled"),
            std::string::npos);
  // Today's name of the captured modules, and a version's switch for the router's aux-loss fusion apart from its top-k
  // (Megatron-LM's functional test moe/gpt3_moe_mcore_te_tp4_ep2_etp2_pp2_scoped_cudagraph passes both).
  const wl::ImportedArgs graphs = wl::import_megatron_args(
      "--cuda-graph-impl transformer_engine --cuda-graph-modules attn moe_router moe_preprocess --moe-router-fusion "
      "--no-moe-router-aux-loss-fusion",
      SourceLocation{});
  ASSERT_NE(graphs.tree.find("cuda_graph_scope"), nullptr);
  EXPECT_EQ(graphs.tree.find("cuda_graph_scope")->children.size(), 3u);
  EXPECT_EQ(graphs.tree.find("moe_router_fusion")->scalar, "false");
  // A misspelt argument of the parser's whole list is pointed at its name.
  EXPECT_NE(problems("--use-pytorch-profiling").find("did you mean '--use-pytorch-profiler'"), std::string::npos);
  // One value for every layer: the same value repeated is that value; different ones are refused.
  const wl::ImportedArgs cp = wl::import_megatron_args("--cp-comm-type a2a a2a a2a", SourceLocation{});
  EXPECT_EQ(cp.tree.find("cp_comm_type")->scalar, "a2a");
  EXPECT_NE(problems("--cp-comm-type p2p a2a").find("--cp-comm-type p2p a2a: a type per layer is not modelled"),
            std::string::npos);
  EXPECT_NE(problems("--moe-router-load-balancing-type aux_loss seq_aux_loss --moe-aux-loss-coeff 1e-2 1e-3")
                .find("several load-balancing losses at once are not modelled"),
            std::string::npos);
  // The optimizer: Adam (Megatron-LM's default) is lcsim's; the others are refused by name.
  const wl::ImportedArgs adam = wl::import_megatron_args("--optimizer adam", SourceLocation{});
  EXPECT_EQ(adam.ignored, (std::vector<std::string>{"--optimizer adam"}));
  EXPECT_NE(problems("--optimizer muon").find("--optimizer muon: only Adam's optimizer states and step are modelled"),
            std::string::npos);
  EXPECT_NE(problems("--optimizer adamw").find("unknown --optimizer 'adamw'"), std::string::npos);
  // Older spellings of the layers and the sequence, asserted exclusive as Megatron-LM asserts them; the padded
  // vocabulary as given.
  const wl::ImportedArgs enc =
      wl::import_megatron_args("--encoder-num-layers 12 --encoder-seq-length 4096 --vocab-size 50257 "
                               "--padded-vocab-size 50304",
                               SourceLocation{});
  EXPECT_EQ(enc.tree.find("model")->find("num_layers")->scalar, "12");
  EXPECT_EQ(enc.tree.find("model")->find("seq_length")->scalar, "4096");
  EXPECT_EQ(enc.tree.find("model")->find("vocab_size")->scalar, "50304");
  EXPECT_NE(problems("--num-layers 12 --encoder-num-layers 12")
                .find("--encoder-num-layers with --num-layers: Megatron-LM asserts that only one of them is given"),
            std::string::npos);
  // The activations: quick GeGLU is a gated MLP (costed as SwiGLU's), squared ReLU is costed as GeLU; both named.
  const wl::ImportedArgs geglu = wl::import_megatron_args("--quick-geglu", SourceLocation{});
  EXPECT_EQ(geglu.tree.find("model")->find("swiglu")->scalar, "true");
  EXPECT_EQ(geglu.read_as.size(), 1u);
  const wl::ImportedArgs relu = wl::import_megatron_args("--squared-relu", SourceLocation{});
  EXPECT_EQ(relu.tree.find("model"), nullptr);
  ASSERT_EQ(relu.read_as.size(), 1u);
  EXPECT_NE(relu.read_as[0].find("costed as GeLU's"), std::string::npos);
  // Arguments Megatron-LM refuses, and models lcsim does not have, each with its reason at its column.
  const std::string refused = problems(
      "--batch-size 4 --checkpoint-activations --hybrid-override-pattern M*M* --window-size 128,0 --fp4-recipe custom");
  EXPECT_NE(refused.find("column 1 of the command line: --batch-size: no longer valid, use --micro-batch-size"),
            std::string::npos) << refused;
  EXPECT_NE(refused.find("--checkpoint-activations: no longer valid"), std::string::npos) << refused;
  EXPECT_NE(refused.find("--hybrid-override-pattern: hybrid Mamba / attention models are not modelled"),
            std::string::npos) << refused;
  EXPECT_NE(refused.find("--window-size: sliding-window attention is not modelled"), std::string::npos) << refused;
  EXPECT_NE(refused.find("--fp4-recipe custom: a quantizer factory"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("expected an --argument"), std::string::npos) << "each one's value taken along: " << refused;
}

// The vocabulary as Megatron-LM builds it (build_tokenizer, _vocab_size_with_padding): NullTokenizer's --vocab-size
// plus its end-of-document token, GPT2BPETokenizer's 50,257 where the line gives no size, padded up to a multiple of
// --make-vocab-size-divisible-by (128) x TP; --padded-vocab-size as given. SC'21's GPT-3 at TP 8 reads 51,200.
TEST(MegatronInput, VocabularyIsPaddedAsMegatronPadsIt) {
  const auto vocab = [](const std::string& line) {
    const wl::ImportedArgs a = wl::import_megatron_args(line, SourceLocation{});
    const ConfigValue* model = a.tree.find("model");
    const ConfigValue* v = model ? model->find("vocab_size") : nullptr;
    return v ? v->scalar : std::string("none");
  };
  EXPECT_EQ(vocab("--tokenizer-type NullTokenizer --vocab-size 128256"), "128384");  // 128,257 up to 1,003 x 128
  EXPECT_EQ(vocab("--tokenizer-type NullTokenizer --vocab-size 128256 --tensor-model-parallel-size 8"), "129024");
  EXPECT_EQ(vocab("--tokenizer-type NullTokenizer --vocab-size 128256 --make-vocab-size-divisible-by 64"), "128320");
  EXPECT_EQ(vocab("--tokenizer-type GPT2BPETokenizer --tensor-model-parallel-size 8"), "51200");
  EXPECT_EQ(vocab("--tokenizer-type GPT2BPETokenizer"), "50304");
  EXPECT_EQ(vocab("--vocab-size 32000 --tensor-model-parallel-size 4"), "32256");
  EXPECT_EQ(vocab("--vocab-size 32000 --tensor-model-parallel-size 2"), "32000");  // a multiple already
  EXPECT_EQ(vocab("--tokenizer-type HuggingFaceTokenizer"), "none");  // its size is the tokenizer's: not known here
  EXPECT_EQ(vocab("--tokenizer-type NullTokenizer --vocab-size 128256 --padded-vocab-size 128256"), "128256");
  const wl::ImportedArgs a =
      wl::import_megatron_args("--tokenizer-type NullTokenizer --vocab-size 128256", SourceLocation{});
  ASSERT_EQ(a.read_as.size(), 1u);
  EXPECT_EQ(a.read_as[0], "--vocab-size 128256 with NullTokenizer, which adds its end-of-document token: 128257 -> "
                          "model.vocab_size = 128384 (Megatron-LM pads the vocabulary to a multiple of 128 x TP 1)");
  // Hugging Face tokenizers: Megatron-LM takes len(tokenizer) and not --vocab-size; lcsim knows the families of
  // tokenizers.h (docs/training-megatron-args.md, "The vocabulary"), by hub id or local path.
  const std::string hf = "--tokenizer-type HuggingFaceTokenizer --tokenizer-model ";
  EXPECT_EQ(vocab(hf + "meta-llama/Meta-Llama-3-8B"), "128256");  // 128,000 + 256 special, a multiple of 128
  EXPECT_EQ(vocab(hf + "meta-llama/Llama-3.1-405B --tensor-model-parallel-size 8"), "129024");  // 126 x 1,024
  EXPECT_EQ(vocab(hf + "/ckpt/llama3_70b_hf/ --vocab-size 32000"), "128256");  // the tokenizer's, not --vocab-size
  EXPECT_EQ(vocab(hf + "Qwen/Qwen3-30B-A3B"), "151680");                      // 151,669 up to 1,185 x 128
  EXPECT_EQ(vocab(hf + "Qwen/Qwen2.5-72B --tensor-model-parallel-size 8"), "152576");  // 151,665 up to 149 x 1,024
  EXPECT_EQ(vocab(hf + "meta-llama/Llama-2-7b-hf --tensor-model-parallel-size 8"), "32768");
  EXPECT_EQ(vocab(hf + "deepseek-ai/DeepSeek-V3"), "129280");  // its config's size (the tokenizer's not known)
  EXPECT_EQ(vocab(hf + "codellama/CodeLlama-34b-hf"), "none");  // not Llama 3's
  EXPECT_EQ(vocab(hf + "Qwen/Qwen2-57B-A14B"), "none");         // not Qwen2.5's
  EXPECT_EQ(vocab(hf + "some/unknown-model --vocab-size 50000"), "50048");  // --vocab-size stands in, padded
  EXPECT_EQ(vocab("--tokenizer-type Llama2Tokenizer --tokenizer-model /data/tokenizer.model --tensor-model-parallel-size 4"),
            "32256");
  EXPECT_EQ(vocab("--tokenizer-type TikTokenizer --tiktoken-pattern v2"), "131072");  // 2^17, Megatron's default
  EXPECT_EQ(vocab("--tokenizer-type TikTokenizer --vocab-size 100000"), "100096");
  const wl::ImportedArgs h = wl::import_megatron_args(hf + "Qwen/Qwen3-8B --vocab-size 151936", SourceLocation{});
  ASSERT_EQ(h.read_as.size(), 1u);
  EXPECT_EQ(h.read_as[0], "--tokenizer-model Qwen/Qwen3-8B: the Qwen3 tokenizer's length 151669 (Megatron-LM does not "
                          "read --vocab-size 151936 for HuggingFaceTokenizer) -> model.vocab_size = 151680 (Megatron-LM "
                          "pads the vocabulary to a multiple of 128 x TP 1)");
  EXPECT_TRUE(h.ignored.empty());
  const wl::ImportedArgs u = wl::import_megatron_args(hf + "some/unknown-model --vocab-size 50304", SourceLocation{});
  ASSERT_EQ(u.read_as.size(), 1u);
  EXPECT_NE(u.read_as[0].find("--tokenizer-model some/unknown-model is not a tokenizer lcsim knows"), std::string::npos)
      << u.read_as[0];
  try {
    wl::import_megatron_args("--make-vocab-size-divisible-by 0", SourceLocation{});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--make-vocab-size-divisible-by needs a positive whole number"),
              std::string::npos) << e.what();
  }
}

// --save-interval N with --save: Megatron saves every N iterations (the job's checkpoint interval for reliability);
// without --save it saves nothing, and the header says so.
TEST(MegatronInput, SaveIntervalIsTakenWithASaveDirectory) {
  const wl::ImportedArgs a = wl::import_megatron_args("--save /ckpt --save-interval 500", SourceLocation{});
  const ConfigValue* v = a.tree.find("save_interval");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->scalar, "500");
  ASSERT_EQ(a.read_as.size(), 1u);
  EXPECT_EQ(a.read_as[0], "--save-interval 500 -> save_interval = 500 (the job's checkpoint interval for reliability: "
                          "that many iterations)");
  const wl::ImportedArgs b = wl::import_megatron_args("--save-interval 500", SourceLocation{});
  EXPECT_EQ(b.tree.find("save_interval"), nullptr);
  EXPECT_EQ(b.ignored, (std::vector<std::string>{"--save-interval (no --save: Megatron-LM saves nothing)"}));
  try {
    wl::import_megatron_args("--save /ckpt --save-interval often", SourceLocation{});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--save-interval needs a whole number of iterations"), std::string::npos)
        << e.what();
  }
}

// Sample-based training (--train-samples, as Megatron-LM's GPT-3 scripts of SC'21 ran it): the job's length is the
// iterations Megatron runs, samples // global batch (update_train_iters); with --train-iters too it is refused as
// Megatron refuses it; without the batch on the line it is named as not taken.
TEST(MegatronInput, PastedTrainSamplesIsTheJobLength) {
  const std::string base = "--num-layers 8 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048 "
                           "--vocab-size 32000 --micro-batch-size 1 --tensor-model-parallel-size 2 "
                           "--pipeline-model-parallel-size 4 --bf16 ";
  Scenario a = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + base +
                          "--global-batch-size 32 --train-samples 1000000\"\n");
  const auto& c = config_of(a);
  EXPECT_EQ(c.train_iters, 1);
  EXPECT_EQ(c.job_train_iters, 31250);  // 1,000,000 // 32
  EXPECT_NE(a.workload->describe().find("--train-samples 1000000 -> job_train_iters = 31250"), std::string::npos)
      << a.workload->describe();
  Scenario b = parse_with("workload:\n  type: megatron\n  megatron_args: \"" + base +
                          "--global-batch-size 32 --train-samples 1000031\"\n");
  EXPECT_EQ(config_of(b).job_train_iters, 31250) << "a partial last batch is not run";
  const auto error_of = [&](const std::string& rest) {
    return megatron_support::parse_error_with("workload:\n  type: megatron\n  megatron_args: \"" + rest + "\"\n");
  };
  const std::string both = error_of(base + "--global-batch-size 32 --train-samples 1000000 --train-iters 9");
  EXPECT_NE(both.find("--train-samples with --train-iters: Megatron-LM runs sample-based or iteration-based"),
            std::string::npos) << both;
  const std::string tiny = error_of(base + "--global-batch-size 32 --train-samples 31");
  EXPECT_NE(tiny.find("less than one global batch (32)"), std::string::npos) << tiny;
  const wl::ImportedArgs no_batch = wl::import_megatron_args("--train-samples 1000", SourceLocation{});
  EXPECT_EQ(no_batch.tree.find("job_train_iters"), nullptr);
  ASSERT_EQ(no_batch.read_as.size(), 1u);
  EXPECT_NE(no_batch.read_as[0].find("not taken as the job's length"), std::string::npos);
  EXPECT_NE(error_of("--train-samples 1e6").find("--train-samples needs a whole number of samples"),
            std::string::npos);
}

}  // namespace
}  // namespace lcsim
