# testdata/testdata.mk -- robustness area (owner: robustness engineer).
#
#   make check-hostile          hostile-server tests against our library
#                               (build/lib/libnbd.so.0), strict expectations
#   make check-hostile-system   the same tests against the system libnbd
#                               (-DAGAINST_SYSTEM_LIBNBD: libnbd 1.14 column)
#   make testdata-fuzz-seeds    regenerate testdata/fuzz/{handshake,reply}/
#
# The scripted server testdata/badserver.py needs python3 (standard library
# only); CUnit (libcunit1-dev) is needed to build the tests.

HOSTILE_DIR     := c/tests/hostile
HOSTILE_BUILD   := $(BUILD)/hostile
HOSTILE_NAMES   := $(patsubst $(HOSTILE_DIR)/%.c,%,$(sort $(wildcard $(HOSTILE_DIR)/test_*.c)))
HOSTILE_COMMON  := $(HOSTILE_DIR)/hostile.c $(HOSTILE_DIR)/hostile_cases.c
HOSTILE_HDRS    := $(HOSTILE_DIR)/hostile.h
HOSTILE_PYTHON  ?= python3
HOSTILE_CFLAGS  := -O1 -g -std=gnu11 $(WARN) -D_GNU_SOURCE \
                   -DBADSERVER_PY='"$(abspath testdata/badserver.py)"'

HOSTILE_OURS    := $(addprefix $(HOSTILE_BUILD)/,$(HOSTILE_NAMES))
HOSTILE_SYSTEM  := $(addprefix $(HOSTILE_BUILD)/system/,$(HOSTILE_NAMES))

$(HOSTILE_BUILD)/test_%: $(HOSTILE_DIR)/test_%.c $(HOSTILE_COMMON) $(HOSTILE_HDRS) $(SHLIB)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTILE_CFLAGS) -I$(INCDIR) -o $@ $< $(HOSTILE_COMMON) \
	  -L$(LIBDIR) -Wl,-rpath,$(abspath $(LIBDIR)) -lnbd -lcunit

# Against the system library: no -I$(INCDIR), no -L$(LIBDIR), no rpath.
$(HOSTILE_BUILD)/system/test_%: $(HOSTILE_DIR)/test_%.c $(HOSTILE_COMMON) $(HOSTILE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(HOSTILE_CFLAGS) -DAGAINST_SYSTEM_LIBNBD -o $@ $< $(HOSTILE_COMMON) \
	  -lnbd -lcunit

define HOSTILE_RUN
	@command -v $(HOSTILE_PYTHON) >/dev/null 2>&1 || \
	  { echo "check-hostile: $(HOSTILE_PYTHON) is required (apt-get install python3)"; exit 1; }
	@rc=0; for t in $(1); do \
	  echo "== $$t"; PYTHON=$(HOSTILE_PYTHON) $$t || { echo "FAILED: $$t"; rc=1; }; \
	done; exit $$rc
endef

.PHONY: check-hostile check-hostile-system testdata-fuzz-seeds hostile-build
hostile-build: $(HOSTILE_OURS)

check-hostile: $(HOSTILE_OURS)
	$(call HOSTILE_RUN,$(HOSTILE_OURS))

check-hostile-system: $(HOSTILE_SYSTEM)
	$(call HOSTILE_RUN,$(HOSTILE_SYSTEM))

testdata-fuzz-seeds:
	$(HOSTILE_PYTHON) testdata/gen_fuzz_seeds.py testdata/fuzz

CHECK_TARGETS += check-hostile
