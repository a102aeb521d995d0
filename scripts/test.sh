#!/usr/bin/env bash
# Install everything (idempotent) and run the whole test suite: lint, types, pytest
# (core + GUI under Xvfb), with a real PostgreSQL server on loopback for the storage tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

pgdir=$(mktemp -d /tmp/neoadj-pg.XXXXXX)
trap 'bash scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
NEOADJ_TEST_PG_URL=$(bash scripts/postgres.sh start "$pgdir" "${NEOADJ_TEST_PG_PORT:-54329}")
export NEOADJ_TEST_PG_URL

echo "== ruff"; .venv/bin/ruff check app widgets inference explain tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
export QT_API=pyside6 NEOADJ_OFFLINE=1
.venv/bin/python -m pytest "$@"
