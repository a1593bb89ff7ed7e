#!/usr/bin/env bash
# BenchScripts.*: the bench scripts (validate_training, validate_nccl, part_speedup, mpt_seq_sweep,
# validate_serving) reject a bad command line with one message naming the option (or BUILD_DIR) and
# what is allowed, exit status 2, and no Python traceback; --help exits 0 (bench/bench_args.py).
# Usage: tests/bench_args_test.sh BUILD_DIR   (run from the repository root)
set -u
build=$1
source "$(dirname "$0")/bench_expect.sh"
for s in bench/validate_training.py bench/validate_nccl.py bench/part_speedup.py; do
  expect 2 "unknown option '--bogus'" "$s" "$build" --bogus
  expect 2 "BUILD_DIR 'no-such-build' has no apps/lcsim" "$s" no-such-build
  expect 2 "option --set needs a value" "$s" "$build" --set
  expect 0 "usage: bench/" "$s" --help
  expect 2 "unexpected argument 'extra'" "$s" "$build" extra
done
expect 2 "option --jobs: '0' is not allowed" bench/validate_training.py "$build" --jobs 0
expect 2 "unknown option '--bogus'" bench/mpt_seq_sweep.py "$build" --bogus
expect 2 "BUILD_DIR 'no-such-build' has no apps/lcsim" bench/mpt_seq_sweep.py no-such-build
expect 2 "option --jobs: '0' is not allowed" bench/mpt_seq_sweep.py "$build" --jobs 0
expect 2 "unexpected argument 'extra'" bench/mpt_seq_sweep.py "$build" extra
expect 0 "usage: bench/mpt_seq_sweep.py" bench/mpt_seq_sweep.py --help
expect 2 "option --min: 'abc' is not allowed" bench/fit_attention_curves.py --min abc
expect 2 "--min 40000 is above --max 32768" bench/fit_attention_curves.py --min 40000
expect 2 "unknown option '--bogus'" bench/fit_attention_curves.py --bogus
expect 2 "option --jobs: 'two' is not allowed" bench/validate_training.py "$build" --jobs two
expect 2 "option --collective: 'gather' is not one of all_reduce, send_recv" bench/validate_nccl.py "$build" --collective gather
expect 2 "option --shared-nic: '1' is not allowed" bench/validate_nccl.py "$build" --shared-nic 1
expect 2 "unknown option '--row'" bench/validate_serving.py --row
expect 2 "unexpected argument 'build'" bench/validate_serving.py build
expect 0 "usage: bench/validate_serving.py" bench/validate_serving.py -h
[[ $fails -eq 0 ]] && echo "all bench command lines answered as expected"
exit $((fails > 0))
