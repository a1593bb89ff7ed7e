// Reading and expanding sweep plans (see plan.h and docs/sweeps.md).
#include "sweep/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "sim/config.h"
#include "sim/json.h"
#include "sim/rng.h"

namespace lcsim::sweep {

namespace {

constexpr size_t kMaxPoints = 10'000'000;

/// Reads one plan file's tree, collecting every problem.
class PlanReader {
 public:
  PlanReader(const std::string& dir, Diagnostics& diags) : dir_(dir), diags_(diags) {}

  void error(const ConfigValue& v, const std::string& path, const std::string& msg) {
    diags_.add(v.location, path, msg);
  }
  void check_keys(const ConfigValue& map, const std::string& path, const std::vector<std::string>& allowed) {
    for (const auto& c : map.children) {
      if (std::find(allowed.begin(), allowed.end(), c.key) == allowed.end()) {
        diags_.add(c.key_location, path.empty() ? c.key : path + "." + c.key,
                   unknown_name_message("key", c.key, allowed));
      }
    }
  }
  bool expect_map(const ConfigValue& v, const std::string& path) {
    if (v.is_map()) return true;
    error(v, path, "expected a mapping");
    return false;
  }
  std::optional<std::string> scalar(const ConfigValue& v, const std::string& path) {
    if (v.is_scalar()) return v.scalar;
    error(v, path, "expected a single value");
    return std::nullopt;
  }
  std::optional<double> number(const ConfigValue& v, const std::string& path) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    const ExprValue x = ExprValue::parse(*s);
    if (!x.is_number || !std::isfinite(x.number) || *s == "true" || *s == "false") {
      error(v, path, "expected a number, got '" + *s + "'");
      return std::nullopt;
    }
    return x.number;
  }
  std::optional<bool> boolean(const ConfigValue& v, const std::string& path) {
    auto s = scalar(v, path);
    if (!s) return std::nullopt;
    if (*s == "true") return true;
    if (*s == "false") return false;
    error(v, path, "expected true or false, got '" + *s + "'");
    return std::nullopt;
  }
  std::string path_of(const std::string& file) const {
    if (file.empty() || std::filesystem::path(file).is_absolute() || dir_.empty()) return file;
    return (std::filesystem::path(dir_) / file).lexically_normal().string();
  }

  /// `set:` a mapping of KEY: VALUE.
  std::vector<std::string> sets(const ConfigValue& v, const std::string& path) {
    std::vector<std::string> out;
    if (!expect_map(v, path)) return out;
    for (const auto& c : v.children) out.push_back(c.key + "=" + flow_yaml(c));
    return out;
  }

