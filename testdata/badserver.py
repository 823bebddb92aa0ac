#!/usr/bin/env python3
"""badserver.py - a scripted, deliberately misbehaving NBD server.

The server speaks a correct baseline of the NBD protocol (fixed newstyle
handshake with NO_ZEROES, STRUCTURED_REPLY, LIST/SET_META_CONTEXT for
base:allocation, INFO/GO with INFO_EXPORT + INFO_BLOCK_SIZE, the EXPORT_NAME
fallback, an oldstyle mode, and the READ/WRITE/FLUSH/TRIM/WRITE_ZEROES/CACHE/
BLOCK_STATUS/DISC commands on an in-memory 1 MiB export, with simple and
structured replies).  A *scenario* is that baseline with exactly one fault
injected at one point; the client test suite (c/tests/hostile/) runs the
library against every scenario and checks that it reacts as the protocol
requires.

Usage:
    badserver.py --list
    badserver.py --scenario NAME --unix PATH     # serve one client on PATH
    badserver.py --scenario NAME -s              # inetd style on stdin/stdout
    badserver.py --scenario NAME --systemd       # socket activation (LISTEN_FDS)

Python 3 standard library only.  All integers on the wire are big-endian.
The module-level enc_* functions are the encoder shared with
gen_fuzz_seeds.py.
"""

import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

# ---------------------------------------------------------------------------
# Protocol constants (from the NBD protocol document)

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OLDSTYLE_MAGIC = 0x00420281861253
OPT_REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF
EXTENDED_REQUEST_MAGIC = 0x21E41C71
EXTENDED_REPLY_MAGIC = 0x6E8A278C

FLAG_FIXED_NEWSTYLE = 1 << 0
FLAG_NO_ZEROES = 1 << 1
CFLAG_FIXED_NEWSTYLE = 1 << 0
CFLAG_NO_ZEROES = 1 << 1

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10
OPT_EXTENDED_HEADERS = 11

REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_META_CONTEXT = 4
REP_ERR = 1 << 31
REP_ERR_UNSUP = REP_ERR + 1
REP_ERR_POLICY = REP_ERR + 2
REP_ERR_INVALID = REP_ERR + 3
REP_ERR_PLATFORM = REP_ERR + 4
REP_ERR_TLS_REQD = REP_ERR + 5
REP_ERR_UNKNOWN = REP_ERR + 6
REP_ERR_SHUTDOWN = REP_ERR + 7
REP_ERR_BLOCK_SIZE_REQD = REP_ERR + 8
REP_ERR_TOO_BIG = REP_ERR + 9
REP_ERR_EXT_HEADER_REQD = REP_ERR + 10

INFO_EXPORT = 0
INFO_NAME = 1
INFO_DESCRIPTION = 2
INFO_BLOCK_SIZE = 3

TF_HAS_FLAGS = 1 << 0
TF_READ_ONLY = 1 << 1
TF_SEND_FLUSH = 1 << 2
TF_SEND_FUA = 1 << 3
TF_ROTATIONAL = 1 << 4
TF_SEND_TRIM = 1 << 5
TF_SEND_WRITE_ZEROES = 1 << 6
TF_SEND_DF = 1 << 7
TF_CAN_MULTI_CONN = 1 << 8
TF_SEND_RESIZE = 1 << 9
TF_SEND_CACHE = 1 << 10
TF_SEND_FAST_ZERO = 1 << 11
TF_BLOCK_STAT_PAYLOAD = 1 << 12

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7

CMDFLAG_FUA = 1 << 0
CMDFLAG_NO_HOLE = 1 << 1
CMDFLAG_DF = 1 << 2
CMDFLAG_REQ_ONE = 1 << 3
CMDFLAG_FAST_ZERO = 1 << 4
CMDFLAG_PAYLOAD_LEN = 1 << 5

REPLY_FLAG_DONE = 1 << 0
CHUNK_NONE = 0
CHUNK_OFFSET_DATA = 1
CHUNK_OFFSET_HOLE = 2
CHUNK_BLOCK_STATUS = 5
CHUNK_BLOCK_STATUS_EXT = 6
CHUNK_ERROR = 0x8001
CHUNK_ERROR_OFFSET = 0x8002

EPERM = 1
EIO = 5
ENOMEM = 12
EINVAL = 22
ENOSPC = 28
EOVERFLOW = 75
ENOTSUP = 95
ESHUTDOWN = 108

STATE_HOLE = 1 << 0
STATE_ZERO = 1 << 1

# Baseline export.
EXPORT_SIZE = 1 << 20
EXPORT_FLAGS = (TF_HAS_FLAGS | TF_SEND_FLUSH | TF_SEND_FUA | TF_SEND_TRIM |
                TF_SEND_WRITE_ZEROES | TF_SEND_DF | TF_CAN_MULTI_CONN |
                TF_SEND_CACHE | TF_SEND_FAST_ZERO)
BLOCK_MIN = 1
BLOCK_PREF = 4096
BLOCK_MAX = 32 * 1024 * 1024
BASE_ALLOCATION = b"base:allocation"
META_ID = 1            # context id the baseline gives base:allocation
MAX_STRING = 4096      # longest name/string the protocol allows on the wire
EXTENT_GRAIN = 4096    # granularity of baseline block status


def initial_contents():
    """First half: a non-zero byte pattern (data), second half: zeroes (hole).
    Byte i of the data half is (i % 251) + 1, so no byte is zero."""
    half = EXPORT_SIZE // 2
    pattern = bytes(range(1, 252))
    reps = half // len(pattern) + 1
    data = (pattern * reps)[:half]
    return bytearray(data) + bytearray(EXPORT_SIZE - half)


# ---------------------------------------------------------------------------
# Encoders (shared with gen_fuzz_seeds.py)

def enc_greeting_newstyle(flags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES,
                          magic=NBDMAGIC, opt_magic=IHAVEOPT):
    return struct.pack(">QQH", magic, opt_magic, flags)


def enc_greeting_oldstyle(size=EXPORT_SIZE, flags=EXPORT_FLAGS,
                          magic=NBDMAGIC, old_magic=OLDSTYLE_MAGIC):
    return struct.pack(">QQQI", magic, old_magic, size, flags) + bytes(124)


def enc_opt_reply(opt, rtype, data=b"", length=None, magic=OPT_REPLY_MAGIC):
    if length is None:
        length = len(data)
    return struct.pack(">QIII", magic, opt, rtype, length) + data


def enc_info_export(size=EXPORT_SIZE, flags=EXPORT_FLAGS):
    return struct.pack(">HQH", INFO_EXPORT, size, flags)


def enc_info_block_size(minimum=BLOCK_MIN, preferred=BLOCK_PREF,
                        maximum=BLOCK_MAX):
    return struct.pack(">HIII", INFO_BLOCK_SIZE, minimum, preferred, maximum)


def enc_info_name(name):
    return struct.pack(">H", INFO_NAME) + name


def enc_info_description(text):
    return struct.pack(">H", INFO_DESCRIPTION) + text


def enc_meta_context(ctx_id, name):
    return struct.pack(">I", ctx_id) + name


def enc_rep_server(name, description=b""):
    return struct.pack(">I", len(name)) + name + description


def enc_export_name_reply(size=EXPORT_SIZE, flags=EXPORT_FLAGS, zeroes=False):
    return struct.pack(">QH", size, flags) + (bytes(124) if zeroes else b"")


def enc_simple_reply(cookie, error=0, data=b"", magic=SIMPLE_REPLY_MAGIC):
    return struct.pack(">IIQ", magic, error, cookie) + data


def enc_chunk(cookie, flags, ctype, payload=b"", length=None,
              magic=STRUCTURED_REPLY_MAGIC):
    if length is None:
        length = len(payload)
    return struct.pack(">IHHQI", magic, flags, ctype, cookie, length) + payload


