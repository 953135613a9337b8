#!/usr/bin/env bash
# Runs every test: lint; unit, tool and integration tests on SQLite; the integration tests again
# on PostgreSQL when one is reachable (required with AETHER_REQUIRE_POSTGRES=1); end-to-end
# tests in Debian chromium against the prod build.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${AETHER_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
status=0
step() { printf '\n=== %s ===\n' "$1"; }

step "lint (ruff) and types (mypy, on the pure domain rules and settings)"
.venv/bin/ruff check . || status=1
.venv/bin/mypy || status=1

step "unit, tools and integration tests on SQLite"
env -u AETHER_TEST_DATABASE_URL $PY -m pytest -q tests/unit tests/tools tests/integrations \
  tests/integration || status=1

step "integration tests on PostgreSQL"
if $PY - "$PG_URL" <<'PYEOF'
import sys, sqlalchemy
try:
    with sqlalchemy.create_engine(sys.argv[1]).connect() as c:
        c.exec_driver_sql("SELECT 1")
except Exception as exc:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {exc.__class__.__name__}")
    sys.exit(1)
PYEOF
then
  AETHER_TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q tests/integration || status=1
elif [ "${AETHER_REQUIRE_POSTGRES:-0}" = 1 ]; then
  echo "ERROR: AETHER_REQUIRE_POSTGRES=1 and PostgreSQL is not reachable: its tests would be skipped"
  status=1
else
  echo "skipped: no PostgreSQL reachable (set AETHER_TEST_DATABASE_URL)"
fi

step "end-to-end tests in the browser (prod build)"
env -u AETHER_TEST_DATABASE_URL $PY -m pytest -q tests/e2e || status=1

if [ $status -ne 0 ]; then echo; echo "SOME CHECKS FAILED"; fi
exit $status
