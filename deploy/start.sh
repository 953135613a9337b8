#!/bin/sh
# How the image starts the app: the frontend exported at build time (deploy/build.sh frontend)
# and the backend, on one port, with gunicorn and aether_web.serving's uvicorn workers. No
# build happens here. On SIGTERM gunicorn stops taking connections and lets requests finish
# for up to GRACEFUL_TIMEOUT seconds (fly.toml's kill_timeout is longer).
set -eu
: "${PORT:=8000}"
: "${WEB_CONCURRENCY:=2}"
: "${PROMETHEUS_MULTIPROC_DIR:=/tmp/aether-metrics}"
# A fresh metrics directory per server start: counters restart with the server, never mix.
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export PROMETHEUS_MULTIPROC_DIR
# What `reflex run --env prod --single-port` sets for its backend (Reflex's internal variables
# carry two leading underscores), without its frontend rebuild.
export REFLEX_ENV_MODE=prod __REFLEX_SKIP_COMPILE=true __REFLEX_MOUNT_FRONTEND_COMPILED_APP=true
GUNICORN_CMD_ARGS="$(python -c "from aether_web.serving import gunicorn_args; print(gunicorn_args(${WEB_CONCURRENCY}))") ${GUNICORN_CMD_ARGS:-}"
export GUNICORN_CMD_ARGS
exec python -m gunicorn --preload --bind "0.0.0.0:${PORT}" "aether_web.aether_web:app()"
