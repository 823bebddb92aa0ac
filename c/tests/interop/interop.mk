# Drop-in / interop tests.  Included by the top-level Makefile with
#   -include c/tests/interop/interop.mk
#
#   make check-interop         everything below against OUR library
#                              (build/lib/libnbd.so.0); part of `make check`
#   make check-interop-system  the same scripts against the system libnbd
#                              (validates the tests themselves)
#   make interop               just build the test programs
#
# Pieces (each prints PASS/FAIL/SKIP lines; SKIP = external tool missing):
#   test_uri            unit test of c/lib/uri.c (built from source, no libnbd)
#   check-symbols.sh    soname, versioned exports needed by nbdinfo/nbdcopy/
#                       nbdfuse/nbddump, no foreign exports, LD_BIND_NOW load
#   nbdinfo-compare.sh  nbdinfo/nbddump output byte-identical system vs ours
#   nbdcopy.sh          64 MiB nbdcopy round trips through nbdkit/qemu-nbd
#   tls.sh              nbdinfo/nbdcopy with nbds URIs (X.509, PSK) system vs ours
#   nbdfuse.sh          nbdfuse mount + write/read through FUSE (skips if
#                       /dev/fuse is absent or mounts are not permitted)
#   matrix.sh           interop.c against nbdkit, qemu-nbd, nbd-server; run
#                       twice: built with our header + library, and built with
#                       the system header, then run on our library (ABI check)

INTEROP_DIR    := c/tests/interop
INTEROP_OUT    := $(BUILD)/interop
INTEROP_CFLAGS := $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE $(EXTRA_CFLAGS)
INTEROP_HAVE_SYSTEM_LIBNBD := $(shell test -f /usr/include/libnbd.h && echo yes)

INTEROP_BINS := $(INTEROP_OUT)/test_uri $(INTEROP_OUT)/interop
ifeq ($(INTEROP_HAVE_SYSTEM_LIBNBD),yes)
INTEROP_SYSBIN := $(INTEROP_OUT)/interop-sys
endif

.PHONY: interop check-interop check-interop-system interop-clean

interop: $(INTEROP_BINS) $(INTEROP_SYSBIN)

# The URI parser is tested straight from its source file.
$(INTEROP_OUT)/test_uri: $(INTEROP_DIR)/test_uri.c c/lib/uri.c c/lib/uri.h
	@mkdir -p $(dir $@)
	$(CC) $(INTEROP_CFLAGS) -Ic/lib -o $@ $(INTEROP_DIR)/test_uri.c c/lib/uri.c

# Built with our header, linked with our library.
$(INTEROP_OUT)/interop: $(INTEROP_DIR)/interop.c $(SHLIB) $(LIBDIR)/libnbd.so $(INCDIR)/libnbd.h
	@mkdir -p $(dir $@)
	$(CC) $(INTEROP_CFLAGS) -I$(INCDIR) -o $@ $< -L$(LIBDIR) -lnbd

# Built with the system header and library (a "foreign" binary, like the
# Debian tools); check-interop runs it on our library.
$(INTEROP_OUT)/interop-sys: $(INTEROP_DIR)/interop.c
	@mkdir -p $(dir $@)
	$(CC) $(INTEROP_CFLAGS) -o $@ $< -lnbd

# Run every piece even if an earlier one fails; 77 means skipped.
define interop_run
	@fail=""; \
	run () { name=$$1; shift; echo "=== interop: $$name"; "$$@"; rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "--- $$name: skipped"; \
	  elif [ $$rc -ne 0 ]; then fail="$$fail $$name"; fi; }; \
	$(1) \
	if [ -n "$$fail" ]; then echo "check-interop: FAILED:$$fail"; exit 1; fi; \
	echo "check-interop: all passed"
endef

check-interop: lib $(INTEROP_BINS) $(INTEROP_SYSBIN)
	$(call interop_run, \
	  run test_uri $(INTEROP_OUT)/test_uri; \
	  export DROPIN_LISTS="dropin-symbols.txt dropin-symbols-debian13.txt"; \
	  run check-symbols $(INTEROP_DIR)/check-symbols.sh $(SHLIB); \
	  export INTEROP_LIBDIR=$(LIBDIR); \
	  export INTEROP_BIN=$(abspath $(INTEROP_OUT)/interop); \
	  run nbdinfo-compare $(INTEROP_DIR)/nbdinfo-compare.sh; \
	  run nbdcopy $(INTEROP_DIR)/nbdcopy.sh; \
	  run nbdfuse $(INTEROP_DIR)/nbdfuse.sh; \
	  run tls $(INTEROP_DIR)/tls.sh; \
	  run matrix $(INTEROP_DIR)/matrix.sh $(INTEROP_OUT)/interop; \
	  $(if $(INTEROP_SYSBIN),run matrix-abi $(INTEROP_DIR)/matrix.sh $(INTEROP_SYSBIN);))

check-interop-system: $(INTEROP_OUT)/test_uri $(INTEROP_SYSBIN)
	$(call interop_run, \
	  run test_uri $(INTEROP_OUT)/test_uri; \
	  run check-symbols $(INTEROP_DIR)/check-symbols.sh /usr/lib/$$($(CC) -print-multiarch)/libnbd.so.0; \
	  export INTEROP_LIBDIR=system; \
	  $(if $(INTEROP_SYSBIN),export INTEROP_BIN=$(abspath $(INTEROP_SYSBIN));) \
	  run nbdinfo-compare $(INTEROP_DIR)/nbdinfo-compare.sh; \
	  run nbdcopy $(INTEROP_DIR)/nbdcopy.sh; \
	  run nbdfuse $(INTEROP_DIR)/nbdfuse.sh; \
	  run tls $(INTEROP_DIR)/tls.sh; \
	  $(if $(INTEROP_SYSBIN),run matrix $(INTEROP_DIR)/matrix.sh $(INTEROP_SYSBIN);))

interop-clean:
	rm -rf $(INTEROP_OUT)

CHECK_TARGETS += check-interop
