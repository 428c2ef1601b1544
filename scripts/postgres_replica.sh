#!/usr/bin/env bash
# A streaming replica of the local PostgreSQL, for the tests of the read-replica router.
#
#   postgres_replica.sh start DIR [PORT]   copy the primary (127.0.0.1:5432) into DIR with
#                                          pg_basebackup -R, and start the copy on PORT (5433)
#                                          as a hot standby streaming from it through a
#                                          replication slot. Prints the replica's DATABASE_URL.
#   postgres_replica.sh stop DIR           stop it, drop its slot, delete DIR
#
# PRIMARY_PORT moves the primary (5432). Servers run as the "postgres" user; both
# listen on 127.0.0.1 only, with trust authentication.
#
# What the primary needs, checked each time: wal_level replica or logical and
# max_wal_senders above 0 (Debian's defaults: a restart would be needed otherwise,
# which this script does not do), and pg_hba.conf letting "postgres" open a
# replication connection from 127.0.0.1 without a password. Only that last one is
# changed if missing: one line is put first in pg_hba.conf and the configuration is
# reloaded (no restart). The slot keeps the primary's WAL until the replica has it,
# so a replica that falls behind catches up instead of needing a new copy; "stop"
# drops it, for a slot nobody reads would keep WAL for ever.
set -euo pipefail

PRIMARY_PORT=${PRIMARY_PORT:-5432}
HBA_LINE="host replication postgres 127.0.0.1/32 trust  # threads_app: local streaming replicas"

primary() { psql -X -qAt -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -d postgres -c "$1"; }
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
slot_name() { echo "threads_app_replica_$1"; }

pg_bin() {
    local major
    major=$(primary "SELECT current_setting('server_version_num')::int / 10000")
    echo "/usr/lib/postgresql/$major/bin"
}

replication_allowed() {
    psql -X -qAt "host=127.0.0.1 port=$PRIMARY_PORT user=postgres replication=true" \
        -c "IDENTIFY_SYSTEM" >/dev/null 2>&1
}

prepare_primary() {
    local wal_level senders hba
    wal_level=$(primary "SHOW wal_level")
    senders=$(primary "SHOW max_wal_senders")
    if [ "$wal_level" = minimal ] || [ "$senders" = 0 ]; then
        echo "postgres_replica: the primary has wal_level=$wal_level, max_wal_senders=$senders;" \
            "set wal_level=replica and max_wal_senders=10 and restart it" >&2
        exit 1
    fi
    if ! replication_allowed; then
        hba=$(primary "SHOW hba_file")
        grep -qF "$HBA_LINE" "$hba" || sed -i "1i $HBA_LINE" "$hba"
        primary "SELECT pg_reload_conf()" >/dev/null
        for _ in $(seq 1 20); do replication_allowed && break; sleep 0.25; done
        replication_allowed || { echo "postgres_replica: $hba still refuses replication" >&2; exit 1; }
    fi
}

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
    local tries=$(($1 * 4)); shift
    for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.25; done
    "$@"
}

replica_in_recovery() {
    [ "$(psql -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d postgres \
        -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]
}

replica_streaming() {
    [ "$(primary "SELECT count(*) FROM pg_stat_replication r JOIN pg_replication_slots s
                  ON s.active_pid = r.pid WHERE s.slot_name = '$1' AND r.state = 'streaming'")" = 1 ]
}

drop_slot() {
    local slot=$1
    # A walsender that has just lost its standby holds the slot for a moment.
    for _ in $(seq 1 40); do
        [ "$(primary "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 0 ] \
            && return 0
        primary "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots
                 WHERE slot_name = '$slot' AND NOT active" >/dev/null 2>&1 || true
        sleep 0.25
    done
    echo "postgres_replica: slot $slot is still in use" >&2
    return 1
}

start() {
    local dir port bin slot data setting
    dir=$(realpath -m "$1"); port=$2; slot=$(slot_name "$port"); data="$dir/data"
    bin=$(pg_bin)
    if [ -f "$data/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "postgres://postgres@127.0.0.1:$port/postgres"
        return
    fi
    if pg_isready -q -h 127.0.0.1 -p "$port"; then
        echo "postgres_replica: something else listens on port $port" >&2
        exit 1
    fi
    prepare_primary
    mkdir -p "$dir"; chown postgres:postgres "$dir"
    as_postgres test -w "$dir" || { echo "postgres_replica: the postgres user cannot write in $dir" >&2; exit 1; }
    if [ ! -d "$data" ]; then
        # A slot left by a replica that was never stopped would hold WAL for nothing.
        drop_slot "$slot"
        # --no-sync: a throwaway copy, whose durability is the primary's.
        as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$data" \
            -R -X stream -C -S "$slot" --checkpoint=fast --no-sync
        # Debian keeps the configuration out of the data directory, so the copy has none:
        # its own, with what a hot standby must hold at least as high as its primary.
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = '$dir'"
            echo "hba_file = '$dir/pg_hba.conf'"
            echo "ident_file = '$dir/pg_ident.conf'"
            echo "hot_standby = on"
            echo "fsync = off"
            for setting in max_connections max_worker_processes max_wal_senders \
                max_prepared_transactions max_locks_per_transaction; do
                echo "$setting = $(primary "SHOW $setting")"
            done
        } >"$dir/postgresql.conf"
        printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$dir/pg_hba.conf"
        : >"$dir/pg_ident.conf"
        chown postgres:postgres "$dir"/*.conf
        as_postgres ln -s "$dir/postgresql.conf" "$data/postgresql.conf"
    fi
    as_postgres "$bin/pg_ctl" -D "$data" -l "$dir/replica.log" -w -t 60 start >/dev/null
    wait_for 30 replica_in_recovery "$port" \
        || { echo "postgres_replica: not a standby on port $port" >&2; tail -20 "$dir/replica.log" >&2; exit 1; }
    wait_for 30 replica_streaming "$slot" \
        || { echo "postgres_replica: not streaming" >&2; tail -20 "$dir/replica.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir data port
    dir=$(realpath -m "$1"); data="$dir/data"
    [ -d "$data" ] || { rm -rf "$dir"; return; }
    port=$(sed -n "s/^port = //p" "$dir/postgresql.conf")
    # Immediate: the copy is deleted next, so it needs no shutdown checkpoint.
    as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    drop_slot "$(slot_name "$port")"
    rm -rf "$dir"
}

case "${1:-}" in
    start) [ $# -ge 2 ] || { echo "usage: postgres_replica.sh start DIR [PORT]" >&2; exit 2; }
           start "$2" "${3:-5433}" ;;
    stop) [ $# -ge 2 ] || { echo "usage: postgres_replica.sh stop DIR" >&2; exit 2; }; stop "$2" ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
esac
