#!/usr/bin/env bash
# A real single-node Slurm runs a sweep as a 2-task job array (issue 15, items 3 and 8).
#
# Starts its own munged (private key and socket), slurmctld and slurmd (private slurm.conf on loopback, free ports,
# the local hostname, proctrack/linuxproc, no cgroups, its own state and spool directories, SlurmUser = the current
# user), submits `lcsim sweep PLAN --shard $SLURM_ARRAY_TASK_ID/2` as `sbatch --array=0-1 --wait`, merges the two
# shards with `lcsim results merge`, and checks that the merged export equals the local run's, row for row.
# Everything it started is killed and its directory removed on any exit (trap). It fails, never skips, when a Slurm
# or munge program is missing (scripts/install-deps.sh installs slurm-wlm and munge).
#
# usage: tests/slurm_sweep_test.sh LCSIM [PLAN]    (run from anywhere; ctest: Slurm.JobArrayShardsMergeToTheLocalRows)
set -uo pipefail

LCSIM=$(readlink -f "${1:?usage: slurm_sweep_test.sh LCSIM [PLAN]}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
PLAN=$(readlink -f "${2:-$SRC/tests/sweep/grid.yaml}")

fail() { echo "FAIL: $*" >&2; exit 1; }

for prog in munged munge slurmctld slurmd sbatch squeue scontrol sinfo; do
  p=$(command -v "$prog" || { [ -x "/usr/sbin/$prog" ] && echo "/usr/sbin/$prog"; }) ||
    fail "'$prog' not found: scripts/install-deps.sh installs slurm-wlm and munge"
  declare "BIN_${prog}=$p"
done
[ -x "$LCSIM" ] || fail "no lcsim binary at '$1'"

# A unique directory per run (other worktrees run this test at the same time). Mode 0700: munged refuses sockets and
# keys in directories that others can write.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lcsim-slurm.XXXXXX") || fail "mktemp"
chmod 0700 "$WORK"
PIDS=()
cleanup() {
  local rc=$?
  # Cancel what is left of the job, then stop the daemons we started (by pid, never by name), then remove the dir.
  if [ -n "${JOB:-}" ]; then SLURM_CONF="$WORK/slurm.conf" timeout 10 scancel "$JOB" >/dev/null 2>&1; fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ $rc -ne 0 ]; then
    for f in "$WORK"/log/*.log; do [ -f "$f" ] && { echo "--- $f (last 30 lines)"; tail -30 "$f"; }; done >&2
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK"/{munge,state,spool,log,out,run} || fail "mkdir"

# A port nobody listens on (bash's /dev/tcp: no iproute2 or python needed). Two runs can still race for a port:
# the daemons' logs then say "Address already in use" and the test fails with them, it never hangs.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
CTLD_PORT=$(free_port) || fail "no free port"
SLURMD_PORT=$(free_port) || fail "no free port"
[ "$CTLD_PORT" != "$SLURMD_PORT" ] || SLURMD_PORT=$((CTLD_PORT + 1))

# munge: a private key and socket; slurm reaches it through AuthInfo=socket=...
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none || fail "munge key"
chmod 0400 "$WORK/munge/munge.key"
SOCK="$WORK/munge/munge.socket"
"$BIN_munged" --foreground --force --socket="$SOCK" --key-file="$WORK/munge/munge.key" \
  --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
  --log-file="$WORK/log/munged.log" >"$WORK/log/munged.out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "munged did not create its socket"
echo probe | "$BIN_munge" --socket="$SOCK" >/dev/null || fail "munge cannot encode a credential with its own daemon"

HOST=$(hostname -s)
USER_NAME=$(id -un)
CPUS=$(nproc)
cat >"$WORK/slurm.conf" <<EOF
# Private single-node Slurm for lcsim's tests: loopback only, nothing shared with a system Slurm.
ClusterName=lcsimtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$USER_NAME
SlurmdUser=$USER_NAME
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool/%n
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=lcsim Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$WORK/slurm.conf"

# -D: foreground (we keep the pids); -i: ignore any saved state; -c: a clean start.
"$BIN_slurmctld" -D -i -c -f "$SLURM_CONF" >"$WORK/log/slurmctld.out.log" 2>&1 &
PIDS+=($!)
"$BIN_slurmd" -D -N "$HOST" -f "$SLURM_CONF" >"$WORK/log/slurmd.out.log" 2>&1 &
PIDS+=($!)

# Wait until the node is idle (slurmd registered with slurmctld).
state=""
for _ in $(seq 300); do
  state=$(timeout 5 "$BIN_sinfo" -h -n "$HOST" -o %t 2>/dev/null | head -1)
  [ "$state" = "idle" ] && break
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a daemon (pid $pid) exited during start-up"; done
  sleep 0.2
done
[ "$state" = "idle" ] || fail "the node did not become idle within 60 s (state '$state')"

# The 2-task job array: task i runs shard i/2 into its own database. lcsim sweep exits 4 when some points fail
# (the grid plan has 4 points that fail on purpose and keep their error); any other code fails the task.
OUT="$WORK/out"
cat >"$WORK/shard.sh" <<EOF
#!/usr/bin/env bash
"$LCSIM" sweep "$PLAN" --shard \${SLURM_ARRAY_TASK_ID}/2 -o "$OUT/shard.\${SLURM_ARRAY_TASK_ID}.db" -j 1 --no-progress
rc=\$?
echo "\$rc" >"$OUT/rc.\${SLURM_ARRAY_TASK_ID}"
[ \$rc -eq 0 ] || [ \$rc -eq 4 ]
EOF
chmod +x "$WORK/shard.sh"
JOB=$(timeout 30 "$BIN_sbatch" --parsable --array=0-1 --ntasks=1 --cpus-per-task=1 --job-name=lcsim-sweep \
  --chdir="$SRC" --output="$OUT/task-%a.log" "$WORK/shard.sh") || fail "sbatch refused the job array"
JOB=${JOB%%;*}
echo "submitted job array $JOB"

# Poll squeue until neither task is pending or running (at most 10 minutes).
for _ in $(seq 1200); do
  left=$(timeout 10 "$BIN_squeue" -h -j "$JOB" -o %i 2>/dev/null | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 0.5
done
[ "$left" -eq 0 ] || fail "job array $JOB still queued or running after 10 minutes"
JOB_DONE=$JOB
JOB=""

for i in 0 1; do
  [ -f "$OUT/rc.$i" ] || { cat "$OUT/task-$i.log" >&2 2>/dev/null; fail "array task $i did not run"; }
  rc=$(cat "$OUT/rc.$i")
  { [ "$rc" -eq 0 ] || [ "$rc" -eq 4 ]; } || { cat "$OUT/task-$i.log" >&2; fail "array task $i: lcsim sweep exited $rc"; }
  [ -s "$OUT/shard.$i.db" ] || fail "array task $i wrote no database"
done

"$LCSIM" results merge "$OUT/merged.db" "$OUT/shard.0.db" "$OUT/shard.1.db" >"$OUT/merge.log" 2>&1 ||
  { cat "$OUT/merge.log" >&2; fail "lcsim results merge failed"; }
(cd "$SRC" && "$LCSIM" sweep "$PLAN" -o "$OUT/local.db" --no-progress >"$OUT/local.log" 2>&1)
rc=$?
{ [ $rc -eq 0 ] || [ $rc -eq 4 ]; } || { cat "$OUT/local.log" >&2; fail "the local sweep exited $rc"; }

"$LCSIM" results export "$OUT/merged.db" --csv --no-wall >"$OUT/merged.csv" || fail "export of the merged database"
"$LCSIM" results export "$OUT/local.db" --csv --no-wall >"$OUT/local.csv" || fail "export of the local database"
rows=$(($(wc -l <"$OUT/local.csv") - 1))
[ "$rows" -gt 0 ] || fail "the local run has no rows"
# Each task ran a real, non-empty share.
for i in 0 1; do
  n=$("$LCSIM" results export "$OUT/shard.$i.db" --csv --no-wall | tail -n +2 | wc -l)
  [ "$n" -gt 0 ] && [ "$n" -lt "$rows" ] || fail "shard $i holds $n of $rows rows (expected a proper share)"
done
if ! diff -u "$OUT/local.csv" "$OUT/merged.csv" >"$OUT/diff.txt"; then
  head -40 "$OUT/diff.txt" >&2
  fail "the merged rows of Slurm job array $JOB_DONE differ from the local run's"
fi
echo "PASS: Slurm job array $JOB_DONE (2 tasks on $HOST) merged = the local run ($rows rows)"
