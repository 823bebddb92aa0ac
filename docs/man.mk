# docs/man.mk: the manual pages, generated from the table in api/ by
# `go run ./api/gen -only man` (included by the top-level Makefile; the
# top-level install rule installs them).
#
# make check-man: every page renders with groff without a single warning,
# the pages are what the table generates now (none missing, none stale),
# and every call the header declares has its page.
GO    ?= go
GROFF ?= groff

.PHONY: check-man
check-man:
	@command -v $(GROFF) >/dev/null || { echo "check-man needs groff (apt-get install groff-base)"; exit 1; }
	@fail=0; n=0; \
	 for p in docs/man/*.3; do \
	   n=$$((n + 1)); \
	   out=$$($(GROFF) -man -ww -z -Tutf8 "$$p" 2>&1); \
	   if [ -n "$$out" ]; then echo "check-man: $$p:"; echo "$$out"; fail=1; fi; \
	 done; \
	 [ $$fail = 0 ] || exit 1; \
	 echo "check-man: $$n pages render without warnings"
	@$(GO) run ./api/gen -only man -check
	@missing=$$(sed -n 's/^extern .*[ *]\(nbd_[a-z0-9_]*\) (.*/\1/p' $(INCDIR)/libnbd.h | \
	   while read f; do [ -f docs/man/$$f.3 ] || echo $$f; done); \
	 if [ -n "$$missing" ]; then echo "check-man: no page for:" $$missing; exit 1; fi; \
	 echo "check-man: every call in $(INCDIR)/libnbd.h has its page"

CHECK_TARGETS += check-man
