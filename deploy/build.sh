#!/usr/bin/env bash
# Every step of the production image, as one script: deploy/Dockerfile runs these steps, and CI
# runs them on the host (`deploy/build.sh all`), so a step that breaks fails CI too.
#
#   deploy/build.sh deps VENV        a venv with the runtime lock only (hashes required)
#   deploy/build.sh tools            bun for the frontend build (into .tools/)
#   deploy/build.sh frontend VENV    compile the pages and export the frontend once, for
#                                    PUBLIC_URL (default http://localhost:8000)
#   deploy/build.sh prune            drop what the running app never reads (node_modules, tests)
#   deploy/build.sh check VENV       the app imports in VENV and the exported pages exist
#   deploy/build.sh smoke VENV       start deploy/start.sh as production would, on a temp
#                                    SQLite, and fetch /api/health, /api/ready and /
#   deploy/build.sh all              deps, tools, frontend, check, smoke in a temp dir (CI)
#
# REFLEX_WEB_WORKDIR (default .web) is where the frontend is built and served from.
set -euo pipefail
cd "$(dirname "$0")/.."
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
export NPM_CONFIG_REGISTRY="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}"
WEB_DIR="${REFLEX_WEB_WORKDIR:-.web}"
step="${1:?usage: deploy/build.sh deps|tools|frontend|prune|check|smoke|all [VENV]}"
venv="${2:-/opt/venv}"
say() { printf '\n--- build: %s ---\n' "$1"; }

deps() {
  say "runtime dependencies from requirements.lock into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-cache-dir --require-hashes --no-deps -r requirements.lock
  "$venv/bin/pip" check
  if "$venv/bin/python" -c "import pytest" 2>/dev/null || \
     "$venv/bin/python" -c "import playwright" 2>/dev/null; then
    echo "test tooling found in the runtime venv" >&2; exit 1
  fi
}

tools() {
  say "bun for the frontend build"
  [ -x .tools/node_modules/.bin/bun ] ||
    npm install --prefix .tools --no-save --no-audit --no-fund bun@1.4.5
}

frontend() {
  say "frontend export for ${PUBLIC_URL:-http://localhost:8000} into $WEB_DIR"
  local url="${PUBLIC_URL:-http://localhost:8000}"
  # The build never needs production secrets: the settings stay in development mode here.
  env AETHER_ENV=development REFLEX_WEB_WORKDIR="$WEB_DIR" REFLEX_API_URL="$url" \
    REFLEX_DEPLOY_URL="$url" AETHER_PUBLIC_URL="$url" \
    PATH="$PWD/.tools/node_modules/.bin:$venv/bin:$PATH" \
    "$venv/bin/reflex" export --frontend-only --no-zip --env prod
  test -f "$WEB_DIR/build/client/index.html"
}

prune() {
  say "prune what the running app never reads"
  rm -rf "$WEB_DIR/node_modules" .tools tests bench tools .ci .git
}

check() {
  say "the app imports with the runtime dependencies only"
  env AETHER_ENV=development REFLEX_WEB_WORKDIR="$WEB_DIR" "$venv/bin/python" - <<'PY'
import importlib
for name in ("aether_web.aether_web", "aether_web.serving", "aether_web.commands",
             "alembic.command", "prometheus_client", "uvicorn_worker", "psycopg", "asyncpg"):
    importlib.import_module(name)
print("imports ok")
PY
  test -f "$WEB_DIR/build/client/index.html"
  test -x deploy/start.sh
}

smoke() {
  say "start the server as the image does and ask it"
  local tmp port pid
  tmp="$(mktemp -d)"
  port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  export REFLEX_DB_URL="sqlite:///$tmp/smoke.db"
  "$venv/bin/python" -m aether_web db upgrade >/dev/null
  env AETHER_ENV=production AETHER_PUBLIC_URL="http://localhost:$port" \
    AETHER_SECRET_KEY=ci-smoke-secret-key-0123456789abcdefghij \
    AETHER_HOOK_SECRETS=ci-smoke-hook-secret-0123456789 STRIPE_API_KEY=sk_live_ci_smoke_only \
    STRIPE_WEBHOOK_SECRET=whsec_ci_smoke_only AETHER_SCHEDULER_ENABLED=false \
    PROMETHEUS_MULTIPROC_DIR="$tmp/metrics" REFLEX_WEB_WORKDIR="$WEB_DIR" PORT="$port" \
    WEB_CONCURRENCY=1 PATH="$venv/bin:$PATH" deploy/start.sh >"$tmp/server.log" 2>&1 &
  pid=$!
  local ok=0
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then ok=1; break; fi
    sleep 1
  done
  if [ $ok = 1 ]; then
    curl -fsS "http://127.0.0.1:$port/api/ready" >/dev/null || ok=0
    curl -fsS "http://127.0.0.1:$port/" | grep -qi "<html" || ok=0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ $ok != 1 ]; then
    echo "smoke test failed; server log:" >&2; tail -40 "$tmp/server.log" >&2; exit 1
  fi
  echo "smoke ok: /api/health, /api/ready and / answered"
  rm -rf "$tmp"
}

case "$step" in
  deps) deps ;;
  tools) tools ;;
  frontend) frontend ;;
  prune) prune ;;
  check) check ;;
  smoke) smoke ;;
  all)
    venv="${2:-$(mktemp -d)/venv}"
    WEB_DIR="${REFLEX_WEB_WORKDIR:-$(mktemp -d)/web}"
    deps; tools; frontend; check; smoke ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
esac
