// data/validation_status.yaml against docs/validation.md: every validation row belongs to exactly one family,
// and each family's rows, sources, mean and max |error| are what the rows say. Also: the table compiled into
// lcsim is the file's, and the summary's confidence line for a validated and a non-validated family.
#include "apps/validation_status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/error.h"

namespace lcsim::app {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = LCSIM_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 1; i < line.size(); ++i) {  // skip the leading '|'
    if (line[i] == '|' && line[i - 1] != '\\') {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return out;
}

bool has_word(const std::string& text, const std::string& word) {
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    const size_t end = at + word.size();
    const bool right = end >= text.size() || !std::isalnum(static_cast<unsigned char>(text[end]));
    if (left && right) return true;
  }
  return false;
}

/// `words`: one word, or several separated by '|' (any of them).
bool has_any_word(const std::string& text, const std::string& words) {
  std::istringstream in(words);
  for (std::string w; std::getline(in, w, '|');)
    if (has_word(text, w)) return true;
  return false;
}

double percent(const std::string& cell) {  // "+12.8%" -> 12.8 (absolute)
  return std::abs(std::stod(cell.substr(0, cell.find('%'))));
}

/// One validation row of docs/validation.md.
struct DocRow {
  std::string table;    // training or nccl
  std::string first;    // its first cell
  std::string heading;  // the "## " section it is in
  std::string part;     // training: the part column
  std::string group;    // training: the group column
  std::string source;   // training: the source column
  double mean = 0, max = 0;
};

bool is_signed_percent(const std::string& cell) {
  return cell.size() > 1 && (cell[0] == '+' || cell[0] == '-') && std::isdigit(static_cast<unsigned char>(cell[1])) &&
         cell.find('%') != std::string::npos;
}

/// The rows of its training table (| run | part | source | group | published | lcsim | unit | error |; rows whose
/// run lcsim could not simulate have no signed error and are not evidence) and of its NCCL tables.
std::vector<DocRow> doc_rows(const std::string& doc) {
  const std::string kTraining = "| run | part | source | group | published | lcsim | unit | error |";
  const std::string kNccl = "| configuration | max abs error from 16 MiB | mean abs error from 16 MiB |";
  const std::string kScaleup = "| configuration | sizes | max abs error | mean abs error |";
  std::vector<DocRow> rows;
  std::istringstream in(doc);
  std::string line, heading, table;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) heading = line.substr(3);
    if (line == kTraining)
      table = "training";
    else if (line == kNccl)
      table = "nccl";
    else if (line == kScaleup)
      table = "scaleup";
    else if (line.rfind("|", 0) != 0)
      table.clear();
    else if (!table.empty() && line.rfind("|---", 0) != 0) {
      const auto c = cells(line);
      DocRow r{table, c.at(0), heading, "", "", "", 0, 0};
      if (table == "training") {
        if (!is_signed_percent(c.at(7))) continue;
        r.part = c.at(1);
        r.source = c.at(2);
        r.group = c.at(3);
        r.mean = r.max = percent(c.at(7));
      } else if (table == "nccl") {
        r.max = percent(c.at(1));
        r.mean = percent(c.at(2));
      } else {
        r.max = percent(c.at(2));
        r.mean = percent(c.at(3));
      }
      rows.push_back(r);
    }
  }
  return rows;
}

ValidationStatus from_file() {
  return ValidationStatus::parse(slurp(kSource / "data/validation_status.yaml"),
                                 "data/validation_status.yaml");
}

