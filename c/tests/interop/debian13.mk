# Debian 13 ("trixie") compatibility (issue 11).  Included by the top-level
# Makefile.  Not part of `make check`: it needs root and, the first time,
# Debian's mirror (debootstrap, about a minute); CI runs it after make check.
#
#   make debian13-chroot   build (or reuse) the chroot in DEBIAN13_ROOT
#   make check-debian13    Debian 13's nbdinfo, nbddump, nbdcopy, nbdfuse and a
#                          python3-libnbd script, on our library and on
#                          Debian's libnbd 1.22, against nbdkit 1.42 and
#                          qemu-nbd 10 inside the chroot; outputs must match
#                          (c/tests/interop/debian13-check.sh lists every
#                          normalisation and the known differences).
#
# The chroot lives outside the tree (DEBIAN13_ROOT) so clean trees and fresh
# clones reuse it; `make bench` uses it too (libnbd 1.22 anchor).

DEBIAN13_ROOT   ?= /var/cache/nbd-cleanroom/trixie
DEBIAN13_CHROOT := DEBIAN13_ROOT=$(DEBIAN13_ROOT) c/tests/interop/debian13-chroot.sh
DEBIAN13_LOG    := $(BUILD)/debian13/check.log

.PHONY: debian13-chroot check-debian13

debian13-chroot:
	@$(DEBIAN13_CHROOT) ensure

check-debian13: lib debian13-chroot
	@mkdir -p $(dir $(DEBIAN13_LOG))
	@{ $(DEBIAN13_CHROOT) run \
	  --copy $(SHLIB) /opt/ours/libnbd.so.0 \
	  --copy c/tests/interop/debian13-check.sh /opt/nbd-tests/debian13-check.sh \
	  --copy c/tests/interop/debian13-python.py /opt/nbd-tests/debian13-python.py \
	  -- /opt/nbd-tests/debian13-check.sh; echo $$? > $(DEBIAN13_LOG).rc; } 2>&1 | tee $(DEBIAN13_LOG); \
	 exit $$(cat $(DEBIAN13_LOG).rc)
