#!/bin/bash
# nbdinfo-compare.sh: Debian's nbdinfo (and nbddump) must print byte-identical
# output and exit with the same status whether libnbd.so.0 is the system
# libnbd 1.14 or ours (LD_LIBRARY_PATH=$INTEROP_LIBDIR).
#
# Both runs use the same server and the same socket, so nothing needs to be
# normalised, with one exception: `nbdinfo --version` prints the library's
# package name and version; that line is compared after normalising only the
# version number (see docs/notes-dropin.md).
#
# Servers: nbdkit (memory with data written, data with holes, sparse-random,
# read-only memory, file dir= for several exports, exportname filter for
# descriptions, TCP loopback, socket activation), qemu-nbd, nbd-server.
# Servers other than nbdkit are optional: missing ones are reported as SKIP.

test_name=nbdinfo-compare
. "$(dirname "$0")/lib.sh"

require nbdinfo nbdkit
require_our_lib
make_tmp
check_loads_ours "$(command -v nbdinfo)"

ncompared=0

# compare LABEL CMD ARGS...: run CMD with both libraries and compare.
compare () {
    local label=$1; shift
    local rs ro
    run_system "$@" > "$tmp/sys.out" 2> "$tmp/sys.err" </dev/null
    rs=$?
    run_ours "$@" > "$tmp/our.out" 2> "$tmp/our.err" </dev/null
    ro=$?
    if [ -n "${ours_sed:-}" ]; then
        sed -i -e "$ours_sed" "$tmp/our.out"
    fi
    ncompared=$((ncompared + 1))
    if [ $rs -ne $ro ]; then
        fail "$label: exit status system=$rs ours=$ro"
        sed 's/^/    ours stderr: /' "$tmp/our.err" | head -5
        return
    fi
    if ! cmp -s "$tmp/sys.out" "$tmp/our.out"; then
        fail "$label: stdout differs (- system, + ours):"
        diff -u "$tmp/sys.out" "$tmp/our.out" | sed -n '3,40p' | sed 's/^/    /'
        return
    fi
    if [ $rs -eq 0 ] || [ $rs -eq 2 ]; then
        # Success (nbdinfo --is/--can use 2 for "false"): stderr identical.
        if ! cmp -s "$tmp/sys.err" "$tmp/our.err"; then
            fail "$label: stderr differs (- system, + ours):"
            diff -u "$tmp/sys.err" "$tmp/our.err" | sed -n '3,20p' | sed 's/^/    /'
            return
        fi
    else
        # Expected error: both must say something, naming the same failing
        # call ("nbdinfo: nbd_xxx:").  The rest of the message is compared
        # too, but only reported unless INTEROP_STRICT_ERRORS=1.
        if [ ! -s "$tmp/our.err" ]; then
            fail "$label: ours failed (status $ro) without a message"
            return
        fi
        local ws wo
        ws=$(head -1 "$tmp/sys.err" | cut -d: -f1-2)
        wo=$(head -1 "$tmp/our.err" | cut -d: -f1-2)
        if [ "$ws" != "$wo" ]; then
            fail "$label: error message prefix differs: system '$ws' ours '$wo'"
            echo "    system: $(head -1 "$tmp/sys.err")"
            echo "    ours:   $(head -1 "$tmp/our.err")"
            return
        fi
        if ! cmp -s "$tmp/sys.err" "$tmp/our.err"; then
            if [ "${INTEROP_STRICT_ERRORS:-0}" = 1 ]; then
                fail "$label: error text differs:"
            else
                echo "note: $label: error text differs (INTEROP_STRICT_ERRORS=1 to fail):"
            fi
            echo "    system: $(head -1 "$tmp/sys.err")"
            echo "    ours:   $(head -1 "$tmp/our.err")"
            [ "${INTEROP_STRICT_ERRORS:-0}" = 1 ] && return
        fi
    fi
    echo "ok: $label (status $rs, $(wc -c < "$tmp/sys.out") bytes)"
}