TEST(ValidationStatus, AgreesWithTheRowsOfDocsValidation) {
  const ValidationStatus status = from_file();
  const auto rows = doc_rows(slurp(kSource / "docs/validation.md"));
  ASSERT_GE(rows.size(), 20u) << "docs/validation.md: expected its training and NCCL tables";
  struct Seen {
    int rows = 0;
    double sum = 0, max = 0;
    std::set<std::string> sources;
  };
  std::map<std::string, Seen> seen;
  for (const auto& r : rows) {
    const std::string kind =
        r.table != "training"                                                      ? "collectives"
        : r.group == "MoE" || r.first.find(" MoE") != std::string::npos ? "MoE training"  // a MoE model in another group
                                                                           : "dense training";
    std::vector<const ValidationFamily*> owners;
    for (const auto& f : status.families()) {
      const bool part = r.table == "nccl"      ? has_word(r.heading, f.doc_part)
                        : r.table == "scaleup" ? has_any_word(r.first, f.doc_part)
                                               : r.part == f.doc_part;
      if (f.doc_table == r.table && f.workload == kind && part) owners.push_back(&f);
    }
    ASSERT_EQ(owners.size(), 1u) << "docs/validation.md row '" << r.first << "' (" << kind << ", section '"
                                 << r.heading << "') belongs to " << owners.size()
                                 << " families of data/validation_status.yaml; it must belong to exactly one "
                                    "(add a family whose doc_part names its part)";
    Seen& s = seen[owners[0]->family];
    s.rows += 1;
    s.sum += r.mean;
    s.max = std::max(s.max, r.max);
    if (!r.source.empty()) s.sources.insert(r.source);
  }
  for (const auto& f : status.families()) {
    SCOPED_TRACE("family '" + f.family + "' of data/validation_status.yaml");
    ASSERT_TRUE(seen.count(f.family)) << "no row of docs/validation.md belongs to it";
    const Seen& s = seen.at(f.family);
    const double mean = s.sum / s.rows;
    char expected[256];
    std::snprintf(expected, sizeof expected,
                  "docs/validation.md says: rows: %d, mean_abs_error_pct: %.1f, "
                  "max_abs_error_pct: %.1f",
                  s.rows, mean, s.max);
    EXPECT_EQ(f.rows, s.rows) << expected;
    EXPECT_NEAR(f.mean_abs_error_pct, mean, 0.05 + 1e-9) << expected;
    EXPECT_NEAR(f.max_abs_error_pct, s.max, 1e-9) << expected;
    if (f.doc_table == "training") {
      EXPECT_EQ(std::set<std::string>(f.sources.begin(), f.sources.end()), s.sources)
          << "sources: the source column of its rows";
    }
  }
}

TEST(ValidationStatus, LcsimCarriesTheFileAsItIs) {
  const ValidationStatus file = from_file();
  const auto& built = ValidationStatus::builtin().families();
  ASSERT_EQ(built.size(), file.families().size());
  for (size_t i = 0; i < built.size(); ++i) {
    EXPECT_EQ(built[i].family, file.families()[i].family);
    EXPECT_EQ(built[i].rows, file.families()[i].rows);
    EXPECT_EQ(built[i].mean_abs_error_pct, file.families()[i].mean_abs_error_pct);
  }
}

