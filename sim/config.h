// Typed configuration: one parse function per config struct declares its keys once, and that declaration
// serves three modes: parse (YAML tree -> struct, strict, every error collected), describe (keys, types,
// units, defaults and help for `lcsim explain` and docs/scenarios.md) and emit (struct -> fully resolved YAML).
// Defaults live in the struct initializers, the one place.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/config_tree.h"
#include "sim/error.h"
#include "sim/limits.h"
#include "sim/units.h"

namespace lcsim {

/// Inclusive/exclusive numeric bounds, checked on the base-unit value.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  static Range positive() { return {0.0, std::numeric_limits<double>::infinity(), true}; }
  static Range at_least(double m) { return {m, std::numeric_limits<double>::infinity(), false}; }
  static Range between(double lo, double hi) { return {lo, hi, false}; }
  static Range fraction() { return {0.0, 1.0, true}; }  // (0, 1]
  bool any() const { return std::isinf(min) && std::isinf(max); }
};

/// One documented key, as `lcsim explain` prints it.
struct KeyDoc {
  std::string path;      // "cluster.fabric.nic_bandwidth"
  std::string type;      // "bandwidth", "integer", "string", "one of: a, b", "section"
  std::string units;     // accepted unit suffixes, for quantities
  std::string default_value;
  std::string help;
  std::string range;     // "> 0", "1..64", ...
};

/// Spelling suggestion for an unknown name, or "" if none is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& valid);
/// "unknown X 'y'; did you mean 'z'? (valid: a, b, c)"
std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& valid);

/// Visitor over one mapping of a config. See the file comment for its three modes.
class Section {
 public:
  enum class Mode { kParse, kDescribe, kEmit };

  /// Parse mode over `node` (a map, or null for "all defaults").
  static Section parser(const ConfigValue* node, std::string path, Diagnostics* diags);
  /// Describe mode: collects KeyDocs into `out`.
  static Section describer(std::string path, std::vector<KeyDoc>* out);
  /// Emit mode: writes every value (defaults included) into `out` (a map).
  static Section emitter(std::string path, ConfigValue* out);

  Mode mode() const { return mode_; }
  const std::string& path() const { return path_; }
  const ConfigValue* node() const { return node_; }
  bool has(const std::string& key) const { return node_ && node_->find(key) != nullptr; }
  /// Where parse-mode problems go (null in other modes).
  Diagnostics* diagnostics() const { return diags_; }
  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  template <class T>
  Section& field(const std::string& key, T& value, const std::string& help, Range range = {}) {
    handle(key, help, range, Codec::of(value));
    return *this;
  }
  /// A field that must be present in parse mode (its struct default is only a placeholder).
  template <class T>
  Section& required(const std::string& key, T& value, const std::string& help, Range range = {}) {
    Codec c = Codec::of(value);
    c.required = true;
    handle(key, help, range, c);
    return *this;
  }
  /// A string restricted to a set of names (e.g. registered model names).
  Section& choice(const std::string& key, std::string& value, const std::vector<std::string>& allowed,
                  const std::string& help);
  /// A nested mapping parsed by `fn(Section&)`.
  Section& section(const std::string& key, const std::string& help, const std::function<void(Section&)>& fn);

  /// A list of mappings, each parsed into a T by `fn(Section&, T&)`. When the key is present the list replaces
  /// `items`; describe mode documents one item under "key[]".
  template <class T, class F>
  Section& list(const std::string& key, const std::string& help, std::vector<T>& items, F fn) {
    declared_.push_back(key);
    const std::string path = child_path(key);
    if (mode_ == Mode::kDescribe) {
      docs_->push_back({path + "[]", "list", "", "", help, ""});
      T item{};
      Section child = describer(path + "[]", docs_);
      fn(child, item);
      return *this;
    }
    if (mode_ == Mode::kEmit) {
      ConfigValue seq;
      seq.kind = ConfigValue::Kind::kSeq;
      for (auto& item : items) {
        ConfigValue m;
        Section child = emitter(path, &m);
        fn(child, item);
        seq.children.push_back(std::move(m));
      }
      out_->set(key, std::move(seq));
      return *this;
    }
    const ConfigValue* v = node_ ? node_->find(key) : nullptr;
    if (!v) return *this;
    if (v->kind != ConfigValue::Kind::kSeq) {
      error(key, "expected a list");
      return *this;
    }
    items.clear();
    for (size_t i = 0; i < v->children.size(); ++i) {
      T item{};
      Section child = parser(&v->children[i], path + "[" + std::to_string(i) + "]", diags_);
      fn(child, item);
      child.finish();
      items.push_back(std::move(item));
    }
    return *this;
  }

