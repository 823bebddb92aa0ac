#!/bin/bash
# debian13-chroot.sh: a Debian 13 ("trixie") chroot with Debian's libnbd 1.22
# programs, nbdkit 1.42 and qemu-nbd 10, in which our libnbd.so.0 runs under
# Debian 13's own tools (issue 11).  Used by `make check-debian13` and by
# `make bench` (the libnbd 1.22 anchor).  Needs root.
#
#   debian13-chroot.sh ensure
#       Build the chroot unless a complete one is cached.  It is built in
#       ROOT.partial and renamed to ROOT only after the tools in it ran, so an
#       interrupted build is never mistaken for a complete one.
#   debian13-chroot.sh run [--copy SRC DEST]... [--host] -- CMD [ARGS...]
#       Mount /proc and /dev into the chroot, copy each SRC to DEST (a path
#       inside the chroot, e.g. /opt/ours/libnbd.so.0), run CMD inside it and
#       unmount again, whatever CMD's outcome.  Exits with CMD's status.
#       With --host, CMD runs on the host instead (with DEBIAN13_ROOT set),
#       for a driver that runs some programs in the chroot itself (bench).
#
# Environment: DEBIAN13_ROOT (default /var/cache/nbd-cleanroom/trixie, outside
# the source tree so that `make clean` and fresh clones reuse it),
# DEBIAN13_MIRROR (default http://deb.debian.org/debian).
set -u

root=${DEBIAN13_ROOT:-/var/cache/nbd-cleanroom/trixie}
mirror=${DEBIAN13_MIRROR:-http://deb.debian.org/debian}
packages=libnbd-bin,python3-libnbd,nbdkit,qemu-utils,file
marker=.nbd-cleanroom-complete

die () { echo "debian13-chroot: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"

# Anything mounted below DIR?  rm -rf must never walk into a bind mount of
# the host's /dev.
has_mounts () {
    awk -v d="$1/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts
}

# One user of the chroot at a time: the mounts are shared state.
lock () {
    mkdir -p "$(dirname "$root")" || die "cannot create $(dirname "$root")"
    exec 9>"$root.lock"
    flock 9
}

# The tools we need all start (no /proc or /dev needed for --version).
verify () {
    local d=$1
    chroot "$d" nbdinfo --version >/dev/null &&
    chroot "$d" nbdcopy --version >/dev/null &&
    chroot "$d" nbddump --version >/dev/null &&
    chroot "$d" nbdkit --version >/dev/null &&
    chroot "$d" qemu-nbd --version >/dev/null &&
    chroot "$d" file --version >/dev/null &&
    chroot "$d" python3 -c 'import nbd'
}

ensure () {
    if [ -f "$root/$marker" ]; then
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    local d
    for d in "$root" "$root.partial"; do
        if [ -e "$d" ]; then
            has_mounts "$d" && die "$d has mounts below it; unmount them first"
            rm -rf "$d"
        fi
    done
    echo "debian13-chroot: building $root (debootstrap trixie from $mirror; a few minutes)"
    debootstrap --variant=minbase --include="$packages" trixie "$root.partial" "$mirror" \
        > "$root.debootstrap.log" 2>&1 ||
        { tail -20 "$root.debootstrap.log" >&2; die "debootstrap failed (log: $root.debootstrap.log)"; }
    verify "$root.partial" || die "the tools in $root.partial do not run"
    {
        echo "built $(date -u +%FT%TZ) from $mirror"
        chroot "$root.partial" dpkg-query -W libnbd0 libnbd-bin python3-libnbd nbdkit qemu-utils 2>/dev/null
    } > "$root.partial/$marker"
    mv "$root.partial" "$root"
    echo "debian13-chroot: ready: $(tr '\n' ' ' < "$root/$marker")"
}

mounted=()
my_pids_in_root () {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$r" = "$root" ] && echo "${p#/proc/}"
    done
}
unmount_all () {
    local i m p
    # Processes CMD left behind (servers of a test that was killed) would
    # keep the mounts busy; we hold the lock, so they are ours.
    for p in $(my_pids_in_root); do kill "$p" 2>/dev/null; done
    for p in $(my_pids_in_root); do
        for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null
    done
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m=${mounted[$i]}
        umount "$m" 2>/dev/null || umount -l "$m" ||
            echo "debian13-chroot: could not unmount $m" >&2
    done
    mounted=()
}

mount_one () {
    local target=$1; shift
    if mountpoint -q "$target"; then
        # Left over from a run that was killed with SIGKILL; reuse it and
        # unmount it at the end like our own.
        mounted+=("$target")
        return 0
    fi
    mount "$@" "$target" || die "mount $* $target failed"
    mounted+=("$target")
}

run () {
    local copies=() host=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        case "$1" in
            --host) host=1; shift ;;
            --copy) [ $# -ge 3 ] || die "--copy needs SRC DEST"; copies+=("$2" "$3"); shift 3 ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "run: no command"
    [ -f "$root/$marker" ] || die "no complete chroot at $root (run: $0 ensure)"
    lock
    trap unmount_all EXIT
    trap 'exit 130' INT TERM HUP
    mount_one "$root/proc" -t proc proc
    mount_one "$root/dev" --bind /dev
    local i src dest
    for ((i = 0; i < ${#copies[@]}; i += 2)); do
        src=${copies[$i]}; dest=$root/${copies[$((i + 1))]}
        mkdir -p "$(dirname "$dest")" && rm -rf "$dest" && cp -a "$src" "$dest" ||
            die "cannot copy $src to $dest"
    done
    if [ -n "$host" ]; then
        DEBIAN13_ROOT=$root "$@"
    else
        chroot "$root" "$@"
    fi
    local rc=$?
    return $rc
}

case "${1:-}" in
    ensure) lock; ensure ;;
    run) shift; run "$@"; exit $? ;;
    *) die "usage: $0 ensure | run [--copy SRC DEST]... [--host] -- CMD [ARGS...]" ;;
esac
