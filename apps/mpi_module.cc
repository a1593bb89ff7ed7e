// liblcsim_mpi.so: the MPI calls of `lcsim sweep` under mpirun (see mpi_module.h), the only code that links MPI.
#include "apps/mpi_module.h"

#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings warn under -Wextra)
#include <mpi.h>

namespace {

void init() { MPI_Init(nullptr, nullptr); }

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void reduce_sum(const unsigned long long* in, unsigned long long* out, int n) {
  MPI_Reduce(in, out, n, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
}

int allreduce_max(int value) {
  int out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

void send_bytes(const std::string& bytes, int to) {
  unsigned long long n = bytes.size();
  MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, to, 1, MPI_COMM_WORLD);
  if (n) MPI_Send(bytes.data(), static_cast<int>(n), MPI_CHAR, to, 2, MPI_COMM_WORLD);
}

std::string recv_bytes(int from) {
  unsigned long long n = 0;
  MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, from, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  std::string bytes(n, '\0');
  if (n) MPI_Recv(bytes.data(), static_cast<int>(n), MPI_CHAR, from, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return bytes;
}

int broadcast(int value) {
  MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return value;
}

void finalize() { MPI_Finalize(); }

const lcsim::app::MpiApi kApi{init, rank, size, reduce_sum, allreduce_max, send_bytes, recv_bytes, broadcast, finalize};

}  // namespace

extern "C" __attribute__((visibility("default"))) const lcsim::app::MpiApi* lcsim_mpi_api() { return &kApi; }
