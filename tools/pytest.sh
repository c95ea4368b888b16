#!/usr/bin/env bash
# Runs pytest from the project venv; "no tests collected" (exit 5) is a failure here,
# so a suite that silently selects nothing can never pass.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating as failure" >&2
  exit 1
fi
exit "$rc"
