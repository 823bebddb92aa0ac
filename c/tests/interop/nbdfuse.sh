#!/bin/bash
# nbdfuse.sh: Debian's nbdfuse, running on OUR library, mounts an nbdkit
# memory export as a file; data written through the FUSE file must read back
# identically and must really be on the server (read with the system libnbd).
# Skips if nbdfuse/nbdkit are missing, /dev/fuse is absent or FUSE mounts are
# not permitted here (probed with the system library first).

test_name=nbdfuse
. "$(dirname "$0")/lib.sh"

require nbdfuse nbdkit
[ -c /dev/fuse ] || skip "/dev/fuse is not available"
require_our_lib
make_tmp
check_loads_ours "$(command -v nbdfuse)"

mnt="$tmp/mnt"
mkdir "$mnt"
fuse_pid=

unmount () {
    if grep -q " $mnt " /proc/mounts 2>/dev/null; then
        umount "$mnt" 2>/dev/null || fusermount3 -u "$mnt" 2>/dev/null ||
            umount -l "$mnt" 2>/dev/null
    fi
}
cleanup_hook () { unmount; }

# mount_with RUNNER URI: start nbdfuse in the foreground (background job),
# wait for $mnt/nbd.  Returns 1 if it did not appear.
mount_with () {
    local runner=$1 uri=$2 i
    $runner nbdfuse "$mnt" "$uri" </dev/null 2>"$tmp/nbdfuse.err" &
    fuse_pid=$!
    pids+=($fuse_pid)
    for i in $(seq 100); do
        [ -e "$mnt/nbd" ] && return 0
        kill -0 "$fuse_pid" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# stop_fuse: unmount, then nbdfuse must exit by itself (bounded).
stop_fuse () {
    local i
    unmount
    for i in $(seq 100); do
        kill -0 "$fuse_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$fuse_pid" 2>/dev/null; then
        fail "nbdfuse did not exit after unmount"
    fi
    stop_pid "$fuse_pid"
}

start_nbdkit "$tmp/m.sock" memory 64M
uri="nbd+unix:///?socket=$tmp/m.sock"

# Probe with the system library: are FUSE mounts permitted at all?
if ! mount_with run_system "$uri"; then
    stop_pid "$fuse_pid"; unmount
    skip "FUSE mount not permitted here ($(head -1 "$tmp/nbdfuse.err"))"
fi
stop_fuse

head -c 8M /dev/urandom > "$tmp/data"

if ! mount_with run_ours "$uri"; then
    fail "nbdfuse with our library did not mount:"
    sed 's/^/    /' "$tmp/nbdfuse.err" | head -10
    finish
fi
size=$(stat -c %s "$mnt/nbd")
[ "$size" = 67108864 ] && echo "ok: size $size" || fail "size of $mnt/nbd is $size, expected 67108864"

if timeout 60 dd if="$tmp/data" of="$mnt/nbd" bs=1M seek=3 conv=notrunc,fsync status=none; then
    echo "ok: wrote 8 MiB at offset 3 MiB through FUSE"
else
    fail "dd into $mnt/nbd failed"
fi
if timeout 60 dd if="$mnt/nbd" of="$tmp/back" bs=1M skip=3 count=8 status=none &&
   cmp -s "$tmp/data" "$tmp/back"; then
    echo "ok: read back through FUSE identical"
else
    fail "data read back through FUSE differs"
fi
if timeout 60 dd if="$mnt/nbd" bs=1M count=3 status=none | cmp -s - <(head -c 3M /dev/zero); then
    echo "ok: untouched range reads as zeroes"
else
    fail "untouched range [0,3M) does not read as zeroes"
fi
stop_fuse

# The data must be on the server: read it with the system library.
if command -v nbdcopy >/dev/null 2>&1; then
    run_system nbdcopy "$uri" "$tmp/server.img" &&
    dd if="$tmp/server.img" of="$tmp/server.part" bs=1M skip=3 count=8 status=none
    if cmp -s "$tmp/data" "$tmp/server.part"; then
        echo "ok: server holds the data written through FUSE"
    else
        fail "server contents differ from what was written through FUSE"
    fi
fi

[ $fails -eq 0 ] && pass "nbdfuse mount, write, read back, unmount"
finish
