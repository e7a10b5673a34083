#!/usr/bin/env bash
# The dashboard's memory over the issue's ten minutes of streaming stats for ten containers
# (CI runs the same test for one minute). The figures land in tests/artifacts/memory.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BALLENA_UI_SOAK=600 .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/e2e/dashboard/test_dashboard.py -k memory "$@"
cat tests/artifacts/memory.txt
