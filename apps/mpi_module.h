// The MPI calls `lcsim sweep` makes under mpirun, behind a table of functions that apps/mpi_module.cc fills in a
// module of its own (liblcsim_mpi.so, loaded with dlopen by cmd_sweep_mpi.cc only when the process was started by
// mpirun). Linked into lcsim itself, OpenMPI's libraries (libmpi, open-rte, open-pal, hwloc, libevent, udev) were
// loaded and relocated by every lcsim process, for one command that needs them (docs/performance-training.md).
#pragma once

#include <string>

namespace lcsim::app {

struct MpiApi {
  void (*init)();
  int (*rank)();
  int (*size)();
  /// Sums `n` counters over the ranks into `out` on rank 0.
  void (*reduce_sum)(const unsigned long long* in, unsigned long long* out, int n);
  /// The largest `value` over the ranks, on every rank.
  int (*allreduce_max)(int value);
  /// Point-to-point: a byte string (its length, then its bytes) from this rank to `to`, and its receipt from `from`.
  void (*send_bytes)(const std::string& bytes, int to);
  std::string (*recv_bytes)(int from);
  /// Rank 0's `value`, on every rank.
  int (*broadcast)(int value);
  void (*finalize)();
};

}  // namespace lcsim::app

/// The module's one exported symbol.
extern "C" const lcsim::app::MpiApi* lcsim_mpi_api();