CAN="cache connect df fast-zero flush fua multi-conn read write trim zero structured-reply"

# all_modes LABEL URI: the modes worth comparing on any export.
all_modes () {
    local l=$1 u=$2 c
    compare "$l plain" nbdinfo "$u"
    compare "$l --no-content" nbdinfo --no-content "$u"
    compare "$l --json" nbdinfo --json "$u"
    compare "$l --list" nbdinfo --list "$u"
    compare "$l --list --json" nbdinfo --list --json "$u"
    compare "$l --size" nbdinfo --size "$u"
    compare "$l --size --json" nbdinfo --size --json "$u"
    compare "$l --map" nbdinfo --map "$u"
    compare "$l --map --totals" nbdinfo --map --totals "$u"
    compare "$l --map --json" nbdinfo --map --json "$u"
    compare "$l --map --totals --json" nbdinfo --map --totals --json "$u"
    for c in $CAN; do
        compare "$l --can $c" nbdinfo --can "$c" "$u"
    done
    compare "$l --is read-only" nbdinfo --is read-only "$u"
    compare "$l --is rotational" nbdinfo --is rotational "$u"
    compare "$l --is tls" nbdinfo --is tls "$u"
}

# --- version: only the version number of the libnbd line may differ -------
run_system nbdinfo --version > "$tmp/v.sys" 2>&1
run_ours nbdinfo --version > "$tmp/v.our" 2>&1
sed -E 's/^(libnbd) [0-9][0-9.]*$/\1 VERSION/' "$tmp/v.sys" > "$tmp/v.sys.n"
sed -E 's/^(libnbd) [0-9][0-9.]*$/\1 VERSION/' "$tmp/v.our" > "$tmp/v.our.n"
if cmp -s "$tmp/v.sys.n" "$tmp/v.our.n"; then
    echo "ok: --version (ours says: $(tr '\n' ' ' < "$tmp/v.our"))"
    if ! cmp -s "$tmp/v.sys" "$tmp/v.our"; then
        echo "note: --version differs only in the library version number"
    fi
else
    fail "--version: (- system, + ours)"
    diff -u "$tmp/v.sys" "$tmp/v.our" | sed -n '3,10p' | sed 's/^/    /'
fi

# --- nbdkit memory with data written by the system nbdcopy ----------------
# A deterministic 3 MiB image: text, a hole, binary pattern, a hole.
{
    yes 'interop test data' | head -c 1048576
    head -c 1048576 /dev/zero
    awk 'BEGIN { for (i = 0; i < 65536; i++) printf "%c", (i * 7) % 251 + 1 }' |
        head -c 65536
} > "$tmp/seed.img"
truncate -s 3M "$tmp/seed.img"
start_nbdkit "$tmp/mem.sock" memory 64M
mem="nbd+unix:///?socket=$tmp/mem.sock"
if command -v nbdcopy >/dev/null 2>&1; then
    run_system nbdcopy "$tmp/seed.img" "$mem" --destination-is-zero ||
        fail "system nbdcopy could not fill the memory export"
else
    echo "note: nbdcopy missing; memory export left empty"
fi
all_modes "memory" "$mem"

# --- nbdkit data with holes ------------------------------------------------
start_nbdkit "$tmp/data.sock" data '("hello")*100 @1048576 ("world")*1000 @4194304 ( 0x55 0xaa )*65536' size=8M
data="nbd+unix:///?socket=$tmp/data.sock"
all_modes "data" "$data"

# --- nbdkit sparse-random: many extents -----------------------------------
start_nbdkit "$tmp/sr.sock" sparse-random 64M seed=4242 percent=30 runlength=65536
sr="nbd+unix:///?socket=$tmp/sr.sock"
compare "sparse-random --map" nbdinfo --map "$sr"
compare "sparse-random --map --totals" nbdinfo --map --totals "$sr"
compare "sparse-random --map --json" nbdinfo --map --json "$sr"
compare "sparse-random plain" nbdinfo "$sr"

