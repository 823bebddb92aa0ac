#!/usr/bin/env python3
"""gen_fuzz_seeds.py - write the seed corpus for the protocol-parser fuzzers.

    gen_fuzz_seeds.py [OUTDIR]          (default: testdata/fuzz)

OUTDIR/handshake/*.bin  server byte streams for the handshake: a greeting
                        followed by option replies (what a client reads
                        from connect until transmission starts).
OUTDIR/reply/*.bin      server byte streams in the transmission phase:
                        sequences of simple replies and structured chunks.

Each file is either valid ("ok-*") or near-valid ("bad-*": one field
wrong, built the same way as the badserver.py scenario of that name).
Everything is produced by the encoder in badserver.py, so the corpus and
the scripted server cannot drift apart.  Output is deterministic: running
the script twice gives identical files.

Conventions a fuzz harness can rely on (documented in
docs/notes-robustness.md):
  * handshake streams assume the client asked, in this order, for
    STRUCTURED_REPLY, SET_META_CONTEXT base:allocation, GO with
    INFO_BLOCK_SIZE (libnbd's default sequence with one meta context;
    when STRUCTURED_REPLY is refused the SET_META_CONTEXT step is skipped);
    a stream whose first option reply answers EXTENDED_HEADERS ("*-eh-*")
    assumes the client asked for EXTENDED_HEADERS first (then, if refused,
    STRUCTURED_REPLY);
  * reply streams answer requests whose cookies are 1, 2, 3, ... : cookie 1
    is a READ of 4096 bytes at offset 8192, cookie 2 a BLOCK_STATUS of
    65536 bytes at 0, cookie 3 a FLUSH; the metadata context id is 1.  A
    stream that starts with an extended reply header ("*-ext-*") is read
    with extended headers negotiated, where also cookie 9 is a
    BLOCK_STATUS of 8 GiB at 4096 and cookie 10 a WRITE_ZEROES of 6 GiB
    at 0; every extended header echoes its request's offset.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import badserver as b  # noqa: E402

READ_COOKIE, BS_COOKIE, FLUSH_COOKIE = 1, 2, 3
READ_OFF, READ_LEN = 8192, 4096


def data(off=READ_OFF, n=READ_LEN):
    return bytes(b.initial_contents()[off:off + n])


DATA = data()


# -- handshake streams -------------------------------------------------

def go_replies(export_flags=b.EXPORT_FLAGS, block=None, info_export=None):
    out = info_export if info_export is not None else b.enc_opt_reply(
        b.OPT_GO, b.REP_INFO, b.enc_info_export(b.EXPORT_SIZE, export_flags))
    out += b.enc_opt_reply(b.OPT_GO, b.REP_INFO,
                           block if block is not None else
                           b.enc_info_block_size())
    return out + b.enc_opt_reply(b.OPT_GO, b.REP_ACK)


def sr_ack():
    return b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, b.REP_ACK)


def meta_replies(name=b.BASE_ALLOCATION, ctx=b.META_ID):
    return (b.enc_opt_reply(b.OPT_SET_META_CONTEXT, b.REP_META_CONTEXT,
                            b.enc_meta_context(ctx, name)) +
            b.enc_opt_reply(b.OPT_SET_META_CONTEXT, b.REP_ACK))


def newstyle(*parts, flags=b.FLAG_FIXED_NEWSTYLE | b.FLAG_NO_ZEROES):
    return b.enc_greeting_newstyle(flags) + b"".join(parts)


def handshake_seeds():
    s = {}
    s["ok-newstyle-go"] = newstyle(sr_ack(), meta_replies(), go_replies())
    s["ok-newstyle-no-structured"] = newstyle(
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, b.REP_ERR_UNSUP),
        go_replies())
    s["ok-export-name-fallback"] = newstyle(
        sr_ack(), meta_replies(),
        b.enc_opt_reply(b.OPT_GO, b.REP_ERR_UNSUP),
        b.enc_export_name_reply())
    s["ok-export-name-zeroes"] = newstyle(
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, b.REP_ERR_UNSUP),
        b.enc_opt_reply(b.OPT_GO, b.REP_ERR_UNSUP),
        b.enc_export_name_reply(zeroes=True),
        flags=b.FLAG_FIXED_NEWSTYLE)
    s["ok-oldstyle"] = b.enc_greeting_oldstyle()
    s["ok-unknown-greeting-flags"] = newstyle(
        sr_ack(), meta_replies(), go_replies(),
        flags=b.FLAG_FIXED_NEWSTYLE | b.FLAG_NO_ZEROES | 0xfff0)
    s["ok-go-with-name-description"] = newstyle(
        sr_ack(), meta_replies(),
        b.enc_opt_reply(b.OPT_GO, b.REP_INFO, b.enc_info_name(b"")),
        b.enc_opt_reply(b.OPT_GO, b.REP_INFO,
                        b.enc_info_description(b"badserver")),
        go_replies())
    s["ok-list"] = newstyle(
        b.enc_opt_reply(b.OPT_LIST, b.REP_SERVER, b.enc_rep_server(b"")),
        b.enc_opt_reply(b.OPT_LIST, b.REP_SERVER,
                        b.enc_rep_server(b"disk1", b"first disk")),
        b.enc_opt_reply(b.OPT_LIST, b.REP_ACK))
    s["ok-go-policy-error"] = newstyle(
        sr_ack(), meta_replies(),
        b.enc_opt_reply(b.OPT_GO, b.REP_ERR_POLICY, b"not allowed"))

    # near-valid: one field wrong
    s["bad-nbdmagic"] = b.enc_greeting_newstyle(magic=b.NBDMAGIC ^ 1)
    s["bad-ihaveopt"] = b.enc_greeting_newstyle(opt_magic=b.IHAVEOPT ^ 0x100)
    s["bad-oldstyle-magic"] = b.enc_greeting_oldstyle(
        old_magic=b.OLDSTYLE_MAGIC + 1)
    s["bad-oldstyle-no-has-flags"] = b.enc_greeting_oldstyle(
        flags=b.EXPORT_FLAGS & ~b.TF_HAS_FLAGS)
    s["bad-opt-reply-magic"] = newstyle(b.enc_opt_reply(
        b.OPT_STRUCTURED_REPLY, b.REP_ACK, magic=b.OPT_REPLY_MAGIC ^ 1))
    s["bad-opt-reply-wrong-option"] = newstyle(
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY + 1, b.REP_ACK))
    s["bad-opt-reply-unknown-type"] = newstyle(
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, 7))
    s["bad-opt-reply-len-4g"] = newstyle(b.enc_opt_reply(
        b.OPT_STRUCTURED_REPLY, b.REP_INFO, bytes(16), length=0xffffffff))
    s["bad-opt-reply-len-1g"] = newstyle(b.enc_opt_reply(
        b.OPT_STRUCTURED_REPLY, b.REP_INFO, bytes(16), length=1 << 30))
    s["bad-ack-with-data"] = newstyle(
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, b.REP_ACK, b"\0\0\0\0"))
    s["bad-info-export-short"] = newstyle(sr_ack(), meta_replies(), go_replies(
        info_export=b.enc_opt_reply(b.OPT_GO, b.REP_INFO,
                                    b.enc_info_export()[:10])))
    s["bad-info-export-long"] = newstyle(sr_ack(), meta_replies(), go_replies(
        info_export=b.enc_opt_reply(b.OPT_GO, b.REP_INFO,
                                    b.enc_info_export() + b"\0\0")))
    s["bad-info-block-size-short"] = newstyle(
        sr_ack(), meta_replies(),
        go_replies(block=b.enc_info_block_size()[:10]))
    s["bad-info-block-size-min"] = newstyle(
        sr_ack(), meta_replies(),
        go_replies(block=b.enc_info_block_size(3, 4096, b.BLOCK_MAX)))
    s["bad-info-block-size-pref"] = newstyle(
        sr_ack(), meta_replies(),
        go_replies(block=b.enc_info_block_size(1024, 256, b.BLOCK_MAX)))
    s["bad-info-block-size-max"] = newstyle(
        sr_ack(), meta_replies(),
        go_replies(block=b.enc_info_block_size(512, 4096, 1024)))
    s["bad-go-ack-without-info-export"] = newstyle(
        sr_ack(), meta_replies(), go_replies(info_export=b""))
    s["bad-no-has-flags"] = newstyle(
        sr_ack(), meta_replies(),
        go_replies(export_flags=b.EXPORT_FLAGS & ~b.TF_HAS_FLAGS))
    s["bad-export-name-truncated"] = newstyle(
        sr_ack(), meta_replies(),
        b.enc_opt_reply(b.OPT_GO, b.REP_ERR_UNSUP),
        b.enc_export_name_reply()[:9])
    s["bad-meta-context-name-too-long"] = newstyle(
        sr_ack(),
        meta_replies(name=b"base:" + b"x" * (b.MAX_STRING + 1 - 5)),
        go_replies())
    s["bad-meta-context-not-requested"] = newstyle(
        sr_ack(), meta_replies(name=b"qemu:dirty-bitmap:bad"), go_replies())
    # extended headers: asked for first; accepted, refused, then misused
    eh_ack = b.enc_opt_reply(b.OPT_EXTENDED_HEADERS, b.REP_ACK)
    s["ok-eh-go"] = newstyle(eh_ack, meta_replies(), go_replies(
        export_flags=b.EXPORT_FLAGS | b.TF_BLOCK_STAT_PAYLOAD))
    s["ok-eh-refused-sr"] = newstyle(
        b.enc_opt_reply(b.OPT_EXTENDED_HEADERS, b.REP_ERR_UNSUP),
        sr_ack(), meta_replies(), go_replies())
    s["ok-eh-refused-no-sr"] = newstyle(
        b.enc_opt_reply(b.OPT_EXTENDED_HEADERS, b.REP_ERR_POLICY, b"no"),
        b.enc_opt_reply(b.OPT_STRUCTURED_REPLY, b.REP_ERR_UNSUP),
        go_replies())
    s["bad-eh-go-unsup"] = newstyle(
        eh_ack, meta_replies(), b.enc_opt_reply(b.OPT_GO, b.REP_ERR_UNSUP),
        b.enc_export_name_reply())
    s["bad-eh-ack-with-data"] = newstyle(
        b.enc_opt_reply(b.OPT_EXTENDED_HEADERS, b.REP_ACK, b"\0\0\0\0"))
    s["bad-eh-wrong-option"] = newstyle(eh_ack, go_replies())
    s["bad-truncated-greeting"] = b.enc_greeting_newstyle()[:10]
    s["bad-truncated-opt-reply"] = newstyle(sr_ack()[:12])
    return s


# -- reply streams -----------------------------------------------------

def reply_seeds():
    s = {}
    half = READ_LEN // 2
    ext = b.compute_extents(b.initial_contents(), 0, 65536)
    s["ok-simple-read"] = b.enc_simple_reply(READ_COOKIE, 0, DATA)
    s["ok-simple-error"] = b.enc_simple_reply(READ_COOKIE, b.EIO)
    s["ok-simple-flush"] = b.enc_simple_reply(FLUSH_COOKIE, 0)
    s["ok-structured-read-one-chunk"] = b.enc_offset_data(
        READ_COOKIE, READ_OFF, DATA, b.REPLY_FLAG_DONE)
    s["ok-structured-read-split"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF + half, DATA[half:]) +
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half]) +
        b.enc_none(READ_COOKIE))
    s["ok-structured-read-hole"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half]) +
        b.enc_offset_hole(READ_COOKIE, READ_OFF + half, half,
                          b.REPLY_FLAG_DONE))
    s["ok-structured-error"] = b.enc_error_chunk(READ_COOKIE, b.EIO,
                                                 b"injected I/O error")
    s["ok-structured-error-offset"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half]) +
        b.enc_error_chunk(READ_COOKIE, b.EIO, b"bad sector",
                          ctype=b.CHUNK_ERROR_OFFSET,
                          offset=READ_OFF + half))
    s["ok-unknown-error-type"] = b.enc_error_chunk(READ_COOKIE, b.EIO, b"odd",
                                                   ctype=0x8055)
    s["ok-block-status"] = b.enc_block_status(BS_COOKIE, b.META_ID, ext)
    s["ok-block-status-overshoot"] = b.enc_block_status(
        BS_COOKIE, b.META_ID, [(65536 + 4096, 0)])
    s["ok-interleaved"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF + half, DATA[half:]) +
        b.enc_block_status(BS_COOKIE, b.META_ID, ext) +
        b.enc_simple_reply(FLUSH_COOKIE, 0) +
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half]) +
        b.enc_none(READ_COOKIE))

    s["bad-simple-magic"] = b.enc_simple_reply(
        READ_COOKIE, 0, DATA, magic=b.SIMPLE_REPLY_MAGIC ^ 0x10)
    s["bad-chunk-magic"] = b.enc_chunk(
        READ_COOKIE, b.REPLY_FLAG_DONE, b.CHUNK_OFFSET_DATA,
        struct.pack(">Q", READ_OFF) + DATA,
        magic=b.STRUCTURED_REPLY_MAGIC ^ 0x10)
    s["bad-unknown-cookie"] = b.enc_offset_data(
        READ_COOKIE + 0x10000, READ_OFF, DATA, b.REPLY_FLAG_DONE)
    s["bad-offset-data-outside"] = b.enc_offset_data(
        READ_COOKIE, READ_OFF + READ_LEN, DATA, b.REPLY_FLAG_DONE)
    s["bad-offset-data-before"] = b.enc_offset_data(
        READ_COOKIE, READ_OFF - 512, DATA, b.REPLY_FLAG_DONE)
    s["bad-offset-data-wrap"] = b.enc_offset_data(
        READ_COOKIE, (1 << 64) - 512, DATA, b.REPLY_FLAG_DONE)
    s["bad-offset-data-overlap"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half + 512]) +
        b.enc_offset_data(READ_COOKIE, READ_OFF + half, DATA[half:]) +
        b.enc_none(READ_COOKIE))
    s["bad-offset-data-empty"] = b.enc_offset_data(READ_COOKIE, READ_OFF, b"")
    s["bad-offset-hole-length"] = b.enc_chunk(
        READ_COOKIE, b.REPLY_FLAG_DONE, b.CHUNK_OFFSET_HOLE,
        struct.pack(">QII", READ_OFF, READ_LEN, 0))
    s["bad-offset-hole-zero"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA) +
        b.enc_offset_hole(READ_COOKIE, READ_OFF, 0, b.REPLY_FLAG_DONE))
    s["bad-none-without-done"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA) +
        b.enc_none(READ_COOKIE, flags=0))
    s["bad-done-incomplete"] = (
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA[:half]) +
        b.enc_none(READ_COOKIE))
    s["bad-unknown-chunk-type"] = b.enc_chunk(READ_COOKIE, 0, 0x55,
                                              b"\0" * 8)
    s["bad-chunk-len-huge"] = b.enc_chunk(
        READ_COOKIE, b.REPLY_FLAG_DONE, b.CHUNK_OFFSET_DATA,
        struct.pack(">Q", READ_OFF) + b"\0" * 64, length=0xfffffff0)
    s["bad-error-zero"] = b.enc_error_chunk(READ_COOKIE, 0, b"zero")
    s["bad-error-msg-exceeds-chunk"] = b.enc_error_chunk(
        READ_COOKIE, b.EIO, b"short", msg_len=200)
    s["bad-error-msg-too-long"] = b.enc_error_chunk(READ_COOKIE, b.EIO,
                                                    b"m" * 5000)
    s["bad-bs-zero-length"] = b.enc_block_status(
        BS_COOKIE, b.META_ID, [(0, 0)] + ext)
    s["bad-bs-beyond-request"] = b.enc_block_status(
        BS_COOKIE, b.META_ID, ext + [(4096, 0), (4096, b.STATE_HOLE)])
    s["bad-bs-unknown-context"] = b.enc_block_status(BS_COOKIE, 99, ext)
    s["bad-bs-duplicate-context"] = (
        b.enc_block_status(BS_COOKIE, b.META_ID, ext, 0) +
        b.enc_block_status(BS_COOKIE, b.META_ID, ext))
    s["bad-bs-truncated-entry"] = b.enc_chunk(
        BS_COOKIE, b.REPLY_FLAG_DONE, b.CHUNK_BLOCK_STATUS,
        struct.pack(">III", b.META_ID, 65536, 0)[:10])
    s.update(ext_reply_seeds(ext))
    s["bad-truncated-header"] = b.enc_offset_data(
        READ_COOKIE, READ_OFF, DATA, b.REPLY_FLAG_DONE)[:10]
    s["bad-truncated-payload"] = b.enc_simple_reply(
        READ_COOKIE, 0, DATA)[:16 + half]
    return s


BIG_BS_COOKIE, BIG_ZERO_COOKIE = 9, 10
BIG_BS_OFF, BIG_BS_LEN = 4096, 8 << 30


def ext_reply_seeds(ext):
    """Reply streams with extended headers (see the docstring above)."""
    s = {}
    half = READ_LEN // 2

    def chunk(cookie, ctype, payload=b"", flags=b.REPLY_FLAG_DONE,
              offset=None, length=None):
        req_off = {READ_COOKIE: READ_OFF, BIG_BS_COOKIE: BIG_BS_OFF}.get(
            cookie, 0)
        return b.enc_ext_chunk(cookie, flags, ctype,
                               req_off if offset is None else offset,
                               payload, length)

    def data_chunk(off, d, flags=0):
        return chunk(READ_COOKIE, b.CHUNK_OFFSET_DATA,
                     struct.pack(">Q", off) + d, flags)

    def bs(cookie, extents, ctx=b.META_ID, flags=b.REPLY_FLAG_DONE,
           count=None, offset=None):
        return chunk(cookie, b.CHUNK_BLOCK_STATUS_EXT,
                     b.enc_block_status_ext_payload(ctx, extents, count),
                     flags, offset)

    s["ok-ext-read-split"] = (
        data_chunk(READ_OFF + half, DATA[half:]) +
        data_chunk(READ_OFF, DATA[:half]) +
        chunk(READ_COOKIE, b.CHUNK_NONE))
    s["ok-ext-read-hole"] = (
        data_chunk(READ_OFF, DATA[:half]) +
        chunk(READ_COOKIE, b.CHUNK_OFFSET_HOLE,
              struct.pack(">QI", READ_OFF + half, half)))
    s["ok-ext-flush-none"] = chunk(FLUSH_COOKIE, b.CHUNK_NONE)
    s["ok-ext-error"] = chunk(READ_COOKIE, b.CHUNK_ERROR,
                              struct.pack(">IH", b.EIO, 3) + b"bad")
    s["ok-ext-block-status"] = bs(BS_COOKIE, ext)
    s["ok-ext-block-status-huge"] = (
        bs(BIG_BS_COOKIE, [(5 << 30, b.STATE_HOLE | b.STATE_ZERO),
                           (4 << 30, 0)]) +
        chunk(BIG_ZERO_COOKIE, b.CHUNK_NONE))
    s["ok-ext-block-status-flags64"] = bs(BS_COOKIE, [(65536, 1 << 40)])
    s["ok-ext-interleaved"] = (
        data_chunk(READ_OFF + half, DATA[half:]) + bs(BS_COOKIE, ext) +
        chunk(FLUSH_COOKIE, b.CHUNK_NONE) +
        data_chunk(READ_OFF, DATA[:half]) + chunk(READ_COOKIE, b.CHUNK_NONE))

    s["bad-ext-simple-reply"] = (b.enc_ext_header(
        FLUSH_COOKIE, b.REPLY_FLAG_DONE, b.CHUNK_NONE, 0, 0) +
        b.enc_simple_reply(FLUSH_COOKIE, 0))
    s["bad-ext-structured-header"] = (
        chunk(FLUSH_COOKIE, b.CHUNK_NONE) +
        b.enc_offset_data(READ_COOKIE, READ_OFF, DATA, b.REPLY_FLAG_DONE))
    s["bad-ext-offset-mismatch"] = chunk(
        READ_COOKIE, b.CHUNK_OFFSET_DATA,
        struct.pack(">Q", READ_OFF) + DATA, offset=READ_OFF + 512)
    s["bad-ext-len-huge"] = chunk(READ_COOKIE, b.CHUNK_OFFSET_DATA,
                                  struct.pack(">Q", READ_OFF),
                                  length=1 << 40)
    s["bad-ext-len-1g"] = chunk(READ_COOKIE, b.CHUNK_OFFSET_DATA,
                                struct.pack(">Q", READ_OFF),
                                length=1 << 30)
    s["bad-ext-bs-compact"] = chunk(
        BS_COOKIE, b.CHUNK_BLOCK_STATUS,
        struct.pack(">III", b.META_ID, 65536, 0))
    s["bad-ext-bs-count"] = bs(BS_COOKIE, ext, count=len(ext) + 3)
    s["bad-ext-bs-length"] = chunk(
        BS_COOKIE, b.CHUNK_BLOCK_STATUS_EXT,
        b.enc_block_status_ext_payload(b.META_ID, ext) + bytes(4))
    s["bad-ext-bs-zero-length"] = bs(BS_COOKIE, [(0, 0)] + ext)
    s["bad-ext-bs-beyond-request"] = bs(BS_COOKIE, ext + [(4096, 0)])
    s["bad-ext-bs-unknown-context"] = bs(BS_COOKIE, ext, ctx=99)
    s["bad-ext-bs-wrap"] = bs(BIG_BS_COOKIE, [(4096, 0),
                                               ((1 << 64) - 4096, 0)])
    s["bad-ext-bs-offset"] = bs(BS_COOKIE, ext, offset=4096)
    return s


def write_dir(path, seeds):
    os.makedirs(path, exist_ok=True)
    wanted = set()
    for name, blob in sorted(seeds.items()):
        fn = name + ".bin"
        wanted.add(fn)
        with open(os.path.join(path, fn), "wb") as f:
            f.write(blob)
    # Drop stale seeds this script no longer produces.
    for fn in os.listdir(path):
        if fn.endswith(".bin") and fn not in wanted:
            os.unlink(os.path.join(path, fn))
    return len(wanted)


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fuzz")
    n1 = write_dir(os.path.join(out, "handshake"), handshake_seeds())
    n2 = write_dir(os.path.join(out, "reply"), reply_seeds())
    print("gen_fuzz_seeds: %d handshake and %d reply seeds in %s"
          % (n1, n2, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
