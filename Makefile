# Top-level build for the clean-room libnbd client library.
# Area fragments (c/tests/tests.mk, go/go.mk, bench/bench.mk, testdata/testdata.mk)
# add their own targets and append to CHECK_TARGETS.

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
BUILD    := build
LIBDIR   := $(BUILD)/lib
OBJDIR   := $(BUILD)/obj
INCDIR   := c/include
SOVERSION := 0
VERSION  := 1.14.2

# Error messages are bounded on purpose, so truncation warnings are noise.
WARN     := -Wall -Wextra -Werror -Wvla -Wno-unused-parameter -Wno-format-truncation
OPT      ?= -O2 -g
# TLS comes from GnuTLS (Debian: libgnutls28-dev), as libnbd's does.
GNUTLS_CFLAGS := $(shell pkg-config --cflags gnutls 2>/dev/null)
GNUTLS_LIBS   := $(shell pkg-config --libs gnutls 2>/dev/null)
ifeq ($(GNUTLS_LIBS),)
$(error GnuTLS not found: install libgnutls28-dev (pkg-config gnutls))
endif
CFLAGS_LIB := $(OPT) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -pthread \
              -D_GNU_SOURCE -DHAVE_GNUTLS $(GNUTLS_CFLAGS) -I$(INCDIR) -Ic/lib $(EXTRA_CFLAGS)
LDFLAGS_LIB := -pthread $(GNUTLS_LIBS) $(EXTRA_LDFLAGS)

LIB_SRCS := $(sort $(wildcard c/lib/*.c))
LIB_OBJS := $(patsubst c/lib/%.c,$(OBJDIR)/%.o,$(LIB_SRCS))
LIB_HDRS := $(wildcard c/lib/*.h) $(INCDIR)/libnbd.h
VERSION_SCRIPT := c/lib/libnbd.syms

SHLIB  := $(LIBDIR)/libnbd.so.$(SOVERSION)
STLIB  := $(LIBDIR)/libnbd.a
PCFILE := $(LIBDIR)/pkgconfig/libnbd.pc

CHECK_TARGETS :=

.PHONY: all lib check install demo clean bench fuzz check-asan check-valgrind check-tsan check-readme
all: lib

lib: $(SHLIB) $(LIBDIR)/libnbd.so $(STLIB) $(PCFILE)

$(OBJDIR)/%.o: c/lib/%.c $(LIB_HDRS)
	@mkdir -p $(OBJDIR)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(SHLIB): $(LIB_OBJS) $(VERSION_SCRIPT)
	@mkdir -p $(LIBDIR)
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,-soname,libnbd.so.$(SOVERSION) \
	  -Wl,--version-script=$(VERSION_SCRIPT) -Wl,-z,defs -Wl,-z,relro -Wl,-z,now $(LDFLAGS_LIB)

$(LIBDIR)/libnbd.so: $(SHLIB)
	ln -sf libnbd.so.$(SOVERSION) $@

$(STLIB): $(LIB_OBJS)
	@mkdir -p $(LIBDIR)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

$(PCFILE): Makefile
	@mkdir -p $(dir $@)
	printf 'prefix=%s\nexec_prefix=$${prefix}\nlibdir=$${exec_prefix}/lib\nincludedir=$${prefix}/include\n\nName: libnbd\nDescription: NBD client library (clean-room implementation of the libnbd API)\nVersion: %s\nLibs: -L$${libdir} -lnbd\nLibs.private: -pthread $(GNUTLS_LIBS)\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(INCDIR)/libnbd.h $(DESTDIR)$(PREFIX)/include/libnbd.h
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/libnbd.so.$(SOVERSION)
	ln -sf libnbd.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libnbd.so
	install -m 644 $(STLIB) $(DESTDIR)$(PREFIX)/lib/libnbd.a
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(PCFILE) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libnbd.pc
	install -d $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 docs/man/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/

clean:
	rm -rf $(BUILD)

-include api/api.mk
-include docs/man.mk
-include testdata/testdata.mk
-include c/tests/tests.mk
-include go/go.mk
-include bench/bench.mk
-include c/tests/interop/interop.mk
-include c/tests/interop/debian13.mk
# Uses the variables of the fragments above, so it comes after them.
-include c/fuzz/fuzz.mk

# make demo: a private nbdkit and the example client that shows the seed calls.
DEMO_BIN := $(BUILD)/examples/demo
$(DEMO_BIN): c/examples/demo.c $(SHLIB) $(INCDIR)/libnbd.h
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -I$(INCDIR) -o $@ $< -L$(LIBDIR) -lnbd -Wl,-rpath,$(abspath $(LIBDIR))

demo: lib $(DEMO_BIN)
	@command -v nbdkit >/dev/null || { echo "make demo needs nbdkit (apt-get install nbdkit)"; exit 1; }
	@dir=$$(mktemp -d); \
	 nbdkit -f --exit-with-parent -U $$dir/sock -P $$dir/pid memory 64M & \
	 for i in $$(seq 100); do [ -S $$dir/sock ] && break; sleep 0.05; done; \
	 $(DEMO_BIN) $$dir/sock; rc=$$?; \
	 kill $$(cat $$dir/pid) 2>/dev/null; rm -rf $$dir; exit $$rc

# make check-readme: the README's C example compiles against the installed
# library (pkg-config) and runs against nbdkit.
README_PREFIX := $(abspath $(BUILD)/readme-prefix)
check-readme: lib
	@rm -rf $(README_PREFIX) && $(MAKE) --no-print-directory install PREFIX=$(README_PREFIX) >/dev/null
	@mkdir -p $(BUILD)/readme
	@awk '/^```c$$/{n++; if (n==1) {p=1; next}} /^```$$/{p=0} p' README.md > $(BUILD)/readme/hello.c
	@PKG_CONFIG_PATH=$(README_PREFIX)/lib/pkgconfig; export PKG_CONFIG_PATH; \
	 $(CC) $(WARN) -o $(BUILD)/readme/hello $(BUILD)/readme/hello.c $$(pkg-config --cflags --libs libnbd)
	@dir=$$(mktemp -d); \
	 nbdkit -f --exit-with-parent -U $$dir/sock -P $$dir/pid memory 1M & \
	 for i in $$(seq 100); do [ -S $$dir/sock ] && break; sleep 0.05; done; \
	 out=$$(LD_LIBRARY_PATH=$(README_PREFIX)/lib $(BUILD)/readme/hello $$dir/sock); rc=$$?; \
	 lib=$$(LD_LIBRARY_PATH=$(README_PREFIX)/lib ldd $(BUILD)/readme/hello | awk '/libnbd/{print $$3}'); \
	 kill $$(cat $$dir/pid) 2>/dev/null; rm -rf $$dir; \
	 echo "check-readme: $$out (library $$lib)"; \
	 [ $$rc = 0 ] && [ "$$out" = "export size 1048576, first byte A" ] && \
	   case "$$lib" in $(README_PREFIX)/*) ;; *) echo "check-readme: wrong library"; exit 1;; esac
CHECK_TARGETS += check-readme

# make check-layers: the library's files call each other only downward, in
# the layer order written in c/lib/internal.h (from nm of the objects).
.PHONY: check-layers
check-layers: $(LIB_OBJS)
	python3 c/lib/check_layers.py c/lib/internal.h $(LIB_OBJS)
CHECK_TARGETS += check-layers

CHECK_TARGETS += check-faults check-tsan check-fuzz-regressions

# Last, so that every fragment above has added its CHECK_TARGETS.
check: lib $(CHECK_TARGETS)
	@echo "make check: all test suites passed ($(CHECK_TARGETS))"
