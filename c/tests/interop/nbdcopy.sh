#!/bin/bash
# nbdcopy.sh: Debian's nbdcopy, running on OUR library, copies a random
# 64 MiB file into an nbdkit memory export and back out again with its
# default settings (parallel requests, multiple connections); the round trip
# must be bit-identical.  Further cases: a sparse file (exercises aio_zero and
# block status), NBD -> NBD between two servers, --flush, --synchronous,
# and qemu-nbd as the destination when installed.

test_name=nbdcopy
. "$(dirname "$0")/lib.sh"

require nbdcopy nbdkit
require_our_lib
make_tmp
check_loads_ours "$(command -v nbdcopy)"

# copy LABEL ARGS...: nbdcopy with our library, bounded by timeout(1).
copy () {
    local label=$1; shift
    if ! run_ours timeout 120 nbdcopy "$@" 2> "$tmp/copy.err"; then
        fail "$label: nbdcopy $* failed:"
        sed 's/^/    /' "$tmp/copy.err" | head -10
        return 1
    fi
    return 0
}

same () {
    local label=$1 a=$2 b=$3
    if cmp "$a" "$b" > "$tmp/cmp.out" 2>&1; then
        echo "ok: $label"
    else
        fail "$label: $(cat "$tmp/cmp.out")"
    fi
}

head -c 64M /dev/urandom > "$tmp/src.img"
start_nbdkit "$tmp/m.sock" memory 64M
m="nbd+unix:///?socket=$tmp/m.sock"

# 1. file -> nbd -> file, defaults
if copy "file->nbd" "$tmp/src.img" "$m" &&
   copy "nbd->file" "$m" "$tmp/back.img"; then
    same "64 MiB random round trip (default connections/requests)" \
         "$tmp/src.img" "$tmp/back.img"
fi

# 2. the same with --flush and with --synchronous (sync nbd_pread/pwrite)
rm -f "$tmp/back.img"
if copy "--flush" --flush "$tmp/src.img" "$m" &&
   copy "--synchronous" --synchronous "$m" "$tmp/back.img"; then
    same "round trip with --flush / --synchronous" "$tmp/src.img" "$tmp/back.img"
fi

# 3. sparse source: 1 MiB data, hole, 1 MiB data, hole (aio_zero on the way
#    in, block status on the way out); destination previously held random data
{
    head -c 1M /dev/urandom
    head -c 30M /dev/zero
    head -c 1M /dev/urandom
} > "$tmp/sparse.img"
truncate -s 64M "$tmp/sparse.img"
fallocate -d "$tmp/sparse.img" 2>/dev/null || true
rm -f "$tmp/back.img"
if copy "sparse file->nbd" "$tmp/sparse.img" "$m" &&
   copy "sparse nbd->file" "$m" "$tmp/back.img"; then
    same "sparse round trip (zeroes over old data)" "$tmp/sparse.img" "$tmp/back.img"
fi

# 4. nbd -> nbd between two servers, 4 connections, 16 requests
start_nbdkit "$tmp/m2.sock" memory 64M
m2="nbd+unix:///?socket=$tmp/m2.sock"
rm -f "$tmp/back.img"
if copy "file->nbd" "$tmp/src.img" "$m" &&
   copy "nbd->nbd" --connections=4 --requests=16 "$m" "$m2" &&
   copy "nbd->file" "$m2" "$tmp/back.img"; then
    same "nbd->nbd copy (4 connections)" "$tmp/src.img" "$tmp/back.img"
fi

# 5. qemu-nbd as destination (multi-conn not advertised: one connection)
if command -v qemu-nbd >/dev/null 2>&1; then
    truncate -s 64M "$tmp/q.raw"
    start_qemu_nbd "$tmp/q.sock" -f raw -x disk "$tmp/q.raw"
    q="nbd+unix:///disk?socket=$tmp/q.sock"
    rm -f "$tmp/back.img"
    if copy "file->qemu-nbd" "$tmp/src.img" "$q" &&
       copy "qemu-nbd->file" "$q" "$tmp/back.img"; then
        same "qemu-nbd round trip" "$tmp/src.img" "$tmp/back.img"
        same "qemu-nbd backing file" "$tmp/src.img" "$tmp/q.raw"
    fi
else
    echo "SKIP: $test_name: qemu-nbd not installed (qemu-nbd case)"
fi

if [ $fails -eq 0 ]; then
    pass "all nbdcopy round trips bit-identical"
fi
finish
