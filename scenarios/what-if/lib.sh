# shellcheck shell=bash
# Shared set-up of the what-if scripts (sourced, not run: `. "$(dirname "$0")/lib.sh"` as their first
# command, with the script's own arguments). It gives them:
#   strict mode and the C locale (stable number formats), the repository root as the working directory;
#   $bin  the lcsim program of the build directory named by the script's first argument (default: build);
#   $out  a fresh temporary directory, removed when the script exits;
#   metric DIR NAME    one number from DIR/metrics.json (its first occurrence);
#   percent DIR NAME   that number x 100 (a share as a percentage);
#   run_to DIR SCENARIO [--set ...]   runs SCENARIO quietly into DIR.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=${1:-build}/apps/lcsim
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
metric() { sed -n "s/^ *\"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1/metrics.json" | head -1; }
percent() { awk "BEGIN{print 100*$(metric "$1" "$2")}"; }
run_to() {
  local d=$1 scenario=$2
  shift 2
  "$bin" run "$scenario" -q -o "$d" "$@" >/dev/null
}
