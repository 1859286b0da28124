#!/usr/bin/env bash
# `make run`: the service on the embedded default (SQLite and a model store under
# var/), no nginx. Migrates, seeds the demo models on first start, runs one training
# worker beside gunicorn on 127.0.0.1:5000, and stops the worker when gunicorn exits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
export MLSTACK_VAR="${MLSTACK_VAR:-$ROOT/var}"
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$MLSTACK_VAR/prometheus}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

flask --app wsgi init
flask --app wsgi worker &
worker=$!
trap 'kill -TERM "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM
# PORT, as every platform and tutorial sets it (conf/gunicorn.conf.py reads it too);
# GUNICORN_BIND, when given, wins
export GUNICORN_BIND="${GUNICORN_BIND:-127.0.0.1:${PORT:-5000}}"
echo "mlstack: serving on http://$GUNICORN_BIND (Swagger UI: /api/v1/docs); token in $MLSTACK_VAR/api_token"
gunicorn -c conf/gunicorn.conf.py wsgi:app
