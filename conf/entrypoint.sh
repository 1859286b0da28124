#!/bin/sh
# Prepare the stack's state, then exec supervisord (PID 1 in the container).
#
# The container (Dockerfile ENTRYPOINT) and the native runner (conf/stack.sh) both run
# this script; only the defaults below differ through the environment. On every start:
#   1. users and directories (idempotent)
#   2. the PostgreSQL cluster, created on first start (initdb as the postgres user)
#   3. a temporary PostgreSQL to create/refresh the role and the database
#   4. `flask --app wsgi init`: Alembic migrations, demo models if the registry is empty
#   5. exec supervisord -c supervisord.conf
set -eu

log() { printf 'entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

MLSTACK_HOME=${MLSTACK_HOME:-$(cd "$(dirname "$0")/.." && pwd)}
MLSTACK_VAR=${MLSTACK_VAR:-/var/lib/mlstack}
MLSTACK_ENV=${MLSTACK_ENV:-production}
MODEL_STORE=${MODEL_STORE:-$MLSTACK_VAR/models}
LOG_DIR=${LOG_DIR:-$MLSTACK_VAR/log}
LOGGING_CONF=${LOGGING_CONF:-$MLSTACK_HOME/logging.conf}
PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$MLSTACK_VAR/run/prometheus}
PGDATA=${PGDATA:-$MLSTACK_VAR/pgdata}
PGPORT=${PGPORT:-5432}
# nginx.conf proxies to 127.0.0.1:5000: a PORT meant for `make run` must not move it
GUNICORN_BIND=127.0.0.1:5000
PG_SOCKET_DIR=${PG_SOCKET_DIR:-$MLSTACK_VAR/run/postgresql}
# empty = unix socket only: nothing to collide with a system PostgreSQL on the host
PG_LISTEN=${PG_LISTEN:-}
PG_DATABASE=${PG_DATABASE:-mlstack}
PG_ROLE=${PG_ROLE:-mlstack}

if [ -z "${PG_BIN:-}" ]; then
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then
        PG_BIN=$(pg_config --bindir)
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
fi
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/postgres" ] || die "PostgreSQL server binaries not found (set PG_BIN)"
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX_BIN" ] || die "nginx not found (set NGINX_BIN)"
MLSTACK_BIN=${MLSTACK_BIN:-$(dirname "$(command -v gunicorn || echo /nonexistent/gunicorn)")}
[ -x "$MLSTACK_BIN/gunicorn" ] && [ -x "$MLSTACK_BIN/flask" ] \
    || die "gunicorn/flask not found on PATH (set MLSTACK_BIN to the virtualenv's bin)"
SUPERVISORD=${SUPERVISORD:-$MLSTACK_BIN/supervisord}
[ -x "$SUPERVISORD" ] || SUPERVISORD=$(command -v supervisord) || die "supervisord not found"

# ---- 1. users -----------------------------------------------------------------
# As root: PostgreSQL as `postgres`, the app and nginx as an unprivileged `mlstack`.
# As anyone else: everything as that user (supervisor cannot switch users then).
if [ "$(id -u)" = 0 ]; then
    if ! id mlstack >/dev/null 2>&1; then
        log "creating system user mlstack"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin mlstack
    fi
    id postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    PG_USER=${PG_USER:-postgres}
    NGINX_USER=${NGINX_USER:-mlstack}
    MLSTACK_USER=${MLSTACK_USER:-mlstack}
    # A Python the service user cannot execute (e.g. a virtualenv made from an
    # interpreter under /root) leaves no choice but to run the app as root.
    if [ "$MLSTACK_USER" != root ] \
        && ! runuser -u "$MLSTACK_USER" -- "$MLSTACK_BIN/python" -c '' 2>/dev/null; then
        log "warning: $MLSTACK_USER cannot run $MLSTACK_BIN/python; gunicorn and the worker run as root"
        MLSTACK_USER=root
    fi
else
    me=$(id -un)
    PG_USER=$me NGINX_USER=$me MLSTACK_USER=$me
fi

