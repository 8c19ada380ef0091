# Shared by scripts/run and scripts/test: install what is missing, start a private PostgreSQL.
# shellcheck shell=bash

log() { printf '\033[1m[switchboard]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1
    fi
}

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null; then
        log "cannot install $* automatically (no apt-get); please install it and retry"
        return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Directory holding initdb/pg_ctl/postgres (newest installed version), or empty.
pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v initdb)"; fi
}

ensure_postgres() {
    if [ -z "$(pg_bindir)" ]; then
        apt_install postgresql
    fi
    [ -n "$(pg_bindir)" ] || { log "PostgreSQL server binaries still missing after install"; return 1; }
}

# ngIRCd, the IRC server the IRC gateway's tests run against (each test starts its own, on
# loopback; see testkit/src/irc/). The package starts and enables a system-wide server
# on port 6667, which the tests don't need: stop and disable it right after installing.
ensure_ngircd() {
    if [ ! -x /usr/sbin/ngircd ] && ! command -v ngircd >/dev/null; then
        apt_install ngircd
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
            as_root systemctl disable --now ngircd >/dev/null 2>&1 || true
        else
            as_root service ngircd stop >/dev/null 2>&1 || true
        fi
    fi
    [ -x /usr/sbin/ngircd ] || command -v ngircd >/dev/null || { log "ngircd still missing after install"; return 1; }
}

# Headless Chromium and its WebDriver, for the web app's browser tests (testkit/src/browser.rs).
ensure_chromium() {
    if ! command -v chromedriver >/dev/null || { ! command -v chromium >/dev/null && [ ! -x /usr/lib/chromium/chromium ]; }; then
        apt_install chromium chromium-driver
    fi
    command -v chromedriver >/dev/null || { log "chromedriver still missing after install"; return 1; }
}

ensure_rust() {
    command -v cargo >/dev/null || { log "cargo not found: install Rust (https://rustup.rs) and retry"; return 1; }
}

# Runs a PostgreSQL binary as an unprivileged user (PostgreSQL refuses to run as root).
pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_test_postgres DIR PORT [TLS_DIR]: a throw-away cluster on 127.0.0.1:PORT tuned for tests
# (fsync off: a crash loses the test cluster, which is thrown away anyway). With TLS_DIR (holding
# server.crt and server.key), the server also speaks TLS (ssl=on) with that certificate.
start_test_postgres() {
    local dir=$1 port=$2 tls_dir=${3:-} bin tls=""
    bin=$(pg_bindir)
    mkdir -p "$dir"
    if [ -n "$tls_dir" ]; then
        # The server refuses a key that others can read; it must belong to the server's user.
        cp "$tls_dir/server.crt" "$tls_dir/server.key" "$dir/"
        chmod 0600 "$dir/server.key"
        if [ "$(id -u)" = 0 ]; then chown postgres "$dir/server.crt" "$dir/server.key"; fi
        tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
    fi
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    chmod 0755 "$dir"
    pg_as_owner "$bin/initdb" -D "$dir/data" -U switchboard --auth=trust -E UTF8 --locale=C >/dev/null
    pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB $tls" >/dev/null
}

stop_test_postgres() {
    local dir=$1
    [ -d "$dir/data" ] && pg_as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55433
}
