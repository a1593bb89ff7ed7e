// See cmd_sweep_mpi.h. The gather sends whole SQLite files (each rank's shard, closed and checkpointed) as bytes,
// so it needs no shared file system; rank 0 merges them like `lcsim results merge`.
#include "apps/cmd_sweep_mpi.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sim/error.h"
#include "sweep/progress.h"
#include "sweep/results_db.h"

#ifdef LCSIM_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings warn under -Wextra)
#include <mpi.h>
#endif

namespace lcsim::app {

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* s = std::getenv(v);
    if (s && std::atoi(s) > 1) return true;
  }
  return false;
}

#ifndef LCSIM_HAVE_MPI

int mpi_sweep(const sweep::Plan&, const std::vector<sweep::Point>&, const std::string&, sweep::RunOptions) {
  throw InputError("lcsim sweep was started by mpirun, but this lcsim was built without MPI (CMake did not find "
                   "it; install libopenmpi-dev and rebuild); run shards instead: lcsim sweep PLAN --shard I/N, "
                   "then lcsim results merge");
}

#else

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int mpi_sweep(const sweep::Plan& plan, const std::vector<sweep::Point>& points, const std::string& db_path,
              sweep::RunOptions options) {
  MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  options.shard = {rank, size};
  if (rank != 0) options.progress = nullptr;  // one progress display, rank 0's share
  const std::string shard_path = db_path + ".rank-" + std::to_string(rank) + "-of-" + std::to_string(size);
  unsigned long long counts[4] = {0, 0, 0, 0};  // completed, incomplete, failed, skipped
  int bad = 0;
  std::string problem;
  try {
    sweep::ResultsDb db(shard_path);
    db.bind_plan(plan.name, sweep::plan_fingerprint(points), points.size(), plan.axis_names());
    const sweep::RunSummary s = sweep::run_points(points, db, options);
    counts[0] = s.completed;
    counts[1] = s.incomplete;
    counts[2] = s.failed;
    counts[3] = s.skipped;
  } catch (const std::exception& e) {
    bad = 1;
    problem = e.what();
  }
  // Gather: every rank's shard file, as bytes, to rank 0.
  unsigned long long total[4];
  MPI_Reduce(counts, total, 4, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  int any_bad = 0;
  MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int rc = 0;
  if (rank != 0) {
    const std::string bytes = bad ? std::string() : slurp(shard_path);
    unsigned long long n = bytes.size();
    MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, 1, MPI_COMM_WORLD);
    if (n) MPI_Send(bytes.data(), static_cast<int>(n), MPI_CHAR, 0, 2, MPI_COMM_WORLD);
    if (bad) std::fprintf(stderr, "rank %d: %s\n", rank, problem.c_str());
  } else {
    try {
      if (bad) throw InputError(problem);
      sweep::ResultsDb out(db_path);
      out.merge_from(shard_path);
      for (int r = 1; r < size; ++r) {
        unsigned long long n = 0;
        MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, r, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        std::string bytes(n, '\0');
        if (n) MPI_Recv(bytes.data(), static_cast<int>(n), MPI_CHAR, r, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (!n) continue;
        const std::string recv_path = db_path + ".from-rank-" + std::to_string(r);
        {
          std::ofstream f(recv_path, std::ios::binary);
          f << bytes;
        }
        out.merge_from(recv_path);
        std::filesystem::remove(recv_path);
      }
      std::printf("lcsim sweep (mpirun, %d ranks): %zu points: %llu completed, %llu incomplete (horizon), "
                  "%llu failed, %llu already done; results in %s\n",
                  size, points.size(), total[0], total[1], total[2], total[3], db_path.c_str());
      rc = total[2] ? 4 : 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      rc = 2;
    }
    if (any_bad) rc = 2;
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}

#endif

}  // namespace lcsim::app
