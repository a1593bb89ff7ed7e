// Constraint expressions of sweep plans: `tp * pp * dp == gpus && micro_batch <= 8`. Numbers, names (axis
// values, bound per point), quoted strings, + - * / %, comparisons, && || !, parentheses. Parsed once (syntax and
// unknown names are reported when the plan is read), evaluated per point.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lcsim::sweep {

/// A value in an expression: a number, or a string (an axis value that does not read as a number).
struct ExprValue {
  bool is_number = true;
  double number = 0;
  std::string text;
  static ExprValue of(double v) { return {true, v, ""}; }
  /// Reads `s` as a number when it is one (YAML true/false as 1/0), else keeps it as a string.
  static ExprValue parse(const std::string& s);
  bool truthy() const { return is_number ? number != 0 : !text.empty(); }
};

using ExprBindings = std::map<std::string, ExprValue>;

class Expr {
 public:
  struct Node;
  /// Parses `text`; names must be among `names`. Throws std::invalid_argument with a message that quotes the
  /// expression and says where it went wrong.
  static Expr parse(const std::string& text, const std::vector<std::string>& names);
  /// Evaluates with every name bound; arithmetic on a string, or division by zero, throws std::invalid_argument.
  ExprValue eval(const ExprBindings& bindings) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace lcsim::sweep
