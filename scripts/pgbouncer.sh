#!/usr/bin/env bash
# PgBouncer in transaction mode in front of the local PostgreSQL, as docs/scaling.md
# describes it, for the tests that run the app through it.
#
#   pgbouncer.sh start DIR [PORT]   write a configuration into DIR and start Debian's
#                                   pgbouncer on 127.0.0.1:PORT (6432), pooling every
#                                   database of 127.0.0.1:5432 in transaction mode.
#                                   Prints the DATABASE_URL that goes through it.
#   pgbouncer.sh stop DIR           stop it and delete DIR
#
# PRIMARY_PORT moves the server it pools (5432). It runs as the "postgres" user
# (pgbouncer refuses root) and lets "postgres" in without a password, as the
# server behind it does on 127.0.0.1; "postgres" is also its admin (SHOW POOLS).
set -euo pipefail

PRIMARY_PORT=${PRIMARY_PORT:-5432}
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

answers() {
    psql -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1
}

start() {
    local dir port
    dir=$(realpath -m "$1"); port=$2
    if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
        echo "postgres://postgres@127.0.0.1:$port/postgres"
        return
    fi
    [ -x "$PGBOUNCER" ] || { echo "pgbouncer.sh: no pgbouncer (apt-get install pgbouncer)" >&2; exit 1; }
    if pg_isready -q -h 127.0.0.1 -p "$port"; then
        echo "pgbouncer.sh: something else listens on port $port" >&2
        exit 1
    fi
    mkdir -p "$dir"; chown postgres:postgres "$dir"
    as_postgres test -w "$dir" || { echo "pgbouncer.sh: the postgres user cannot write in $dir" >&2; exit 1; }
    cat >"$dir/pgbouncer.ini" <<CONF
[databases]
; Any database name, on the one server.
* = host=127.0.0.1 port=$PRIMARY_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
; A server connection belongs to a client for one transaction only: the mode that
; lets many app servers share few PostgreSQL connections, and the one in which
; session state (prepared statements among it) does not follow a client.
pool_mode = transaction
max_client_conn = 500
default_pool_size = 10
CONF
    echo '"postgres" ""' >"$dir/userlist.txt"
    chown -R postgres:postgres "$dir"
    as_postgres "$PGBOUNCER" -d -q "$dir/pgbouncer.ini"
    for _ in $(seq 1 40); do answers "$port" && break; sleep 0.25; done
    answers "$port" || { echo "pgbouncer.sh: not answering" >&2; tail -20 "$dir/pgbouncer.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir pid
    dir=$(realpath -m "$1")
    if [ -f "$dir/pgbouncer.pid" ]; then
        pid=$(cat "$dir/pgbouncer.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) [ $# -ge 2 ] || { echo "usage: pgbouncer.sh start DIR [PORT]" >&2; exit 2; }
           start "$2" "${3:-6432}" ;;
    stop) [ $# -ge 2 ] || { echo "usage: pgbouncer.sh stop DIR" >&2; exit 2; }; stop "$2" ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
esac