def enc_offset_data(cookie, offset, data, flags=0):
    return enc_chunk(cookie, flags, CHUNK_OFFSET_DATA,
                     struct.pack(">Q", offset) + data)


def enc_offset_hole(cookie, offset, size, flags=0):
    return enc_chunk(cookie, flags, CHUNK_OFFSET_HOLE,
                     struct.pack(">QI", offset, size))


def enc_none(cookie, flags=REPLY_FLAG_DONE):
    return enc_chunk(cookie, flags, CHUNK_NONE)


def enc_block_status(cookie, ctx_id, extents, flags=REPLY_FLAG_DONE):
    payload = struct.pack(">I", ctx_id)
    for length, state in extents:
        payload += struct.pack(">II", length, state)
    return enc_chunk(cookie, flags, CHUNK_BLOCK_STATUS, payload)


def enc_error_chunk(cookie, error, message=b"", flags=REPLY_FLAG_DONE,
                    msg_len=None, ctype=CHUNK_ERROR, offset=None):
    if msg_len is None:
        msg_len = len(message)
    payload = struct.pack(">IH", error, msg_len) + message
    if offset is not None:
        payload += struct.pack(">Q", offset)
    return enc_chunk(cookie, flags, ctype, payload)


def enc_ext_header(cookie, flags, ctype, offset, length,
                   magic=EXTENDED_REPLY_MAGIC):
    """Extended reply header (32 bytes): the chunk header with the
    request's offset and a 64-bit payload length."""
    return struct.pack(">IHHQQQ", magic, flags, ctype, cookie, offset, length)


def enc_ext_chunk(cookie, flags, ctype, offset, payload=b"", length=None):
    if length is None:
        length = len(payload)
    return enc_ext_header(cookie, flags, ctype, offset, length) + payload


def enc_block_status_ext_payload(ctx_id, extents, count=None):
    """BLOCK_STATUS_EXT payload: u32 id, u32 descriptor count, then per
    extent u64 length and u64 flags."""
    if count is None:
        count = len(extents)
    payload = struct.pack(">II", ctx_id, count)
    for length, state in extents:
        payload += struct.pack(">QQ", length, state)
    return payload


def enc_block_status_ext(cookie, offset, ctx_id, extents,
                         flags=REPLY_FLAG_DONE, count=None):
    return enc_ext_chunk(cookie, flags, CHUNK_BLOCK_STATUS_EXT, offset,
                         enc_block_status_ext_payload(ctx_id, extents, count))


