// The vocabulary a Megatron-LM command line's tokenizer gives (megatron_args.cc): Megatron-LM builds the tokenizer
// and pads its size (build_tokenizer, vocab_size_with_padding), so a line that names a Hugging Face tokenizer and no
// size still means a vocabulary. lcsim cannot load the tokenizer; it knows the sizes of the tokenizers of the model
// families below, each with its source (docs/training-megatron-args.md, "The vocabulary").
#pragma once

#include <optional>
#include <string>

namespace lcsim::wl {

/// A tokenizer's size before Megatron-LM pads it.
struct TokenizerSize {
  unsigned long long size = 0;
  std::string family;  // e.g. "Llama 3"
  /// false: the size is the model's config.json vocab_size, the tokenizer's own length not known to lcsim.
  bool tokenizer_length = true;
};

/// The size of the Hugging Face tokenizer `model` names (--tokenizer-model: a hub id or a local path; matched by
/// family on its last path component, case-insensitively), as Megatron-LM's HuggingFaceTokenizer reports it
/// (len(tokenizer): the base vocabulary and the added special tokens); nullopt for a tokenizer lcsim does not know.
std::optional<TokenizerSize> hugging_face_tokenizer_size(const std::string& model);

/// A command line's vocabulary before padding, as Megatron-LM's build_tokenizer sizes it from --tokenizer-type,
/// --tokenizer-model and --vocab-size (`vocab_size`: its value, nullptr where the line has none): for
/// HuggingFaceTokenizer len(tokenizer) where lcsim knows it (Megatron-LM does not read --vocab-size then); for
/// Llama2Tokenizer Llama 2's 32,000 pieces; for NullTokenizer --vocab-size and its end-of-document token; for
/// TikTokenizer --vocab-size, else 2^17; for GPT2BPETokenizer GPT-2's 50,257 where the line gives no size; else
/// --vocab-size as given.
struct LineVocabulary {
  unsigned long long base = 0;  // 0: the line says nothing lcsim can size
  std::string what;             // how it was read, for the run header
  bool known = false;           // a Hugging Face tokenizer lcsim knows (its size wins over --vocab-size)
};
LineVocabulary line_vocabulary(const std::string& tokenizer, const std::string& tokenizer_model,
                               const std::string* vocab_size);

}  // namespace lcsim::wl
