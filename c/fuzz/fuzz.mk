# c/fuzz/fuzz.mk -- parser fuzzing (owner: robustness engineer).
# Included from the top Makefile (-include c/fuzz/fuzz.mk); the include
# guard below keeps the older `make -f Makefile -f c/fuzz/fuzz.mk <target>`
# working too.
#
#   make fuzz                     build both libFuzzer targets and run them in
#                                 parallel for FUZZ_SECONDS (default 600) each,
#                                 from scratch corpora in build/fuzz/corpus/
#   make fuzz-smoke               the same for 30 s each
#   make fuzz-build               just build build/fuzz/fuzz_{handshake,reply}
#   make check-fuzz-regressions   replay testdata/fuzz/regressions/, the seed
#                                 corpora (+ header variants) and the harness-
#                                 format seeds testdata/fuzz/harness/ through the
#                                 same harnesses under ASan+UBSan, no libFuzzer
#   make fuzz-coverage            line coverage of the parsers by the scratch corpus
#   python3 c/fuzz/gen_harness_seeds.py   regenerate testdata/fuzz/harness/
#
# The harnesses compile c/lib/*.c directly and feed bytes through
# nbd_internal_feed(); no socket, no server.  Needs clang with the
# libFuzzer/ASan/UBSan runtimes (clang-14 + libclang-rt-14-dev).
# Crashes land in build/fuzz/artifacts/; testdata/ is never written.

ifndef NBD_FUZZ_MK_INCLUDED
NBD_FUZZ_MK_INCLUDED := 1

FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 600
FUZZ_BUILD    := $(BUILD)/fuzz
FUZZ_TARGETS  := handshake reply
FUZZ_FLAGS    ?= -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := -g -O1 -std=gnu11 -D_GNU_SOURCE -pthread -I$(INCDIR) -Ic/lib \
                 -Wall -Wextra -Wno-unused-parameter
FUZZ_DEPS     := $(LIB_SRCS) $(LIB_HDRS) c/fuzz/fuzz_common.h c/fuzz/fuzz.mk
FUZZ_BINS     := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))
FUZZ_REGRESS  := $(addprefix $(FUZZ_BUILD)/regress_,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-corpus fuzz-coverage check-fuzz-regressions fuzz-clean

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/fuzz_%: c/fuzz/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(LIB_SRCS)

$(FUZZ_BUILD)/regress_%: c/fuzz/fuzz_%.c c/fuzz/regress_main.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $@ $< c/fuzz/regress_main.c $(LIB_SRCS)

# Scratch corpora: the seeds plus settings-header variants.  libFuzzer adds
# what it finds here, so a later `make fuzz` continues where the last one
# stopped (make fuzz-clean to start over).
fuzz-corpus:
	@for t in $(FUZZ_TARGETS); do \
	  sh c/fuzz/mkvariants.sh $$t testdata/fuzz/$$t $(FUZZ_BUILD)/corpus/$$t; \
	  for d in testdata/fuzz/harness/$$t testdata/fuzz/regressions/$$t; do \
	    if [ -d $$d ]; then cp $$d/* $(FUZZ_BUILD)/corpus/$$t/ 2>/dev/null || true; fi; done; \
	done

# Both targets in parallel, one process each (the machine is shared).
fuzz: $(FUZZ_BINS) fuzz-corpus
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@pids=""; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s, log $(FUZZ_BUILD)/fuzz_$$t.log"; \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	    $(FUZZ_BUILD)/corpus/$$t > $(FUZZ_BUILD)/fuzz_$$t.log 2>&1 & \
	  pids="$$pids $$!"; \
	done; rc=0; for p in $$pids; do wait $$p || rc=1; done; \
	for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t"; grep -E 'INITED|DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' $(FUZZ_BUILD)/fuzz_$$t.log; \
	  grep -E 'ERROR: |SUMMARY: |invariant failed|Test unit written' $(FUZZ_BUILD)/fuzz_$$t.log || true; \
	done; \
	if [ $$rc != 0 ]; then echo "fuzz: FINDINGS, see $(FUZZ_BUILD)/artifacts/ and the logs"; exit 1; fi; \
	echo "fuzz: no findings"

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

check-fuzz-regressions: $(FUZZ_REGRESS)
	@rm -rf $(FUZZ_BUILD)/replay && rc=0; for t in $(FUZZ_TARGETS); do \
	  sh c/fuzz/mkvariants.sh $$t testdata/fuzz/$$t $(FUZZ_BUILD)/replay/$$t; \
	  dirs="$(FUZZ_BUILD)/replay/$$t"; \
	  for d in testdata/fuzz/harness/$$t testdata/fuzz/regressions/$$t; do \
	    [ -d $$d ] && dirs="$$dirs $$d"; done; \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_BUILD)/regress_$$t $$dirs || { echo "FAILED: regress_$$t"; rc=1; }; \
	done; exit $$rc

# Source line coverage of the parsers reached by the current scratch corpus
# (make fuzz first): clang source-based coverage, no sanitizers.
fuzz-coverage: fuzz-corpus
	@mkdir -p $(FUZZ_BUILD)/cov
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_CC) $(FUZZ_CFLAGS) -fprofile-instr-generate -fcoverage-mapping \
	    -o $(FUZZ_BUILD)/cov/cov_$$t c/fuzz/fuzz_$$t.c c/fuzz/regress_main.c $(LIB_SRCS) || exit 1; \
	  LLVM_PROFILE_FILE=$(FUZZ_BUILD)/cov/$$t.profraw $(FUZZ_BUILD)/cov/cov_$$t \
	    $(FUZZ_BUILD)/corpus/$$t >/dev/null 2>&1 || exit 1; \
	  llvm-profdata merge -o $(FUZZ_BUILD)/cov/$$t.profdata $(FUZZ_BUILD)/cov/$$t.profraw || exit 1; \
	  echo "== fuzz_$$t corpus ($$(ls $(FUZZ_BUILD)/corpus/$$t | wc -l) inputs)"; \
	  llvm-cov report $(FUZZ_BUILD)/cov/cov_$$t -instr-profile=$(FUZZ_BUILD)/cov/$$t.profdata \
	    c/lib/handshake.c c/lib/reply.c c/lib/socket.c c/lib/aio.c | sed -n '1,2p;/handshake.c\|reply.c\|socket.c\|aio.c/p'; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

# Sanitizer / valgrind runs and the fault tests live beside this file.
include c/fuzz/faults.mk
include c/fuzz/sanitize.mk

endif