def extend_replies(data, offset):
    """Rewrites compact replies (as the baseline encodes them) into their
    extended form: every structured chunk gets the 32-byte header with
    OFFSET, a 32-bit BLOCK_STATUS chunk becomes BLOCK_STATUS_EXT, and a
    simple reply (never a read's, which is structured here) becomes a NONE
    chunk or an ERROR chunk.  Bytes it does not recognise pass unchanged,
    so deliberately broken output survives."""
    out = b""
    pos = 0
    while pos + 4 <= len(data):
        (magic,) = struct.unpack_from(">I", data, pos)
        if magic == STRUCTURED_REPLY_MAGIC and pos + 20 <= len(data):
            _, flags, ctype, cookie, length = struct.unpack_from(
                ">IHHQI", data, pos)
            payload = data[pos + 20:pos + 20 + length]
            if ctype == CHUNK_BLOCK_STATUS and len(payload) >= 4:
                (ctx,) = struct.unpack_from(">I", payload, 0)
                ext = [struct.unpack_from(">II", payload, 4 + 8 * i)
                       for i in range((len(payload) - 4) // 8)]
                out += enc_block_status_ext(cookie, offset, ctx, ext, flags)
            else:
                out += enc_ext_chunk(cookie, flags, ctype, offset, payload)
            pos += 20 + length
        elif magic == SIMPLE_REPLY_MAGIC and pos + 16 <= len(data):
            _, error, cookie = struct.unpack_from(">IIQ", data, pos)
            if error:
                msg = b"badserver: error"
                out += enc_ext_chunk(cookie, REPLY_FLAG_DONE, CHUNK_ERROR,
                                     offset,
                                     struct.pack(">IH", error, len(msg)) + msg)
            else:
                out += enc_ext_chunk(cookie, REPLY_FLAG_DONE, CHUNK_NONE,
                                     offset)
            pos += 16
        else:
            break
    return out + data[pos:]


def compute_extents(data, offset, length, req_one=False):
    """Block status of data[offset:offset+length] in EXTENT_GRAIN units:
    runs of all-zero blocks are HOLE|ZERO, anything else is 0 (data)."""
    extents = []
    end = offset + length
    pos = offset
    zero_block = bytes(EXTENT_GRAIN)
    while pos < end:
        nxt = min((pos // EXTENT_GRAIN + 1) * EXTENT_GRAIN, end)
        blk = bytes(data[pos:nxt])
        state = (STATE_HOLE | STATE_ZERO) if blk == zero_block[:len(blk)] else 0
        if extents and extents[-1][1] == state:
            extents[-1][0] += nxt - pos
        else:
            extents.append([nxt - pos, state])
        pos = nxt
        if req_one and len(extents) > 1:
            extents.pop()
            break
    return [tuple(e) for e in extents]


# ---------------------------------------------------------------------------
# Connection plumbing

class Disconnect(Exception):
    """The client went away (EOF) or the scenario ended the connection."""


class Conn:
    def __init__(self, rfd, wfd, log):
        self.rfd = rfd
        self.wfd = wfd
        self.log = log

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = os.read(self.rfd, n - len(buf))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Disconnect("client closed the connection")
            buf += chunk
        return buf

    def send(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.wfd, view)
            except (BrokenPipeError, ConnectionResetError):
                raise Disconnect("client closed the connection")
            view = view[n:]

    def close(self):
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)
            except OSError:
                pass

    def wait_for_eof(self):
        """Stall: keep the connection open, read and discard anything the
        client sends, until the client closes."""
        self.log("stalling until the client closes")
        while True:
            try:
                chunk = os.read(self.rfd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise Disconnect("client closed while stalled")


# ---------------------------------------------------------------------------
# The baseline server

class Request:
    def __init__(self, raw):
        if len(raw) == 32:
            (self.magic, self.flags, self.type, self.cookie, self.offset,
             self.length) = struct.unpack(">IHHQQQ", raw)
        else:
            (self.magic, self.flags, self.type, self.cookie, self.offset,
             self.length) = struct.unpack(">IHHQQI", raw)
        self.effect = self.length   # the range the command covers
        self.filter = None          # block status: context ids asked for


class Server:
    """Correct baseline.  Scenario subclasses override exactly one hook."""

    description = "correct baseline server (no fault)"
    oldstyle = False
    handshake_flags = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES
    export_flags = EXPORT_FLAGS

    def __init__(self, conn, log):
        self.conn = conn
        self.log = log
        self.data = initial_contents()
        self.client_flags = 0
        self.structured = False
        self.extended = False   # extended headers agreed (implies structured)
        self.cur_req = None     # the request being answered (extended mode)
        self.meta = {}          # context id -> name of negotiated contexts
        self.opt_replies = 0    # option replies sent so far
        self.reads = 0          # READ requests seen so far
        self.requests = 0       # requests seen so far

    # -- helpers -------------------------------------------------------
    def send(self, data):
        """Sends DATA; in extended mode the replies the baseline encodes
        are rewritten into their extended form (extend_replies).  Faults
        meant to reach the client as they are use send_raw."""
        if self.extended and self.cur_req is not None:
            data = extend_replies(data, self.cur_req.offset)
        self.conn.send(data)

    def send_raw(self, data):
        self.conn.send(data)

    def close_now(self, why):
        self.log("closing: " + why)
        raise Disconnect(why)

    def stall(self):
        self.conn.wait_for_eof()

    # -- handshake -----------------------------------------------------
    def run(self):
        if self.oldstyle:
            self.send_oldstyle_greeting()
            self.transmission()
            return
        self.send_greeting()
        self.client_flags = struct.unpack(">I", self.conn.recv(4))[0]
        self.log("client flags 0x%x" % self.client_flags)
        if self.option_loop():
            self.transmission()

    def send_greeting(self):
        self.send(enc_greeting_newstyle(self.handshake_flags))

    def send_oldstyle_greeting(self):
        self.send(enc_greeting_oldstyle(EXPORT_SIZE, self.export_flags))

    def opt_reply(self, opt, rtype, data=b""):
        self.opt_replies += 1
        self.send(enc_opt_reply(opt, rtype, data))

    def option_loop(self):
        """Returns True when transmission phase should start."""
        while True:
            magic, opt, length = struct.unpack(">QII", self.conn.recv(16))
            if magic != IHAVEOPT:
                self.close_now("bad option magic from client")
            if length > 65536:
                self.close_now("option too long")
            data = self.conn.recv(length)
            self.log("option %d length %d" % (opt, length))
            if opt == OPT_EXPORT_NAME:
                self.handle_export_name(data)
                return True
            if opt == OPT_ABORT:
                self.opt_reply(opt, REP_ACK)
                self.close_now("client aborted")
            if not (self.handshake_flags & FLAG_FIXED_NEWSTYLE):
                self.close_now("unexpected option without fixed newstyle")
            if opt == OPT_LIST:
                self.handle_list(data)
            elif opt == OPT_STRUCTURED_REPLY:
                self.handle_structured_reply(data)
            elif opt == OPT_EXTENDED_HEADERS:
                self.handle_extended_headers(data)
            elif opt in (OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT):
                self.handle_meta_context(opt, data)
            elif opt in (OPT_INFO, OPT_GO):
                if self.handle_info_go(opt, data):
                    return True
            elif opt == OPT_STARTTLS:
                self.handle_starttls(data)
            else:
                self.opt_reply(opt, REP_ERR_UNSUP)

    def handle_starttls(self, data):
        # The baseline has no TLS (the TLS scenarios below fake its start).
        self.opt_reply(OPT_STARTTLS, REP_ERR_UNSUP)

    def handle_list(self, data):
        if data:
            self.opt_reply(OPT_LIST, REP_ERR_INVALID)
            return
        self.opt_reply(OPT_LIST, REP_SERVER, enc_rep_server(b""))
        self.opt_reply(OPT_LIST, REP_ACK)

    def handle_structured_reply(self, data):
        if data:
            self.opt_reply(OPT_STRUCTURED_REPLY, REP_ERR_INVALID)
            return
        self.structured = True
        self.opt_reply(OPT_STRUCTURED_REPLY, REP_ACK)

    # The baseline does not know extended headers (ERR_UNSUP, as an older
    # server would answer); ExtendedServer speaks them.
    supports_extended = False

    def handle_extended_headers(self, data):
        if not self.supports_extended:
            self.opt_reply(OPT_EXTENDED_HEADERS, REP_ERR_UNSUP)
            return
        if data:
            self.opt_reply(OPT_EXTENDED_HEADERS, REP_ERR_INVALID)
            return
        self.extended = True
        self.structured = True
        self.opt_reply(OPT_EXTENDED_HEADERS, REP_ACK)

    def parse_meta_request(self, data):
        (nlen,) = struct.unpack_from(">I", data, 0)
        pos = 4 + nlen
        (nq,) = struct.unpack_from(">I", data, pos)
        pos += 4
        queries = []
        for _ in range(nq):
            (qlen,) = struct.unpack_from(">I", data, pos)
            pos += 4
            queries.append(bytes(data[pos:pos + qlen]))
            pos += qlen
        return data[4:4 + nlen], queries

    def handle_meta_context(self, opt, data):
        if opt == OPT_SET_META_CONTEXT and not self.structured:
            self.opt_reply(opt, REP_ERR_INVALID)
            return
        try:
            _, queries = self.parse_meta_request(data)
        except struct.error:
            self.opt_reply(opt, REP_ERR_INVALID)
            return
        if opt == OPT_SET_META_CONTEXT:
            self.meta = {}
        if opt == OPT_LIST_META_CONTEXT and not queries:
            queries = [BASE_ALLOCATION]
        for q in queries:
            if q in (BASE_ALLOCATION, b"base:"):
                self.send_meta_context(opt, META_ID, BASE_ALLOCATION)
                if opt == OPT_SET_META_CONTEXT:
                    self.meta[META_ID] = BASE_ALLOCATION
        self.opt_reply(opt, REP_ACK)

    def send_meta_context(self, opt, ctx_id, name):
        self.opt_reply(opt, REP_META_CONTEXT, enc_meta_context(ctx_id, name))

    def handle_info_go(self, opt, data):
        try:
            (nlen,) = struct.unpack_from(">I", data, 0)
            name = data[4:4 + nlen]
            (ninfo,) = struct.unpack_from(">H", data, 4 + nlen)
            infos = struct.unpack_from(">%dH" % ninfo, data, 6 + nlen)
            if 6 + nlen + 2 * ninfo != len(data):
                raise struct.error("length mismatch")
        except struct.error:
            self.opt_reply(opt, REP_ERR_INVALID)
            return False
        self.log("%s export %r infos %r" %
                 ("GO" if opt == OPT_GO else "INFO", name, infos))
        self.send_info_export(opt)
        self.send_info_block_size(opt)
        if INFO_NAME in infos:
            self.opt_reply(opt, REP_INFO, enc_info_name(name))
        if INFO_DESCRIPTION in infos:
            self.opt_reply(opt, REP_INFO, enc_info_description(b"badserver"))
        return self.finish_info_go(opt)

    def send_info_export(self, opt):
        flags = self.export_flags
        if self.extended:
            flags |= TF_BLOCK_STAT_PAYLOAD
        self.opt_reply(opt, REP_INFO, enc_info_export(EXPORT_SIZE, flags))

    def send_info_block_size(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_block_size())

    def finish_info_go(self, opt):
        self.opt_reply(opt, REP_ACK)
        if opt == OPT_GO:
            self.after_go()
            return True
        return False

    def after_go(self):
        pass

    def handle_export_name(self, data):
        zeroes = not (self.client_flags & CFLAG_NO_ZEROES)
        self.send(enc_export_name_reply(EXPORT_SIZE, self.export_flags,
                                        zeroes))

    # -- transmission --------------------------------------------------
    def transmission(self):
        self.log("transmission phase (structured=%s)" % self.structured)
        while True:
            req = Request(self.conn.recv(32 if self.extended else 28))
            want = EXTENDED_REQUEST_MAGIC if self.extended else REQUEST_MAGIC
            if req.magic != want:
                self.close_now("bad request magic")
            self.requests += 1
            self.cur_req = req
            payload = b""
            if self.extended and req.type == CMD_WRITE and \
                    not (req.flags & CMDFLAG_PAYLOAD_LEN):
                self.close_now("extended write without PAYLOAD_LEN")
            if self.extended and (req.flags & CMDFLAG_PAYLOAD_LEN):
                if req.length > BLOCK_MAX:
                    self.close_now("payload too long")
                payload = self.conn.recv(req.length)
                if req.type == CMD_BLOCK_STATUS:
                    if len(payload) < 12 or (len(payload) - 8) % 4:
                        self.close_now("bad block status payload")
                    (req.effect,) = struct.unpack_from(">Q", payload, 0)
                    req.filter = [struct.unpack_from(">I", payload, 8 + 4 * i)[0]
                                  for i in range((len(payload) - 8) // 4)]
                    payload = b""
                    req.length = req.effect
            elif req.type == CMD_WRITE:
                payload = self.conn.recv(req.length)
            self.log("request type %d flags 0x%x cookie %d offset %d len %d"
                     % (req.type, req.flags, req.cookie, req.offset,
                        req.length))
            if req.type == CMD_DISC:
                self.on_disc()
            self.handle_request(req, payload)

    def on_disc(self):
        self.close_now("client sent DISC")

    def in_bounds(self, req):
        return req.offset + req.length <= EXPORT_SIZE

    def handle_request(self, req, payload):
        t = req.type
        if t == CMD_READ:
            self.reads += 1
            if not self.in_bounds(req):
                self.reply_error(req, EINVAL)
            else:
                self.reply_read(req)
        elif t == CMD_WRITE:
            if not self.in_bounds(req):
                self.reply_error(req, ENOSPC)
                return
            self.data[req.offset:req.offset + req.length] = payload
            self.reply_ok(req)
        elif t == CMD_FLUSH:
            self.reply_flush(req)
        elif t in (CMD_TRIM, CMD_WRITE_ZEROES):
            if not self.in_bounds(req):
                self.reply_error(req, ENOSPC)
                return
            self.data[req.offset:req.offset + req.length] = bytes(req.length)
            self.reply_ok(req)
        elif t == CMD_CACHE:
            self.reply_ok(req)
        elif t == CMD_BLOCK_STATUS:
            if not self.structured or not self.meta:
                self.reply_error(req, EINVAL)
            elif not self.in_bounds(req):
                self.reply_error(req, EINVAL)
            else:
                self.reply_block_status(req)
        else:
            self.reply_error(req, EINVAL)

    def reply_ok(self, req):
        self.send(enc_simple_reply(req.cookie, 0))

    def reply_flush(self, req):
        self.reply_ok(req)

    def reply_error(self, req, err):
        if self.structured:
            self.send(enc_error_chunk(req.cookie, err, b"badserver: error"))
        else:
            self.send(enc_simple_reply(req.cookie, err))

    def read_bytes(self, req):
        return bytes(self.data[req.offset:req.offset + req.length])

    def reply_read(self, req):
        data = self.read_bytes(req)
        if not self.structured:
            self.send(enc_simple_reply(req.cookie, 0, data))
        elif req.flags & CMDFLAG_DF or req.length < 2:
            self.send(enc_offset_data(req.cookie, req.offset, data,
                                      REPLY_FLAG_DONE))
        else:
            # Two chunks, second half first, then a NONE to finish: a
            # correct client must reassemble out-of-order chunks.
            half = req.length // 2
            self.send(enc_offset_data(req.cookie, req.offset + half,
                                      data[half:]))
            self.send(enc_offset_data(req.cookie, req.offset, data[:half]))
            self.send(enc_none(req.cookie))

    def extents_for(self, req):
        return compute_extents(self.data, req.offset, req.length,
                               bool(req.flags & CMDFLAG_REQ_ONE))

    def reply_block_status(self, req):
        ids = sorted(self.meta)
        if req.filter is not None:
            ids = [i for i in ids if i in req.filter]
        chunks = [(ctx, self.extents_for(req)) for ctx in ids]
        for i, (ctx, ext) in enumerate(chunks):
            last = i == len(chunks) - 1
            self.send(enc_block_status(req.cookie, ctx, ext,
                                       REPLY_FLAG_DONE if last else 0))


# ---------------------------------------------------------------------------
# Scenarios: the baseline with one fault injected at one point.

SCENARIOS = {}


def scenario(name):
    def register(cls):
        cls.scenario_name = name
        SCENARIOS[name] = cls
        return cls
    return register


@scenario("baseline")
class Baseline(Server):
    description = "correct newstyle server, no fault (control)"


@scenario("baseline-oldstyle")
class BaselineOldstyle(Server):
    description = "correct oldstyle server, no fault (control)"
    oldstyle = True


@scenario("baseline-export-name")
class BaselineExportName(Server):
    description = ("GO/INFO answered ERR_UNSUP: client must fall back to "
                   "EXPORT_NAME (no fault, control)")

    def handle_info_go(self, opt, data):
        self.opt_reply(opt, REP_ERR_UNSUP)
        return False


@scenario("baseline-unknown-greeting-flags")
class BaselineUnknownGreetingFlags(Server):
    description = ("greeting has unknown handshake flag bits set, which a "
                   "client must ignore (no fault, control)")
    handshake_flags = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES | 0xfff0


@scenario("baseline-no-structured")
class BaselineNoStructured(Server):
    description = ("STRUCTURED_REPLY answered ERR_UNSUP; simple replies "
                   "only (no fault, control)")

    def handle_structured_reply(self, data):
        self.opt_reply(OPT_STRUCTURED_REPLY, REP_ERR_UNSUP)


@scenario("baseline-final-extent-overshoot")
class BaselineFinalExtentOvershoot(Server):
    description = ("last block-status extent runs past the requested range "
                   "(but not past the export), which the protocol allows "
                   "(no fault, control)")

    def extents_for(self, req):
        ext = compute_extents(self.data, req.offset, req.length)
        length, state = ext[-1]
        extra = min(EXTENT_GRAIN, EXPORT_SIZE - (req.offset + req.length))
        ext[-1] = (length + extra, state)
        return ext


# -- handshake faults ---------------------------------------------------

@scenario("bad-nbdmagic")
class BadNbdMagic(Server):
    description = "greeting starts with a wrong NBDMAGIC"

    def send_greeting(self):
        self.send(enc_greeting_newstyle(self.handshake_flags,
                                        magic=NBDMAGIC ^ 1))
        self.stall()


@scenario("bad-ihaveopt")
class BadIhaveopt(Server):
    description = "greeting has a wrong IHAVEOPT magic"

    def send_greeting(self):
        self.send(enc_greeting_newstyle(self.handshake_flags,
                                        opt_magic=IHAVEOPT ^ 0x100))
        self.stall()


@scenario("oldstyle-bad-magic")
class OldstyleBadMagic(Server):
    description = "oldstyle greeting with a corrupted oldstyle magic"
    oldstyle = True

    def send_oldstyle_greeting(self):
        self.send(enc_greeting_oldstyle(old_magic=OLDSTYLE_MAGIC + 1))
        self.stall()


@scenario("oldstyle-no-has-flags")
class OldstyleNoHasFlags(Server):
    description = "oldstyle greeting whose flags lack HAS_FLAGS"
    oldstyle = True
    export_flags = EXPORT_FLAGS & ~TF_HAS_FLAGS


@scenario("close-after-greeting")
class CloseAfterGreeting(Server):
    description = ("server sends the greeting, reads the client flags and "
                   "the first option, then closes without replying")

    def option_loop(self):
        _, _, length = struct.unpack(">QII", self.conn.recv(16))
        self.conn.recv(length)
        self.close_now("scenario")


@scenario("close-mid-greeting")
class CloseMidGreeting(Server):
    description = "server closes after 10 bytes of the greeting"

    def send_greeting(self):
        self.send(enc_greeting_newstyle(self.handshake_flags)[:10])
        self.close_now("scenario")


class FirstOptReplyFault(Server):
    """Helper: corrupt the very first option reply (to STRUCTURED_REPLY)."""

    def opt_reply(self, opt, rtype, data=b""):
        if self.opt_replies == 0:
            self.opt_replies += 1
            self.send(self.bad_reply(opt, rtype, data))
            self.after_bad_reply()
            return
        Server.opt_reply(self, opt, rtype, data)

    def after_bad_reply(self):
        self.stall()


@scenario("opt-reply-bad-magic")
class OptReplyBadMagic(FirstOptReplyFault):
    description = "first option reply has a wrong reply magic"

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, rtype, data, magic=OPT_REPLY_MAGIC ^ 1)


@scenario("opt-reply-wrong-option")
class OptReplyWrongOption(FirstOptReplyFault):
    description = "first option reply echoes a different option number"

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt + 1, rtype, data)


@scenario("opt-reply-unknown-type")
class OptReplyUnknownType(FirstOptReplyFault):
    description = "first option reply has an unknown non-error reply type 7"

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, 7, data)


@scenario("opt-reply-huge-len-4g")
class OptReplyHugeLen4G(FirstOptReplyFault):
    description = ("first option reply claims length 0xffffffff (16 bytes "
                   "follow, then stall): must be rejected, not allocated")

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, REP_INFO, bytes(16), length=0xffffffff)


@scenario("opt-reply-huge-len-1g")
class OptReplyHugeLen1G(FirstOptReplyFault):
    description = ("first option reply claims length 1 GiB (16 bytes follow, "
                   "then stall): must be rejected, not allocated")

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, REP_INFO, bytes(16), length=1 << 30)


@scenario("ack-with-data")
class AckWithData(FirstOptReplyFault):
    description = "ACK to STRUCTURED_REPLY carries 4 bytes of data"

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, REP_ACK, b"\0\0\0\0")