as_user() {  # as_user USER CMD...: the environment is kept
    _user=$1; shift
    if [ "$(id -un)" = "$_user" ]; then "$@"; else runuser -u "$_user" -- "$@"; fi
}

# PostgreSQL and nginx run as their own users: each must be able to reach the state
# directory (every parent searchable). A checkout under /root or a `mktemp -d`
# directory is not: say so now, before anything is set up, not as initdb's
# "Permission denied" later.
nearest=$MLSTACK_VAR
while [ ! -e "$nearest" ]; do nearest=$(dirname "$nearest"); done
for _who in "$PG_USER" "$NGINX_USER"; do
    if ! as_user "$_who" sh -c 'cd "$1"' _ "$nearest" 2>/dev/null; then
        die "user $_who (PostgreSQL, nginx) cannot reach $MLSTACK_VAR: a parent directory is closed to other users. Put the state elsewhere, e.g. MLSTACK_VAR=/var/lib/mlstack make stack, or open the parents with chmod o+x"
    fi
done

# ---- directories --------------------------------------------------------------
RUN_DIR=$MLSTACK_VAR/run
mkdir -p "$MLSTACK_VAR" "$RUN_DIR" "$MODEL_STORE" "$LOG_DIR" "$PROMETHEUS_MULTIPROC_DIR" \
    "$PG_SOCKET_DIR" "$RUN_DIR/gunicorn" "$MLSTACK_VAR/nginx/run" "$MLSTACK_VAR/nginx/tmp"
# nginx's relative `logs/` is the stack's log directory
[ -d "$MLSTACK_VAR/nginx/logs" ] && [ ! -L "$MLSTACK_VAR/nginx/logs" ] \
    || ln -sfn "$LOG_DIR" "$MLSTACK_VAR/nginx/logs"
if [ "$(id -u)" = 0 ]; then
    chown "$MLSTACK_USER:" "$MLSTACK_VAR" "$MODEL_STORE" "$LOG_DIR" "$PROMETHEUS_MULTIPROC_DIR" \
        "$RUN_DIR/gunicorn"
    chown -R "$NGINX_USER:" "$MLSTACK_VAR/nginx/run" "$MLSTACK_VAR/nginx/tmp"
    chown "$PG_USER:" "$PG_SOCKET_DIR"
    # nginx writes its access log into LOG_DIR too
    chmod 0775 "$LOG_DIR"
    if [ "$NGINX_USER" != "$MLSTACK_USER" ]; then
        chgrp "$NGINX_USER" "$LOG_DIR"
    fi
fi
chmod 0755 "$RUN_DIR" "$PG_SOCKET_DIR"
# stale sockets from an unclean stop would make supervisord refuse to start
rm -f "$RUN_DIR/supervisor.sock" "$RUN_DIR/supervisord.pid"

# supervisord's control socket: a new password on every start, in the file
# supervisorctl reads (conf/stack.sh ctl natively, /etc/supervisord.conf in the image)
SUPERVISORD_USER=$(id -un)
SUPERVISOR_USERNAME=mlstack
SUPERVISOR_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
(umask 077; cat >"$RUN_DIR/supervisorctl.conf" <<EOF
; written by conf/entrypoint.sh on every start
[supervisorctl]
serverurl=unix://$RUN_DIR/supervisor.sock
username=$SUPERVISOR_USERNAME
password=$SUPERVISOR_PASSWORD
EOF
)

# nginx's access log, rotated by [program:logrotate] (conf/logrotate.sh) as nginx's user
cat >"$RUN_DIR/logrotate.conf" <<EOF
# written by conf/entrypoint.sh on every start
$LOG_DIR/nginx-access.log {
    su $NGINX_USER $(id -gn "$NGINX_USER")
    size ${NGINX_LOG_MAX_MB:-50}M
    rotate ${NGINX_LOG_BACKUPS:-5}
    missingok
    notifempty
    compress
    delaycompress
    postrotate
        kill -USR1 "\$(cat "$MLSTACK_VAR/nginx/run/nginx.pid")" 2>/dev/null || true
    endscript
}
EOF

