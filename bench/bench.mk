# Benchmarks (issue 6): one C workload source built against our library and
# against the system libnbd, driven by bench/run.py.  Not part of `make check`.
#
#   make bench                      full run (defaults: 5 rounds x 2 s per workload):
#                                   ours vs libnbd 1.14 (Debian 12), ours vs
#                                   libnbd 1.22 (Debian 13 chroot, as root; also
#                                   against qemu-nbd 10 with 1.22's extended
#                                   headers on and off), fio's nbd engine ours vs
#                                   1.14, nbdcopy, Go (about 12 minutes)
#   make bench BENCH_QUICK=1        3 rounds x 1 s (about 3 minutes)
#   make bench BENCH_ROUNDS=3 BENCH_SECONDS=1
#   make bench-build                only build the two benchmark binaries
#   make bench-syscalls             strace -c: syscalls per operation, both libraries
#   make bench-tls                  the workloads over TLS (bench/tls.py), both libraries
#
# Results: printed, and the final markdown table is saved to build/bench/results.md.

BENCH_DIR      := $(BUILD)/bench
# BENCH_QUICK=1: a short run (3 rounds x 1 s) to check that everything works.
ifeq ($(BENCH_QUICK),1)
BENCH_ROUNDS   ?= 3
BENCH_SECONDS  ?= 1
endif
BENCH_ROUNDS   ?= 5
BENCH_SECONDS  ?= 2
BENCH_ARGS     ?=
BENCH_PYTHON   ?= python3
BENCH_CFLAGS   := -O2 -g -Wall -Wextra -Werror -Wvla -std=gnu11 -pthread
BENCH_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BENCH_SYS_LIB  := /usr/lib/$(BENCH_MULTIARCH)/libnbd.so.0
BENCH_OURS     := $(BENCH_DIR)/nbdbench-ours
BENCH_SYS      := $(BENCH_DIR)/nbdbench-sys

.PHONY: bench-build bench-ours bench-sys bench-syscalls bench-sys-libnbd bench-tls

# Install Debian's libnbd-dev (the comparison baseline) if it is missing.
bench-sys-libnbd:
	@if [ ! -f /usr/include/libnbd.h ] || [ ! -e $(BENCH_SYS_LIB) ]; then \
	  echo "bench: installing libnbd-dev (system libnbd baseline)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y libnbd-dev; \
	  else sudo apt-get install -y libnbd-dev; fi; \
	fi

# Built against the system header and the system shared object only.
$(BENCH_SYS): bench/nbdbench.c | bench-sys-libnbd
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -I/usr/include -o $@ $< $(BENCH_SYS_LIB) -ldl

# Built against our header and library; rpath points at build/lib.
$(BENCH_OURS): bench/nbdbench.c $(SHLIB) $(LIBDIR)/libnbd.so $(INCDIR)/libnbd.h
	@mkdir -p $(BENCH_DIR)
	$(CC) $(BENCH_CFLAGS) -I$(INCDIR) -o $@ $< -L$(LIBDIR) \
	  -Wl,-rpath,$(abspath $(LIBDIR)) -lnbd -ldl

bench-sys: $(BENCH_SYS)
bench-ours: $(BENCH_OURS)
bench-build: bench-sys bench-ours

# The libnbd 1.22 anchor (issues 11, 14): the system-header build of the
# benchmark also runs inside the Debian 13 chroot (c/tests/interop/debian13.mk),
# once with Debian 13's libnbd 1.22 and once with ours, against the same
# nbdkit.  Needs root (chroot, mounts); BENCH_DEBIAN13=0 skips it.
BENCH_DEBIAN13 ?= $(if $(filter 0,$(shell id -u)),1,0)
BENCH_RUN := $(BENCH_PYTHON) bench/run.py --ours $(BENCH_OURS) --sys $(BENCH_SYS) \
	  --ours-libdir $(LIBDIR) --sys-libdir $(dir $(BENCH_SYS_LIB)) --rounds $(BENCH_ROUNDS) --seconds $(BENCH_SECONDS) \
	  --out $(BENCH_DIR)/results.md $(BENCH_ARGS)

# Our library may not build yet: then its column reads FAILED instead of
# the whole run stopping.
bench: bench-sys
	@$(MAKE) --no-print-directory bench-ours || \
	  echo "bench: our library or its benchmark binary did not build; its column will read FAILED"
ifeq ($(BENCH_DEBIAN13),1)
	@$(MAKE) --no-print-directory debian13-chroot
	$(DEBIAN13_CHROOT) run --copy $(SHLIB) /opt/ours/libnbd.so.0 \
	  --copy $(BENCH_SYS) /opt/bench/nbdbench --host -- \
	  $(BENCH_RUN) --chroot $(DEBIAN13_ROOT)
else
	@echo "bench: not root, so no libnbd 1.22 column (Debian 13 chroot); BENCH_DEBIAN13=1 to force"
	$(BENCH_RUN)
endif

# The same C workloads over TLS (nbdkit --tls=require, X.509), both libraries.
bench-tls: bench-sys
	@$(MAKE) --no-print-directory bench-ours
	$(BENCH_PYTHON) bench/tls.py --ours $(BENCH_OURS) --sys $(BENCH_SYS) \
	  --ours-libdir $(LIBDIR) --rounds $(BENCH_ROUNDS) --seconds $(BENCH_SECONDS) \
	  --out $(BENCH_DIR)/results-tls.md

bench-syscalls: bench-sys
	@$(MAKE) --no-print-directory bench-ours || true
	$(BENCH_PYTHON) bench/run.py --ours $(BENCH_OURS) --sys $(BENCH_SYS) \
	  --ours-libdir $(LIBDIR) --sys-libdir $(dir $(BENCH_SYS_LIB)) --syscalls --seconds 1 $(BENCH_ARGS)
