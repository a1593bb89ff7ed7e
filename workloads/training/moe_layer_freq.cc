#include "workloads/training/moe_layer_freq.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace lcsim::wl {

namespace {

// Megatron-LM's --moe-layer-freq: an integer (every n-th layer MoE), or a Python list expression of the layers, 1 for
// MoE, 0 for dense, that Megatron evaluates (arguments.py, moe_freq_type: eval of e.g. '([0]*3+[1]*58)',
// '([1]*3+[0]*1)*3', '[0]+[1]*15'). The expressions its users write: sums of bracketed lists of 0 and 1 and of
// parenthesised sums, each optionally repeated (`*count`). Grammar: expr = term ('+' term)*; term = atom ('*' count)?;
// atom = '[' bit (',' bit)* ']' | '(' expr ')'. The layers go to `out`; false for anything else, for nesting deeper
// than 16, or for more than 100,000 layers (a hostile count is refused before anything is allocated).
class LayerListParser {
 public:
  explicit LayerListParser(std::string text) : s_(std::move(text)) {
    std::erase_if(s_, [](char c) { return c == ' '; });
    // A second level of quotes, as launchers that hand the line to another shell write it ("'([1]*48)'"): that
    // shell removes them before Megatron reads the value.
    if (s_.size() >= 2 && (s_.front() == '\'' || s_.front() == '"') && s_.back() == s_.front()) {
      s_ = s_.substr(1, s_.size() - 2);
    }
  }
  bool parse(std::vector<int>& out) { return expr(out, 0) && i_ == s_.size() && !out.empty(); }

 private:
  static constexpr size_t kMaxLayers = 100000;
  static constexpr int kMaxDepth = 16;
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  bool expr(std::vector<int>& out, int depth) {
    if (depth > kMaxDepth || !term(out, depth)) return false;
    while (eat('+')) {
      if (!term(out, depth)) return false;
    }
    return out.size() <= kMaxLayers;
  }
  bool term(std::vector<int>& out, int depth) {
    std::vector<int> part;
    if (eat('[')) {
      do {
        if (!eat('0') && !eat('1')) return false;
        part.push_back(s_[i_ - 1] - '0');
      } while (eat(','));
      if (!eat(']')) return false;
    } else if (eat('(')) {
      if (!expr(part, depth + 1) || !eat(')')) return false;
    } else {
      return false;
    }
    size_t count = 1;
    if (eat('*')) {
      const size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && i_ - from < 7) ++i_;
      if (i_ == from) return false;
      count = std::stoul(s_.substr(from, i_ - from));
    }
    if (part.size() * count + out.size() > kMaxLayers) return false;
    for (size_t k = 0; k < count; ++k) out.insert(out.end(), part.begin(), part.end());
    return true;
  }
  std::string s_;
  size_t i_ = 0;
};

}  // namespace

bool parse_moe_layer_list(const std::string& text, std::vector<int>& out) {
  return LayerListParser(text).parse(out);
}

// The (first dense layers N, frequency k) of lcsim's model (GptModel::is_moe: layer >= N and layer % k == 0) that
// gives exactly `layers`, the smallest k that does; false where none does (the odd layers MoE, say). N can be the
// first MoE layer itself: no layer below it is MoE either way.
bool moe_layer_form(const std::vector<int>& layers, int& dense, int& freq) {
  const int n = static_cast<int>(layers.size());
  const int f = static_cast<int>(std::find(layers.begin(), layers.end(), 1) - layers.begin());
  if (f == n) return false;
  for (int k = 1; k <= n; ++k) {
    if (f % k != 0) continue;
    bool same = true;
    for (int l = 0; l < n && same; ++l) same = layers[static_cast<size_t>(l)] == (l >= f && l % k == 0 ? 1 : 0);
    if (same) return dense = f, freq = k, true;
  }
  return false;
}

}  // namespace lcsim::wl
