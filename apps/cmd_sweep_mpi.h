// lcsim sweep under mpirun: each rank runs one shard of the plan (rank r of N: --shard r/N) into its own
// database, then the ranks send their databases to rank 0 over MPI, which merges them into the one results
// database. Built only when CMake finds MPI (OpenMPI from Debian); LCSIM_HAVE_MPI is then defined.
#pragma once

#include <string>
#include <vector>

#include "sweep/plan.h"
#include "sweep/runner.h"

namespace lcsim::app {

/// Whether this process was started by mpirun with more than one rank (OpenMPI's or PMI's environment).
bool launched_by_mpirun();

/// Runs the sweep on every rank and gathers one database at `db_path` on rank 0; returns the exit code
/// (the same on every rank: 0, or 4 when some point failed anywhere).
int mpi_sweep(const sweep::Plan& plan, const std::vector<sweep::Point>& points, const std::string& db_path,
              sweep::RunOptions options);

}  // namespace lcsim::app
