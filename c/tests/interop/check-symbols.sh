#!/bin/bash
# check-symbols.sh [LIBRARY]
#
# Checks that LIBRARY (default build/lib/libnbd.so.0) can stand in for
# libnbd.so.0 under Debian's libnbd-bin tools:
#   - its DT_SONAME is libnbd.so.0;
#   - every versioned nbd_* symbol that nbdinfo/nbdcopy/nbdfuse/nbddump import
#     (read from the installed binaries, plus the recorded list in
#     dropin-symbols.txt so the check still works without libnbd-bin, and
#     with DROPIN_LISTS="dropin-symbols.txt dropin-symbols-debian13.txt"
#     the list Debian 13's libnbd 1.22 tools import) is
#     defined and exported by LIBRARY with the same version node (the default
#     version, i.e. symbol@@LIBNBD_x.y);
#   - LIBRARY exports nothing except nbd_* functions (and the version-node
#     marker symbols LIBNBD_x.y that the linker emits for each node);
#   - each installed tool runs `--version` with LD_BIND_NOW=1 against it
#     (all imports resolved at load time).
# Prints every problem and exits 1 if there is any; 77 if tools are missing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=${1:-build/lib/libnbd.so.0}
bins=${DROPIN_BINARIES:-"/usr/bin/nbdinfo /usr/bin/nbdcopy /usr/bin/nbdfuse /usr/bin/nbddump"}

if ! command -v readelf >/dev/null 2>&1; then
    echo "SKIP: check-symbols: readelf not installed"
    exit 77
fi
if [ ! -f "$lib" ]; then
    echo "FAIL: check-symbols: library $lib does not exist"
    exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# 1. soname
soname=$(readelf -d -W "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libnbd.so.0" ]; then
    echo "FAIL: soname of $lib is '${soname}', expected 'libnbd.so.0'"
    fail=1
fi

# 2. required symbols: from the binaries that exist + the recorded list.
# DROPIN_LISTS: the recorded lists to require (default: Debian 12's tools).
for list in ${DROPIN_LISTS:-dropin-symbols.txt}; do
    grep -v '^#' "$here/$list" | sed '/^$/d'
done > "$tmp/required"
for b in $bins; do
    if [ -f "$b" ]; then
        readelf --dyn-syms -W "$b" |
          awk '$7=="UND" && $8 ~ /^nbd_[A-Za-z0-9_]*@LIBNBD_/ { print $8 }' |
          sed 's/ *(.*$//' >> "$tmp/required"
    else
        echo "note: $b not installed, using recorded symbol list for it"
    fi
done
sort -u "$tmp/required" -o "$tmp/required"

# exported (defined) symbols of the library, as name@@VER / name@VER
readelf --dyn-syms -W "$lib" |
  awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && ($5=="GLOBAL" || $5=="WEAK") { print $4, $8 }' > "$tmp/exports"

# default-version exports of nbd_ functions as name@VER
awk '$1=="FUNC" && $2 ~ /^nbd_.*@@/ { s=$2; sub(/@@/,"@",s); print s }' "$tmp/exports" |
  sort -u > "$tmp/have"

missing=$(comm -23 "$tmp/required" "$tmp/have")
if [ -n "$missing" ]; then
    echo "FAIL: symbols imported by the nbd tools but not exported (as name@@version) by $lib:"
    for s in $missing; do
        name=${s%@*}
        other=$(awk -v n="$name" '{ split($2,a,"@"); if (a[1]==n) print $2 }' "$tmp/exports" | tr '\n' ' ')
        if [ -n "$other" ]; then
            echo "  $s   (library has: $other)"
        else
            echo "  $s"
        fi
    done
    fail=1
fi

# 3. nothing but nbd_* (and version-node markers) exported
bad=$(awk '{ s=$2; n=s; sub(/@.*/,"",n);
             if (n ~ /^nbd_/ && $1=="FUNC") next;
             if ($1=="OBJECT" && (n ~ /^LIBNBD_[0-9.]+$/ || n ~ /^NBD_CLEANROOM_[0-9.]+$/)) next;   # version node markers (ABS), ours included
             print $1, s }' "$tmp/exports")
if [ -n "$bad" ]; then
    echo "FAIL: $lib exports symbols other than nbd_* functions:"
    echo "$bad" | sed 's/^/  /'
    fail=1
fi
# unversioned nbd_ exports are a mistake too (the tools bind by version)
unver=$(awk '$2 ~ /^nbd_/ && $2 !~ /@/ { print $2 }' "$tmp/exports")
if [ -n "$unver" ]; then
    echo "FAIL: $lib exports unversioned nbd_* symbols:"
    echo "$unver" | sed 's/^/  /'
    fail=1
fi

# 4. every installed tool loads with this library and binds ALL its symbols
#    up front (LD_BIND_NOW), printing the same --version as with the system
#    library except for the libnbd version number.
if [ "$(basename "$lib")" = libnbd.so.0 ]; then
    libdir=$(cd "$(dirname "$lib")" && pwd)
    for b in $bins; do
        [ -x "$b" ] || continue
        if ! out=$(LD_BIND_NOW=1 LD_LIBRARY_PATH="$libdir" "$b" --version 2>&1); then
            echo "FAIL: $b --version does not run with $lib:"
            echo "$out" | sed 's/^/  /' | head -5
            fail=1
        elif ! echo "$out" | grep -q '^libnbd '; then
            echo "FAIL: $b --version with $lib does not print a libnbd line: $out"
            fail=1
        fi
    done
fi

nreq=$(wc -l < "$tmp/required")
nhave=$(wc -l < "$tmp/have")
if [ $fail -eq 0 ]; then
    echo "PASS: check-symbols: soname libnbd.so.0, all $nreq tool imports exported with matching versions ($nhave nbd_* exports), no foreign exports"
    exit 0
fi
exit 1
