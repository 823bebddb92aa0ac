#!/usr/bin/python3
"""Runs inside the Debian 13 chroot under python3-libnbd 1.22 (see
debian13-check.sh, which runs it once on Debian's libnbd 1.22 and once on
ours and compares the transcripts).

Usage: debian13-python.py SOCKET KIND

Prints one line per call: "name = result" or "name: error (errno)".  Only
deterministic facts are printed (no pointers, timings or handle counters);
errors are printed as the errno name, not the message text, which is our
own wording.
"""

import errno
import sys

import nbd

sock, kind = sys.argv[1], sys.argv[2]


def show(name, fn, *args):
    try:
        r = fn(*args)
    except nbd.Error as e:
        print("%s: error %s" % (name, errno.errorcode.get(e.errno, e.errno)))
        return None
    print("%s = %s" % (name, r))
    return r


def extents_cb(label):
    def cb(metacontext, offset, entries, err):
        print("  %s %s @%d: %s err=%d" % (label, metacontext, offset, entries, err.value))
        return 0
    return cb


h0 = nbd.NBD()
show("get_version", h0.get_version)
show("get_package_name", h0.get_package_name)
show("supports_tls", h0.supports_tls)
show("supports_uri", h0.supports_uri)
show("supports_vsock", h0.supports_vsock)
show("is_uri nbd://x", h0.is_uri, "nbd://x")
show("is_uri /dev/nbd0", h0.is_uri, "/dev/nbd0")
for getter in ("get_request_structured_replies", "get_request_extended_headers",
               "get_request_meta_context", "get_request_block_size",
               "get_pread_initialize", "get_strict_mode", "get_handshake_flags",
               "get_full_info", "get_opt_mode", "get_export_name", "get_tls",
               "get_tls_hostname", "get_socket_activation_name",
               "get_nr_meta_contexts", "aio_is_created", "aio_in_flight"):
    show(getter, getattr(h0, getter))
show("get_size before connecting", h0.get_size)
show("get_subprocess_pid before connecting", h0.get_subprocess_pid)
show("opt_go before connecting", h0.opt_go)
h0.close()

# ---------------------------------------------------------------- opt mode
print("--- option mode")
h = nbd.NBD()
h.set_opt_mode(True)
h.set_full_info(True)
show("connect_unix", h.connect_unix, sock)
show("aio_is_negotiating", h.aio_is_negotiating)
show("get_protocol", h.get_protocol)
show("get_structured_replies_negotiated", h.get_structured_replies_negotiated)
show("get_extended_headers_negotiated", h.get_extended_headers_negotiated)
show("get_tls_negotiated", h.get_tls_negotiated)
show("opt_extended_headers", h.opt_extended_headers)
exports = []
show("opt_list", h.opt_list, lambda name, desc: exports.append((name, desc)) or 0)
for name, desc in sorted(exports):
    print("  export %r %r" % (name, desc))
ctxs = []
show("opt_list_meta_context", h.opt_list_meta_context, lambda c: ctxs.append(c) or 0)
print("  contexts %s" % sorted(ctxs))
ctxs = []
show("opt_list_meta_context_queries base:,qemu:",
     h.opt_list_meta_context_queries, ["base:", "qemu:"], lambda c: ctxs.append(c) or 0)
print("  contexts %s" % sorted(ctxs))
ctxs = []
h.add_meta_context("base:allocation")
show("opt_set_meta_context", h.opt_set_meta_context, lambda c: ctxs.append(c) or 0)
print("  contexts %s" % sorted(ctxs))
ctxs = []
show("opt_set_meta_context_queries base:allocation,qemu:dirty-bitmap:b0,x:y",
     h.opt_set_meta_context_queries,
     ["base:allocation", "qemu:dirty-bitmap:b0", "x:y"], lambda c: ctxs.append(c) or 0)
print("  contexts %s" % sorted(ctxs))
show("get_nr_meta_contexts", h.get_nr_meta_contexts)
show("get_meta_context 0", h.get_meta_context, 0)
export = "exp" if kind == "qemu" else ("beta" if kind == "names" else "")
show("set_export_name", h.set_export_name, export)
show("opt_info", h.opt_info)
for getter in ("get_size", "is_read_only", "is_rotational", "can_flush", "can_fua",
               "can_trim", "can_zero", "can_fast_zero", "can_df", "can_multi_conn",
               "can_cache", "can_block_status_payload", "get_export_description",
               "get_canonical_export_name"):
    show(getter, getattr(h, getter))
for s in (nbd.SIZE_MINIMUM, nbd.SIZE_PREFERRED, nbd.SIZE_MAXIMUM, nbd.SIZE_PAYLOAD):
    show("get_block_size %d" % s, h.get_block_size, s)
show("set_export_name missing", h.set_export_name, "no-such-export")
show("opt_info missing", h.opt_info)
show("get_size after failed opt_info", h.get_size)
show("set_export_name back", h.set_export_name, export)
show("set_request_meta_context False", h.set_request_meta_context, False)
show("opt_go", h.opt_go)
show("aio_is_ready", h.aio_is_ready)
show("can_meta_context base:allocation", h.can_meta_context, "base:allocation")
show("get_size", h.get_size)
show("get_uri", h.get_uri)
show("shutdown", h.shutdown)
h.close()

