#include "workloads/training/tokenizers.h"

#include "workloads/training/megatron_args.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <string>
#include <vector>

namespace lcsim::wl {

namespace {

struct Family {
  const char* pattern;  // ECMAScript regex over the lower-cased last path component, '_' read as '-'
  unsigned long long size;
  const char* name;
  bool tokenizer_length;
};

// Sources (stored versions as read; docs/training-megatron-args.md, "The vocabulary"):
//  - Llama 3 / 3.1 / 3.2 / 3.3: 128,000 base tokens and 256 reserved special tokens (meta-llama/llama3
//    llama/tokenizer.py, num_reserved_special_tokens = 256; pytorch/torchtune models/llama3/_tokenizer.py).
//  - Llama 2: its SentencePiece model's 32,000 pieces (Megatron-LM's Llama2Tokenizer asserts the size is the
//    piece count; Hugging Face transformers' LlamaConfig default for meta-llama/Llama-2-7b-hf: 32,000).
//  - Mixtral 8x7B: 32,000 (transformers MixtralConfig, Mixtral-8x7B-v0.1).
//  - Qwen2.5: 151,643 base tokens and 22 special tokens, 151,665 (torchtune models/qwen2_5/_tokenizer.py).
//  - Qwen3: Qwen2.5's and four more (<tool_response>, </tool_response>, <think>, </think>), 151,669
//    (torchtune models/qwen3/_tokenizer.py).
//  - GPT-2: 50,257 (openai/tiktoken tiktoken_ext/openai_public.py, explicit_n_vocab).
// Config sizes where the tokenizer's own length was not found (tokenizer_length false): DeepSeek-V3 129,280
// (Megatron-Bridge deepseek_provider.py; transformers DeepseekV3Config), Mistral NeMo 131,072 (its config),
// gpt-oss 201,088 (Megatron-Bridge gpt_oss_provider.py; transformers GptOssConfig), Gemma and Gemma 2 256,000
// (Megatron-Bridge gemma_provider.py, gemma2_provider.py), Nemotron-4 256,000 (transformers NemotronConfig),
// Nemotron-H 131,072 (vLLM's nemotron_h config).
const std::vector<Family>& families() {
  static const std::vector<Family> f = {
      {"llama-?3([.-]|$)", 128256, "Llama 3", true},
      {"llama-?2([.-]|$)", 32000, "Llama 2", true},
      {"mixtral", 32000, "Mixtral", true},
      {"qwen2\\.5", 151665, "Qwen2.5", true},
      {"qwen3([.-]|$)", 151669, "Qwen3", true},
      {"(^|-)gpt-?2([.-]|$)", 50257, "GPT-2", true},
      {"deepseek-v3", 129280, "DeepSeek-V3", false},
      {"mistral-nemo", 131072, "Mistral NeMo", false},
      {"gpt-oss", 201088, "gpt-oss", false},
      {"gemma-(2-)?[0-9]+b", 256000, "Gemma", false},
      {"nemotron-4", 256000, "Nemotron-4", false},
      {"nemotron-h", 131072, "Nemotron-H", false},
  };
  return f;
}

}  // namespace

std::optional<TokenizerSize> hugging_face_tokenizer_size(const std::string& model) {
  std::string name = model;
  while (!name.empty() && name.back() == '/') name.pop_back();
  if (const size_t slash = name.find_last_of('/'); slash != std::string::npos) name = name.substr(slash + 1);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) {
    return ch == '_' ? '-' : static_cast<char>(std::tolower(ch));
  });
  for (const Family& f : families()) {
    if (std::regex_search(name, std::regex(f.pattern))) return TokenizerSize{f.size, f.name, f.tokenizer_length};
  }
  return std::nullopt;
}

LineVocabulary line_vocabulary(const std::string& tokenizer, const std::string& tokenizer_model,
                               const std::string* given) {
  LineVocabulary v;
  const std::optional<TokenizerSize> known = tokenizer == "HuggingFaceTokenizer" && !tokenizer_model.empty()
                                                 ? hugging_face_tokenizer_size(tokenizer_model)
                                                 : std::nullopt;
  const bool digits = given && given->size() <= 12 && all_digits(*given);
  if (known) {
    v.known = true;
    v.base = known->size;
    v.what = "--tokenizer-model " + tokenizer_model + ": the " + known->family + " tokenizer's " +
             (known->tokenizer_length ? "length " : "model's vocab_size (its config.json; the tokenizer's own length "
                                                    "is not known to lcsim) ") +
             std::to_string(v.base);
    if (given) v.what += " (Megatron-LM does not read --vocab-size " + *given + " for HuggingFaceTokenizer)";
  } else if (!given && tokenizer == "Llama2Tokenizer") {
    v.base = 32000;
    v.what = "Llama2Tokenizer's 32000 (Llama 2's SentencePiece pieces)";
  } else if (!given && tokenizer == "TikTokenizer") {
    v.base = 131072;
    v.what = "TikTokenizer's default 131072 (2^17)";
  } else if (digits) {
    v.base = std::stoull(*given);
    v.what = "--vocab-size " + *given;
    if (tokenizer == "HuggingFaceTokenizer") {
      v.what += " standing for the tokenizer's length (Megatron-LM takes len(tokenizer) and does not read it; " +
                (tokenizer_model.empty() ? std::string("no --tokenizer-model")
                                         : "--tokenizer-model " + tokenizer_model + " is not a tokenizer lcsim knows") +
                ")";
    }
    if (tokenizer == "NullTokenizer") {
      ++v.base;
      v.what += " with NullTokenizer, which adds its end-of-document token: " + std::to_string(v.base);
    }
  } else if (!given && tokenizer == "GPT2BPETokenizer") {
    v.base = 50257;
    v.what = "GPT2BPETokenizer's 50257";
  }
  return v;
}

}  // namespace lcsim::wl