  /// Values of one axis: `values:`, `range:` or `log:`.
  Axis axis(const ConfigValue& v, const std::string& path) {
    Axis a;
    a.where = v.location;
    if (!expect_map(v, path)) return a;
    check_keys(v, path, {"key", "name", "values", "range", "log", "unit", "integer"});
    const ConfigValue* key = v.find("key");
    if (!key) error(v, path, "an axis needs 'key:' (the scenario key it sweeps, e.g. cluster.nodes)");
    else if (auto s = scalar(*key, path + ".key")) a.key = *s;
    if (const ConfigValue* n = v.find("name")) {
      if (auto s = scalar(*n, path + ".name")) a.name = *s;
    } else {
      a.name = a.key.substr(a.key.rfind('.') + 1);
    }
    std::string unit;
    bool integer = false;
    if (const ConfigValue* u = v.find("unit")) unit = scalar(*u, path + ".unit").value_or("");
    if (const ConfigValue* i = v.find("integer")) integer = boolean(*i, path + ".integer").value_or(false);
    const ConfigValue* values = v.find("values");
    const ConfigValue* range = v.find("range");
    const ConfigValue* log = v.find("log");
    const int given = (values != nullptr) + (range != nullptr) + (log != nullptr);
    if (given != 1) {
      error(v, path, given == 0 ? "an axis needs one of 'values:' (a list), 'range:' or 'log:'"
                                : "an axis takes only one of 'values:', 'range:' and 'log:'");
      return a;
    }
    if (values) {
      if (values->kind != ConfigValue::Kind::kSeq || values->children.empty()) {
        error(*values, path + ".values", "expected a non-empty list, e.g. [1, 2, 4]");
        return a;
      }
      for (const auto& x : values->children) a.values.push_back(flow_yaml(x) + unit);
      return a;
    }
    const ConfigValue& r = range ? *range : *log;
    const std::string rpath = path + (range ? ".range" : ".log");
    if (!expect_map(r, rpath)) return a;
    check_keys(r, rpath, {"from", "to", range ? "step" : "factor", "count"});
    const ConfigValue* from = r.find("from");
    const ConfigValue* to = r.find("to");
    const ConfigValue* step = r.find(range ? "step" : "factor");
    const ConfigValue* count = r.find("count");
    if (!from || !to || (step != nullptr) == (count != nullptr)) {
      error(r, rpath, std::string("needs 'from:', 'to:' and one of '") + (range ? "step" : "factor") +
                          ":' and 'count:'");
      return a;
    }
    auto f = number(*from, rpath + ".from");
    auto t = number(*to, rpath + ".to");
    if (!f || !t) return a;
    std::vector<double> xs;
    if (count) {
      auto c = number(*count, rpath + ".count");
      if (!c) return a;
      if (*c < 1 || *c > 1e6 || *c != std::floor(*c)) {
        error(*count, rpath + ".count", "must be an integer in 1..1000000");
        return a;
      }
      const int n = static_cast<int>(*c);
      if (log && (*f <= 0 || *t <= 0)) {
        error(r, rpath, "a log range needs from and to above 0");
        return a;
      }
      for (int i = 0; i < n; ++i) {
        const double frac = n == 1 ? 0.0 : static_cast<double>(i) / (n - 1);
        xs.push_back(log ? *f * std::pow(*t / *f, frac) : *f + (*t - *f) * frac);
      }
    } else {
      auto s = number(*step, rpath + (range ? ".step" : ".factor"));
      if (!s) return a;
      if (range) {
        if (*s == 0 || (*t - *f) / *s < 0 || std::fabs((*t - *f) / *s) > 1e6) {
          error(*step, rpath + ".step", "must be non-zero, point from 'from' towards 'to', and give at most "
                                        "1,000,000 values");
          return a;
        }
        const auto n = static_cast<int64_t>(std::floor((*t - *f) / *s + 1e-9)) + 1;
        for (int64_t i = 0; i < n; ++i) xs.push_back(*f + static_cast<double>(i) * *s);
      } else {
        if (*f <= 0 || *t < *f || *s <= 1) {
          error(r, rpath, "a log range needs 0 < from <= to and factor > 1");
          return a;
        }
        for (double x = *f; x <= *t * (1 + 1e-9) && xs.size() < 1'000'000; x *= *s) xs.push_back(x);
      }
    }
    for (double x : xs) a.values.push_back(json_number(integer ? std::round(x) : x) + unit);
    return a;
  }