  /// A list of scalars (strings, numbers, quantities with units); when the key is present it replaces `items`.
  template <class T>
  Section& values(const std::string& key, std::vector<T>& items, const std::string& help) {
    T probe{};
    const Codec c = Codec::of(probe);
    return custom(
        key, help, "list of " + c.type, "[]",
        [&, key](const ConfigValue& v) {
          if (v.kind != ConfigValue::Kind::kSeq) {
            error(key, "expected a list of " + c.type + " values, e.g. [a, b]");
            return;
          }
          items.clear();
          for (size_t i = 0; i < v.children.size(); ++i) {
            T item{};
            const Codec ci = Codec::of(item);
            const auto& x = v.children[i];
            const std::string path = child_path(key) + "[" + std::to_string(i) + "]";
            if (!x.is_scalar()) {
              diags_->add(x.location, path, "expected " + ci.type + ", got a list or mapping");
            } else if (auto err = ci.parse(x.scalar)) {
              diags_->add(x.location, path, *err);
            } else if (ci.number && std::abs(ci.number()) > ci.implicit_max) {
              diags_->add(x.location, path,
                          "must be at most " + ci.format_base(ci.implicit_max) + " in magnitude, got '" + x.scalar +
                              "' " + limits::named(ci.implicit_limit, ci.format_base(ci.implicit_max)));
            } else {
              items.push_back(item);
            }
          }
        },
        [&] {
          ConfigValue seq;
          seq.kind = ConfigValue::Kind::kSeq;
          for (auto& item : items) {
            ConfigValue x;
            x.kind = ConfigValue::Kind::kScalar;
            x.scalar = Codec::of(item).format();
            seq.children.push_back(x);
          }
          return seq;
        });
  }

  /// A value with its own shape (e.g. "a catalog name or a mapping"): `parse` gets the raw value when present,
  /// `emit` returns the value to write. `type` and `default_text` are for describe mode.
  Section& custom(const std::string& key, const std::string& help, const std::string& type,
                  const std::string& default_text, const std::function<void(const ConfigValue&)>& parse,
                  const std::function<ConfigValue()>& emit);

  /// Describe mode only: appends already-made docs.
  void add_docs(const std::vector<KeyDoc>& docs) {
    if (mode_ == Mode::kDescribe) docs_->insert(docs_->end(), docs.begin(), docs.end());
  }
  /// Describe mode only: documents a key that some other code handles (e.g. `base:`).
  void docs_note(const std::string& key, const std::string& type, const std::string& help) {
    if (mode_ == Mode::kDescribe) docs_->push_back({child_path(key), type, "", "", help, ""});
  }
  /// Describe mode only: documents the mapping form of a custom() value (its keys under key.*).
  void describe_mapping(const std::string& key, const std::function<void(Section&)>& fn) {
    if (mode_ != Mode::kDescribe) return;
    Section child = describer(child_path(key), docs_);
    fn(child);
  }

  /// Reports keys that no declaration consumed (with did-you-mean). Call once after all declarations.
  void finish();

  /// Stops finish() from reporting unknown keys (after an error that makes them meaningless).
  void skip_unknown_keys() { skip_unknown_ = true; }

  /// Records an error against the section itself (its location and path).
  void error_here(const std::string& message);
  /// Records an error against one of this section's keys (for cross-field checks).
  void error(const std::string& key, const std::string& message);

 private:
  struct Codec {
    std::string type;
    std::string units;
    std::function<std::optional<std::string>(const std::string& text)> parse;  // returns error
    std::function<std::string()> format;
    std::function<double()> number;  // for range checks; null if not numeric
    std::function<std::string(double)> format_base;  // a bound in the value's own units
    bool required = false;
    double implicit_max = limits::kMaxQuantity;  // |value| bound for keys whose range has no upper end (see sim/limits.h)
    std::string implicit_limit = "input.max_quantity";

    static Codec of(bool& v);
    static Codec of(int& v);
    static Codec of(int64_t& v);
    template <class I>
    static Codec integer(I& v, double max, const char* limit);  // int and int64_t: the same but for the limit
    static Codec of(double& v);
    static Codec of(std::string& v);
    template <class Q>
      requires requires(Q q) { unit_kind_of<Q>(); }
    static Codec of(Q& v) {
      static constexpr UnitKind kind = unit_kind_of<Q>();
      Codec c;
      c.type = std::string(unit_kind_name(kind));
      for (const auto& s : unit_suffixes(kind)) c.units += (c.units.empty() ? "" : ", ") + s;
      c.parse = [&v](const std::string& text) -> std::optional<std::string> {
        std::string err;
        auto parsed = parse_quantity(text, kind, &err);
        if (!parsed) return err;
        v = Q::from_base(*parsed);
        return std::nullopt;
      };
      c.format = [&v] { return format_quantity(v.value(), kind); };
      c.number = [&v] { return v.value(); };
      c.format_base = [](double x) { return format_quantity(x, kind); };
      return c;
    }
  };

  Section(Mode mode, std::string path) : mode_(mode), path_(std::move(path)) {}
  void handle(const std::string& key, const std::string& help, Range range, const Codec& codec);
  static std::string range_text(const Range& r, const std::function<std::string(double)>& fmt);

  Mode mode_;
  std::string path_;
  const ConfigValue* node_ = nullptr;
  Diagnostics* diags_ = nullptr;
  std::vector<KeyDoc>* docs_ = nullptr;
  ConfigValue* out_ = nullptr;
  std::vector<std::string> declared_;
  bool skip_unknown_ = false;
};

}  // namespace lcsim
