// A recursive-descent parser and tree evaluator for plan constraints (see expr.h).
#include "sweep/expr.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "sim/config.h"

namespace lcsim::sweep {

struct Expr::Node {
  enum class Kind { kNumber, kString, kName, kUnary, kBinary };
  Kind kind = Kind::kNumber;
  double number = 0;
  std::string text;  // string literal, name, or operator
  std::shared_ptr<const Node> a, b;
};

ExprValue ExprValue::parse(const std::string& s) {
  if (s == "true") return of(1);
  if (s == "false") return of(0);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (!s.empty() && end == s.c_str() + s.size() && !std::isspace(static_cast<unsigned char>(s[0]))) return of(v);
  return {false, 0, s};
}

namespace {

using NodePtr = std::shared_ptr<const Expr::Node>;

class Parser {
 public:
  Parser(const std::string& text, const std::vector<std::string>& names) : s_(text), names_(names) {}

  NodePtr parse() {
    NodePtr n = parse_or();
    skip();
    if (pos_ < s_.size()) fail("unexpected '" + s_.substr(pos_, 1) + "'");
    return n;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("in expression '" + s_ + "' at column " + std::to_string(pos_ + 1) + ": " + what);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(const std::string& op) {
    skip();
    if (s_.compare(pos_, op.size(), op) != 0) return false;
    // '<' must not swallow the first half of '<=' (callers try longer operators first) and '=' alone is no operator.
    pos_ += op.size();
    return true;
  }
  static NodePtr binary(const std::string& op, NodePtr a, NodePtr b) {
    auto n = std::make_shared<Expr::Node>();
    n->kind = Expr::Node::Kind::kBinary;
    n->text = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  NodePtr parse_or() {
    NodePtr n = parse_and();
    while (eat("||")) n = binary("||", n, parse_and());
    return n;
  }
  NodePtr parse_and() {
    NodePtr n = parse_cmp();
    while (eat("&&")) n = binary("&&", n, parse_cmp());
    return n;
  }
  NodePtr parse_cmp() {
    NodePtr n = parse_add();
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (eat(op)) return binary(op, n, parse_add());
    }
    skip();
    if (pos_ < s_.size() && s_[pos_] == '=') fail("'=' is not an operator; use '==' to compare");
    return n;
  }
  NodePtr parse_add() {
    NodePtr n = parse_mul();
    for (;;) {
      if (eat("+")) n = binary("+", n, parse_mul());
      else if (eat("-")) n = binary("-", n, parse_mul());
      else return n;
    }
  }
  NodePtr parse_mul() {
    NodePtr n = parse_unary();
    for (;;) {
      if (eat("*")) n = binary("*", n, parse_unary());
      else if (eat("/")) n = binary("/", n, parse_unary());
      else if (eat("%")) n = binary("%", n, parse_unary());
      else return n;
    }
  }
  NodePtr parse_unary() {
    skip();
    if (pos_ < s_.size() && (s_[pos_] == '-' || (s_[pos_] == '!' && s_.compare(pos_, 2, "!=") != 0))) {
      auto n = std::make_shared<Expr::Node>();
      n->kind = Expr::Node::Kind::kUnary;
      n->text = std::string(1, s_[pos_++]);
      n->a = parse_unary();
      return n;
    }
    return parse_primary();
  }
  NodePtr parse_primary() {
    skip();
    if (pos_ >= s_.size()) fail("expected a number, a name or '(' but the expression ends");
    auto n = std::make_shared<Expr::Node>();
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      NodePtr inner = parse_or();
      if (!eat(")")) fail("expected ')'");
      return inner;
    }
    if (c == '\'' || c == '"') {
      const size_t close = s_.find(c, pos_ + 1);
      if (close == std::string::npos) fail("unterminated string");
      n->kind = Expr::Node::Kind::kString;
      n->text = s_.substr(pos_ + 1, close - pos_ - 1);
      pos_ = close + 1;
      return n;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      char* end = nullptr;
      n->number = std::strtod(s_.c_str() + pos_, &end);
      if (end == s_.c_str() + pos_) fail("bad number");
      n->kind = Expr::Node::Kind::kNumber;
      pos_ = static_cast<size_t>(end - s_.c_str());
      return n;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                  s_[pos_] == '.')) {
        ++pos_;
      }
      n->text = s_.substr(start, pos_ - start);
      if (n->text == "true" || n->text == "false") {
        n->kind = Expr::Node::Kind::kNumber;
        n->number = n->text == "true" ? 1 : 0;
        return n;
      }
      n->kind = Expr::Node::Kind::kName;
      bool known = false;
      for (const auto& name : names_) known = known || name == n->text;
      if (!known) {
        pos_ = start;
        std::string msg = "unknown name '" + n->text + "'";
        const std::string guess = did_you_mean(n->text, names_);
        if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
        std::string all;
        for (const auto& name : names_) all += (all.empty() ? "" : ", ") + name;
        fail(msg + " (names: " + (all.empty() ? "none: the plan has no axes" : all) + ")");
      }
      return n;
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  const std::string& s_;
  const std::vector<std::string>& names_;
  size_t pos_ = 0;
};

double number_of(const ExprValue& v, const std::string& op, const std::string& text) {
  if (!v.is_number) {
    throw std::invalid_argument("in expression '" + text + "': '" + op + "' needs numbers, got the string '" +
                                v.text + "'");
  }
  return v.number;
}

ExprValue eval_node(const Expr::Node& n, const ExprBindings& b, const std::string& text) {
  using K = Expr::Node::Kind;
  switch (n.kind) {
    case K::kNumber: return ExprValue::of(n.number);
    case K::kString: return {false, 0, n.text};
    case K::kName: {
      auto it = b.find(n.text);
      if (it == b.end()) throw std::invalid_argument("in expression '" + text + "': '" + n.text + "' has no value");
      return it->second;
    }
    case K::kUnary: {
      const ExprValue v = eval_node(*n.a, b, text);
      if (n.text == "!") return ExprValue::of(v.truthy() ? 0 : 1);
      return ExprValue::of(-number_of(v, "-", text));
    }
    case K::kBinary: break;
  }
  const std::string& op = n.text;
  if (op == "&&") return ExprValue::of(eval_node(*n.a, b, text).truthy() && eval_node(*n.b, b, text).truthy());
  if (op == "||") return ExprValue::of(eval_node(*n.a, b, text).truthy() || eval_node(*n.b, b, text).truthy());
  const ExprValue x = eval_node(*n.a, b, text);
  const ExprValue y = eval_node(*n.b, b, text);
  if (op == "==" || op == "!=") {
    bool eq;
    if (x.is_number && y.is_number) eq = x.number == y.number;
    else if (!x.is_number && !y.is_number) eq = x.text == y.text;
    else eq = false;
    return ExprValue::of(op == "==" ? eq : !eq);
  }
  const double p = number_of(x, op, text);
  const double q = number_of(y, op, text);
  if (op == "<") return ExprValue::of(p < q);
  if (op == "<=") return ExprValue::of(p <= q);
  if (op == ">") return ExprValue::of(p > q);
  if (op == ">=") return ExprValue::of(p >= q);
  if (op == "+") return ExprValue::of(p + q);
  if (op == "-") return ExprValue::of(p - q);
  if (op == "*") return ExprValue::of(p * q);
  if (q == 0) throw std::invalid_argument("in expression '" + text + "': division by zero");
  if (op == "/") return ExprValue::of(p / q);
  return ExprValue::of(std::fmod(p, q));
}

}  // namespace

Expr Expr::parse(const std::string& text, const std::vector<std::string>& names) {
  Expr e;
  e.text_ = text;
  e.root_ = Parser(text, names).parse();
  return e;
}

ExprValue Expr::eval(const ExprBindings& bindings) const { return eval_node(*root_, bindings, text_); }

}  // namespace lcsim::sweep