# --- read-only export -------------------------------------------------------
start_nbdkit "$tmp/ro.sock" -r memory 1M
ro="nbd+unix:///?socket=$tmp/ro.sock"
all_modes "read-only" "$ro"

# --- several exports (file plugin, dir=) and descriptions ----------------
mkdir "$tmp/exports"
printf 'first export\n' > "$tmp/exports/alpha"
truncate -s 1M "$tmp/exports/beta"
truncate -s 2M "$tmp/exports/with space"
truncate -s 1M "$tmp/exports/odd:name%25&=?#é"
start_nbdkit "$tmp/dir.sock" file dir="$tmp/exports"
dir="nbd+unix:///?socket=$tmp/dir.sock"
compare "dir --list" nbdinfo --list "$dir"
compare "dir --list --json" nbdinfo --list --json "$dir"
compare "dir export beta" nbdinfo "nbd+unix:///beta?socket=$tmp/dir.sock"
compare "dir export 'with space' --json" nbdinfo --json "nbd+unix:///with%20space?socket=$tmp/dir.sock"
compare "dir export with odd characters" nbdinfo "nbd+unix:///odd%3Aname%2525&=%3F%23%C3%A9?socket=$tmp/dir.sock"
compare "dir missing export (error)" nbdinfo "nbd+unix:///nonexistent?socket=$tmp/dir.sock"

start_nbdkit "$tmp/en.sock" --filter=exportname memory 1M \
    exportname=a exportname=b exportname-list=explicit exportdesc=fixed:"a disk"
en="nbd+unix:///?socket=$tmp/en.sock"
compare "exportname --list" nbdinfo --list "$en"
compare "exportname --list --json" nbdinfo --list --json "$en"
compare "exportname b --json" nbdinfo --json "nbd+unix:///b?socket=$tmp/en.sock"

# --- protocol variants: oldstyle, no structured replies, no extents,
#     advertised block sizes -------------------------------------------------
start_nbdkit "$tmp/old.sock" --oldstyle memory 1M
old="nbd+unix:///?socket=$tmp/old.sock"
compare "oldstyle plain" nbdinfo "$old"
compare "oldstyle --json" nbdinfo --json "$old"
compare "oldstyle --map" nbdinfo --map "$old"
compare "oldstyle --size" nbdinfo --size "$old"
compare "oldstyle --can structured-reply" nbdinfo --can structured-reply "$old"
compare "oldstyle --list (error)" nbdinfo --list "$old"

start_nbdkit "$tmp/nosr.sock" --no-sr data '("simple")*1000 @1048576 1' size=2M
# The one deliberate difference: without structured replies libnbd 1.14
# does not ask for the meta contexts (nbdinfo prints none), libnbd 1.16 and
# later (and ours) ask, and nbdkit lists them.  check-debian13 compares this
# case with libnbd 1.22 unnormalised.
ours_sed='/^\tcontexts:$/,/^\t\tbase:allocation$/d;/^\t"contexts": \[$/,/^\t\],$/d'
all_modes "no-sr" "nbd+unix:///?socket=$tmp/nosr.sock"
ours_sed=

start_nbdkit "$tmp/noext.sock" --filter=noextents memory 1M
noext="nbd+unix:///?socket=$tmp/noext.sock"
compare "noextents plain" nbdinfo "$noext"
compare "noextents --json" nbdinfo --json "$noext"
compare "noextents --map" nbdinfo --map "$noext"

if start_nbdkit "$tmp/bs.sock" --filter=blocksize-policy memory 1M \
       blocksize-minimum=512 blocksize-preferred=4096 blocksize-maximum=1M; then
    bs="nbd+unix:///?socket=$tmp/bs.sock"
    compare "blocksize plain" nbdinfo "$bs"
    compare "blocksize --json" nbdinfo --json "$bs"
    compare "blocksize --map" nbdinfo --map "$bs"
fi