@scenario("close-mid-option")
class CloseMidOption(FirstOptReplyFault):
    description = "server closes after 12 bytes of the first option reply"

    def bad_reply(self, opt, rtype, data):
        return enc_opt_reply(opt, rtype, data)[:12]

    def after_bad_reply(self):
        self.close_now("scenario")


@scenario("info-export-short")
class InfoExportShort(Server):
    description = "INFO_EXPORT with length 10 instead of 12"

    def send_info_export(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_export()[:10])


@scenario("info-export-long")
class InfoExportLong(Server):
    description = "INFO_EXPORT with length 14 instead of 12"

    def send_info_export(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_export() + b"\0\0")


@scenario("info-block-size-short")
class InfoBlockSizeShort(Server):
    description = "INFO_BLOCK_SIZE with length 10 instead of 14"

    def send_info_block_size(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_block_size()[:10])


@scenario("info-block-size-bad-min")
class InfoBlockSizeBadMin(Server):
    description = "INFO_BLOCK_SIZE minimum 3 (not a power of 2)"

    def send_info_block_size(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_block_size(3, 4096, BLOCK_MAX))


@scenario("info-block-size-bad-pref")
class InfoBlockSizeBadPref(Server):
    description = "INFO_BLOCK_SIZE preferred 256 < 512 and < minimum 1024"

    def send_info_block_size(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_block_size(1024, 256,
                                                          BLOCK_MAX))