TEST(ValidationStatus, ConfidenceForValidatedAndUnvalidatedFamilies) {
  const ValidationStatus status = from_file();
  const std::string a100 = status.confidence({"A100-SXM-80GB"}, "dense training");
  EXPECT_EQ(a100.rfind("A100 dense training: validated on 23 published runs (", 0), 0u) << a100;
  // The family's own figures, one decimal each (data/validation_status.yaml).
  const auto& fam = *std::find_if(status.families().begin(), status.families().end(),
                                  [](const auto& f) { return f.family == "A100 dense training"; });
  char figures[96];
  std::snprintf(figures, sizeof figures, "mean |error| %.1f%%, max %.1f%% (docs/validation.md)", fam.mean_abs_error_pct,
                fam.max_abs_error_pct);
  EXPECT_NE(a100.find(figures), std::string::npos) << a100;
  // A run outside the sizes the rows cover says so; one within 10% of them does not.
  const std::string h100 = status.confidence({"H100-SXM-80GB"}, "dense training", 32768, 1.8e12);
  EXPECT_NE(
      h100.find("(docs/validation.md); this run is outside that range: 1.8 T parameters (validated: 3 B to 405 B), "
                "32,768 GPUs (validated: 4 to 16,384)"),
      std::string::npos)
      << h100;
  EXPECT_EQ(status.confidence({"H100-SXM-80GB"}, "dense training", 1024, 70.56e9).find("outside"),
            std::string::npos);
  EXPECT_EQ(status.confidence({"H800-SXM-80GB"}, "MoE training", 2048, 721e9).find("outside"),
            std::string::npos);
  const std::string moe = status.confidence({"H800-SXM-80GB"}, "MoE training");
  EXPECT_EQ(moe.rfind("H800 MoE training: validated on 1 published run (", 0), 0u) << moe;
  // The same part, another kind of work; another part; a mix of a validated and an unvalidated part.
  const std::string h800_nccl = status.confidence({"H800-SXM-80GB"}, "collectives");
  EXPECT_EQ(h800_nccl.rfind("not validated for H800-SXM-80GB collectives (docs/validation.md has A100 NCCL "
                            "collectives 10.4% over 9 measured configurations; H100 NCCL all-reduce in one node 2.1% "
                            "over 15 measured configurations",
                            0),
            0u)
      << h800_nccl;
  // One-node all-reduce (the scale-up summary table): H100 is validated, and says the rows are fits.
  const std::string h100_nccl = status.confidence({"H100-SXM-80GB"}, "collectives", 8);
  EXPECT_EQ(h100_nccl.rfind("H100 NCCL all-reduce in one node: validated on 15 measured configurations (", 0), 0u)
      << h100_nccl;
  EXPECT_NE(h100_nccl.find("fits, not independent checks"), std::string::npos) << h100_nccl;
  EXPECT_NE(status.confidence({"H100-SXM-80GB"}, "collectives", 64).find("outside"), std::string::npos);
  // The one-node families say so for a run across nodes even when its GPU count is inside their range: 32 B200 on
  // four HGX nodes (the family's rows span 4 to 72 GPUs, the rack's 72 in one NVLink domain).
  EXPECT_EQ(status.confidence({"B200"}, "collectives", 32, 0, 1).find("outside"), std::string::npos);
  const std::string b200_nodes = status.confidence({"B200"}, "collectives", 32, 0, 4);
  EXPECT_NE(b200_nodes.find("this run is outside that range: 4 nodes (validated: 1)"), std::string::npos)
      << b200_nodes;
  const std::string mi300x = status.confidence({"MI300X"}, "collectives");
  EXPECT_EQ(mi300x.rfind("MI300X RCCL all-reduce in one node: validated on 1 measured configuration (", 0), 0u)
      << mi300x;
  EXPECT_EQ(
      status.confidence({"MI300X"}, "dense training").rfind("not validated for MI300X dense training", 0),
      0u);
  EXPECT_EQ(status.confidence({"H100-SXM-80GB", "A100-SXM-80GB"}, "dense training")
                .rfind("not validated for mixed H100-SXM-80GB + A100-SXM-80GB dense training", 0),
            0u);
  // A part derived from a validated one (`{base: H100-SXM-80GB, scale_up_reduction: false}`, as validation rows
  // use): the base's evidence, named as the base's; a derived part of an unvalidated base stays unvalidated.
  const std::string derived = status.confidence({"H100-SXM-80GB (derived)"}, "dense training", 64, 8e9);
  EXPECT_EQ(derived.rfind("a part derived from H100-SXM-80GB (its overrides are not validated as such); "
                          "H100 dense training: validated on ",
                          0),
            0u)
      << derived;
  EXPECT_EQ(status.confidence({"MI300X (derived)"}, "dense training")
                .rfind("not validated for MI300X (derived) dense training", 0),
            0u);
  EXPECT_EQ(status.confidence({"H100-SXM-80GB (derived)", "H100-SXM-80GB"}, "dense training")
                .rfind("a part derived from H100-SXM-80GB (", 0),
            0u);
  EXPECT_EQ(status.confidence({"H100-SXM-80GB"}, "trace replay"),
            "not validated for H100-SXM-80GB trace replay (nothing of this kind is in docs/validation.md)");
  EXPECT_EQ(workload_kind("megatron", true), "MoE training");
  EXPECT_EQ(workload_kind("gpt_data_parallel", false), "dense training");
  EXPECT_EQ(workload_kind("nccl_tests", false), "collectives");
}

TEST(ValidationStatus, BadTableSaysFileLineAndKey) {
  try {
    ValidationStatus::parse(
        "families:\n  - family: X\n    parts: [A100-SXM-80GB]\n    workload: dense training\n"
        "    doc_table: training\n    doc_part: A100\n    rows: 1\n    mean_abs_error_pct: 1\n"
        "    max_abs_error_pct: 1\n    mean_error: 3\n",
        "status.yaml");
    FAIL() << "an unknown key was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("status.yaml:10:5: families[0].mean_error: unknown key 'mean_error'"),
              std::string::npos)
        << what;
  }
  EXPECT_THROW(ValidationStatus::parse("families:\n  - family: X\n    workload: training\n", "s.yaml"),
               InputError);
  try {
    ValidationStatus::parse(
        "families:\n  - family: X\n    parts: [A100-SXM-80GB]\n    workload: dense training\n"
        "    doc_table: training\n    doc_part: A100\n    rows: 1\n    mean_abs_error_pct: 1\n"
        "    max_abs_error_pct: 1\n    gpus: [64, 8]\n",
        "status.yaml");
    FAIL() << "a reversed range was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("families[0].gpus: expected [lowest, highest], both positive"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace lcsim::app