# A second NBD_OPT_STRUCTURED_REPLY, which servers refuse as redundant: the
# call returns False, and structured replies stay negotiated (libnbd 1.16's
# nbd_opt_structured_reply page says so).
print("--- second structured reply request")
h = nbd.NBD()
h.set_opt_mode(True)
show("connect_unix", h.connect_unix, sock)
show("opt_structured_reply", h.opt_structured_reply)
show("get_structured_replies_negotiated after a second request",
     h.get_structured_replies_negotiated)
show("opt_go", h.opt_go)
show("can_df after a second request", h.can_df)
h.close()

# ---------------------------------------------------------------- I/O
print("--- I/O")
h = nbd.NBD()
h.add_meta_context("base:allocation")
if kind == "qemu":
    h.add_meta_context("qemu:dirty-bitmap:b0")
    h.add_meta_context("qemu:allocation-depth")
    h.set_export_name("exp")
elif kind == "names":
    h.set_export_name("alpha")
show("connect_uri", h.connect_uri, "nbd+unix:///%s?socket=%s" % (h.get_export_name(), sock))
show("get_extended_headers_negotiated", h.get_extended_headers_negotiated)
show("get_structured_replies_negotiated", h.get_structured_replies_negotiated)
show("get_nr_meta_contexts", h.get_nr_meta_contexts)
for c in ("base:allocation", "qemu:dirty-bitmap:b0", "qemu:allocation-depth"):
    show("can_meta_context " + c, h.can_meta_context, c)
size = h.get_size()
print("size = %d" % size)
s0 = h.stats_chunks_sent(), h.stats_chunks_received()
buf = show("pread 0 16", h.pread, 16, 0)
show("pread last 512", lambda: h.pread(512, size - 512)[:8])
print("chunks per pread (sent, received) = %d, %d" % (
    h.stats_chunks_sent() - s0[0], h.stats_chunks_received() - s0[1]))
show("pread past the end", h.pread, 512, size)
show("pread_structured 0 4096 (first 4 bytes)",
     lambda: h.pread_structured(4096, 0, lambda b, o, s, e: 0)[:4])
span = min(size, 8 * 1048576)
show("block_status", h.block_status, span, 0, extents_cb("bs"))
show("block_status_64", h.block_status_64, span, 0, extents_cb("bs64"))
show("block_status REQ_ONE", h.block_status, span, 0, extents_cb("one"), nbd.CMD_FLAG_REQ_ONE)
show("block_status_64 REQ_ONE", h.block_status_64, span, 0, extents_cb("one64"), nbd.CMD_FLAG_REQ_ONE)
show("block_status_filter base:allocation", h.block_status_filter, span, 0,
     ["base:allocation"], extents_cb("filter"))
show("block_status_filter base:allocation PAYLOAD_LEN", h.block_status_filter, span, 0,
     ["base:allocation"], extents_cb("filterlen"), nbd.CMD_FLAG_PAYLOAD_LEN)
show("block_status past the end", h.block_status_64, 512, size, extents_cb("past"))
if not h.is_read_only():
    show("pwrite 4096 at 64K", h.pwrite, b"\xa5" * 4096, 65536)
    show("pwrite FUA", h.pwrite, b"\x5a" * 512, 65536, nbd.CMD_FLAG_FUA)
    show("pread back", lambda: h.pread(4, 65536 + 510))
    show("zero 4096 at 64K", h.zero, 4096, 65536)
    show("zero NO_HOLE", h.zero, 4096, 69632, nbd.CMD_FLAG_NO_HOLE)
    show("zero FAST_ZERO", h.zero, 4096, 69632, nbd.CMD_FLAG_FAST_ZERO)
    show("trim", h.trim, 65536, 131072)
    show("flush", h.flush)
    show("pwrite past the end", h.pwrite, b"x" * 512, size)
show("cache", h.cache, 4096, 0)
# aio: 8 reads with completion callbacks, driven by poll.
done = []
cookies = [h.aio_pread(nbd.Buffer(4096), i * 4096,
                       lambda err, i=i: done.append((i, err)) or 1)
           for i in range(8)]
print("aio_in_flight >= 1 = %s" % (h.aio_in_flight() >= 1))
while len(done) < 8:
    h.poll(-1)
print("aio completions = %s" % sorted((i, e.value) for i, e in done))
print("aio_in_flight = %d" % h.aio_in_flight())
c = h.aio_pread(nbd.Buffer(512), 0)
while not h.aio_command_completed(c):
    h.poll(-1)
print("aio_command_completed = True")
b64 = []


def aio_bs64():
    c = h.aio_block_status_64(4096, 0, lambda m, o, e, err: b64.append((m, o, e)) or 0)
    while not h.aio_command_completed(c):
        h.poll(-1)
    return b64


show("aio_block_status_64", aio_bs64)
show("get_uri", h.get_uri)
show("shutdown", h.shutdown)
show("aio_is_closed", h.aio_is_closed)
show("pread after shutdown", h.pread, 1, 0)
h.close()
