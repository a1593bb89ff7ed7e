#!/usr/bin/env bash
# Installs the Debian packages lcsim needs, only those missing. Idempotent; silent when all is there.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build ccache pkg-config
  libsimgrid-dev libyaml-cpp-dev libboost-graph-dev libtbb-dev
  libprotobuf-dev protobuf-compiler libgtest-dev nlohmann-json3-dev
  libglpk-dev  # Gavel's max-min LP (policies/gavel_lp.cc)
  libmimalloc-dev  # the allocator lcsim's programs link (CMakeLists.txt, lcsim_allocator; optional in CMake)
  libgrpc++-dev protobuf-compiler-grpc  # optional: lcsim-policy-server (docs/scheduling.md)
  libsqlite3-dev gnuplot-nox  # lcsim sweep: results databases (SQLite); lcsim plot (gnuplot)
  libopenmpi-dev openmpi-bin  # mpirun -n N lcsim sweep (optional: built only when CMake finds MPI)
  slurm-wlm munge  # the single-node Slurm job-array test (tests/slurm_sweep_test.sh starts its own daemons)
  clang libclang-rt-14-dev  # the sanitizer build and the libFuzzer targets (make sanitize, make fuzz)
  qt6-base-dev qt6-svg-dev qt6-charts-dev fonts-dejavu-core  # lcsim-gui (optional in CMake) and its screenshot test
  libqt6opengl6-dev  # lcsim-gui's sweep chart: CMake finds Qt Charts only with Qt OpenGL's CMake files
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "lcsim: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