# --- TLS (PSK): only if our library says it supports TLS --------------------
printf 'alice:%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > "$tmp/psk.txt"
start_nbdkit "$tmp/tls.sock" --tls=require --tls-psk="$tmp/psk.txt" memory 1M
tlsu="nbds+unix://alice@/?socket=$tmp/tls.sock&tls-psk-file=$tmp/psk.txt"
# Refusal path (no TLS support needed in the client): both must fail.
compare "tls required, plain URI (error)" nbdinfo "nbd+unix:///?socket=$tmp/tls.sock"
compare "tls required, plain URI --size (error)" nbdinfo --size "nbd+unix:///?socket=$tmp/tls.sock"
interop_bin=${INTEROP_BIN:-$interop_top/build/interop/interop}
if [ -x "$interop_bin" ] && run_ours "$interop_bin" -T >/dev/null 2>&1; then
    compare "tls plain" nbdinfo "$tlsu"
    compare "tls --json" nbdinfo --json "$tlsu"
    compare "tls --is tls" nbdinfo --is tls "$tlsu"
    compare "tls --list" nbdinfo --list "$tlsu"
    compare "tls --map" nbdinfo --map "$tlsu"
else
    echo "SKIP: $test_name: TLS cases (our library: nbd_supports_tls() is false or $interop_bin not built)"
fi

# nbd_get_uri must carry the user name and the TLS file parameters of the
# URI it was connected with, even without TLS (nbdinfo prints it).
compare "uri with user name" nbdinfo --no-content "nbd+unix://alice@/?socket=$tmp/ro.sock"
compare "uri with tls-psk-file and tls-certificates" nbdinfo --no-content \
    "nbd+unix:///?socket=$tmp/ro.sock&tls-psk-file=$tmp/psk.txt&tls-certificates=$tmp"

# --- TCP on loopback ---------------------------------------------------------
port=
for try in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 20000))
    rm -f "$tmp/tcp.pid"
    nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$p" -P "$tmp/tcp.pid" memory 2M </dev/null 2>"$tmp/tcp.err" &
    tcp_pid=$!
    if wait_for "$tmp/tcp.pid" && kill -0 "$tcp_pid" 2>/dev/null; then
        pids+=($tcp_pid); port=$p; break
    fi
    kill "$tcp_pid" 2>/dev/null; wait "$tcp_pid" 2>/dev/null
done
if [ -n "$port" ]; then
    compare "tcp plain" nbdinfo "nbd://127.0.0.1:$port"
    compare "tcp --json" nbdinfo --json "nbd://127.0.0.1:$port/"
    compare "tcp --list" nbdinfo --list "nbd://127.0.0.1:$port"
    compare "tcp --size" nbdinfo --size "nbd://127.0.0.1:$port"
else
    fail "could not start nbdkit on a loopback TCP port"
fi

# --- socket activation (nbd_connect_systemd_socket_activation) ------------
# The URI printed would contain a random socket path, so only modes that do
# not print it are compared.
sa=(-- '[' nbdkit --exit-with-parent data '("abc")*1000 @2097152 1' size=4M ']')
compare "activation --size" nbdinfo --size "${sa[@]}"
compare "activation --map" nbdinfo --map "${sa[@]}"
compare "activation --can trim" nbdinfo --can trim "${sa[@]}"
compare "activation --is read-only" nbdinfo --is read-only "${sa[@]}"

# --- errors ------------------------------------------------------------------
compare "error: no such socket" nbdinfo "nbd+unix:///?socket=$tmp/nonexistent.sock"
compare "error: unknown scheme" nbdinfo "http://example.com/"
compare "error: nbd+unix without socket" nbdinfo "nbd+unix:///"
compare "error: --can on dead server" nbdinfo --can connect "nbd+unix:///?socket=$tmp/nonexistent.sock"

# --- nbddump on the same exports -----------------------------------------
if command -v nbddump >/dev/null 2>&1; then
    compare "nbddump data" nbddump "$data"
    compare "nbddump memory" nbddump "$mem"
    compare "nbddump -n 4096 sparse-random" nbddump -n 4096 "$sr"
