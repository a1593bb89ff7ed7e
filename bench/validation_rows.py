"""The rows of bench/training_validation.yaml as the bench scripts run them (validate_training.py, mlperf_steps.py,
mpt_seq_sweep.py): a row's settings and one `lcsim run` of its family's scenario with them. Standard library only."""
import json, os, subprocess, tempfile


def flatten(items):
    """A YAML alias to settings several rows share is a nested list (an alias inside an alias, a list in a list): spliced in place."""
    return [x for item in items for x in (flatten(item) if isinstance(item, list) else [item])]


def row_settings(data, row, extra=()):
    """The row's `--set` overrides: its family's, then its own, then `extra`, nested aliases spliced."""
    return flatten(data["families"][row["family"]]["set"] + row["set"] + list(extra))


def run_row(lcsim, root, data, row, extra=()):
    """Runs the row once (analytical network model, no progress output); (metrics, None), or (None, why it failed:
    the last line lcsim printed on stderr)."""
    out = tempfile.mkdtemp(prefix="lcsim-val-")
    cmd = [lcsim, "run", os.path.join(root, data["families"][row["family"]]["scenario"]), "-q", "--no-progress", "-o", out]
    for s in row_settings(data, row, extra):
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
    return json.load(open(os.path.join(out, "metrics.json")))["metrics"], None
