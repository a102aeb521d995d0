#!/usr/bin/env bash
# Install everything (idempotent), make the synthetic demo case and open it in the workstation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
demo=${NEOADJ_DEMO_DIR:-demo-case}
[ -f "$demo/case/case.json" ] || .venv/bin/neoadj synth demo "$demo"
if [ -z "${DISPLAY:-}" ]; then
  echo "run-demo: no DISPLAY; starting the window under xvfb-run" >&2
  exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/neoadj gui "$demo/case"
fi
exec .venv/bin/neoadj gui "$demo/case"
