#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the tests: initdb in a temporary folder as the
# unprivileged `postgres` user (or the caller when not root), a free port on 127.0.0.1, a
# password-protected role. Prints `export AGENTCTL_TEST_POSTGRES_URL=...` on stdout.
#   eval "$(.ci/postgres.sh start)"   ...   .ci/postgres.sh stop
# `down` and `up` stop and start the same server (tests of a lost connection use them).
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
# Each `start` gets a folder of its own (two runs on one machine never stop each other's
# server); it prints AGENTCTL_PG_STATE so `stop`, `down` and `up` find it again.
STATE="${AGENTCTL_PG_STATE:-/tmp/agentctl-ci-postgres}"
run_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
start)
    [ -x "$BIN/initdb" ] || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
    STATE=$(mktemp -d /tmp/agentctl-ci-postgres.XXXXXX) && chmod 755 "$STATE"
    [ "$(id -u)" = 0 ] && chown postgres "$STATE"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    PASSWORD="ci-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
    run_as bash -c "umask 077; printf '%s\n' '$PASSWORD' > '$STATE/pw'"
    run_as "$BIN/initdb" -D "$STATE/data" -U agentctl --pwfile="$STATE/pw" -A scram-sha-256 >/dev/null
    run_as rm -f "$STATE/pw"
    echo "-c listen_addresses=127.0.0.1 -p $PORT -k $STATE -c max_connections=200" > "$STATE/options"
    run_as "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/log" -w -o "$(cat "$STATE/options")" start >/dev/null
    URL="postgresql://agentctl:$PASSWORD@127.0.0.1:$PORT/postgres"
    echo "$URL" > "$STATE/url"
    echo "export AGENTCTL_TEST_POSTGRES_URL='$URL'"
    echo "export AGENTCTL_PG_STATE='$STATE'"
    ;;
stop)
    if [ -d "$STATE/data" ]; then run_as "$BIN/pg_ctl" -D "$STATE/data" -m immediate stop >/dev/null || true; fi
    rm -rf "$STATE"
    ;;
down)  # for tests: the server goes away (connections cut) ...
    run_as "$BIN/pg_ctl" -D "$STATE/data" -w -m fast stop >/dev/null
    ;;
up)  # ... and comes back on the same port
    run_as "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/log" -w -o "$(cat "$STATE/options")" start >/dev/null
    ;;
*)
    echo "usage: $0 start|stop|down|up" >&2; exit 2 ;;
esac