@scenario("info-block-size-max-lt-pref")
class InfoBlockSizeMaxLtPref(Server):
    description = "INFO_BLOCK_SIZE maximum 1024 < preferred 4096"

    def send_info_block_size(self, opt):
        self.opt_reply(opt, REP_INFO, enc_info_block_size(512, 4096, 1024))


@scenario("go-ack-without-info-export")
class GoAckWithoutInfoExport(Server):
    description = "GO acknowledged without any INFO_EXPORT"

    def send_info_export(self, opt):
        pass


@scenario("no-has-flags")
class NoHasFlags(Server):
    description = "INFO_EXPORT transmission flags lack HAS_FLAGS"
    export_flags = EXPORT_FLAGS & ~TF_HAS_FLAGS


@scenario("export-name-truncated")
class ExportNameTruncated(BaselineExportName):
    description = ("GO answered ERR_UNSUP, then the EXPORT_NAME reply is cut "
                   "after 9 bytes and the server closes")

    def handle_export_name(self, data):
        self.send(enc_export_name_reply()[:9])
        self.close_now("scenario")


@scenario("export-name-rejected")
class ExportNameRejected(BaselineExportName):
    description = ("GO answered ERR_UNSUP, then the server closes without "
                   "any EXPORT_NAME reply (the protocol's way to refuse)")

    def handle_export_name(self, data):
        self.close_now("scenario")


@scenario("export-name-no-has-flags")
class ExportNameNoHasFlags(BaselineExportName):
    description = ("GO answered ERR_UNSUP, EXPORT_NAME reply lacks "
                   "HAS_FLAGS")
    export_flags = EXPORT_FLAGS & ~TF_HAS_FLAGS


@scenario("meta-context-name-too-long")
class MetaContextNameTooLong(Server):
    description = ("SET_META_CONTEXT reply carries a context name of 4097 "
                   "bytes")

    def send_meta_context(self, opt, ctx_id, name):
        long_name = b"base:" + b"x" * (MAX_STRING + 1 - 5)
        self.opt_reply(opt, REP_META_CONTEXT,
                       enc_meta_context(ctx_id, long_name))


@scenario("meta-context-not-requested")
class MetaContextNotRequested(Server):
    description = ("SET_META_CONTEXT reply names a context the client did "
                   "not ask for (qemu:dirty-bitmap:bad)")

    def send_meta_context(self, opt, ctx_id, name):
        self.opt_reply(opt, REP_META_CONTEXT,
                       enc_meta_context(ctx_id, b"qemu:dirty-bitmap:bad"))


@scenario("close-after-go")
class CloseAfterGo(Server):
    description = "server closes immediately after acknowledging GO"

    def after_go(self):
        self.close_now("scenario")


@scenario("close-after-reply")
class CloseAfterReply(Server):
    description = "server answers the first READ, then closes cleanly"

    def reply_read(self, req):
        Server.reply_read(self, req)
        self.close_now("scenario")


# -- transmission faults ------------------------------------------------

class FirstReadFault(Server):
    """Helper: the first READ gets the faulty reply from bad_read()."""

    def reply_read(self, req):
        if self.reads == 1:
            self.bad_read(req)
        else:
            Server.reply_read(self, req)


@scenario("simple-reply-bad-magic")
class SimpleReplyBadMagic(BaselineNoStructured, FirstReadFault):
    description = "simple reply to the first READ has a wrong magic"

    def bad_read(self, req):
        self.send(enc_simple_reply(req.cookie, 0, self.read_bytes(req),
                                   magic=SIMPLE_REPLY_MAGIC ^ 0x10))
        self.stall()


@scenario("chunk-bad-magic")
class ChunkBadMagic(FirstReadFault):
    description = "structured chunk to the first READ has a wrong magic"

    def bad_read(self, req):
        self.send(enc_chunk(req.cookie, REPLY_FLAG_DONE, CHUNK_OFFSET_DATA,
                            struct.pack(">Q", req.offset) +
                            self.read_bytes(req),
                            magic=STRUCTURED_REPLY_MAGIC ^ 0x10))
        self.stall()


@scenario("reply-unknown-cookie")
class ReplyUnknownCookie(BaselineNoStructured, FirstReadFault):
    description = "simple reply to the first READ carries an unknown cookie"

    def bad_read(self, req):
        self.send(enc_simple_reply(req.cookie + 0x10000, 0,
                                   self.read_bytes(req)))
        self.stall()


@scenario("chunk-unknown-cookie")
class ChunkUnknownCookie(FirstReadFault):
    description = "structured chunk to the first READ has an unknown cookie"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie + 0x10000, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("simple-reply-to-structured-read")
class SimpleReplyToStructuredRead(FirstReadFault):
    description = ("structured replies negotiated, but the first READ gets a "
                   "successful simple reply with data")

    def bad_read(self, req):
        self.send(enc_simple_reply(req.cookie, 0, self.read_bytes(req)))
        self.stall()


@scenario("chunk-without-structured")
class ChunkWithoutStructured(BaselineNoStructured, FirstReadFault):
    description = ("STRUCTURED_REPLY refused, yet the first READ gets a "
                   "structured OFFSET_DATA chunk")

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("offset-data-outside")
class OffsetDataOutside(FirstReadFault):
    description = "OFFSET_DATA chunk lies past the end of the READ range"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset + req.length,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("offset-data-before")
