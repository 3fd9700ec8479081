#!/usr/bin/env bash
# pg-fixture.sh -- a throwaway PostgreSQL cluster for the tests labelled "postgres".
#
#   pg-fixture.sh start DIR   create (or reuse) a cluster under DIR, listening only on
#                             127.0.0.1 on a free port (55432 upward), trust auth for local
#                             and 127.0.0.1 only, database 'vexxy_test'; writes the URL
#                             postgres://postgres@127.0.0.1:PORT/vexxy_test to DIR/pg.url
#   pg-fixture.sh stop DIR    stop it (pg_ctl stop -m fast) and remove the cluster
#
# initdb and postgres refuse to run as root, so as root they run as the 'postgres' system
# user, with DIR owned by it and its parent directories made traversable. Missing
# PostgreSQL binaries are an error (exit 1), never a silent skip: the install script
# installs the 'postgresql' package.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
action=$1
dir=$2
case "$dir" in
    /*) ;;
    *) dir="$(pwd)/$dir" ;;
esac
data="$dir/data"
url_file="$dir/pg.url"
log_file="$dir/postgres.log"

bindir=""
for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
        bindir=$d # the glob sorts, so the newest major version wins
    fi
done
if [ -z "$bindir" ]; then
    echo "pg-fixture: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin;" \
         "install the 'postgresql' package (apt-get install postgresql)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "pg-fixture: running as root but there is no 'postgres' system user" >&2
        exit 1
    fi
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

running() {
    [ -f "$data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

port_busy() {
    # bash's /dev/tcp: the connect succeeds only if something listens there
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ensure_db() {
    local port=$1
    if ! as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAq \
            -c "SELECT 1 FROM pg_database WHERE datname = 'vexxy_test'" | grep -q 1; then
        as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres vexxy_test
    fi
    echo "postgres://postgres@127.0.0.1:$port/vexxy_test" >"$url_file"
}

start() {
    mkdir -p "$dir"
    if running; then
        local port
        port=$(sed -n 4p "$data/postmaster.pid")
        ensure_db "$port"
        echo "pg-fixture: reusing the cluster on port $port"
        return 0
    fi
    if [ "$(id -u)" -eq 0 ]; then
        # postgres must be able to reach DIR: make every parent directory traversable
        local p=$dir
        while [ "$p" != "/" ]; do
            p=$(dirname "$p")
            if ! runuser -u postgres -- test -x "$p"; then
                chmod o+x "$p"
            fi
        done
        chown postgres: "$dir"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-instructions \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >"$dir/pg_hba.conf.new" <<'EOF'
# throwaway test cluster: trust, local socket and 127.0.0.1 only
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
        as_pg cp "$dir/pg_hba.conf.new" "$data/pg_hba.conf"
        rm -f "$dir/pg_hba.conf.new"
    fi
    local port=55432 tries=0
    while [ $tries -lt 50 ]; do
        if port_busy "$port"; then
            port=$((port + 1))
            tries=$((tries + 1))
            continue
        fi
        # No unix socket: its path would depend on DIR's length and there is nothing to
        # share it with; pg_ctl -w then checks readiness over TCP.
        if as_pg "$bindir/pg_ctl" -D "$data" -l "$log_file" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories= -c fsync=off -c max_connections=200" \
                start >/dev/null; then
            ensure_db "$port"
            echo "pg-fixture: PostgreSQL ($bindir) on 127.0.0.1:$port, data in $data"
            return 0
        fi
        # lost a race for the port, or a real failure: show the log, try the next port
        tail -n 5 "$log_file" >&2 || true
        port=$((port + 1))
        tries=$((tries + 1))
    done
    echo "pg-fixture: could not start PostgreSQL (see $log_file)" >&2
    exit 1
}

stop() {
    if running; then
        as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
    rm -rf "$data"
    rm -f "$url_file" "$log_file" "$dir/initdb.log"
    rmdir "$dir" 2>/dev/null || true
    echo "pg-fixture: stopped and removed the cluster under $dir"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
