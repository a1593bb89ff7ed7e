#!/usr/bin/env bash
# Regenerates the generated parts of the docs from the program itself:
#   docs/scenarios.md: the key table between its BEGIN/END markers (lcsim explain --markdown)
#   README.md: every sample output between `<!-- BEGIN output: COMMAND -->` and `<!-- END output -->`, by running
#              COMMAND (shell lines as the reader types them, joined by " && ", from the repository root;
#              `build/apps/lcsim` is the program, outputs under out/ go to a temporary folder). The wall time a
#              run prints varies from run to run and is written as "…".
# Usage: scripts/update-docs.sh [--check] [BUILD_DIR]
#   --check  change nothing; fail (listing what differs) when a generated part is stale. ctest runs this
#            (Docs.ReadmeAndScenarioReferenceAreCurrent), and tests/scenario_test.cc checks the key table too.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; shift; fi
build=${1:-build}
bin=$(cd "$build/apps" && pwd)/lcsim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" explain --markdown > "$work/table.md"
python3 - "$work" "$bin" "$check" <<'PY'
import os, re, subprocess, sys
work, binary, check = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
stale = []

def update(path, new):
    old = open(path).read()
    if old == new:
        return
    if check:
        import difflib
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), path, path + " (regenerated)"))
        stale.append(f"{path} is stale (scripts/update-docs.sh or make docs regenerates it):\n{diff}")
    else:
        open(path, "w").write(new)
        print(f"{path}: regenerated")

# docs/scenarios.md: the key table.
doc = open("docs/scenarios.md").read()
begin, end = "<!-- BEGIN lcsim explain --markdown -->\n", "<!-- END lcsim explain -->"
i, j = doc.index(begin) + len(begin), doc.index(end)
update("docs/scenarios.md", doc[:i] + open(os.path.join(work, "table.md")).read() + doc[j:])

# README.md: sample outputs from real runs.
readme = open("README.md").read()
block = re.compile(r"(<!-- BEGIN output: (.+?) -->\n)(.*?)(<!-- END output -->)", re.S)
out_dir = os.path.join(work, "out")

def run(m):
    shown = ""
    for command in m.group(2).split(" && "):  # each command on its own "$ " line, its output below it
        shell = command.replace("build/apps/lcsim", binary).replace("out/", out_dir + "/")
        p = subprocess.run(["bash", "-c", shell], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = p.stdout.replace(out_dir + "/", "out/")
        text = re.sub(r"wall time [^,]+,", "wall time …,", text)
        shown += "$ " + command + "\n" + text
    return m.group(1) + "```\n" + shown + "```\n" + m.group(4)

update("README.md", block.sub(run, readme))
if stale:
    sys.stderr.write("\n".join(stale))
    sys.exit(1)
PY