class OffsetDataBefore(FirstReadFault):
    description = "OFFSET_DATA chunk starts before the READ offset"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset - 512,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("offset-data-overlap")
class OffsetDataOverlap(FirstReadFault):
    description = "two OFFSET_DATA chunks overlap each other"

    def bad_read(self, req):
        data = self.read_bytes(req)
        half = req.length // 2
        self.send(enc_offset_data(req.cookie, req.offset, data[:half + 512]))
        self.send(enc_offset_data(req.cookie, req.offset + half, data[half:]))
        self.send(enc_none(req.cookie))
        # keep serving: a lax client that accepts this goes on working


@scenario("offset-data-empty")
class OffsetDataEmpty(FirstReadFault):
    description = "OFFSET_DATA chunk of length 8 (offset only, no data)"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset, b""))
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("offset-hole-bad-length")
class OffsetHoleBadLength(FirstReadFault):
    description = "OFFSET_HOLE chunk of length 16 instead of 12"

    def bad_read(self, req):
        self.send(enc_chunk(req.cookie, REPLY_FLAG_DONE, CHUNK_OFFSET_HOLE,
                            struct.pack(">QII", req.offset, req.length, 0)))
        self.stall()


@scenario("offset-hole-zero-size")
class OffsetHoleZeroSize(FirstReadFault):
    description = "OFFSET_HOLE chunk with hole size 0"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req)))
        self.send(enc_offset_hole(req.cookie, req.offset, 0,
                                  REPLY_FLAG_DONE))
        self.stall()


@scenario("none-without-done")
class NoneWithoutDone(FirstReadFault):
    description = "NONE chunk without the DONE flag"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req)))
        self.send(enc_none(req.cookie, flags=0))
        self.stall()


@scenario("done-incomplete")
class DoneIncomplete(FirstReadFault):
    description = ("successful DONE after data covering only the first half "
                   "of the READ")

    def bad_read(self, req):
        half = req.length // 2
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req)[:half]))
        self.send(enc_none(req.cookie))
        # keep serving: a lax client that accepts this goes on working


@scenario("df-two-data-chunks")
class DfTwoDataChunks(FirstReadFault):
    description = "READ with DF answered with two data chunks"

    def bad_read(self, req):
        data = self.read_bytes(req)
        half = req.length // 2
        self.send(enc_offset_data(req.cookie, req.offset, data[:half]))
        self.send(enc_offset_data(req.cookie, req.offset + half, data[half:],
                                  REPLY_FLAG_DONE))
        self.stall()


@scenario("write-gets-data-chunk")
class WriteGetsDataChunk(Server):
    description = "a WRITE is answered with an OFFSET_DATA chunk"

    def handle_request(self, req, payload):
        if req.type == CMD_WRITE:
            self.send(enc_offset_data(req.cookie, req.offset, payload,
                                      REPLY_FLAG_DONE))
            self.stall()
        Server.handle_request(self, req, payload)


@scenario("unknown-chunk-type")
class UnknownChunkType(FirstReadFault):
    description = "first READ gets a chunk of unknown non-error type 0x55"

    def bad_read(self, req):
        self.send(enc_chunk(req.cookie, 0, 0x55, b"\0" * 8))
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("chunk-len-huge")
class ChunkLenHuge(FirstReadFault):
    description = ("OFFSET_DATA chunk header claims length 0xfffffff0 "
                   "(then stall): must be rejected, not allocated")

    def bad_read(self, req):
        self.send(enc_chunk(req.cookie, REPLY_FLAG_DONE, CHUNK_OFFSET_DATA,
                            struct.pack(">Q", req.offset) + b"\0" * 64,
                            length=0xfffffff0))
        self.stall()


@scenario("error-chunk-zero")
class ErrorChunkZero(FirstReadFault):
    description = "ERROR chunk with error value 0"

    def bad_read(self, req):
        self.send(enc_error_chunk(req.cookie, 0, b"zero"))
        # keep serving: a lax client that accepts this goes on working


@scenario("error-msg-exceeds-chunk")
class ErrorMsgExceedsChunk(FirstReadFault):
    description = "ERROR chunk whose message length exceeds the chunk"

    def bad_read(self, req):
        self.send(enc_error_chunk(req.cookie, EIO, b"short", msg_len=200))
        self.stall()


@scenario("error-msg-too-long")
class ErrorMsgTooLong(FirstReadFault):
    description = "ERROR chunk carrying a 5000-byte message (> 4096)"

    def bad_read(self, req):
        self.send(enc_error_chunk(req.cookie, EIO, b"m" * 5000))
        self.stall()


@scenario("bs-zero-length-extent")
class BsZeroLengthExtent(Server):
    description = "block status reply contains an extent of length 0"

    def extents_for(self, req):
        return [(0, 0)] + compute_extents(self.data, req.offset, req.length)

    def reply_block_status(self, req):
        Server.reply_block_status(self, req)
        self.stall()


@scenario("bs-extents-beyond-request")
class BsExtentsBeyondRequest(Server):
    description = ("block status extents keep going after the requested "
                   "range is already covered")

    def extents_for(self, req):
        ext = compute_extents(self.data, req.offset, req.length)
        return ext + [(EXTENT_GRAIN, 0), (EXTENT_GRAIN, STATE_HOLE)]

    def reply_block_status(self, req):
        Server.reply_block_status(self, req)
        self.stall()


@scenario("bs-beyond-export")
class BsBeyondExport(Server):
    description = ("single block status extent that runs past the end of "
                   "the export (final extent overshoot: tolerated)")

    def extents_for(self, req):
        return [(EXPORT_SIZE - req.offset + EXTENT_GRAIN, 0)]


@scenario("bs-req-one-many")
class BsReqOneMany(Server):
    description = "block status with REQ_ONE answered with 3 extents"

    def extents_for(self, req):
        n = req.length // 4
        return [(n, 0), (n, STATE_HOLE | STATE_ZERO), (n, 0)]

    def reply_block_status(self, req):
        Server.reply_block_status(self, req)
        self.stall()


@scenario("bs-unknown-context")
class BsUnknownContext(Server):
    description = "block status chunk for context id 99 (never negotiated)"

    def reply_block_status(self, req):
        self.send(enc_block_status(req.cookie, 99, self.extents_for(req)))
        self.stall()


@scenario("bs-duplicate-context")
class BsDuplicateContext(Server):
    description = "block status reply reports the same context twice"

    def reply_block_status(self, req):
        ext = self.extents_for(req)
        self.send(enc_block_status(req.cookie, META_ID, ext, 0))
        self.send(enc_block_status(req.cookie, META_ID, ext))
        self.stall()


@scenario("bs-simple-reply")
class BsSimpleReply(Server):
    description = "BLOCK_STATUS answered with a successful simple reply"

    def reply_block_status(self, req):
        self.send(enc_simple_reply(req.cookie, 0))
        self.stall()


@scenario("truncated-payload")
class TruncatedPayload(BaselineNoStructured, FirstReadFault):
    description = ("simple reply to READ followed by only half the data, "
                   "then the server closes")

    def bad_read(self, req):
        data = self.read_bytes(req)
        self.send(enc_simple_reply(req.cookie, 0, data[:len(data) // 2]))
        self.close_now("scenario")


@scenario("close-mid-reply-header")
class CloseMidReplyHeader(FirstReadFault):
    description = "server closes after 10 bytes of the reply header"

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE)[:10])
        self.close_now("scenario")


@scenario("close-mid-read-payload")
class CloseMidReadPayload(FirstReadFault):
    description = ("server closes halfway through an OFFSET_DATA chunk "
                   "payload")

    def bad_read(self, req):
        chunk = enc_offset_data(req.cookie, req.offset, self.read_bytes(req),
                                REPLY_FLAG_DONE)
        self.send(chunk[:20 + 8 + req.length // 2])
        self.close_now("scenario")


@scenario("close-instead-of-reply")
class CloseInsteadOfReply(FirstReadFault):
    description = "server reads the first READ request and closes"

    def bad_read(self, req):
        self.close_now("scenario")


@scenario("stall-mid-reply")
class StallMidReply(FirstReadFault):
    description = ("server sends 8 bytes of the reply header to the first "
                   "READ, then stalls forever (until the client closes)")

    def bad_read(self, req):
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req), REPLY_FLAG_DONE)[:8])
        self.stall()


