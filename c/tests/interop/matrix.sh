#!/bin/bash
# matrix.sh INTEROP-BINARY [LIBDIR-MODE]
#
# Runs the interop client (interop.c) against three real servers on private
# Unix sockets: nbdkit (memory), qemu-nbd (raw file, named export, allocation
# depth) and nbd-server (config file in the temp dir).  Each server is only
# skipped if it is not installed; features a server does not advertise are
# skipped inside the client.
#
# The binary is run through run_ours (LD_LIBRARY_PATH=$INTEROP_LIBDIR) unless
# INTEROP_LIBDIR=system.

test_name=matrix
. "$(dirname "$0")/lib.sh"

bin=${1:?usage: matrix.sh INTEROP-BINARY}
case "$bin" in /*) ;; *) bin="$interop_top/$bin" ;; esac
test_name="matrix($(basename "$bin"))"
[ -x "$bin" ] || { fail "$bin not built"; exit 1; }
require_our_lib
make_tmp
check_loads_ours "$bin"

ran=0
# report_client LABEL STATUS: judge one client run from $tmp/client.out.
report_client () {
    ran=$((ran + 1))
    if [ "$2" -eq 0 ]; then
        grep -E 'skip:|note:' "$tmp/client.out" | sed 's/^/    /'
        echo "ok: $1"
    else
        fail "$1 (exit $2):"
        sed 's/^/    /' "$tmp/client.out" | tail -25
    fi
}

run_client () {
    local label=$1; shift
    run_ours timeout 150 "$bin" -n "$label" "$@" > "$tmp/client.out" 2>&1
    report_client "$label" $?
}

# --- nbdkit -------------------------------------------------------------------
if command -v nbdkit >/dev/null 2>&1; then
    start_nbdkit "$tmp/k.sock" memory 64M
    run_client nbdkit -e "" "nbd+unix:///?socket=$tmp/k.sock"
    # a named export among several (exportname filter)
    start_nbdkit "$tmp/k2.sock" --filter=exportname memory 64M \
        exportname=one exportname=two exportname-list=explicit
    run_client nbdkit-named -e one -e two "nbd+unix:///two?socket=$tmp/k2.sock"
else
    echo "SKIP: $test_name: nbdkit not installed"
fi

# --- qemu-nbd -----------------------------------------------------------------
if command -v qemu-nbd >/dev/null 2>&1; then
    truncate -s 64M "$tmp/q.raw"
    start_qemu_nbd "$tmp/q.sock" -f raw -x disk --allocation-depth "$tmp/q.raw"
    run_client qemu-nbd -e disk "nbd+unix:///disk?socket=$tmp/q.sock"
else
    echo "SKIP: $test_name: qemu-nbd not installed"
fi

# --- nbd-server -------------------------------------------------------------
if command -v nbd-server >/dev/null 2>&1; then
    truncate -s 64M "$tmp/n.img"
    nbd_server_config "$tmp" "$tmp/n.sock" "$tmp/n.img" scratch
    # The socket file appears at bind(), just before listen(): a
    # "Connection refused" is that race, so retry it (at most 3 times).
    for try in 1 2 3; do
        start_nbd_server "$tmp/nbd-server.conf" "$tmp/n.sock"
        run_ours timeout 150 "$bin" -n nbd-server -e scratch \
            "nbd+unix:///scratch?socket=$tmp/n.sock" > "$tmp/client.out" 2>&1
        rc=$?
        stop_pid "$nbd_server_pid"
        [ $rc -ne 0 ] && grep -q 'Connection refused' "$tmp/client.out" &&
            [ $try -lt 3 ] || break
        sleep 0.5
    done
    report_client nbd-server $rc
else
    echo "SKIP: $test_name: nbd-server not installed"
fi

[ $ran -eq 0 ] && skip "no NBD server installed"
if [ $fails -eq 0 ]; then
    pass "$ran server configuration(s)"
fi
finish
