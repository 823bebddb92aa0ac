#!/usr/bin/env python3
"""gen_harness_seeds.py - seeds in the fuzz harnesses' own input format.

    gen_harness_seeds.py [OUTDIR]     (default: testdata/fuzz/harness)

testdata/fuzz/{handshake,reply}/ hold raw server streams (gen_fuzz_seeds.py).
The harnesses in c/fuzz/ also accept a 4-byte settings header (see the top
of fuzz_handshake.c / fuzz_reply.c); these seeds use it to reach paths a
raw stream cannot: opt-mode sequences (INFO, LIST_META_CONTEXT, LIST, GO,
ABORT, every option error type), and reply streams for the extra commands
(DF read, REQ_ONE block status, a big read, two meta contexts, out-of-order
chunks that fill a gap).  Deterministic output.  The option sequence of an
opt-mode seed is computed with the same xorshift32 the harness uses.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "testdata"))
import badserver as b  # noqa: E402

OPTS = [b.OPT_GO, b.OPT_INFO, b.OPT_LIST, b.OPT_LIST_META_CONTEXT,
        b.OPT_GO, b.OPT_INFO, b.OPT_LIST_META_CONTEXT, b.OPT_ABORT]


def xorshift(x):
    x = x if x else 0x9E3779B9
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x


def option_sequence(b1, b3, n):
    s = (((b1 >> 2) | (b3 << 6)) * 0x2545F491 + 7) & 0xFFFFFFFF
    out = []
    for _ in range(n):
        s = xorshift(s)
        out.append(OPTS[s % 8])
    return out


def find_seed(want):
    """First (b1, b3) whose option sequence starts with want; an entry of
    want may be a set of acceptable options.  Returns (b1, b3, sequence)."""
    for b3 in range(256):
        for hi in range(64):
            b1 = (hi << 2) | 3
            seq = option_sequence(b1, b3, len(want))
            if all(o in w if isinstance(w, set) else o == w for o, w in zip(seq, want)):
                return b1, b3, seq
    raise SystemExit("no seed for %r" % (want,))


def r(opt, typ, data=b""):
    return b.enc_opt_reply(opt, typ, data)


def export_replies(opt, meta, sr):
    out = b""
    if meta and sr:
        out += r(b.OPT_SET_META_CONTEXT, b.REP_META_CONTEXT,
                 b.enc_meta_context(b.META_ID, b.BASE_ALLOCATION))
        out += r(b.OPT_SET_META_CONTEXT, b.REP_ACK)
    out += r(opt, b.REP_INFO, b.enc_info_export(b.EXPORT_SIZE, b.EXPORT_FLAGS))
    out += r(opt, b.REP_INFO, b.enc_info_block_size())
    out += r(opt, b.REP_INFO, b.enc_info_name(b"canonical"))
    return out + r(opt, b.REP_ACK)


def success_reply(opt, meta, sr):
    if opt in (b.OPT_GO, b.OPT_INFO):
        return export_replies(opt, meta, sr)
    if opt == b.OPT_LIST:
        return (r(opt, b.REP_SERVER, b.enc_rep_server(b"a", b"first")) +
                r(opt, b.REP_SERVER, b.enc_rep_server(b"")) + r(opt, b.REP_ACK))
    if opt == b.OPT_LIST_META_CONTEXT:
        return (r(opt, b.REP_META_CONTEXT, b.enc_meta_context(0, b.BASE_ALLOCATION)) +
                r(opt, b.REP_META_CONTEXT, b.enc_meta_context(0, b"qemu:dirty-bitmap:x")) +
                r(opt, b.REP_ACK))
    return r(opt, b.REP_ACK)          # ABORT


def greeting(sr):
    g = b.enc_greeting_newstyle(b.FLAG_FIXED_NEWSTYLE | b.FLAG_NO_ZEROES)
    if sr:
        g += r(b.OPT_STRUCTURED_REPLY, b.REP_ACK)
    return g


def opt_stream(b0, want, errors=None):
    """Opt-mode seed: header + greeting + replies to the options in want."""
    sr, meta = bool(b0 & 0x02), bool(b0 & 0x04)
    b1, b3, want = find_seed(want)
    out = greeting(sr)
    for i, opt in enumerate(want):
        if errors and i < len(errors):
            if opt in (b.OPT_GO, b.OPT_INFO) and meta and sr:
                out += r(b.OPT_SET_META_CONTEXT, b.REP_ACK)   # no contexts
            out += r(opt, errors[i], b"refused")
        else:
            out += success_reply(opt, meta, sr)
        if opt in (b.OPT_GO, b.OPT_ABORT) and not (errors and i < len(errors)):
            break
    return bytes([b0, b1, 0, b3]) + out


def handshake_seeds():
    s = {}
    s["opt-info-lmc-list-go"] = opt_stream(
        0x27, [b.OPT_INFO, b.OPT_LIST_META_CONTEXT, b.OPT_LIST, b.OPT_GO])
    s["opt-lmc-info-go-nometa"] = opt_stream(
        0x23, [b.OPT_LIST_META_CONTEXT, b.OPT_INFO, b.OPT_GO])
    s["opt-list-abort"] = opt_stream(0x23, [b.OPT_LIST, b.OPT_ABORT])
    s["opt-info-abort-fullinfo"] = opt_stream(0x2F, [b.OPT_INFO, b.OPT_ABORT])
    errs = [b.REP_ERR_INVALID, b.REP_ERR_PLATFORM, b.REP_ERR_UNKNOWN,
            b.REP_ERR_SHUTDOWN, b.REP_ERR_BLOCK_SIZE_REQD, b.REP_ERR_TOO_BIG,
            b.REP_ERR_TLS_REQD, b.REP_ERR + 77]
    s["opt-errors-go-info"] = opt_stream(
        0x27, [{b.OPT_INFO, b.OPT_GO}] * 8, errors=errs)
    s["opt-errors-list-lmc"] = opt_stream(
        0x23, [{b.OPT_LIST, b.OPT_LIST_META_CONTEXT}] * 4, errors=errs[:4])
    return s


# ---- reply seeds (harness: commands 1-3, and 4-8 with settings bit7) ----
# The chunks come from badserver.py's encoders: enc_offset_data and
# enc_offset_hole default to flags 0, enc_none and enc_block_status to DONE.
DONE = b.REPLY_FLAG_DONE
data_chunk = b.enc_offset_data
simple = b.enc_simple_reply


def reply_seeds():
    s = {}
    # gap filled last: [0,1024) + [2048,4096) + [1024,2048) of READ 4096@8192
    s["read-gap-fill"] = bytes([0x01, 0, 0, 0]) + (
        data_chunk(1, 8192, b"\1" * 1024) + data_chunk(1, 8192 + 2048, b"\3" * 2048) +
        data_chunk(1, 8192 + 1024, b"\2" * 1024) + b.enc_none(1))
    # DF read (cookie 5, 1024@0) answered with two data chunks: fatal
    s["df-fragmented"] = bytes([0x81, 0, 0, 0]) + (
        data_chunk(5, 0, b"\1" * 512) + data_chunk(5, 512, b"\2" * 512, DONE))
    # DF read answered properly, REQ_ONE block status, write/trim acks,
    # big read in data + hole chunks, two contexts for cookie 2
    s["extra-all-ok"] = bytes([0x83, 0, 0, 0]) + (
        data_chunk(5, 0, b"\5" * 1024, DONE) +
        b.enc_block_status(6, 1, [(4096, 0)]) +
        simple(4) + simple(8, b.EIO) +
        data_chunk(7, 65536, b"\7" * 65536) +
        b.enc_offset_hole(7, 131072, 65536, DONE) +
        b.enc_block_status(2, 1, [(4096, 0), (61440, 3)], 0) +
        b.enc_block_status(2, 2, [(65536, 0)]) +
        simple(3) + data_chunk(1, 8192, b"\1" * 4096, DONE))
    # the same commands with simple replies only, in 3-byte pieces
    s["extra-simple-chunked"] = bytes([0x84 | 0x08, 3, 9, 0]) + (
        simple(5, 0, b"\5" * 1024) + simple(4) + simple(8) + simple(3) +
        simple(7, 0, b"\7" * 131072) + simple(1, 0, b"\1" * 4096))
    # a REQ_ONE block status with two extents: fatal
    s["req-one-two-extents"] = bytes([0x81, 0, 0, 0]) + (
        b.enc_block_status(6, 1, [(2048, 0), (2048, 1)]))
    # error chunk for the big read in the middle of its data
    s["big-read-error-offset"] = bytes([0x81, 7, 3, 0]) + (
        data_chunk(7, 65536, b"\7" * 4096) +
        b.enc_error_chunk(7, b.EIO, b"oops", flags=0,
                          ctype=b.CHUNK_ERROR_OFFSET, offset=70000) +
        b.enc_none(7))

    # extended headers (b3 bit0), every extra command, two contexts; the
    # block status commands with 64-bit callbacks (b3 bit1), in 5-byte pieces
    def ext(cookie, off, ctype, payload=b"", flags=DONE):
        return b.enc_ext_chunk(cookie, flags, ctype, off, payload)

    def ext_bs(cookie, off, ctx, extents, flags=DONE):
        return ext(cookie, off, b.CHUNK_BLOCK_STATUS_EXT,
                   b.enc_block_status_ext_payload(ctx, extents), flags)

    def ext_data(cookie, req_off, off, d, flags=0):
        return ext(cookie, req_off, b.CHUNK_OFFSET_DATA,
                   struct.pack(">Q", off) + d, flags)

    ext_all = (
        ext_data(5, 0, 0, b"\5" * 1024, DONE) +
        ext_bs(6, 4096, 1, [(4096, 0)]) +
        ext(4, 0, b.CHUNK_NONE) + ext(8, 0, b.CHUNK_NONE) +
        ext_bs(2, 0, 1, [(4096, 0), (61440, 3)], 0) +
        ext_bs(2, 0, 2, [(65536, 1 << 33)]) +
        ext_bs(9, 4096, 1, [(6 << 30, 3), (3 << 30, 0)], 0) +
        ext_bs(9, 4096, 2, [(8 << 30, 0)]) +
        ext(10, 0, b.CHUNK_NONE) + ext(3, 0, b.CHUNK_NONE) +
        ext_data(7, 65536, 65536, b"\7" * 65536) +
        ext(7, 65536, b.CHUNK_OFFSET_HOLE, struct.pack(">QI", 131072, 65536)) +
        ext_data(1, 8192, 8192, b"\1" * 4096, DONE))
    s["ext-all-wide"] = bytes([0x83, 5, 11, 0x03]) + ext_all
    s["ext-all-narrow"] = bytes([0x83, 0, 0, 0x01]) + ext_all
    # a filtered block status (b3 bit2: only id 1 asked for) answered by
    # id 2: fatal; and one answered properly
    s["ext-filter-excluded"] = bytes([0x03, 0, 0, 0x07]) + (
        ext_bs(2, 0, 2, [(65536, 0)]))
    s["ext-filter-ok"] = bytes([0x03, 0, 0, 0x07]) + (
        ext_bs(2, 0, 1, [(65536, 0)]) + ext(3, 0, b.CHUNK_NONE))
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "testdata", "fuzz", "harness")
    for kind, seeds in (("handshake", handshake_seeds()), ("reply", reply_seeds())):
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name + ".bin"), "wb") as f:
                f.write(data)
    print("wrote harness seeds to", out)


if __name__ == "__main__":
    main()
