// Name -> factory tables for models and policies, each entry with a one-line description for `lcsim list`.
// Filled by explicit register_*() calls from one place (scenarios/catalog.cc), never by static initializers.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sim/config.h"
#include "sim/error.h"

namespace lcsim {

template <class Factory>
class Registry {
 public:
  struct Entry {
    std::string name;
    std::string description;
    Factory factory;
  };

  explicit Registry(std::string what) : what_(std::move(what)) {}

  void add(const std::string& name, const std::string& description, Factory factory) {
    LCSIM_ASSERT(!entries_.count(name), what_ + " '" + name + "' registered twice");
    entries_[name] = Entry{name, description, std::move(factory)};
  }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// The entry, or an InputError "unknown <what> 'x'; did you mean 'y'? (valid: ...)".
  const Entry& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw InputError(unknown_name_message(what_, name, names()));
    return it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::map<std::string, Entry> entries_;  // ordered: listings are stable
};

}  // namespace lcsim
