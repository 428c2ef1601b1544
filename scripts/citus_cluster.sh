#!/usr/bin/env bash
# A Citus cluster on this machine for the distributed tests and the benchmark: a
# coordinator and two workers, each a PostgreSQL server with the Citus extension loaded.
#
#   citus_cluster.sh start DIR [DB]   make (first time) and start the three servers in DIR,
#                                     on CITUS_PORT (9700) and the two ports after it; make
#                                     database DB (threads) with the extension on each and
#                                     register the workers with the coordinator. Prints the
#                                     coordinator's DATABASE_URL.
#   citus_cluster.sh stop DIR         stop the three servers (DIR stays)
#
# Citus must be installed for the PostgreSQL found by pg_config (PG_MAJOR, default 15):
# Citus's own packages, or a build from its source (docs/scaling.md). Servers run as the
# "postgres" user and listen on 127.0.0.1 only, with trust authentication: for tests.
# Each node keeps its data in DIR/node-PORT and its log in DIR/node-PORT.log.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
BIN=/usr/lib/postgresql/$PG_MAJOR/bin
FIRST=${CITUS_PORT:-9700}
PORTS=("$FIRST" "$((FIRST + 1))" "$((FIRST + 2))")

as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3"; }

start() {
    local dir=$1 db=$2 port node
    if [ ! -f "/usr/lib/postgresql/$PG_MAJOR/lib/citus.so" ]; then
        echo "Citus is not installed for PostgreSQL $PG_MAJOR (see docs/scaling.md)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    for port in "${PORTS[@]}"; do
        node="$dir/node-$port"
        if [ ! -d "$node" ]; then
            as_postgres "$BIN/initdb" -D "$node" -A trust -U postgres >/dev/null
            # Citus must be preloaded; sockets in DIR keep the nodes off the system's.
            printf '%s\n' "shared_preload_libraries = 'citus'" "listen_addresses = '127.0.0.1'" \
                "port = $port" "unix_socket_directories = '$dir'" "max_connections = 200" \
                >>"$node/postgresql.conf"
        fi
        as_postgres "$BIN/pg_ctl" -D "$node" -l "$node.log" -w status >/dev/null 2>&1 \
            || as_postgres "$BIN/pg_ctl" -D "$node" -l "$node.log" -w start >/dev/null
    done
    for port in "${PORTS[@]}"; do
        if [ -z "$(sql "$port" postgres "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
            sql "$port" postgres "CREATE DATABASE \"$db\""
        fi
        sql "$port" "$db" "CREATE EXTENSION IF NOT EXISTS citus"
    done
    sql "$FIRST" "$db" "SELECT citus_set_coordinator_host('127.0.0.1', $FIRST)" >/dev/null
    for port in "${PORTS[@]:1}"; do
        sql "$FIRST" "$db" "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
    done
    echo "postgres://postgres@127.0.0.1:$FIRST/$db"
}

stop() {
    local dir=$1 port
    for port in "${PORTS[@]}"; do
        if [ -d "$dir/node-$port" ]; then
            as_postgres "$BIN/pg_ctl" -D "$dir/node-$port" -m fast -w stop >/dev/null 2>&1 || true
        fi
    done
}

case "${1:-}" in
    start) [ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }; start "$(realpath -m "$2")" "${3:-threads}" ;;
    stop) [ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }; stop "$(realpath -m "$2")" ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
