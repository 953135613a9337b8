#!/usr/bin/env bash
# Compiles the hash-locked requirement files from the exact pins:
#   requirements.txt      -> requirements.lock      (runtime: the image installs this)
#   requirements-dev.in   -> requirements-dev.lock  (runtime + tests and tooling: make setup)
# uv runs from a venv of its own (never the app's). Resolution is constrained to the versions
# installed in .venv when there is one, so the lock says what the tests ran with.
#   tools/lock_requirements.sh          rewrite both locks
#   tools/lock_requirements.sh --check  fail if a lock is out of date with its pins (no network)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--check" ]; then
  exec "${PYTHON:-.venv/bin/python}" -m tools.check_locks
fi
LOCK_VENV="${LOCK_VENV:-/tmp/venv-lock}"
if [ ! -x "$LOCK_VENV/bin/uv" ]; then
  python3 -m venv "$LOCK_VENV"
  "$LOCK_VENV/bin/pip" install --quiet uv==0.13.8
fi
constraints=()
if [ -x .venv/bin/pip ]; then
  .venv/bin/pip freeze --exclude-editable | grep -v ' @ ' > "$LOCK_VENV/installed.txt"
  constraints=(--constraint "$LOCK_VENV/installed.txt")
fi
compile() {
  "$LOCK_VENV/bin/uv" pip compile --quiet --no-config --generate-hashes \
    --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --index-url https://pypi.org/simple --no-header --no-annotate \
    "${constraints[@]}" "$1" -o "$2"
  sed -i "1i # Compiled from $1 by tools/lock_requirements.sh: do not edit by hand." "$2"
}
compile requirements.txt requirements.lock
compile requirements-dev.in requirements-dev.lock
echo "requirements.lock and requirements-dev.lock written"
