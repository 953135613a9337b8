#!/usr/bin/env bash
# Runs every test: lint; the dependency locks; unit, tool and integration tests on SQLite; the
# integration tests again on PostgreSQL when one is reachable (required with
# AETHER_REQUIRE_POSTGRES=1); the fault suite on its own PostgreSQL and Redis; the image's build
# steps on the host; end-to-end tests in Debian chromium against the prod build.
#
# Each suite has a time budget (seconds): it is stopped at its budget and counts as failed, and
# every suite's time is printed at the end. The budgets add up to well under 90 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_URL="${AETHER_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
status=0
declare -a TIMES=()
tree_before="$(git status --porcelain 2>/dev/null || true)"

# suite NAME BUDGET COMMAND...: run COMMAND within BUDGET seconds and record its time.
suite() {
  local name="$1" budget="$2"; shift 2
  printf '\n=== %s (budget %ss) ===\n' "$name" "$budget"
  local start rc
  start=$(date +%s)
  timeout --signal=TERM --kill-after=30 "$budget" "$@"
  rc=$?
  local took=$(( $(date +%s) - start ))
  local verdict="ok"
  if [ $rc = 124 ] || [ $rc = 137 ]; then verdict="OVER BUDGET"; status=1
  elif [ $rc != 0 ]; then verdict="FAILED"; status=1; fi
  TIMES+=("$(printf '%-58s %5ss / %5ss  %s' "$name" "$took" "$budget" "$verdict")")
}

suite "lint (ruff) and types (mypy)" 300 bash -c ".venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/lint-imports"
suite "dependency locks match their pins" 60 bash tools/lock_requirements.sh --check
suite "unit, tools and integration tests on SQLite" 900 \
  env -u AETHER_TEST_DATABASE_URL $PY -m pytest -q tests/unit tests/tools tests/integration

pg_reachable() {
  $PY - "$PG_URL" <<'PYEOF'
import sys, sqlalchemy
try:
    with sqlalchemy.create_engine(sys.argv[1]).connect() as c:
        c.exec_driver_sql("SELECT 1")
except Exception as exc:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {exc.__class__.__name__}")
    sys.exit(1)
PYEOF
}
if pg_reachable; then
  suite "integration tests on PostgreSQL" 900 \
    env AETHER_TEST_DATABASE_URL="$PG_URL" $PY -m pytest -q tests/integration
elif [ "${AETHER_REQUIRE_POSTGRES:-0}" = 1 ]; then
  echo "ERROR: AETHER_REQUIRE_POSTGRES=1 and PostgreSQL is not reachable: its tests would be skipped"
  status=1
else
  echo "skipped: no PostgreSQL reachable (set AETHER_TEST_DATABASE_URL)"
fi

if [ -d tests/faults ]; then
  suite "fault suite (own PostgreSQL cluster and Redis)" 900 \
    env -u AETHER_TEST_DATABASE_URL $PY -m pytest -q -s tests/faults
fi
suite "image build steps on the host (deploy/build.sh all)" 900 bash deploy/build.sh all
suite "end-to-end tests in the browser (prod build)" 1800 \
  env -u AETHER_TEST_DATABASE_URL $PY -m pytest -q tests/e2e

# A test run leaves a clean checkout as it found it (builds, lock files, caches are ignored).
tree_after="$(git status --porcelain 2>/dev/null || true)"
if [ "$tree_before" != "$tree_after" ]; then
  echo; echo "ERROR: the test run changed the working tree:"
  diff <(echo "$tree_before") <(echo "$tree_after") || true
  status=1
fi

printf '\n=== suite times ===\n'
printf '%s\n' "${TIMES[@]}"
if [ $status -ne 0 ]; then echo; echo "SOME CHECKS FAILED"; fi
exit $status