@scenario("disc-ignored")
class DiscIgnored(Server):
    description = ("server ignores NBD_CMD_DISC and the client's SHUT_WR: "
                   "it keeps the connection open for 30 s")

    def on_disc(self):
        self.log("ignoring DISC")
        time.sleep(30)
        self.close_now("gave up waiting")


# -- recoverable errors ------------------------------------------------

@scenario("eio-simple")
class EioSimple(Server):
    description = ("first FLUSH gets a simple reply with EIO; everything "
                   "else works (recoverable)")
    flushes = 0

    def reply_flush(self, req):
        self.flushes += 1
        if self.flushes == 1:
            self.send(enc_simple_reply(req.cookie, EIO))
        else:
            self.reply_ok(req)


@scenario("eio-simple-read")
class EioSimpleRead(BaselineNoStructured, FirstReadFault):
    description = ("structured replies refused; first READ gets a simple "
                   "reply with EIO and no data (recoverable)")

    def bad_read(self, req):
        self.send(enc_simple_reply(req.cookie, EIO))


@scenario("eio-structured")
class EioStructured(FirstReadFault):
    description = ("first READ gets an ERROR chunk with EIO and DONE "
                   "(recoverable)")

    def bad_read(self, req):
        self.send(enc_error_chunk(req.cookie, EIO, b"injected I/O error"))


@scenario("eio-error-offset")
class EioErrorOffset(FirstReadFault):
    description = ("first READ gets data for half the range, then an "
                   "ERROR_OFFSET chunk with EIO for the other half "
                   "(recoverable)")

    def bad_read(self, req):
        half = req.length // 2
        self.send(enc_offset_data(req.cookie, req.offset,
                                  self.read_bytes(req)[:half]))
        self.send(enc_error_chunk(req.cookie, EIO, b"bad sector",
                                  ctype=CHUNK_ERROR_OFFSET,
                                  offset=req.offset + half))


@scenario("unknown-error-chunk-type")
class UnknownErrorChunkType(FirstReadFault):
    description = ("first READ gets an error chunk of unknown type 0x8055 "
                   "with EIO: still an error, not fatal (recoverable)")

    def bad_read(self, req):
        self.send(enc_error_chunk(req.cookie, EIO, b"odd", ctype=0x8055))


@scenario("unknown-errno")
class UnknownErrno(BaselineNoStructured, FirstReadFault):
    description = ("first READ gets a simple reply with unknown error value "
                   "9999, which a client maps to EINVAL (recoverable)")

    def bad_read(self, req):
        self.send(enc_simple_reply(req.cookie, 9999))


@scenario("go-err-policy")
class GoErrPolicy(Server):
    description = ("GO refused with ERR_POLICY (the connection attempt "
                   "fails cleanly)")

    def handle_info_go(self, opt, data):
        self.opt_reply(opt, REP_ERR_POLICY, b"not allowed")
        return False


# TLS: the server accepts STARTTLS and then misbehaves where the TLS
# handshake should be.  (A real TLS server is nbdkit, in test_tls.c.)

@scenario("starttls-ack-then-close")
class StarttlsAckThenClose(Server):
    description = ("STARTTLS acknowledged, then the connection is closed "
                   "before the TLS handshake")

    def handle_starttls(self, data):
        self.opt_reply(OPT_STARTTLS, REP_ACK)
        self.close_now("closing instead of the TLS handshake")


@scenario("starttls-ack-plaintext")
class StarttlsAckPlaintext(Server):
    description = ("STARTTLS acknowledged, followed at once by unencrypted "
                   "bytes (an option reply) that must not be trusted")

    def handle_starttls(self, data):
        self.send(enc_opt_reply(OPT_STARTTLS, REP_ACK) +
                  enc_opt_reply(OPT_STRUCTURED_REPLY, REP_ACK))
        time.sleep(2)
        self.close_now("done")


@scenario("starttls-ack-garbage")
class StarttlsAckGarbage(Server):
    description = ("STARTTLS acknowledged, then the client's ClientHello is "
                   "answered with bytes that are not TLS")

    def handle_starttls(self, data):
        self.opt_reply(OPT_STARTTLS, REP_ACK)
        self.conn.recv(5)
        self.send(b"this is not a TLS record\r\n" * 4)
        time.sleep(2)
        self.close_now("done")


@scenario("starttls-close-mid-handshake")
class StarttlsCloseMidHandshake(Server):
    description = ("STARTTLS acknowledged; the server reads the client's "
                   "ClientHello and closes the connection mid-handshake")

    def handle_starttls(self, data):
        self.opt_reply(OPT_STARTTLS, REP_ACK)
        header = self.conn.recv(5)           # TLS record header
        self.conn.recv(struct.unpack(">H", header[3:5])[0])
        self.close_now("closing in the middle of the TLS handshake")


@scenario("starttls-refused")
class StarttlsRefused(Server):
    description = ("STARTTLS refused with ERR_POLICY (a client that requires "
                   "TLS must give up; one that merely allows it goes on)")

    def handle_starttls(self, data):
        self.opt_reply(OPT_STARTTLS, REP_ERR_POLICY, b"no TLS here")
# -- extended headers ----------------------------------------------------
# ExtendedServer agrees to NBD_OPT_EXTENDED_HEADERS; its replies go out in
# the extended form (Server.send rewrites them).  Faults that must reach
# the client as written use send_raw.

class ExtendedServer(Server):
    supports_extended = True


def ext_chunk_for(req, ctype, payload=b"", flags=REPLY_FLAG_DONE,
                  offset=None, length=None):
    return enc_ext_chunk(req.cookie, flags, ctype,
                         req.offset if offset is None else offset,
                         payload, length)


@scenario("baseline-extended")
class BaselineExtended(ExtendedServer):
    description = ("correct server with extended headers: 32-byte requests "
                   "and replies, BLOCK_STATUS_EXT (no fault, control)")


@scenario("baseline-extended-write")
class BaselineExtendedWrite(BaselineExtended):
    description = ("baseline-extended, driven by a write (PAYLOAD_LEN) "
                   "(no fault, control)")


@scenario("baseline-extended-bs")
class BaselineExtendedBs(BaselineExtended):
    description = ("baseline-extended, driven by block status "
                   "(BLOCK_STATUS_EXT to a 32-bit callback) (no fault, control)")


@scenario("baseline-extended-bs-one")
class BaselineExtendedBsOne(BaselineExtended):
    description = ("baseline-extended, driven by block status with REQ_ONE "
                   "(no fault, control)")


@scenario("ext-refused-after-sr")
class ExtRefusedAfterSr(Server):
    description = ("server refuses NBD_OPT_EXTENDED_HEADERS: the client "
                   "falls back to structured replies (no fault, control)")

    def handle_extended_headers(self, data):
        self.opt_reply(OPT_EXTENDED_HEADERS, REP_ERR_POLICY, b"no thanks")


@scenario("ext-bs-huge-extent")
class ExtBsHugeExtent(ExtendedServer):
    description = ("BLOCK_STATUS_EXT whose only extent is 5 GiB (the last "
                   "extent may overshoot; a 32-bit callback sees it cut "
                   "below 4 GiB) (no fault, control)")

    def reply_block_status(self, req):
        self.send_raw(enc_block_status_ext(req.cookie, req.offset, META_ID,
                                           [(5 << 30, 0)]))


