#!/bin/sh
# A throwaway module outside the repository requires the Go package
# (through a replace directive pointing at this checkout), vendors it with
# "go mod vendor", then builds and runs a program from the vendor tree
# alone: no network, no module cache, no files outside vendor/.
set -eu
GO=${GO:-go}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/go.mod" <<MOD
module example.com/vendorcheck

go 1.21

require github.com/nbd-cleanroom/libnbd v0.0.0

replace github.com/nbd-cleanroom/libnbd => $root
MOD
cp "$root/go/testdata/vendorcheck/main.go.txt" "$dir/main.go"
cd "$dir"
GOFLAGS=-mod=mod GOPROXY=off "$GO" mod vendor
# From here on only the vendor tree may be used: move the checkout out of
# reach by pointing the replace directive at a directory that does not exist.
sed -i "s|=> $root|=> $dir/nonexistent|" go.mod
sed -i "s|=> $root|=> $dir/nonexistent|" vendor/modules.txt
GOFLAGS=-mod=vendor GOPROXY=off "$GO" vet .
GOFLAGS=-mod=vendor GOPROXY=off "$GO" build -o prog .
if command -v nbdkit >/dev/null 2>&1; then
  ./prog
else
  echo "vendorcheck: built; nbdkit not installed, not run"
fi
