#!/usr/bin/env bash
# Prepare benchmarks/gpu/prepared/ for the GPU device check (README "GPU device check"): run here, with internet,
# in the repository's environment (pip and torch needed); the folder then travels with the checkout to the GPU host.
#
#   bash benchmarks/gpu/prepare.sh                  # sdists + the wheels the host lacks, with a size check
#   bash benchmarks/gpu/prepare.sh --dry-run        # what it would download; no network, no files
#   bash benchmarks/gpu/prepare.sh --host-packages other-host.txt --python-version 3.11
#
# PYTHON picks the interpreter (default: .venv/bin/python of the repository if present, else python3).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x $REPO/.venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" "$REPO/benchmarks/gpu/prepare.py" "$@"