@scenario("ext-bs-flags-64")
class ExtBsFlags64(ExtendedServer):
    description = ("BLOCK_STATUS_EXT extent flags beyond 32 bits: a 32-bit "
                   "callback gets EOVERFLOW, the command fails, the "
                   "connection stays")

    def reply_block_status(self, req):
        self.send_raw(enc_block_status_ext(req.cookie, req.offset, META_ID,
                                           [(4096, 1 << 40)]))


@scenario("ext-simple-reply")
class ExtSimpleReply(ExtendedServer):
    description = "simple reply (16-byte header) after extended headers"

    def reply_flush(self, req):
        self.send_raw(enc_simple_reply(req.cookie, 0))
        self.stall()


@scenario("ext-structured-chunk")
class ExtStructuredChunk(ExtendedServer):
    description = ("20-byte structured chunk header after extended headers "
                   "were agreed")

    def reply_read(self, req):
        self.send_raw(enc_offset_data(req.cookie, req.offset,
                                      self.read_bytes(req), REPLY_FLAG_DONE))
        self.stall()


@scenario("ext-offset-mismatch")
class ExtOffsetMismatch(ExtendedServer):
    description = ("extended reply whose header offset differs from the "
                   "request's")

    def reply_read(self, req):
        payload = struct.pack(">Q", req.offset) + self.read_bytes(req)
        self.send_raw(ext_chunk_for(req, CHUNK_OFFSET_DATA, payload,
                                    offset=req.offset + 512))
        self.stall()


@scenario("ext-huge-payload-len")
class ExtHugePayloadLen(ExtendedServer):
    description = ("extended reply header announcing a 2^40-byte payload "
                   "(must be refused before any allocation)")

    def reply_read(self, req):
        self.send_raw(enc_ext_header(req.cookie, REPLY_FLAG_DONE,
                                     CHUNK_OFFSET_DATA, req.offset, 1 << 40))
        self.stall()


@scenario("ext-payload-len-1g")
class ExtPayloadLen1g(ExtendedServer):
    description = ("extended data chunk announcing 1 GiB for a 4 KiB read "
                   "(must be refused before any allocation)")

    def reply_read(self, req):
        self.send_raw(enc_ext_header(req.cookie, REPLY_FLAG_DONE,
                                     CHUNK_OFFSET_DATA, req.offset, 1 << 30))
        self.stall()


@scenario("ext-bs-compact-chunk")
class ExtBsCompactChunk(ExtendedServer):
    description = ("32-bit BLOCK_STATUS chunk (in an extended header) after "
                   "extended headers were agreed")

    def reply_block_status(self, req):
        payload = struct.pack(">III", META_ID, req.length, 0)
        self.send_raw(ext_chunk_for(req, CHUNK_BLOCK_STATUS, payload))
        self.stall()


@scenario("ext-bs-count-mismatch")
class ExtBsCountMismatch(ExtendedServer):
    description = ("BLOCK_STATUS_EXT descriptor count disagrees with the "
                   "payload length")

    def reply_block_status(self, req):
        self.send_raw(enc_block_status_ext(req.cookie, req.offset, META_ID,
                                           [(req.length, 0)], count=7))
        self.stall()


@scenario("ext-bs-bad-length")
class ExtBsBadLength(ExtendedServer):
    description = ("BLOCK_STATUS_EXT payload length not 8 + a multiple of "
                   "16")

    def reply_block_status(self, req):
        payload = enc_block_status_ext_payload(META_ID, [(req.length, 0)])
        self.send_raw(ext_chunk_for(req, CHUNK_BLOCK_STATUS_EXT,
                                    payload + bytes(4)))
        self.stall()


@scenario("ext-bs-zero-length-extent")
class ExtBsZeroLengthExtent(ExtendedServer, BsZeroLengthExtent):
    description = "BLOCK_STATUS_EXT contains an extent of length 0"


@scenario("ext-bs-extents-beyond-request")
class ExtBsExtentsBeyondRequest(ExtendedServer, BsExtentsBeyondRequest):
    description = ("BLOCK_STATUS_EXT extents keep going after the requested "
                   "range is already covered")


@scenario("ext-bs-req-one-many")
class ExtBsReqOneMany(ExtendedServer, BsReqOneMany):
    description = "BLOCK_STATUS_EXT with REQ_ONE answered with 3 extents"


@scenario("ext-bs-unknown-context")
class ExtBsUnknownContext(ExtendedServer, BsUnknownContext):
    description = "BLOCK_STATUS_EXT for context id 99 (never negotiated)"


@scenario("ext-header-not-negotiated")
class ExtHeaderNotNegotiated(Server):
    description = ("server refuses extended headers, agrees to structured "
                   "replies, then answers a read with an extended header")

    def reply_read(self, req):
        payload = struct.pack(">Q", req.offset) + self.read_bytes(req)
        self.send_raw(ext_chunk_for(req, CHUNK_OFFSET_DATA, payload))
        self.stall()


@scenario("ext-go-unsup")
class ExtGoUnsup(ExtendedServer):
    description = ("server agrees to extended headers, then refuses NBD_OPT_GO "
                   "as unsupported (the EXPORT_NAME fallback is forbidden)")

    def handle_info_go(self, opt, data):
        self.opt_reply(opt, REP_ERR_UNSUP)
        return False

    def handle_export_name(self, data):
        self.close_now("EXPORT_NAME after extended headers")


# ---------------------------------------------------------------------------
# Main

def make_logger(verbose, name):
    if not verbose:
        return lambda msg: None

    def log(msg):
        sys.stderr.write("badserver[%s]: %s\n" % (name, msg))
        sys.stderr.flush()
    return log


def serve(cls, conn, log):
    srv = cls(conn, log)
    try:
        srv.run()
    except Disconnect as e:
        log("disconnect: %s" % e)
    finally:
        conn.close()


def listen_unix(path):
    """Bind on a temporary name, listen, then rename into place so that the
    path only appears once connect() will succeed."""
    tmp = path + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(tmp)
    sock.listen(4)
    os.rename(tmp, path)
    return sock


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="scripted misbehaving NBD server (one scenario)")
    ap.add_argument("--list", action="store_true",
                    help="list scenario names and descriptions")
    ap.add_argument("--scenario", default="baseline")
    ap.add_argument("--unix", metavar="PATH", help="listen on Unix socket")
    ap.add_argument("-s", "--single", action="store_true",
                    help="serve one client on stdin/stdout")
    ap.add_argument("--systemd", action="store_true",
                    help="socket activation: listening socket is fd 3")
    ap.add_argument("--connections", type=int, default=1,
                    help="number of clients to serve before exiting")
    ap.add_argument("--timeout", type=int, default=120,
                    help="exit after this many seconds regardless")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    if args.list:
        for name in sorted(SCENARIOS):
            print("%-34s %s" % (name, SCENARIOS[name].description))
        return 0
    cls = SCENARIOS.get(args.scenario)
    if cls is None:
        sys.stderr.write("badserver: unknown scenario %r (try --list)\n"
                         % args.scenario)
        return 2
    log = make_logger(args.verbose, args.scenario)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.timeout > 0:
        signal.alarm(args.timeout)

    if args.single:
        serve(cls, Conn(0, 1, log), log)
        return 0

    if args.unix:
        lsock = listen_unix(args.unix)
    elif args.systemd:
        if os.environ.get("LISTEN_FDS") != "1":
            sys.stderr.write("badserver: --systemd needs LISTEN_FDS=1\n")
            return 2
        lsock = socket.socket(fileno=3)
    else:
        ap.error("one of --unix, -s, --systemd is required")
        return 2
    try:
        for _ in range(args.connections):
            csock, _ = lsock.accept()
            log("client connected")
            fd = csock.detach()
            serve(cls, Conn(fd, fd, log), log)
    finally:
        lsock.close()
        if args.unix:
            try:
                os.unlink(args.unix)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
