#!/usr/bin/env bash
# The whole course from the offline library (slow: every image is built from Debian packages;
# about five minutes here). CI runs tests/course/test_library.py, its fast part.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BALLENA_COURSE=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/course "$@"
