#!/bin/bash
# tls.sh: Debian's nbdinfo and nbdcopy with nbds URIs (X.509 and PSK)
# against nbdkit --tls=require must print the same output and exit with
# the same status on our library as on the system libnbd 1.14, and a
# round trip through nbdcopy must bring the data back unchanged.  The
# certificates and keys come from testdata/tls_certs.sh.

test_name=tls
. "$(dirname "$0")/lib.sh"

require nbdinfo nbdcopy nbdkit certtool psktool
require_our_lib
make_tmp
check_loads_ours "$(command -v nbdinfo)"

sh "$interop_top/testdata/tls_certs.sh" "$tmp/pki" >/dev/null 2>&1 ||
    { fail "tls_certs.sh failed"; finish; }
pki=$tmp/pki

start_nbdkit "$tmp/x509.sock" --tls=require --tls-certificates="$pki" memory 32M
start_nbdkit "$tmp/psk.sock" --tls=require --tls-psk="$pki/keys.psk" memory 8M
start_nbdkit "$tmp/plain.sock" memory 8M

x509_uri="nbds+unix:///?socket=$tmp/x509.sock&tls-certificates=$pki/client"
psk_uri="nbds+unix://alice@/?socket=$tmp/psk.sock&tls-psk-file=$pki/keys.psk"
bad_ca_uri="nbds+unix:///?socket=$tmp/x509.sock&tls-certificates=$pki/other-ca&tls-verify-peer=false"

# same LABEL CMD...: both libraries, same status and stdout.
same () {
    local label=$1; shift
    local rs ro
    run_system "$@" > "$tmp/sys.out" 2> "$tmp/sys.err" </dev/null; rs=$?
    run_ours "$@" > "$tmp/our.out" 2> "$tmp/our.err" </dev/null; ro=$?
    if [ $rs -ne $ro ]; then
        fail "$label: exit status system=$rs ours=$ro"
        sed 's/^/    ours stderr: /' "$tmp/our.err" | head -5
    elif ! cmp -s "$tmp/sys.out" "$tmp/our.out"; then
        fail "$label: stdout differs (- system, + ours):"
        diff -u "$tmp/sys.out" "$tmp/our.out" | sed -n '3,30p' | sed 's/^/    /'
    else
        pass "$label (status $ro)"
    fi
}

same "nbdinfo x509" nbdinfo "$x509_uri"
same "nbdinfo --json x509" nbdinfo --json "$x509_uri"
same "nbdinfo --map x509" nbdinfo --map "$x509_uri"
same "nbdinfo --size psk" nbdinfo --size "$psk_uri"
same "nbdinfo --can flush psk" nbdinfo --can flush "$psk_uri"
same "nbdinfo verify-peer=false" nbdinfo --size "$bad_ca_uri"
# A TLS URI to a server without TLS fails on both.
same "nbdinfo nbds to a plain server" nbdinfo --size \
    "nbds+unix:///?socket=$tmp/plain.sock&tls-certificates=$pki/client"

# nbds:// over loopback TCP: the certificate's name (localhost) is checked.
port=
for try in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 20000))
    rm -f "$tmp/tcp.pid"
    nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$p" -P "$tmp/tcp.pid" \
        --tls=require --tls-certificates="$pki" memory 2M </dev/null 2>"$tmp/tcp.err" &
    tcp_pid=$!
    if wait_for "$tmp/tcp.pid" && kill -0 "$tcp_pid" 2>/dev/null; then
        pids+=($tcp_pid); port=$p; break
    fi
    kill "$tcp_pid" 2>/dev/null; wait "$tcp_pid" 2>/dev/null
done
if [ -n "$port" ]; then
    same "nbdinfo nbds://localhost" nbdinfo "nbds://localhost:$port/?tls-certificates=$pki/client"
    same "nbdinfo --json nbds://127.0.0.1" nbdinfo --json "nbds://127.0.0.1:$port/?tls-certificates=$pki/client"
else
    fail "could not start nbdkit with TLS on a loopback TCP port"
fi

# nbdcopy: file -> TLS export -> file, on our library, several connections.
head -c 16M /dev/urandom > "$tmp/in.bin"
if run_ours nbdcopy -C 4 --requests=16 "$tmp/in.bin" "$x509_uri" 2>"$tmp/copy.err" &&
   run_ours nbdcopy "$x509_uri" "$tmp/out.bin" 2>>"$tmp/copy.err"; then
    head -c 16M "$tmp/out.bin" | cmp -s - "$tmp/in.bin" &&
        pass "nbdcopy round trip over TLS (X.509, 4 connections)" ||
        fail "nbdcopy round trip over TLS changed the data"
else
    fail "nbdcopy over TLS failed: $(head -3 "$tmp/copy.err")"
fi
head -c 8M "$tmp/in.bin" > "$tmp/in8.bin"
if run_ours nbdcopy "$tmp/in8.bin" "$psk_uri" 2>"$tmp/copy.err"; then
    pass "nbdcopy to a PSK export"
else
    fail "nbdcopy to a PSK export failed: $(head -3 "$tmp/copy.err")"
fi

finish