  SampledAxis sampled_axis(const ConfigValue& v, const std::string& path) {
    SampledAxis a;
    if (!expect_map(v, path)) return a;
    check_keys(v, path, {"key", "name", "min", "max", "log", "integer", "unit"});
    const ConfigValue* key = v.find("key");
    if (!key) error(v, path, "a sampled axis needs 'key:'");
    else a.key = scalar(*key, path + ".key").value_or("");
    a.name = a.key.substr(a.key.rfind('.') + 1);
    if (const ConfigValue* n = v.find("name")) a.name = scalar(*n, path + ".name").value_or(a.name);
    const ConfigValue* mn = v.find("min");
    const ConfigValue* mx = v.find("max");
    if (!mn || !mx) {
      error(v, path, "a sampled axis needs 'min:' and 'max:'");
      return a;
    }
    a.min = number(*mn, path + ".min").value_or(0);
    a.max = number(*mx, path + ".max").value_or(1);
    if (const ConfigValue* l = v.find("log")) a.log = boolean(*l, path + ".log").value_or(false);
    if (const ConfigValue* i = v.find("integer")) a.integer = boolean(*i, path + ".integer").value_or(false);
    if (const ConfigValue* u = v.find("unit")) a.unit = scalar(*u, path + ".unit").value_or("");
    if (a.max < a.min) error(v, path, "max must be at least min");
    if (a.log && a.min <= 0) error(v, path, "log: true needs min above 0");
    return a;
  }

  Sampling sampling(const ConfigValue& v, const std::string& path) {
    Sampling s;
    if (!expect_map(v, path)) return s;
    check_keys(v, path, {"method", "count", "seed", "axes"});
    if (const ConfigValue* m = v.find("method")) {
      s.method = scalar(*m, path + ".method").value_or(s.method);
      if (s.method != "random" && s.method != "latin_hypercube") {
        error(*m, path + ".method", unknown_name_message("sampling method", s.method, {"latin_hypercube", "random"}));
      }
    }
    const ConfigValue* c = v.find("count");
    if (!c) {
      error(v, path, "needs 'count:' (how many samples)");
    } else if (auto n = number(*c, path + ".count")) {
      if (*n < 1 || *n > 1e6 || *n != std::floor(*n)) error(*c, path + ".count", "must be an integer in 1..1000000");
      else s.count = static_cast<size_t>(*n);
    }
    if (const ConfigValue* sd = v.find("seed")) {
      if (auto n = number(*sd, path + ".seed")) s.seed = static_cast<uint64_t>(*n);
    }
    const ConfigValue* axes = v.find("axes");
    if (!axes || axes->kind != ConfigValue::Kind::kSeq || axes->children.empty()) {
      error(axes ? *axes : v, path + ".axes", "needs 'axes:', a list of {key, min, max}");
      return s;
    }
    for (size_t i = 0; i < axes->children.size(); ++i) {
      s.axes.push_back(sampled_axis(axes->children[i], path + ".axes[" + std::to_string(i) + "]"));
    }
    return s;
  }

 private:
  std::string dir_;
  Diagnostics& diags_;
};

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  static const std::string special = ",[]{}:#'\"&*!|>%@`";
  if (special.find(s.front()) != std::string::npos || (s.front() == '-' && s.size() > 1 && s[1] == ' ')) return true;
  for (char c : s) {
    if (c == ',' || c == '[' || c == ']' || c == '{' || c == '}' || c == '#' || c == '"' || c == '\n') return true;
  }
  return s.find(": ") != std::string::npos;
}

/// One number of a sample in [0, 1) mapped onto the axis.
std::string sample_value(const SampledAxis& a, double u) {
  double x = a.log ? a.min * std::pow(a.max / a.min, u) : a.min + (a.max - a.min) * u;
  if (a.integer) x = std::round(x);
  return json_number(x) + a.unit;
}

}  // namespace

std::string flow_yaml(const ConfigValue& v) {
  switch (v.kind) {
    case ConfigValue::Kind::kNull: return "null";
    case ConfigValue::Kind::kScalar: {
      if (!needs_quotes(v.scalar)) return v.scalar;
      std::string out = "\"";
      for (char c : v.scalar) {
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? std::string("\\n") : std::string(1, c);
      }
      return out + "\"";
    }
    case ConfigValue::Kind::kSeq: {
      std::string out = "[";
      for (size_t i = 0; i < v.children.size(); ++i) out += (i ? ", " : "") + flow_yaml(v.children[i]);
      return out + "]";
    }
    case ConfigValue::Kind::kMap: {
      std::string out = "{";
      for (size_t i = 0; i < v.children.size(); ++i) {
        out += (i ? ", " : "") + v.children[i].key + ": " + flow_yaml(v.children[i]);
      }
      return out + "}";
    }
  }
  return "";
}

