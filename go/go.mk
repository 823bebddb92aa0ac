# go/go.mk: the Go package (included by the top-level Makefile).
# The package compiles the C core from c/lib itself (cgo include stubs),
# so these targets do not need `make lib`; they rebuild the stubs first.

GO ?= go

# Go's build cache keys on the files in the package directory, not on the
# c/lib sources the stubs #include, so an edited core would be served
# stale from the cache.  A digest of the core in CGO_CFLAGS (which is part
# of the key) makes every core change rebuild.
GO_CORE_DIGEST := $(shell cat c/lib/*.c c/lib/*.h c/include/*.h 2>/dev/null | cksum | cut -d' ' -f1)
export CGO_CFLAGS := -g -O2 -DGONBD_CORE_DIGEST=$(GO_CORE_DIGEST)

.PHONY: check-go go-generate go-bench go-check-system

go-generate:
	cd go && $(GO) generate .

check-go: go-generate
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...
	@# TLS in the embedded core needs the gnutls build tag (and GnuTLS).
	$(GO) vet -tags gnutls ./go/
	$(GO) test -tags gnutls -race -count=1 -run 'TLS' ./go/
	@# Without cgo the build must stop with a message that says why.
	@CGO_ENABLED=0 $(GO) build ./go/ 2>&1 | grep -q nbd_package_needs_cgo || \
	  { echo "check-go: CGO_ENABLED=0 build does not explain that cgo is needed"; exit 1; }

# Against an installed libnbd-compatible library (e.g. Debian libnbd-dev).
go-check-system:
	$(GO) test -tags libnbd_system -race -count=1 ./...

go-bench: go-generate
	cd go && $(GO) test -run '^$$' -bench . -benchtime=2s .

CHECK_TARGETS += check-go
