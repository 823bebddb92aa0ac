# go/go.mk: the Go package (included by the top-level Makefile).
# The package compiles the C core itself (cgo, in the Go package c/lib),
# so these targets do not need `make lib`.

GO ?= go

# Go's build cache keys on the files in a package's directory, not on
# headers included from elsewhere (c/include/libnbd.h), so a changed header
# would be served stale from the cache.  A digest in CGO_CFLAGS (which is
# part of the key) makes every header change rebuild.
GO_CORE_DIGEST := $(shell cat c/include/*.h 2>/dev/null | cksum | cut -d' ' -f1)
export CGO_CFLAGS := -g -O2 -DGONBD_CORE_DIGEST=$(GO_CORE_DIGEST)

.PHONY: check-go check-go-vendor go-bench go-check-system

check-go: check-go-vendor
	$(GO) vet ./...
	@# staticcheck on the Go package, the core and the generator when installed (.ci/run installs it).
	@if command -v staticcheck >/dev/null 2>&1; then \
	  echo staticcheck ./go/... ./c/... ./api/...; staticcheck ./go/... ./c/... ./api/...; \
	else echo "check-go: staticcheck not installed, skipped"; fi
	$(GO) test -race -count=1 ./...
	GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...
	@# TLS in the embedded core needs the gnutls build tag (and GnuTLS).
	$(GO) vet -tags gnutls ./go/
	$(GO) test -tags gnutls -race -count=1 -run 'TLS' ./go/
	@# Without cgo the build must stop with a message that says why.
	@CGO_ENABLED=0 $(GO) build ./go/ 2>&1 | grep -q nbd_package_needs_cgo || \
	  { echo "check-go: CGO_ENABLED=0 build does not explain that cgo is needed"; exit 1; }

# A module outside the repository vendors the package and builds from the
# vendor tree alone.
check-go-vendor:
	GO=$(GO) sh go/vendorcheck.sh

# Against an installed libnbd-compatible library (e.g. Debian libnbd-dev).
go-check-system:
	$(GO) test -tags libnbd_system -race -count=1 ./...

go-bench:
	cd go && $(GO) test -run '^$$' -bench . -benchtime=2s .

CHECK_TARGETS += check-go
