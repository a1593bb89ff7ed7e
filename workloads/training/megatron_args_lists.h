#pragma once
// Megatron-LM's training argument parser as tables (megatron_args_lists.cc): how each of its arguments takes values,
// and what lcsim does with those megatron_args.cc neither reads nor lists itself.
#include <map>
#include <set>
#include <string>

namespace lcsim::wl::megatron_lm {

/// How one argument lcsim reads maps onto a key: a value argument, or a flag that sets the key to a fixed value.
struct ArgRule {
  std::string key;
  const char* flag_value = nullptr;  // non-null: a store_true style flag
};
/// The arguments read into keys, by name without the leading dashes (megatron_args_rules.cc).
const std::map<std::string, ArgRule>& rules();

/// The data sets a Megatron-LM run has besides its training set, which its evaluation reads (training.py's do_valid
/// and do_test): `split` is --split's value (null: not given), `mock` --mock-data, `paths` whether
/// --train-data-path, --valid-data-path, --test-data-path were given (megatron_args_rules.cc).
struct DataSets {
  bool valid = true, test = true;
  std::string reading;  // how the line was read, for the run header ("" where it gave none of them)
  std::string error;    // a --split Megatron-LM would refuse, and why
};
DataSets data_sets(const std::string* split, bool mock, const bool (&paths)[3]);

/// How an argument takes its values on the command line (argparse): a flag none, a value argument one, a list
/// (nargs '*', '+' or a count) every word up to the next argument.
enum class Takes { kNone, kOne, kList };

/// The lists kept by hand before the parser's table (arguments of older versions included): ignored, not modelled,
/// rejected with the reason. megatron_args.cc looks an argument up in these and in the tables below.
const std::set<std::string>& listed_ignored();
const std::set<std::string>& listed_not_modelled();
const std::map<std::string, std::string>& listed_rejected();
/// Every argument of Megatron-LM's training parser (its --no- / --disable- forms included) and how it takes values.
const std::map<std::string, Takes>& parser();
/// Arguments with no effect on the time or memory lcsim models, beyond megatron_args.cc's own list.
const std::set<std::string>& ignored();
/// Arguments that change speed or memory in ways lcsim does not model: accepted and named in the run header.
const std::set<std::string>& not_modelled();
/// Arguments rejected, with the reason (too large an effect to cost as without them, or refused by Megatron-LM).
const std::map<std::string, std::string>& rejected();

}  // namespace lcsim::wl::megatron_lm
