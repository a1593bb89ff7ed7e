#include "sim/config.h"

#include "sim/limits.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace lcsim {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string format_double(double v) {
  // The shortest text that reads back exactly, in plain notation unless the exponent form is shorter: 370, not
  // 3.7e+02 (std::to_chars without a format).
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string a_or_an(const std::string& noun) {
  return (std::string("aeiou").find(noun.empty() ? 'x' : noun[0]) != std::string::npos ? "an " : "a ") + noun;
}

const char* kind_word(ConfigValue::Kind k) {
  switch (k) {
    case ConfigValue::Kind::kNull: return "nothing";
    case ConfigValue::Kind::kScalar: return "a single value";
    case ConfigValue::Kind::kMap: return "a mapping";
    case ConfigValue::Kind::kSeq: return "a list";
  }
  return "?";
}

}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& valid) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& v : valid) {
    const size_t d = edit_distance(name, v);
    if (d < best_d) {
      best_d = d;
      best = v;
    }
  }
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  return best_d <= limit ? best : "";
}

std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& valid) {
  std::string msg = "unknown " + what + " '" + name + "'";
  const std::string guess = did_you_mean(name, valid);
  if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
  return msg + " (valid: " + join(valid) + ")";
}

Section::Codec Section::Codec::of(bool& v) {
  Codec c;
  c.type = "boolean";
  c.parse = [&v](const std::string& t) -> std::optional<std::string> {
    if (t == "true") v = true;
    else if (t == "false") v = false;
    else return "expected true or false, got '" + t + "'";
    return std::nullopt;
  };
  c.format = [&v] { return std::string(v ? "true" : "false"); };
  return c;
}

namespace {
template <class I>
std::optional<std::string> parse_int(const std::string& t, I& v) {
  I out{};
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (ec == std::errc::result_out_of_range) return "integer out of range: '" + t + "'";
  if (ec != std::errc() || p != t.data() + t.size()) return "expected an integer, got '" + t + "'";
  v = out;
  return std::nullopt;
}
}  // namespace

template <class I>
Section::Codec Section::Codec::integer(I& v, double max, const char* limit) {
  Codec c;
  c.type = "integer";
  c.parse = [&v](const std::string& t) { return parse_int(t, v); };
  c.format = [&v] { return std::to_string(v); };
  c.number = [&v] { return static_cast<double>(v); };
  c.format_base = [](double x) { return format_double(x); };
  c.implicit_max = max;
  c.implicit_limit = limit;
  return c;
}

Section::Codec Section::Codec::of(int& v) {
  return integer(v, static_cast<double>(limits::kMaxInteger), "input.max_integer");
}

Section::Codec Section::Codec::of(int64_t& v) {
  return integer(v, static_cast<double>(limits::kMaxInteger64), "input.max_integer64");
}

Section::Codec Section::Codec::of(double& v) {
  Codec c;
  c.type = "number";
  c.parse = [&v](const std::string& t) -> std::optional<std::string> {
    char* end = nullptr;
    const double x = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(x)) return "expected a number, got '" + t + "'";
    v = x;
    return std::nullopt;
  };
  c.format = [&v] { return format_double(v); };
  c.number = [&v] { return v; };
  c.format_base = [](double x) { return format_double(x); };
  return c;
}

Section::Codec Section::Codec::of(std::string& v) {
  Codec c;
  c.type = "string";
  c.parse = [&v](const std::string& t) -> std::optional<std::string> {
    v = t;
    return std::nullopt;
  };
  c.format = [&v] { return v; };
  return c;
}

Section Section::parser(const ConfigValue* node, std::string path, Diagnostics* diags) {
  Section s(Mode::kParse, std::move(path));
  s.node_ = node;
  s.diags_ = diags;
  if (node && node->kind != ConfigValue::Kind::kMap && node->kind != ConfigValue::Kind::kNull) {
    diags->add(node->location, s.path_, std::string("expected a mapping of keys, got ") + kind_word(node->kind));
    s.node_ = nullptr;
  }
  return s;
}

Section Section::describer(std::string path, std::vector<KeyDoc>* out) {
  Section s(Mode::kDescribe, std::move(path));
  s.docs_ = out;
  return s;
}

Section Section::emitter(std::string path, ConfigValue* out) {
  Section s(Mode::kEmit, std::move(path));
  s.out_ = out;
  out->kind = ConfigValue::Kind::kMap;
  return s;
}

std::string Section::range_text(const Range& r, const std::function<std::string(double)>& fmt) {
  if (r.any()) return "";
  const bool lo = !std::isinf(r.min), hi = !std::isinf(r.max);
  if (lo && hi) return (r.min_exclusive ? "> " + fmt(r.min) + " and <= " : fmt(r.min) + " to ") + fmt(r.max);
  if (lo) return (r.min_exclusive ? "> " : ">= ") + fmt(r.min);
  return "<= " + fmt(r.max);
}

void Section::error(const std::string& key, const std::string& message) {
  if (mode_ != Mode::kParse) return;
  const ConfigValue* v = node_ ? node_->find(key) : nullptr;
  SourceLocation loc = v ? v->location : (node_ ? node_->location : SourceLocation{});
  diags_->add(loc, child_path(key), message);
}

void Section::error_here(const std::string& message) {
  if (mode_ != Mode::kParse) return;
  diags_->add(node_ ? node_->location : SourceLocation{}, path_, message);
}