# ---- secrets ------------------------------------------------------------------
if [ "$MLSTACK_ENV" = production ] && [ -z "${API_TOKEN:-}" ]; then
    die "API_TOKEN must be set in production (see conf/mlstack.env.example)"
fi
# The database password: given, or generated once and kept with the state.
if [ -z "${PG_PASSWORD:-}" ]; then
    pw_file=$MLSTACK_VAR/db_password
    if [ ! -s "$pw_file" ]; then
        (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$pw_file")
    fi
    PG_PASSWORD=$(cat "$pw_file")
fi
if [ -z "${DATABASE_URL:-}" ]; then
    pw_quoted=$("$MLSTACK_BIN/python" -c \
        'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PG_PASSWORD")
    DATABASE_URL="postgresql://$PG_ROLE:$pw_quoted@/$PG_DATABASE?host=$PG_SOCKET_DIR&port=$PGPORT"
fi

export MLSTACK_HOME MLSTACK_VAR MLSTACK_ENV MODEL_STORE LOG_DIR LOGGING_CONF \
    PROMETHEUS_MULTIPROC_DIR PGDATA PGPORT PG_SOCKET_DIR PG_LISTEN PG_BIN PG_USER \
    NGINX_BIN NGINX_USER MLSTACK_BIN MLSTACK_USER DATABASE_URL \
    SUPERVISORD_USER SUPERVISOR_USERNAME SUPERVISOR_PASSWORD GUNICORN_BIND
export PATH="$MLSTACK_BIN:$PATH"

# ---- 2. the PostgreSQL cluster ------------------------------------------------
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    log "creating the PostgreSQL cluster in $PGDATA"
    mkdir -p "$PGDATA"
    if [ "$(id -u)" = 0 ]; then chown "$PG_USER:" "$PGDATA"; fi
    chmod 0700 "$PGDATA"
    # the superuser is the OS user (peer); the app's role logs in with a password
    as_user "$PG_USER" "$PG_BIN/initdb" -D "$PGDATA" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    cat >"$PGDATA/pg_hba.conf" <<EOF
# written by conf/entrypoint.sh
local   all   $PG_USER                  peer
local   all   all                       scram-sha-256
host    all   all   127.0.0.1/32        scram-sha-256
host    all   all   ::1/128             scram-sha-256
EOF
    if [ "$(id -u)" = 0 ]; then chown "$PG_USER:" "$PGDATA/pg_hba.conf"; fi
fi

# ---- 3. role and database (temporary server, socket only) ----------------------
pg_ctl_() { as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$PGDATA" "$@"; }
pg_opts="-p $PGPORT -k $PG_SOCKET_DIR -c listen_addresses=''"
log "starting PostgreSQL temporarily"
# no -l: the server's own messages go to our output (docker logs, stack.out)
pg_ctl_ -o "$pg_opts" -w -t 60 start >&2 || die "PostgreSQL did not start"
stop_pg() { pg_ctl_ -m fast -w -t 60 stop >&2 || true; }
trap stop_pg EXIT
trap 'exit 130' INT TERM

psql_() {
    as_user "$PG_USER" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PGPORT" \
        -d postgres "$@"
}
# psql variables (:'name') quote the password and names safely
psql_ -v role="$PG_ROLE" -v pw="$PG_PASSWORD" -v db="$PG_DATABASE" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL

# ---- 4. migrations and demo models --------------------------------------------
log "flask --app wsgi init"
(cd "$MLSTACK_HOME" && as_user "$MLSTACK_USER" "$MLSTACK_BIN/flask" --app wsgi init) \
    || die "flask --app wsgi init failed"

stop_pg
trap - EXIT INT TERM

# ---- 5. supervisord -----------------------------------------------------------
log "starting supervisord (app as $MLSTACK_USER, nginx as $NGINX_USER, PostgreSQL as $PG_USER)"
cd "$MLSTACK_HOME"
# conf/ on its path for the ordered `stop all` interface (conf/supervisor_order.py)
export PYTHONPATH="$MLSTACK_HOME/conf${PYTHONPATH:+:$PYTHONPATH}"
exec "$SUPERVISORD" -c "$MLSTACK_HOME/supervisord.conf"
