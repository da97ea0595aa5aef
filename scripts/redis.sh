#!/usr/bin/env bash
# Redis for the cluster tests and for trying a cluster by hand: installs redis-server (the
# Debian package) if it is missing, and with `start PORT` runs it in the foreground on
# loopback without persistence. It never touches a Redis it did not start.
#   scripts/redis.sh install
#   scripts/redis.sh start 6390
set -euo pipefail

install() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "redis-server is missing: install the redis-server package (needs root)" >&2
        exit 1
    fi
    # Test threads call this at once on a fresh machine: one installs, the others wait for it.
    exec 9>/tmp/switchyard-redis-install.lock
    flock 9
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y redis-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y redis-server >/dev/null; }
}

case "${1:-}" in
    install) install ;;
    start)
        install
        exec redis-server --save '' --appendonly no --bind 127.0.0.1 --port "${2:?port}" --daemonize no
        ;;
    *) echo "usage: $0 install | start PORT" >&2; exit 2 ;;
esac