void Section::handle(const std::string& key, const std::string& help, Range range, const Codec& codec) {
  declared_.push_back(key);
  const std::string path = child_path(key);
  switch (mode_) {
    case Mode::kDescribe: {
      KeyDoc d{path, codec.type, codec.units, codec.required ? "(required)" : codec.format(), help, ""};
      if (codec.format_base) d.range = range_text(range, codec.format_base);
      docs_->push_back(std::move(d));
      return;
    }
    case Mode::kEmit: {
      ConfigValue v;
      v.kind = ConfigValue::Kind::kScalar;
      v.scalar = codec.format();
      out_->set(key, std::move(v));
      return;
    }
    case Mode::kParse: break;
  }
  const ConfigValue* v = node_ ? node_->find(key) : nullptr;
  if (!v) {
    if (codec.required) {
      diags_->add(node_ ? node_->location : SourceLocation{}, path, "missing required key (" + help + ")");
    }
    return;
  }
  if (v->kind != ConfigValue::Kind::kScalar) {
    diags_->add(v->location, path, "expected " + a_or_an(codec.type) + ", got " + kind_word(v->kind));
    return;
  }
  if (v->scalar.size() > limits::kMaxScalarBytes) {  // a tree built without yaml_io (tests, fuzzers)
    diags_->add(v->location, path, "value longer than allowed " + limits::named("input.max_scalar_bytes", limits::kMaxScalarBytes));
    return;
  }
  // A value that fails its checks leaves the default in place, so that cross-field checks and anything run
  // before the errors are reported never see it (a zero divisor, an overflowing size).
  const std::string previous = codec.format();
  if (auto err = codec.parse(v->scalar)) {
    diags_->add(v->location, path, *err);
    codec.parse(previous);
    return;
  }
  if (!codec.number) return;
  const double x = codec.number();
  if (!std::isfinite(x)) {
    diags_->add(v->location, path, "number out of range in '" + v->scalar + "'");
    codec.parse(previous);
    return;
  }
  if (!range.any()) {
    const bool low = range.min_exclusive ? !(x > range.min) : !(x >= range.min);
    if (low || x > range.max) {
      diags_->add(v->location, path,
                  "must be " + range_text(range, codec.format_base) + ", got '" + v->scalar + "'");
      codec.parse(previous);
      return;
    }
  }
  // Keys without an upper bound of their own still have one, so that products of user numbers stay exact and
  // finite downstream.
  if (std::isinf(range.max) && std::abs(x) > codec.implicit_max) {
    diags_->add(v->location, path,
                "must be at most " + codec.format_base(codec.implicit_max) + " in magnitude, got '" + v->scalar +
                    "' " + limits::named(codec.implicit_limit, format_double(codec.implicit_max)));
    codec.parse(previous);
  }
}

Section& Section::choice(const std::string& key, std::string& value, const std::vector<std::string>& allowed,
                         const std::string& help) {
  declared_.push_back(key);
  const std::string path = child_path(key);
  if (mode_ == Mode::kDescribe) {
    docs_->push_back({path, "one of: " + join(allowed), "", value, help, ""});
    return *this;
  }
  if (mode_ == Mode::kEmit) {
    ConfigValue v;
    v.kind = ConfigValue::Kind::kScalar;
    v.scalar = value;
    out_->set(key, std::move(v));
    return *this;
  }
  const ConfigValue* v = node_ ? node_->find(key) : nullptr;
  if (!v) return *this;
  if (v->kind != ConfigValue::Kind::kScalar) {
    diags_->add(v->location, path, std::string("expected a name, got ") + kind_word(v->kind));
    return *this;
  }
  if (std::find(allowed.begin(), allowed.end(), v->scalar) == allowed.end()) {
    diags_->add(v->location, path, unknown_name_message("value", v->scalar, allowed));
    return *this;
  }
  value = v->scalar;
  return *this;
}

Section& Section::section(const std::string& key, const std::string& help,
                          const std::function<void(Section&)>& fn) {
  declared_.push_back(key);
  const std::string path = child_path(key);
  switch (mode_) {
    case Mode::kDescribe: {
      docs_->push_back({path, "section", "", "", help, ""});
      Section child = describer(path, docs_);
      fn(child);
      return *this;
    }
    case Mode::kEmit: {
      ConfigValue v;
      Section child = emitter(path, &v);
      fn(child);
      out_->set(key, std::move(v));
      return *this;
    }
    case Mode::kParse: {
      const ConfigValue* v = node_ ? node_->find(key) : nullptr;
      Section child = parser(v, path, diags_);
      fn(child);
      child.finish();
      return *this;
    }
  }
  return *this;
}

Section& Section::custom(const std::string& key, const std::string& help, const std::string& type,
                         const std::string& default_text, const std::function<void(const ConfigValue&)>& parse,
                         const std::function<ConfigValue()>& emit) {
  declared_.push_back(key);
  switch (mode_) {
    case Mode::kDescribe:
      docs_->push_back({child_path(key), type, "", default_text, help, ""});
      break;
    case Mode::kEmit:
      out_->set(key, emit());
      break;
    case Mode::kParse:
      if (const ConfigValue* v = node_ ? node_->find(key) : nullptr) parse(*v);
      break;
  }
  return *this;
}

void Section::finish() {
  if (mode_ != Mode::kParse || !node_ || skip_unknown_) return;
  for (const auto& c : node_->children) {
    if (std::find(declared_.begin(), declared_.end(), c.key) != declared_.end()) continue;
    std::vector<std::string> valid = declared_;
    std::sort(valid.begin(), valid.end());
    diags_->add(c.key_location, child_path(c.key), unknown_name_message("key", c.key, valid));
  }
}

}  // namespace lcsim
