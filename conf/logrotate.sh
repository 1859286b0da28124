#!/bin/sh
# supervisord's [program:logrotate]: rotate nginx's access log every LOGROTATE_INTERVAL
# seconds with Debian's logrotate, on $MLSTACK_VAR/run/logrotate.conf (written by
# conf/entrypoint.sh: size, count, and USR1 to nginx so it reopens the file).
set -u
trap 'exit 0' TERM  # a stop, not a failure
conf=$MLSTACK_VAR/run/logrotate.conf
state=$MLSTACK_VAR/nginx/run/logrotate.state
if ! command -v logrotate >/dev/null 2>&1; then
    echo "logrotate: not installed; nginx's access log is not rotated (apt-get install logrotate)" >&2
    exec sleep infinity
fi
while :; do
    logrotate -s "$state" "$conf" || echo "logrotate: failed (see above)" >&2
    sleep "${LOGROTATE_INTERVAL:-300}" &
    wait $!
done
