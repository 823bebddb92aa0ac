# C API tests (CUnit).  Included by the top-level Makefile.
#
#   make check-ctests          build + run c/tests/test_*.c against OUR
#                              library (build/lib/libnbd.so.0)
#   make check-ctests-system   same tests against the system libnbd
#                              (-DAGAINST_SYSTEM_LIBNBD), for validation
#   make ctests                just build (ours)
#   CTESTS_RUNNER="valgrind ..." wraps each test program (test_vsock
#   re-executes itself, so it runs unwrapped after the first exec).
#
# Each test binary is self-contained (starts its own nbdkit servers) and
# exits non-zero on any failure.  test_vsock re-executes itself under
# LD_PRELOAD=build/testdata/vsock_preload.so.

CTESTS_SRCS    := $(sort $(wildcard c/tests/test_*.c))
CTESTS_NAMES   := $(patsubst c/tests/%.c,%,$(CTESTS_SRCS))
CTESTS_BINS    := $(addprefix $(BUILD)/tests/,$(CTESTS_NAMES))
CTESTS_SYSBINS := $(addprefix $(BUILD)/tests-system/,$(CTESTS_NAMES))
CTESTS_HARNESS := c/tests/harness.c c/tests/harness.h
CTESTS_PRELOAD := $(BUILD)/testdata/vsock_preload.so
CTESTS_TIMEOUT ?= 600
# Optional wrapper, e.g.  make check-ctests CTESTS_RUNNER="valgrind -q --error-exitcode=99"
CTESTS_RUNNER  ?=

# A qemu-nbd that speaks extended headers (qemu 10 from bookworm-backports),
# unpacked by `make qemu-nbd-ext`; test_extended skips without it.  Always
# under build/, also for the sanitizer builds (BUILD=build-asan).
QEMU_EXT_DIR   := build/qemu-ext
QEMU_NBD_EXT   ?= $(abspath $(QEMU_EXT_DIR))/root/usr/bin/qemu-nbd

CTESTS_CFLAGS  := $(OPT) $(WARN) -std=gnu11 -pthread -Ic/tests \
                  -DBADSERVER_PY='"$(abspath testdata/badserver.py)"' \
                  -DTLS_CERTS_SH='"$(abspath testdata/tls_certs.sh)"' \
                  -DQEMU_NBD_EXT='"$(QEMU_NBD_EXT)"' \
                  -DVSOCK_PRELOAD_PATH='"$(abspath $(CTESTS_PRELOAD))"' \
                  $(EXTRA_CFLAGS)
CTESTS_LIBS    := -lcunit -pthread $(EXTRA_LDFLAGS)

.PHONY: ctests ctests-system check-ctests check-ctests-system check-ctests-valgrind ctests-clean

ctests: $(CTESTS_BINS) $(CTESTS_PRELOAD)
ctests-system: $(CTESTS_SYSBINS) $(CTESTS_PRELOAD)

$(CTESTS_PRELOAD): testdata/vsock_preload.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -fPIC -shared -o $@ $< -ldl

# Against our library: our header first, our .so via -L and rpath.
$(CTESTS_BINS): $(BUILD)/tests/%: c/tests/%.c $(CTESTS_HARNESS) $(SHLIB) $(LIBDIR)/libnbd.so $(INCDIR)/libnbd.h
	@mkdir -p $(dir $@)
	$(CC) $(CTESTS_CFLAGS) -I$(INCDIR) -o $@ $< c/tests/harness.c \
	  -L$(LIBDIR) -lnbd -Wl,-rpath,$(abspath $(LIBDIR)) $(CTESTS_LIBS)

# Against the system libnbd (/usr/include/libnbd.h, -lnbd).
$(CTESTS_SYSBINS): $(BUILD)/tests-system/%: c/tests/%.c $(CTESTS_HARNESS)
	@mkdir -p $(dir $@)
	$(CC) $(CTESTS_CFLAGS) -DAGAINST_SYSTEM_LIBNBD -o $@ $< c/tests/harness.c \
	  -lnbd $(CTESTS_LIBS)

# Run a list of test binaries; every one runs even if an earlier fails.
define ctests_run
	@fail=""; for t in $(1); do \
	  echo "=== $$t"; \
	  if ! timeout -k 10 $(CTESTS_TIMEOUT) $(CTESTS_RUNNER) $$t; then \
	    echo "*** FAIL: $$t"; fail="$$fail $$t"; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "ctests FAILED:$$fail"; exit 1; fi; \
	echo "ctests: all passed ($(2))"
endef

check-ctests: $(CTESTS_BINS) $(CTESTS_PRELOAD)
	$(call ctests_run,$(CTESTS_BINS),our libnbd)

check-ctests-system: $(CTESTS_SYSBINS) $(CTESTS_PRELOAD)
	$(call ctests_run,$(CTESTS_SYSBINS),system libnbd)

# Our library under valgrind (memcheck; definite leaks are errors).
CTESTS_VALGRIND ?= valgrind -q --error-exitcode=99 --leak-check=full \
                   --errors-for-leak-kinds=definite
check-ctests-valgrind: $(CTESTS_BINS) $(CTESTS_PRELOAD)
	CTESTS_WATCHDOG=900 $(MAKE) --no-print-directory check-ctests \
	  CTESTS_RUNNER="$(CTESTS_VALGRIND)" CTESTS_TIMEOUT=3600

ctests-clean:
	rm -rf $(BUILD)/tests $(BUILD)/tests-system $(CTESTS_PRELOAD)

CHECK_TARGETS += check-ctests

# The generated call × state test (test_states.c, from api/gen/statetest.go)
# against the system libnbd as well: it checks the table's permitted states
# against both libraries (against ours it runs within check-ctests).
.PHONY: check-states-system
check-states-system: $(BUILD)/tests-system/test_states
	$(call ctests_run,$<,system libnbd)

CHECK_TARGETS += check-states-system

# qemu-nbd 10 (extended headers) for test_extended, without touching the
# system: apt downloads the bookworm-backports qemu-utils .deb through a
# private sources list and state directory under $(QEMU_EXT_DIR), and
# dpkg -x unpacks it there (its shared libraries are bookworm's).  Needs
# the Debian mirror, so it is not part of `make check`; run it once.
QEMU_EXT_APT = -o Dir::Etc::sourcelist=$(abspath $(QEMU_EXT_DIR))/sources.list \
  -o Dir::Etc::sourceparts=/nonexistent \
  -o Dir::State::Lists=$(abspath $(QEMU_EXT_DIR))/lists \
  -o Dir::Cache=$(abspath $(QEMU_EXT_DIR))/cache -o APT::Get::List-Cleanup=0

.PHONY: qemu-nbd-ext
qemu-nbd-ext:
	@mkdir -p $(QEMU_EXT_DIR)/lists/partial $(QEMU_EXT_DIR)/cache/archives/partial
	echo "deb http://deb.debian.org/debian bookworm-backports main" > $(QEMU_EXT_DIR)/sources.list
	apt-get $(QEMU_EXT_APT) update
	cd $(QEMU_EXT_DIR) && rm -f qemu-utils_*.deb && \
	  apt-get $(QEMU_EXT_APT) download qemu-utils/bookworm-backports
	rm -rf $(QEMU_EXT_DIR)/root
	dpkg -x $(QEMU_EXT_DIR)/qemu-utils_*.deb $(QEMU_EXT_DIR)/root
	$(QEMU_NBD_EXT) --version | head -1