else
    echo "SKIP: nbddump not installed"
fi

# --- qemu-nbd ------------------------------------------------------------------
if command -v qemu-nbd >/dev/null 2>&1; then
    cp "$tmp/seed.img" "$tmp/q.raw"
    truncate -s 16M "$tmp/q.raw"
    start_qemu_nbd "$tmp/q.sock" -f raw -x disk -D "qemu test disk" \
        --allocation-depth "$tmp/q.raw"
    q="nbd+unix:///disk?socket=$tmp/q.sock"
    all_modes "qemu-nbd" "$q"
    compare "qemu-nbd --map=qemu:allocation-depth" nbdinfo --map=qemu:allocation-depth "$q"
    compare "qemu-nbd --map=qemu:allocation-depth --json" nbdinfo --json --map=qemu:allocation-depth "$q"
else
    echo "SKIP: $test_name: qemu-nbd not installed (qemu-nbd cases)"
fi

# --- nbd-server (one connection per server process with -d) -------------
if command -v nbd-server >/dev/null 2>&1; then
    cp "$tmp/seed.img" "$tmp/ns.img"
    truncate -s 8M "$tmp/ns.img"
    nbd_server_config "$tmp" "$tmp/ns.sock" "$tmp/ns.img" scratch
    ns="nbd+unix:///scratch?socket=$tmp/ns.sock"
    # ns_run RUNNER TAG ARGS...: one nbdinfo run against a fresh server.
    # The socket file appears at bind(), slightly before listen(); a
    # "Connection refused" is that race, so retry (at most 3 times).
    ns_run () {
        local runner=$1 tag=$2 r try; shift 2
        for try in 1 2 3; do
            start_nbd_server "$tmp/nbd-server.conf" "$tmp/ns.sock"
            $runner nbdinfo "$@" > "$tmp/$tag.out" 2> "$tmp/$tag.err" </dev/null
            r=$?
            stop_pid "$nbd_server_pid"
            grep -q 'Connection refused' "$tmp/$tag.err" || break
            sleep 0.5
        done
        return $r
    }
    # compare_ns LABEL ARGS...: fresh server for each of the two runs
    compare_ns () {
        local label=$1; shift
        local rs ro
        ns_run run_system sys "$@"; rs=$?
        ns_run run_ours our "$@"; ro=$?
        ncompared=$((ncompared + 1))
        if [ $rs -ne $ro ]; then
            fail "$label: exit status system=$rs ours=$ro"
            sed 's/^/    ours stderr: /' "$tmp/our.err" | head -5
        elif ! cmp -s "$tmp/sys.out" "$tmp/our.out"; then
            fail "$label: stdout differs (- system, + ours):"
            diff -u "$tmp/sys.out" "$tmp/our.out" | sed -n '3,40p' | sed 's/^/    /'
        elif [ $rs -ne 1 ] && ! cmp -s "$tmp/sys.err" "$tmp/our.err"; then
            fail "$label: stderr differs (- system, + ours):"
            diff -u "$tmp/sys.err" "$tmp/our.err" | sed -n '3,20p' | sed 's/^/    /'
        else
            echo "ok: $label (status $rs, $(wc -c < "$tmp/sys.out") bytes)"
        fi
    }
    compare_ns "nbd-server plain" "$ns"
    compare_ns "nbd-server --json" --json "$ns"
    compare_ns "nbd-server --list" --list "$ns"
    compare_ns "nbd-server --size" --size "$ns"
    compare_ns "nbd-server --map" --map "$ns"
    compare_ns "nbd-server --can trim" --can trim "$ns"
    compare_ns "nbd-server --can fast-zero" --can fast-zero "$ns"
    compare_ns "nbd-server --is read-only" --is read-only "$ns"
else
    echo "SKIP: $test_name: nbd-server not installed (nbd-server cases)"
fi

if [ $fails -eq 0 ]; then
    pass "$ncompared nbdinfo/nbddump invocations byte-identical"
fi
finish
