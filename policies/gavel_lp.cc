// See gavel_lp.h.
#include "policies/gavel_lp.h"

#include <glpk.h>

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace lcsim::policy {
namespace {

struct ProbDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

void simplex(glp_prob* lp) {
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_OFF;
  const int rc = glp_simplex(lp, &parm);
  if (rc != 0 || glp_get_status(lp) != GLP_OPT)
    throw std::runtime_error("gavel LP: GLPK simplex failed (code " + std::to_string(rc) + ", status " +
                             std::to_string(glp_get_status(lp)) + ")");
}

using detail_lp::ClassLp;

/// Solves both LPs over the classes; returns X[class][kind] and sets t*.
std::vector<std::vector<double>> solve_classes(const ClassLp& c, const std::vector<double>& capacity, double& t_star) {
  const size_t classes = c.norm.size(), kinds = capacity.size();
  glp_term_out(GLP_OFF);
  std::unique_ptr<glp_prob, ProbDeleter> lp(glp_create_prob());
  glp_set_obj_dir(lp.get(), GLP_MAX);
  // Columns: X[c][k] for allowed pairs (1-based), then t.
  std::vector<std::vector<int>> col(classes, std::vector<int>(kinds, 0));
  int ncols = 0;
  for (size_t j = 0; j < classes; ++j)
    for (size_t k = 0; k < kinds; ++k)
      if (c.norm[j][k] > 0) col[j][k] = ++ncols;
  const int t_col = ++ncols;
  glp_add_cols(lp.get(), ncols);
  for (int x = 1; x < t_col; ++x) glp_set_col_bnds(lp.get(), x, GLP_DB, 0.0, 1.0);
  glp_set_col_bnds(lp.get(), t_col, GLP_LO, 0.0, 0.0);
  // Rows: per class, its normalised throughput - t >= 0 and its time <= 1; per kind, its GPUs.
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0};
  auto add = [&](int row, int cl, double v) { ia.push_back(row), ja.push_back(cl), ar.push_back(v); };
  std::vector<int> fair_row(classes, 0);
  int rows = 0;
  for (size_t j = 0; j < classes; ++j) {
    fair_row[j] = ++rows;
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) add(rows, col[j][k], c.norm[j][k]);
    add(rows, t_col, -1.0);
    ++rows;
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) add(rows, col[j][k], 1.0);
  }
  std::vector<int> kind_row(kinds, 0);
  for (size_t k = 0; k < kinds; ++k) {
    kind_row[k] = ++rows;
    for (size_t j = 0; j < classes; ++j)
      if (col[j][k]) add(rows, col[j][k], c.count[j] * static_cast<double>(c.gpus[j]));
  }
  glp_add_rows(lp.get(), rows);
  for (size_t j = 0; j < classes; ++j) {
    glp_set_row_bnds(lp.get(), fair_row[j], GLP_LO, 0.0, 0.0);
    glp_set_row_bnds(lp.get(), fair_row[j] + 1, GLP_UP, 0.0, 1.0);
  }
  for (size_t k = 0; k < kinds; ++k) glp_set_row_bnds(lp.get(), kind_row[k], GLP_UP, 0.0, capacity[k]);
  glp_load_matrix(lp.get(), static_cast<int>(ia.size() - 1), ia.data(), ja.data(), ar.data());

  // 1: max t.
  glp_set_obj_coef(lp.get(), t_col, 1.0);
  simplex(lp.get());
  t_star = glp_get_col_prim(lp.get(), t_col);
  // 2: keep t >= t* (less a rounding margin), maximise the sum of normalised throughputs over all jobs.
  glp_set_col_bnds(lp.get(), t_col, GLP_LO, t_star * (1 - 1e-9), 0.0);
  glp_set_obj_coef(lp.get(), t_col, 0.0);
  for (size_t j = 0; j < classes; ++j)
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) glp_set_obj_coef(lp.get(), col[j][k], c.count[j] * c.norm[j][k]);
  simplex(lp.get());

  std::vector<std::vector<double>> x(classes, std::vector<double>(kinds, 0));
  for (size_t j = 0; j < classes; ++j)
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) x[j][k] = std::max(0.0, std::min(1.0, glp_get_col_prim(lp.get(), col[j][k])));
  return x;
}

}  // namespace

