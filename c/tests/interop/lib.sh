# Shared helpers for the interop scripts (sourced, not executed).
#
# Environment:
#   INTEROP_LIBDIR  directory holding OUR libnbd.so.0 (absolute or relative to
#                   the top of the tree); default build/lib.  The special value
#                   "system" runs the "ours" side against the system libnbd too,
#                   which validates the harness itself (outputs deterministic).
#   INTEROP_KEEP=1  keep the temp directory for inspection.
#
# Conventions: exit 0 = pass, 1 = fail, 77 = skipped (tool missing).
# Every server is started in the foreground with --exit-with-parent where
# supported, its pid recorded, and killed (by pid) in the EXIT trap.

set -u

interop_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
interop_dir="$interop_top/c/tests/interop"
test_name=${test_name:-$(basename "$0" .sh)}

INTEROP_LIBDIR=${INTEROP_LIBDIR:-build/lib}
if [ "$INTEROP_LIBDIR" != system ]; then
    case "$INTEROP_LIBDIR" in
        /*) ;;
        *) INTEROP_LIBDIR="$interop_top/$INTEROP_LIBDIR" ;;
    esac
fi

fails=0
pids=()
tmp=

skip () {
    echo "SKIP: $test_name: $*"
    exit 77
}

fail () {
    echo "FAIL: $test_name: $*"
    fails=$((fails + 1))
}

pass () {
    echo "PASS: $test_name: $*"
}

require () {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
    done
}

cleanup () {
    local p
    if declare -F cleanup_hook >/dev/null; then
        cleanup_hook
    fi
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ -n "$tmp" ] && [ "${INTEROP_KEEP:-0}" != 1 ]; then
        rm -rf "$tmp"
    elif [ -n "$tmp" ]; then
        echo "note: kept $tmp"
    fi
}

make_tmp () {
    tmp=$(mktemp -d /tmp/nbd-interop.XXXXXX) || exit 1
    trap cleanup EXIT
    trap 'exit 1' INT TERM
}

# Our library must exist (unless comparing system with system).
require_our_lib () {
    if [ "$INTEROP_LIBDIR" = system ]; then
        return 0
    fi
    if [ ! -e "$INTEROP_LIBDIR/libnbd.so.0" ]; then
        fail "$INTEROP_LIBDIR/libnbd.so.0 does not exist (run make lib)"
        exit 1
    fi
}

# run_ours CMD ARGS...: run a command with our library.
run_ours () {
    if [ "$INTEROP_LIBDIR" = system ]; then
        env -u LD_LIBRARY_PATH "$@"
    else
        LD_LIBRARY_PATH="$INTEROP_LIBDIR" "$@"
    fi
}

# run_system CMD ARGS...: run a command with the system library.
run_system () {
    env -u LD_LIBRARY_PATH -u LD_PRELOAD "$@"
}

# Check that BINARY really resolves libnbd.so.0 to our library when run
# through run_ours (otherwise a comparison would silently test nothing).
check_loads_ours () {
    local bin=$1 got
    [ "$INTEROP_LIBDIR" = system ] && return 0
    got=$(LD_LIBRARY_PATH="$INTEROP_LIBDIR" ldd "$bin" 2>/dev/null |
          awk '$1=="libnbd.so.0" { print $3 }')
    if [ "$(readlink -f "$got")" != "$(readlink -f "$INTEROP_LIBDIR/libnbd.so.0")" ]; then
        fail "$bin does not load our library (ldd says libnbd.so.0 => '$got')"
        exit 1
    fi
}

# wait_for PATH: wait up to 10 s for PATH to exist (socket or pid file).
wait_for () {
    local i
    for i in $(seq 100); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# start_nbdkit SOCKET NBDKIT-ARGS...: private nbdkit on a Unix socket.
start_nbdkit () {
    local sock=$1; shift
    rm -f "$sock" "$sock.pid"
    # nbdkit writes the pid file only once it is listening.
    nbdkit -f --exit-with-parent -U "$sock" -P "$sock.pid" "$@" \
        </dev/null 2>>"$tmp/nbdkit.log" &
    pids+=($!)
    wait_for "$sock.pid" || { fail "nbdkit $* did not start ($sock)"; exit 1; }
}

# start_qemu_nbd SOCKET QEMU-NBD-ARGS...: persistent qemu-nbd on a socket.
start_qemu_nbd () {
    local sock=$1; shift
    rm -f "$sock" "$sock.pid"
    # qemu-nbd writes the pid file once the server socket is set up.
    qemu-nbd -k "$sock" --pid-file="$sock.pid" -t "$@" \
        </dev/null 2>>"$tmp/qemu-nbd.log" &
    pids+=($!)
    wait_for "$sock.pid" && wait_for "$sock" ||
        { fail "qemu-nbd $* did not start ($sock)"; exit 1; }
}

# nbd_server_config DIR SOCKET FILE NAME: write an nbd-server config.
nbd_server_config () {
    cat > "$1/nbd-server.conf" <<EOF
[generic]
unixsock = $2
allowlist = true
[$4]
exportname = $3
trim = true
flush = true
fua = true
EOF
}

# start_nbd_server CONFIG SOCKET: nbd-server in the foreground (-d).  In
# this mode nbd-server serves ONE connection and then exits.
start_nbd_server () {
    local conf=$1 sock=$2
    rm -f "$sock"
    nbd-server -C "$conf" -d </dev/null >>"$tmp/nbd-server.log" 2>&1 &
    nbd_server_pid=$!
    pids+=($nbd_server_pid)
    wait_for "$sock" || { fail "nbd-server did not create $sock"; exit 1; }
}

# stop_pid PID: kill one server we started, reap it and forget it (so the
# EXIT trap never signals a pid that may have been reused).
stop_pid () {
    local p=$1 q keep=()
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    for q in "${pids[@]}"; do
        [ "$q" != "$p" ] && keep+=("$q")
    done
    pids=("${keep[@]}")
}

finish () {
    if [ "$fails" -gt 0 ]; then
        echo "FAIL: $test_name: $fails failure(s)"
        exit 1
    fi
    exit 0
}