std::vector<std::string> Plan::axis_names() const {
  std::vector<std::string> out;
  for (const auto& d : dimensions) {
    for (const auto& a : d.axes) out.push_back(a.name);
  }
  if (sampling) {
    for (const auto& a : sampling->axes) out.push_back(a.name);
  }
  return out;
}

Plan parse_plan(const ConfigValue& tree, const std::string& file, const std::string& dir) {
  Plan plan;
  plan.file = file;
  Diagnostics diags;
  PlanReader rd(dir, diags);
  if (!tree.is_map()) {
    diags.add(tree.location, "", "a sweep plan is a mapping (name, base, axes, ...); see docs/sweeps.md");
    diags.throw_if_any();
  }
  rd.check_keys(tree, "", {"name", "description", "base", "set", "axes", "samples", "constraints", "repetitions",
                           "seed", "compare"});
  plan.name = std::filesystem::path(file).stem().string();
  if (const ConfigValue* n = tree.find("name")) plan.name = rd.scalar(*n, "name").value_or(plan.name);
  if (const ConfigValue* b = tree.find("base")) plan.base = rd.path_of(rd.scalar(*b, "base").value_or(""));
  if (const ConfigValue* s = tree.find("set")) plan.sets = rd.sets(*s, "set");
  if (const ConfigValue* axes = tree.find("axes")) {
    if (axes->kind != ConfigValue::Kind::kSeq) {
      rd.error(*axes, "axes", "expected a list of axes (- key: ..., values: [...]) or zip groups (- zip: [...])");
    } else {
      for (size_t i = 0; i < axes->children.size(); ++i) {
        const ConfigValue& a = axes->children[i];
        const std::string path = "axes[" + std::to_string(i) + "]";
        Dimension d;
        const ConfigValue* zip = a.is_map() ? a.find("zip") : nullptr;
        if (zip) {
          rd.check_keys(a, path, {"zip"});
          if (zip->kind != ConfigValue::Kind::kSeq || zip->children.empty()) {
            rd.error(*zip, path + ".zip", "expected a list of axes that vary together");
            continue;
          }
          for (size_t j = 0; j < zip->children.size(); ++j) {
            d.axes.push_back(rd.axis(zip->children[j], path + ".zip[" + std::to_string(j) + "]"));
          }
          for (const auto& x : d.axes) {
            if (x.values.size() != d.axes.front().values.size()) {
              rd.error(*zip, path + ".zip", "zipped axes must have the same number of values: '" +
                                                 d.axes.front().name + "' has " +
                                                 std::to_string(d.axes.front().values.size()) + ", '" + x.name +
                                                 "' has " + std::to_string(x.values.size()));
              break;
            }
          }
        } else {
          d.axes.push_back(rd.axis(a, path));
        }
        plan.dimensions.push_back(std::move(d));
      }
    }
  }
  if (const ConfigValue* s = tree.find("samples")) plan.sampling = rd.sampling(*s, "samples");
  if (const ConfigValue* r = tree.find("repetitions")) {
    if (auto n = rd.number(*r, "repetitions")) {
      if (*n < 1 || *n > 100000 || *n != std::floor(*n)) rd.error(*r, "repetitions", "must be an integer in 1..100000");
      else plan.repetitions = static_cast<int>(*n);
    }
  }
  if (const ConfigValue* s = tree.find("seed")) {
    if (auto n = rd.number(*s, "seed")) {
      if (*n < 0 || *n != std::floor(*n)) rd.error(*s, "seed", "must be a non-negative integer");
      else plan.seed = static_cast<uint64_t>(*n);
    }
  }
  if (const ConfigValue* c = tree.find("compare")) {
    if (c->kind != ConfigValue::Kind::kSeq || c->children.size() < 2) {
      rd.error(*c, "compare", "expected a list of at least two alternatives (- name: ..., set: {...})");
    } else {
      for (size_t i = 0; i < c->children.size(); ++i) {
        const ConfigValue& a = c->children[i];
        const std::string path = "compare[" + std::to_string(i) + "]";
        if (!rd.expect_map(a, path)) continue;
        rd.check_keys(a, path, {"name", "base", "set"});
        Alternative alt;
        if (const ConfigValue* n = a.find("name")) alt.name = rd.scalar(*n, path + ".name").value_or("");
        else rd.error(a, path, "an alternative needs 'name:'");
        if (const ConfigValue* b = a.find("base")) alt.base = rd.path_of(rd.scalar(*b, path + ".base").value_or(""));
        if (const ConfigValue* s = a.find("set")) alt.sets = rd.sets(*s, path + ".set");
        for (const auto& other : plan.alternatives) {
          if (!alt.name.empty() && other.name == alt.name) rd.error(a, path + ".name", "'" + alt.name + "' twice");
        }
        if (plan.base.empty() && alt.base.empty()) {
          rd.error(a, path, "needs 'base:' (the plan has no base scenario)");
        }
        plan.alternatives.push_back(std::move(alt));
      }
    }
  }
  if (plan.base.empty() && plan.alternatives.empty()) {
    diags.add(tree.location, "base", "a plan needs 'base:', the scenario file its points start from");
  }
  // Axis names must be distinct: they are result columns and constraint names.
  std::vector<std::string> names = plan.axis_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      diags.add(tree.location, "axes", "two axes are named '" + names[i] + "'; give one a 'name:'");
    }
  }
  if (const ConfigValue* cs = tree.find("constraints")) {
    if (cs->kind != ConfigValue::Kind::kSeq) {
      rd.error(*cs, "constraints", "expected a list of expressions, e.g. [\"tp * pp <= 8\"]");
    } else {
      for (size_t i = 0; i < cs->children.size(); ++i) {
        const std::string path = "constraints[" + std::to_string(i) + "]";
        auto text = rd.scalar(cs->children[i], path);
        if (!text) continue;
        try {
          plan.constraints.push_back({Expr::parse(*text, names), cs->children[i].location});
        } catch (const std::invalid_argument& e) {
          rd.error(cs->children[i], path, e.what());
        }
      }
    }
  }
  diags.throw_if_any();
  return plan;
}