GavelLpResult GavelLpSolver::solve(const GavelLpInput& in, bool by_class, bool reuse) {
  const size_t jobs = in.throughput.size(), kinds = in.capacity.size();
  GavelLpResult out;
  out.fraction.assign(jobs, std::vector<double>(kinds, 0));
  out.normalised.assign(jobs, 0);
  double total = 0;
  for (double g : in.capacity) total += g;
  // Normalised throughput per allowed (job, kind); a job with none is left out.
  std::vector<std::vector<double>> norm(jobs, std::vector<double>(kinds, 0));
  std::vector<bool> active(jobs, false);
  for (size_t j = 0; j < jobs; ++j) {
    double eq = 0;
    for (size_t k = 0; k < kinds; ++k) eq += in.throughput[j][k] * in.capacity[k];
    eq = total > 0 ? eq / total : 0;
    for (size_t k = 0; k < kinds; ++k) {
      if (eq > 0 && in.throughput[j][k] > 0 && in.gpus[j] > 0 && in.gpus[j] <= in.capacity[k])
        norm[j][k] = in.throughput[j][k] / eq, active[j] = true;
    }
  }
  // Classes: by_class, one per distinct (normalised row, GPUs) in the key's order, so that the LP depends only on
  // the multiset of rows (not on the jobs' order or ids) and the same multiset can reuse the latest solution;
  // otherwise one per job, in job order.
  ClassLp c;
  std::vector<int> class_of(jobs, -1);
  if (by_class) {
    std::map<std::pair<std::vector<double>, uint32_t>, double> count;
    for (size_t j = 0; j < jobs; ++j)
      if (active[j]) count[{norm[j], in.gpus[j]}] += 1;
    std::map<std::pair<std::vector<double>, uint32_t>, int> index;
    for (const auto& [key, n] : count) {
      index[key] = static_cast<int>(c.norm.size());
      c.norm.push_back(key.first), c.gpus.push_back(key.second), c.count.push_back(n);
    }
    for (size_t j = 0; j < jobs; ++j)
      if (active[j]) class_of[j] = index.at({norm[j], in.gpus[j]});
  } else {
    for (size_t j = 0; j < jobs; ++j) {
      if (!active[j]) continue;
      class_of[j] = static_cast<int>(c.norm.size());
      c.norm.push_back(norm[j]), c.gpus.push_back(in.gpus[j]), c.count.push_back(1);
    }
  }
  out.classes = c.norm.size();
  if (c.norm.empty()) return out;

  const bool same = by_class && reuse && has_last_ && last_.norm == c.norm && last_.gpus == c.gpus &&
                    last_.count == c.count && last_capacity_ == in.capacity;
  if (same) {
    ++reused_;
  } else {
    last_x_ = solve_classes(c, in.capacity, last_t_);
    ++solved_;
    if (by_class) last_ = c, last_capacity_ = in.capacity, has_last_ = true;
  }
  out.min_normalised = last_t_;
  for (size_t j = 0; j < jobs; ++j) {
    if (class_of[j] < 0) continue;
    const auto cl = static_cast<size_t>(class_of[j]);
    for (size_t k = 0; k < kinds; ++k) {
      out.fraction[j][k] = last_x_[cl][k];
      out.normalised[j] += c.norm[cl][k] * last_x_[cl][k];
    }
  }
  return out;
}

GavelLpResult solve_gavel_lp(const GavelLpInput& in) { return GavelLpSolver().solve(in, true); }

GavelLpResult solve_gavel_lp_per_job(const GavelLpInput& in) { return GavelLpSolver().solve(in, false); }

}  // namespace lcsim::policy
