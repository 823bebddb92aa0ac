# c/fuzz/faults.mk -- fault-injection tests (c/tests/faults/), included by
# c/fuzz/fuzz.mk.
#
#   make check-faults     build and run c/tests/faults/test_*.c against our
#                         library: nbdkit SIGKILLed with 64 commands in flight,
#                         nbdkit's error filter at 10%, 10,000 connect cycles
#                         (fd + VmRSS leak check).  Needs nbdkit (with the
#                         delay and error filters: nbdkit-plugin / -filters).
#   make check-faults-pending   tests for open core bugs (expected to fail
#                         until the fix lands; see docs/notes-fuzz.md)
#   FAULTS_RUNNER="valgrind ..." wraps each program (check-valgrind uses it).

FAULTS_SRCS   := $(sort $(wildcard c/tests/faults/test_*.c))
FAULTS_NAMES  := $(patsubst c/tests/faults/%.c,%,$(FAULTS_SRCS))
FAULTS_BINS   := $(addprefix $(BUILD)/faults/,$(FAULTS_NAMES))
FAULTS_RUNNER ?=
FAULTS_TIMEOUT ?= 900
# the programs run by check-faults (test_tsan_threads belongs to check-tsan)
FAULTS_RUN    ?= test_kill test_error_filter test_cycles test_send_after_close
# tests for core bugs not fixed yet (docs/notes-fuzz.md): move a name into
# FAULTS_RUN once its fix is in
FAULTS_PENDING ?=

$(BUILD)/faults/%: c/tests/faults/%.c c/tests/faults/faults.h $(SHLIB) $(LIBDIR)/libnbd.so
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -pthread -D_GNU_SOURCE $(EXTRA_CFLAGS) -I$(INCDIR) \
	  -DBADSERVER_PY='"$(abspath testdata/badserver.py)"' \
	  -o $@ $< -L$(LIBDIR) -Wl,-rpath,$(abspath $(LIBDIR)) -lnbd $(EXTRA_LDFLAGS)

.PHONY: faults check-faults check-faults-pending
check-faults-pending:
	@$(MAKE) --no-print-directory check-faults FAULTS_RUN="$(FAULTS_PENDING)"

faults: $(FAULTS_BINS)

check-faults: $(addprefix $(BUILD)/faults/,$(FAULTS_RUN))
	@command -v nbdkit >/dev/null || { echo "check-faults needs nbdkit"; exit 1; }
	@fail=""; for t in $(FAULTS_RUN); do \
	  echo "=== $(BUILD)/faults/$$t"; \
	  if ! timeout -k 10 $(FAULTS_TIMEOUT) $(FAULTS_RUNNER) $(BUILD)/faults/$$t; then \
	    echo "*** FAIL: $$t"; fail="$$fail $$t"; fi; \
	done; \
	if [ -n "$$fail" ]; then echo "check-faults FAILED:$$fail"; exit 1; fi; \
	echo "check-faults: all passed"
