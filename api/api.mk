# api/api.mk: the files generated from the table in api/ (included by the
# top-level Makefile).  `make generate` rewrites them; `make check-generated`
# fails when a committed file differs from what the generator writes now.
GO ?= go

.PHONY: generate check-generated
generate:
	$(GO) run ./api/gen

check-generated:
	$(GO) vet ./api/...
	$(GO) run ./api/gen -check

CHECK_TARGETS += check-generated
