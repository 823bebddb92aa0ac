# c/fuzz/sanitize.mk -- the library under sanitizers and valgrind, included
# by c/fuzz/fuzz.mk.
#
#   make check-asan       rebuild the library with ASan+UBSan into build-asan/
#                         (BUILD=build-asan: every fragment's paths follow),
#                         then run check-ctests, check-hostile and check-faults
#                         there, plus check-fuzz-regressions.  The CUnit/fault
#                         programs are compiled with the same flags; the hostile
#                         programs (no EXTRA_CFLAGS in their rule) are plain
#                         executables linked to the instrumented library, hence
#                         verify_asan_link_order=0.  -fno-sanitize=nonnull-attribute
#                         because the tests pass NULL on purpose to calls the
#                         public header marks nonnull (the library itself is
#                         built without those attributes and checks for NULL);
#                         it is in the link flags too, because the test rules
#                         compile and link in one command and a later
#                         -fsanitize=undefined would switch it back on.
#   make check-valgrind   the test programs (never nbdkit or badserver.py) under
#                         memcheck: --error-exitcode --leak-check=full
#                         --errors-for-leak-kinds=definite.  ctests, hostile
#                         (HOSTILE_NO_RLIMIT=1), test_kill, test_error_filter,
#                         test_cycles (CYCLES=1000, fd check only).
#   make check-tsan       the library and test_tsan_threads (8 threads, one
#                         handle, sync pread/pwrite with verified data against
#                         nbdkit) built with -fsanitize=thread into build-tsan/.
# SAN_KEEP_GOING=-k (default) runs every suite even if one fails.

SAN_KEEP_GOING ?= -k
SUBMAKE        := $(MAKE) --no-print-directory $(SAN_KEEP_GOING)

ASAN_BUILD     := build-asan
ASAN_CFLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer \
                  -fno-sanitize-recover=undefined -fno-sanitize=nonnull-attribute
ASAN_LDFLAGS   := -fsanitize=address,undefined -fno-sanitize=nonnull-attribute
ASAN_ENV       := ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:check_initialization_order=1 \
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 HOSTILE_NO_RLIMIT=1

TSAN_BUILD     := build-tsan
TSAN_ENV       := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

VALGRIND_CMD   ?= valgrind -q --error-exitcode=99 --leak-check=full \
                  --suppressions=$(abspath c/fuzz/valgrind.supp) \
                  --errors-for-leak-kinds=definite --track-fds=no

.PHONY: check-asan check-valgrind check-tsan sanitize-clean

# A build dir is only reused with identical flags (make does not track flags).
define san_stamp
	@echo '$(2)' | cmp -s - $(1)/.flags 2>/dev/null || \
	  { rm -rf $(1); mkdir -p $(1); echo '$(2)' > $(1)/.flags; }
endef

check-asan:
	$(call san_stamp,$(ASAN_BUILD),$(ASAN_CFLAGS) $(ASAN_LDFLAGS))
	$(ASAN_ENV) $(SUBMAKE) BUILD=$(ASAN_BUILD) OPT="-O1 -g" \
	  EXTRA_CFLAGS="$(ASAN_CFLAGS)" EXTRA_LDFLAGS="$(ASAN_LDFLAGS)" \
	  lib check-ctests check-hostile check-faults check-fuzz-regressions
	@echo "check-asan: all suites passed under ASan+UBSan"

check-valgrind: lib ctests hostile-build $(addprefix $(BUILD)/faults/,test_kill test_error_filter test_cycles)
	@command -v valgrind >/dev/null || { echo "check-valgrind needs valgrind"; exit 1; }
	@rc=0; \
	CTESTS_WATCHDOG=900 $(SUBMAKE) check-ctests CTESTS_RUNNER="$(VALGRIND_CMD)" CTESTS_TIMEOUT=3600 || rc=1; \
	for t in $(HOSTILE_OURS); do \
	  echo "=== valgrind $$t"; \
	  HOSTILE_NO_RLIMIT=1 PYTHON=$(HOSTILE_PYTHON) $(VALGRIND_CMD) $$t || { echo "*** FAIL: $$t"; rc=1; }; \
	done; \
	CYCLES=1000 CYCLES_SKIP_RSS=1 $(SUBMAKE) check-faults FAULTS_RUNNER="$(VALGRIND_CMD)" || rc=1; \
	if [ $$rc != 0 ]; then echo "check-valgrind FAILED"; exit 1; fi; \
	echo "check-valgrind: all passed"

check-tsan:
	$(call san_stamp,$(TSAN_BUILD),-fsanitize=thread)
	$(SUBMAKE) BUILD=$(TSAN_BUILD) OPT="-O1 -g" EXTRA_CFLAGS="-fsanitize=thread" \
	  EXTRA_LDFLAGS="-fsanitize=thread" lib $(TSAN_BUILD)/faults/test_tsan_threads
	$(TSAN_ENV) timeout -k 10 600 $(TSAN_BUILD)/faults/test_tsan_threads
	@echo "check-tsan: clean"

sanitize-clean:
	rm -rf $(ASAN_BUILD) $(TSAN_BUILD)
