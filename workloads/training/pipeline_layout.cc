#include "workloads/training/pipeline_layout.h"

#include <algorithm>
#include <cctype>

namespace lcsim::wl {

namespace {

constexpr size_t kMaxLayoutChars = 1'000'000;  // an unrolled layout longer than this is an error, not a stall

bool digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The digits from `i` on (at least one, as \d+): their value, capped so that a long run cannot overflow.
size_t count_at(const std::string& s, size_t& i) {
  size_t n = 0;
  for (; i < s.size() && digit(s[i]); ++i) n = std::min<size_t>(n * 10 + static_cast<size_t>(s[i] - '0'), kMaxLayoutChars + 1);
  return n;
}

bool repeat(std::string& out, const std::string& what, size_t n, std::string* error) {
  if (n > 0 && what.size() * n + out.size() > kMaxLayoutChars) {
    *error = "unrolls to more than " + std::to_string(kMaxLayoutChars) + " characters";
    return false;
  }
  for (size_t k = 0; k < n; ++k) out += what;
  return true;
}

// re.sub(r'\(([^)]+)\)\*(\d+)', group x n, s): a '(' whose first ')' after it is followed by '*' and digits.
bool unroll_groups(const std::string& s, std::string& out, std::string* error) {
  size_t close = 0;  // the first ')' after the last '(' looked at (kept: a run of '(' is scanned once, not each time)
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '(') {
      if (close != std::string::npos && close <= i) close = s.find(')', i + 1);
      if (close != std::string::npos && close > i + 1 && close + 2 < s.size() && s[close + 1] == '*' &&
          digit(s[close + 2])) {
        size_t j = close + 2;
        const size_t n = count_at(s, j);
        if (!repeat(out, s.substr(i + 1, close - i - 1), n, error)) return false;
        i = j;
        continue;
      }
    }
    out += s[i++];
  }
  return true;
}

// re.sub(r'(.)\*(\d+)', char x n, s).
bool unroll_chars(const std::string& s, std::string& out, std::string* error) {
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\n' && i + 2 < s.size() && s[i + 1] == '*' && digit(s[i + 2])) {
      size_t j = i + 2;
      const size_t n = count_at(s, j);
      if (!repeat(out, std::string(1, s[i]), n, error)) return false;
      i = j;
      continue;
    }
    out += s[i++];
  }
  return true;
}

}  // namespace

std::vector<PipelineLayoutStage> parse_pipeline_layout(const std::string& text, std::string* error) {
  std::string s = text, groups, flat;
  std::erase(s, ',');  // purely cosmetic, as in Megatron-core
  if (!unroll_groups(s, groups, error) || !unroll_chars(groups, flat, error)) return {};
  std::vector<PipelineLayoutStage> stages(1);
  for (const char c : flat) {
    PipelineLayoutStage& st = stages.back();
    switch (c) {
      case '|': stages.emplace_back(); continue;
      case 'E': st.embedding = true; break;
      case 'L': st.loss = true; break;
      case 't': ++st.decoders; break;
      case 'm': ++st.mtp; break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        const char* hex = "0123456789abcdef";
        const std::string shown = std::isprint(u) ? std::string(1, c) : std::string("\\x") + hex[u >> 4] + hex[u & 15];
        *error = "invalid layer character '" + shown + "' in virtual stage " + std::to_string(stages.size() - 1) +
                 " (after unrolling '" + (flat.size() > 200 ? flat.substr(0, 200) + "..." : flat) +
                 "'); known: E (embedding), t (transformer layer), m (MTP module), L (loss), with | between "
                 "virtual stages, x*n and (...)*n to repeat, commas ignored";
        return {};
      }
    }
    st.layers += c;
  }
  return stages;
}

std::string check_pipeline_layout(const std::vector<PipelineLayoutStage>& stages, int pp, int num_layers,
                                  int mtp_num_layers) {
  const auto str = [](auto x) { return std::to_string(x); };
  const int n = static_cast<int>(stages.size());
  if (pp < 1 || n % pp != 0) {
    return "has " + str(n) + " virtual stages, not a multiple of pipeline_model_parallel_size (" + str(pp) + ")";
  }
  const int vpp = n / pp;
  std::string flat;
  for (const auto& s : stages) flat += s.layers;
  if (flat.empty() || flat.front() != 'E') {
    return std::string("must begin with the embedding E, got ") + (flat.empty() ? "no layer" : "'" + flat.substr(0, 1) + "'");
  }
  if (flat.back() != 'L') return "must end with the loss L, got '" + flat.substr(flat.size() - 1) + "'";
  const auto count = [&flat](char c) { return static_cast<int>(std::count(flat.begin(), flat.end(), c)); };
  if (count('E') != 1) return "names the embedding E " + str(count('E')) + " times; exactly once is allowed";
  if (count('L') != 1) return "names the loss L " + str(count('L')) + " times; exactly once is allowed";
  if (count('t') != num_layers) {
    return "holds " + str(count('t')) + " transformer layers (t); model.num_layers is " + str(num_layers);
  }
  if (count('m') != mtp_num_layers) {
    return "holds " + str(count('m')) + " MTP modules (m); model.mtp_num_layers is " + str(mtp_num_layers);
  }
  if (const size_t m = flat.find('m'); m != std::string::npos && flat.find('t', m) != std::string::npos) {
    return "places a transformer layer (t) after an MTP module (m); decoder layers must come before MTP layers";
  }
  for (int v = 0; v < n; ++v) {
    const PipelineLayoutStage& s = stages[static_cast<size_t>(v)];
    if (s.mtp == 0) continue;
    if (v / pp != vpp - 1) {
      return "places MTP modules in virtual stage " + str(v) + " (pipeline rank " + str(v % pp) + ", chunk " +
             str(v / pp) + "); Megatron-core keeps them in the last chunk of a rank (chunk " + str(vpp - 1) + ")";
    }
    if (s.mtp != mtp_num_layers) return "splits the MTP modules over virtual stages; all of them must be in one";
  }
  return "";
}

std::string describe_pipeline_layout(const std::vector<PipelineLayoutStage>& stages, int pp) {
  if (pp < 1 || stages.empty() || stages.size() % static_cast<size_t>(pp) != 0) return "";
  const size_t vpp = stages.size() / static_cast<size_t>(pp);
  // One chunk as runs of its layer characters: "E,t*3".
  auto chunk = [](const std::string& layers) {
    std::string out;
    for (size_t i = 0; i < layers.size();) {
      size_t j = i;
      while (j < layers.size() && layers[j] == layers[i]) ++j;
      out += (out.empty() ? "" : ",") + std::string(1, layers[i]) + (j - i > 1 ? "*" + std::to_string(j - i) : "");
      i = j;
    }
    return out.empty() ? std::string("-") : out;
  };
  auto row = [&](int r) {
    std::string out;
    for (size_t k = 0; k < vpp; ++k) out += (k ? " | " : "") + chunk(stages[k * static_cast<size_t>(pp) + static_cast<size_t>(r)].layers);
    return out;
  };
  std::string out;
  for (int r = 0; r < pp;) {
    int q = r + 1;
    while (q < pp && row(q) == row(r)) ++q;
    out += (out.empty() ? "" : "; ") + (q - r > 1 ? "ranks " + std::to_string(r) + "-" + std::to_string(q - 1) : "rank " + std::to_string(r)) +
           ": " + row(r);
    r = q;
  }
  return out;
}

}  // namespace lcsim::wl
