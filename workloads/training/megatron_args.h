// Megatron-LM command lines imported as they are ("--num-layers 96 --hidden-size 12288 ... --bf16"): each
// argument that changes performance becomes the `megatron` workload key of the same name (dashes to
// underscores, model-shape arguments under model.); arguments with no bearing on speed or memory (learning rate,
// data paths, logging, checkpointing, ...) are listed as ignored; any other argument is an error naming it.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "sim/config_tree.h"

namespace lcsim::wl {

/// Whether `text` is a non-empty run of decimal digits (a count written as text: a command-line value, a key that
/// takes a word or a number).
inline bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct ImportedArgs {
  ConfigValue tree;                  // a mapping of workload keys
  std::vector<std::string> ignored;  // arguments accepted with no effect on the simulation
  std::vector<std::string> assumed;  // --attention-backend / --transformer-impl as given, for the run header
  std::vector<std::string> not_modelled;  // accepted, costed as without them: named in the run header
  std::vector<std::string> read_as;  // arguments whose meaning depends on the Megatron-LM version: the reading taken
  bool attention_given = false;      // the line decides attention (flash or not)
};

/// Parses `args` (a shell-style command line; backslash-newlines, a launcher and the script name before the
/// first --argument are skipped). Every error of the line (unknown argument, missing or bad value) is reported
/// in one InputError at `where`, each naming its line (multi-line text) and column in the command line.
ImportedArgs import_megatron_args(const std::string& args, const SourceLocation& where);

/// The argument names (without the leading dashes) the importer understands, for documentation.
std::vector<std::string> megatron_arg_names();
/// The arguments accepted and ignored (no effect on speed or memory), for documentation.
std::vector<std::string> megatron_ignored_arg_names();

}  // namespace lcsim::wl
