# Sourced by the bench-script tests (tests/bench_args_test.sh, tests/device_scripts_test.sh): `expect STATUS NEEDLE
# SCRIPT ARGS...` runs `python3 SCRIPT ARGS...` and counts a failure in $fails unless it exits with STATUS, its output
# holds NEEDLE and it printed no Python traceback.
fails=0
expect() {
  local status=$1 needle=$2
  shift 2
  local out rc
  out=$(python3 "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $status ]] || [[ "$out" != *"$needle"* ]] || [[ "$out" == *Traceback* ]]; then
    echo "FAIL: python3 $* -> exit $rc (want $status), output: $out"
    fails=$((fails + 1))
  fi
}
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }  # a failed check of the test's own