Plan load_plan(const std::string& path) {
  ConfigValue tree = load_yaml_file(path);
  return parse_plan(tree, path, std::filesystem::path(path).parent_path().string());
}

int64_t derive_seed(uint64_t master, int rep) {
  return static_cast<int64_t>(mix64(mix64(master ^ hash_name("sweep.repetition")) ^ static_cast<uint64_t>(rep)) &
                              0x7fffffffULL);
}

std::string Point::identity() const {
  std::string out = base;
  for (const auto& o : overrides) out += " --set " + o;
  return out;
}

std::vector<Point> expand(const Plan& plan) {
  // Grid dimensions, then the samples as one more dimension.
  std::vector<size_t> sizes;
  for (const auto& d : plan.dimensions) sizes.push_back(d.size());
  std::vector<std::vector<std::string>> samples;  // [sample][sampled axis]
  if (plan.sampling) {
    const Sampling& s = *plan.sampling;
    samples.assign(s.count, std::vector<std::string>(s.axes.size()));
    RngFactory rng(s.seed);
    for (size_t j = 0; j < s.axes.size(); ++j) {
      RandomStream stream = rng.stream("sweep.samples", j);
      if (s.method == "random") {
        for (size_t i = 0; i < s.count; ++i) samples[i][j] = sample_value(s.axes[j], stream.uniform());
      } else {
        // Latin hypercube: each axis's range cut into `count` strata, one sample in each, strata shuffled
        // independently per axis (Fisher-Yates with our own stream: the same on every standard library).
        std::vector<size_t> perm(s.count);
        std::iota(perm.begin(), perm.end(), 0);
        for (size_t i = s.count; i > 1; --i) std::swap(perm[i - 1], perm[stream.below(i)]);
        for (size_t i = 0; i < s.count; ++i) {
          const double u = (static_cast<double>(perm[i]) + stream.uniform()) / static_cast<double>(s.count);
          samples[i][j] = sample_value(s.axes[j], u);
        }
      }
    }
    sizes.push_back(s.count);
  }
  double total = 1;
  for (size_t n : sizes) total *= static_cast<double>(n);
  const size_t alts = std::max<size_t>(1, plan.alternatives.size());
  total *= static_cast<double>(alts) * plan.repetitions;
  if (total > static_cast<double>(kMaxPoints)) {
    throw InputError({{{plan.file, 0, 0}, "axes", "the plan expands to " + json_number(total) +
                                                      " points before constraints; the limit is 10,000,000"}});
  }
  const std::vector<std::string> names = plan.axis_names();
  std::vector<Point> points;
  std::vector<size_t> idx(sizes.size(), 0);
  for (;;) {
    bool empty = false;
    for (size_t n : sizes) empty = empty || n == 0;
    if (empty) break;
    // Axis values of this combination.
    std::vector<std::pair<std::string, std::string>> axes;  // name, value
    std::vector<std::string> sets;
    for (size_t d = 0; d < plan.dimensions.size(); ++d) {
      for (const auto& a : plan.dimensions[d].axes) {
        axes.emplace_back(a.name, a.values[idx[d]]);
        sets.push_back(a.key + "=" + a.values[idx[d]]);
      }
    }
    if (plan.sampling) {
      const auto& row = samples[idx.back()];
      for (size_t j = 0; j < row.size(); ++j) {
        axes.emplace_back(plan.sampling->axes[j].name, row[j]);
        sets.push_back(plan.sampling->axes[j].key + "=" + row[j]);
      }
    }
    ExprBindings b;
    for (const auto& [n, v] : axes) b[n] = ExprValue::parse(v);
    bool keep = true;
    for (const auto& c : plan.constraints) {
      try {
        keep = keep && c.expr.eval(b).truthy();
      } catch (const std::invalid_argument& e) {
        throw InputError({{c.where, "constraints", e.what()}});
      }
    }
    if (keep) {
      for (size_t ai = 0; ai < alts; ++ai) {
        for (int rep = 0; rep < plan.repetitions; ++rep) {
          Point p;
          p.id = points.size();
          p.axes = axes;
          p.repetition = rep;
          p.base = plan.base;
          p.overrides = plan.sets;
          if (!plan.alternatives.empty()) {
            const Alternative& alt = plan.alternatives[ai];
            p.alternative = alt.name;
            if (!alt.base.empty()) p.base = alt.base;
            p.overrides.insert(p.overrides.end(), alt.sets.begin(), alt.sets.end());
          }
          p.overrides.insert(p.overrides.end(), sets.begin(), sets.end());
          if (plan.seed || plan.repetitions > 1) {
            p.seed = derive_seed(plan.seed.value_or(1), rep);
            p.overrides.push_back("simulation.seed=" + std::to_string(*p.seed));
          }
          points.push_back(std::move(p));
        }
      }
    }
    // Next combination: the last dimension varies fastest.
    size_t d = sizes.size();
    while (d > 0) {
      if (++idx[d - 1] < sizes[d - 1]) break;
      idx[d - 1] = 0;
      --d;
    }
    if (d == 0) break;
  }
  return points;
}

std::string plan_fingerprint(const std::vector<Point>& points) {
  uint64_t h = hash_name("lcsim sweep plan");
  for (const auto& p : points) h = mix64(h ^ hash_name(p.identity()));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace lcsim::sweep
