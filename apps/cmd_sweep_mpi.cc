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
#include <dlfcn.h>

#include "apps/mpi_module.h"
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

/// The MPI module (mpi_module.h), loaded on first use. LCSIM_MPI_MODULE (environment) overrides where it is; the
/// default is where the build put it.
const MpiApi& mpi() {
  static const MpiApi* api = [] {
    const char* env = std::getenv("LCSIM_MPI_MODULE");
    const std::string path = env && *env ? env : LCSIM_MPI_MODULE;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      throw InputError("lcsim sweep was started by mpirun, but lcsim cannot load its MPI module from '" + path +
                       "': " + dlerror() + "; set LCSIM_MPI_MODULE to the path of liblcsim_mpi.so");
    }
    auto get = reinterpret_cast<const MpiApi* (*)()>(dlsym(handle, "lcsim_mpi_api"));
    if (!get) throw InputError("'" + path + "' is not lcsim's MPI module (no lcsim_mpi_api)");
    return get();
  }();
  return *api;
}

}  // namespace

int mpi_sweep(const sweep::Plan& plan, const std::vector<sweep::Point>& points, const std::string& db_path,
              sweep::RunOptions options) {
  const MpiApi& m = mpi();
  m.init();
  const int rank = m.rank(), size = m.size();
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
  m.reduce_sum(counts, total, 4);
  const int any_bad = m.allreduce_max(bad);
  int rc = 0;
  if (rank != 0) {
    m.send_bytes(bad ? std::string() : slurp(shard_path), 0);
    if (bad) std::fprintf(stderr, "rank %d: %s\n", rank, problem.c_str());
  } else {
    try {
      if (bad) throw InputError(problem);
      sweep::ResultsDb out(db_path);
      out.merge_from(shard_path);
      for (int r = 1; r < size; ++r) {
        const std::string bytes = m.recv_bytes(r);
        if (bytes.empty()) continue;
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
  rc = m.broadcast(rc);
  m.finalize();
  return rc;
}

#endif

}  // namespace lcsim::app
