#!/usr/bin/env bash
# Install (idempotent) and run the benchmarks; appends to benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m benchmarks.run "$@"
