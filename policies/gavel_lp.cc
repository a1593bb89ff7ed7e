// See gavel_lp.h.
#include "policies/gavel_lp.h"

#include <glpk.h>

#include <algorithm>
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

}  // namespace

GavelLpResult solve_gavel_lp(const GavelLpInput& in) {
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
  size_t n_active = 0;
  for (bool a : active) n_active += a;
  if (n_active == 0) return out;

  glp_term_out(GLP_OFF);
  std::unique_ptr<glp_prob, ProbDeleter> lp(glp_create_prob());
  glp_set_obj_dir(lp.get(), GLP_MAX);
  // Columns: X[j][k] for allowed pairs (1-based), then t.
  std::vector<std::vector<int>> col(jobs, std::vector<int>(kinds, 0));
  int ncols = 0;
  for (size_t j = 0; j < jobs; ++j)
    for (size_t k = 0; k < kinds; ++k)
      if (norm[j][k] > 0) col[j][k] = ++ncols;
  const int t_col = ++ncols;
  glp_add_cols(lp.get(), ncols);
  for (int c = 1; c < t_col; ++c) glp_set_col_bnds(lp.get(), c, GLP_DB, 0.0, 1.0);
  glp_set_col_bnds(lp.get(), t_col, GLP_LO, 0.0, 0.0);
  // Rows: per active job, its normalised throughput - t >= 0 and its time <= 1; per kind, its GPUs.
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0};
  auto add = [&](int row, int c, double v) { ia.push_back(row), ja.push_back(c), ar.push_back(v); };
  std::vector<int> fair_row(jobs, 0);
  int rows = 0;
  for (size_t j = 0; j < jobs; ++j) {
    if (!active[j]) continue;
    fair_row[j] = ++rows;
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) add(rows, col[j][k], norm[j][k]);
    add(rows, t_col, -1.0);
    ++rows;
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) add(rows, col[j][k], 1.0);
  }
  std::vector<int> kind_row(kinds, 0);
  for (size_t k = 0; k < kinds; ++k) {
    kind_row[k] = ++rows;
    for (size_t j = 0; j < jobs; ++j)
      if (col[j][k]) add(rows, col[j][k], static_cast<double>(in.gpus[j]));
  }
  glp_add_rows(lp.get(), rows);
  for (size_t j = 0; j < jobs; ++j) {
    if (!active[j]) continue;
    glp_set_row_bnds(lp.get(), fair_row[j], GLP_LO, 0.0, 0.0);
    glp_set_row_bnds(lp.get(), fair_row[j] + 1, GLP_UP, 0.0, 1.0);
  }
  for (size_t k = 0; k < kinds; ++k) glp_set_row_bnds(lp.get(), kind_row[k], GLP_UP, 0.0, in.capacity[k]);
  glp_load_matrix(lp.get(), static_cast<int>(ia.size() - 1), ia.data(), ja.data(), ar.data());

  // 1: max t.
  glp_set_obj_coef(lp.get(), t_col, 1.0);
  simplex(lp.get());
  const double t_star = glp_get_col_prim(lp.get(), t_col);
  // 2: keep t >= t* (less a rounding margin), maximise the sum of normalised throughputs.
  glp_set_col_bnds(lp.get(), t_col, GLP_LO, t_star * (1 - 1e-9), 0.0);
  glp_set_obj_coef(lp.get(), t_col, 0.0);
  for (size_t j = 0; j < jobs; ++j)
    for (size_t k = 0; k < kinds; ++k)
      if (col[j][k]) glp_set_obj_coef(lp.get(), col[j][k], norm[j][k]);
  simplex(lp.get());

  out.min_normalised = t_star;
  for (size_t j = 0; j < jobs; ++j) {
    for (size_t k = 0; k < kinds; ++k) {
      if (!col[j][k]) continue;
      const double x = std::max(0.0, std::min(1.0, glp_get_col_prim(lp.get(), col[j][k])));
      out.fraction[j][k] = x;
      out.normalised[j] += norm[j][k] * x;
    }
  }
  return out;
}

}  // namespace lcsim::policy
