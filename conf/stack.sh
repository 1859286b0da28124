#!/bin/sh
# The native runner: the container's stack on this machine, without Docker.
#
#   conf/stack.sh              run conf/entrypoint.sh in the foreground (Ctrl-C stops all)
#   conf/stack.sh ctl ARGS...  supervisorctl against that stack (status, restart all, ...)
#
# Same entrypoint, supervisord.conf, nginx.conf and gunicorn settings as the container;
# state (PostgreSQL cluster, models, logs, sockets) under var/stack/ (MLSTACK_VAR).
# nginx on 5001, gunicorn on 127.0.0.1:5000; PostgreSQL on a unix socket under
# var/stack/run/postgresql only, so a system PostgreSQL on 5432 is not in the way.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export MLSTACK_HOME="$ROOT"
export MLSTACK_VAR="${MLSTACK_VAR:-$ROOT/var/stack}"
case "$MLSTACK_VAR" in /*) ;; *) MLSTACK_VAR="$ROOT/$MLSTACK_VAR" ;; esac
if [ -x "$ROOT/.venv/bin/gunicorn" ]; then
    export PATH="$ROOT/.venv/bin:$PATH"
fi

if [ "${1:-}" = ctl ]; then
    shift
    # written by the entrypoint on every start: the socket and this start's password
    exec supervisorctl -c "$MLSTACK_VAR/run/supervisorctl.conf" "$@"
fi

export MLSTACK_ENV="${MLSTACK_ENV:-production}"
# A local stack needs a token like the container does; made once and kept with the state.
if [ -z "${API_TOKEN:-}" ]; then
    mkdir -p "$MLSTACK_VAR"
    token_file="$MLSTACK_VAR/api_token"
    if [ ! -s "$token_file" ]; then
        (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$token_file")
        echo "stack: API token generated in $token_file" >&2
    fi
    API_TOKEN=$(cat "$token_file")
    export API_TOKEN
fi

exec "$ROOT/conf/entrypoint.sh"
