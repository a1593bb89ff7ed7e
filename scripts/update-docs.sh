#!/usr/bin/env bash
# Regenerates the generated parts of the docs from the program itself:
#   docs/scenarios.md: the key table between its BEGIN/END markers (lcsim explain --markdown)
# Usage: scripts/update-docs.sh [BUILD_DIR]   (tests/scenario_test.cc fails when the table is stale)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/apps/lcsim
table=$(mktemp)
trap 'rm -f "$table"' EXIT
"$bin" explain --markdown > "$table"
python3 - "$table" <<'PY'
import sys
doc = open("docs/scenarios.md").read()
begin, end = "<!-- BEGIN lcsim explain --markdown -->\n", "<!-- END lcsim explain -->"
i, j = doc.index(begin) + len(begin), doc.index(end)
open("docs/scenarios.md", "w").write(doc[:i] + open(sys.argv[1]).read() + doc[j:])
PY
echo "docs/scenarios.md: key table regenerated"
