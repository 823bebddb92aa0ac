/* reply.c: the transmission-phase reply parser.  It is fed bytes (from the
 * socket, or from a fuzzer) and completes commands; every length the server
 * sends is checked against the request before anything is written or
 * allocated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
nbd_internal_nbd_errno (uint32_t err)
{
  switch (err) {
  case NBD_EPERM: return EPERM;
  case NBD_EIO: return EIO;
  case NBD_ENOMEM: return ENOMEM;
  case NBD_EINVAL: return EINVAL;
  case NBD_ENOSPC: return ENOSPC;
  case NBD_EOVERFLOW: return EOVERFLOW;
  case NBD_ENOTSUP: return ENOTSUP;
  case NBD_ESHUTDOWN: return ESHUTDOWN;
  default: return EINVAL;
  }
}

static int
protocol_error (struct nbd_handle *h, const char *what)
{
  nbd_internal_parse_fail (h, EPROTO, "protocol violation: %s", what);
  return -1;
}

/* Records [start, start+len) (relative to the request) as covered; -1 if it
 * overlaps anything already covered.  Ranges stay sorted and merged, so the
 * usual in-order reply costs O(1). */
static int
range_add (struct command *c, uint64_t start, uint64_t len)
{
  uint64_t end = start + len;
  size_t lo = 0, hi = c->nr_ranges, i;

  if (c->nr_ranges > 0 && c->ranges[c->nr_ranges - 1].end <= start) {
    lo = c->nr_ranges;
  }
  else {
    while (lo < hi) {           /* first range whose start >= end */
      size_t mid = (lo + hi) / 2;
      if (c->ranges[mid].start < end) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && c->ranges[lo - 1].end > start)
      return -1;
  }
  i = lo;
  if (i > 0 && c->ranges[i - 1].end == start) {
    c->ranges[i - 1].end = end;
    if (i < c->nr_ranges && c->ranges[i].start == end) {
      c->ranges[i - 1].end = c->ranges[i].end;
      memmove (&c->ranges[i], &c->ranges[i + 1], (c->nr_ranges - i - 1) * sizeof *c->ranges);
      c->nr_ranges--;
    }
    return 0;
  }
  if (i < c->nr_ranges && c->ranges[i].start == end) {
    c->ranges[i].start = start;
    return 0;
  }
  if (c->nr_ranges == c->cap_ranges) {
    size_t ncap = c->cap_ranges ? c->cap_ranges * 2 : 4;
    struct covered_range *r = realloc (c->ranges, ncap * sizeof *r);
    if (!r) return -2;
    c->ranges = r;
    c->cap_ranges = ncap;
  }
  memmove (&c->ranges[i + 1], &c->ranges[i], (c->nr_ranges - i) * sizeof *c->ranges);
  c->ranges[i].start = start;
  c->ranges[i].end = end;
  c->nr_ranges++;
  return 0;
}

/* Validates a data or hole chunk [off, off+len) against its read. */
static int
check_read_chunk (struct nbd_handle *h, struct command *c, uint64_t off, uint64_t len)
{
  int r;

  if (off < c->offset || off - c->offset > c->count || len > c->count - (off - c->offset))
    return protocol_error (h, "read chunk lies outside the requested range");
  if ((c->wire_flags & NBD_CMD_FLAG_DF) && c->nr_data_chunks > 0)
    return protocol_error (h, "server fragmented a read sent with the DF flag");
  r = range_add (c, off - c->offset, len);
  if (r == -1)
    return protocol_error (h, "read chunks overlap");
  if (r == -2) {
    nbd_internal_parse_fail (h, ENOMEM, "out of memory");
    return -1;
  }
  c->nr_data_chunks++;
  c->covered += len;
  return 0;
}

static void
call_chunk (struct command *c, const void *sub, size_t count, uint64_t off, unsigned status)
{
  int err = c->error, r;
  if (!c->chunk.callback) return;
  r = c->chunk.callback (c->chunk.user_data, sub, count, off, status, &err);
  if (r == -1 && c->error == 0)
    c->error = err ? err : EPROTO;
}

/* The command's last reply arrived: take it out of the in-flight table
 * and report it.  The parser does not complete it (that runs the caller's
 * completion callback): whoever fed the bytes does, once the parser has
 * returned (nbd_internal_complete_replied). */
static void
report_done (struct nbd_handle *h, struct command *c)
{
  nbd_internal_find_inflight (h, c->cookie, true);
  c->next = NULL;
  if (h->replied_tail) h->replied_tail->next = c; else h->replied_head = c;
  h->replied_tail = c;
}

/* The command's last reply arrived: final checks, then report it. */
static int
finish_command (struct nbd_handle *h, struct command *c)
{
  if (c->error == 0) {
    if (c->type == NBD_CMD_READ && h->sr_negotiated && c->covered != c->count)
      return protocol_error (h, "read reply finished without covering the whole request");
    if (c->type == NBD_CMD_BLOCK_STATUS && c->nr_bs_chunks == 0)
      return protocol_error (h, "block status reply finished without any extents");
  }
  report_done (h, c);
  return 0;
}

static int
chunk_done (struct nbd_handle *h)
{
  struct command *c = h->rcmd;
  h->rphase = RP_HEADER;
  h->rcmd = NULL;
  if (h->rflags & NBD_REPLY_FLAG_DONE)
    return finish_command (h, c);
  return 0;
}

static int
start_buffered (struct nbd_handle *h, size_t need)
{
  if (need > h->pbuf_cap) {
    uint8_t *p = realloc (h->pbuf, need);
    if (!p) {
      nbd_internal_parse_fail (h, ENOMEM, "out of memory");
      return -1;
    }
    h->pbuf = p;
    h->pbuf_cap = need;
  }
  h->pbuf_len = 0;
  h->pbuf_need = need;
  h->rphase = RP_CHUNK_BUFFERED;
  return 0;
}

static int
process_simple (struct nbd_handle *h, const uint8_t *hdr)
{
  uint32_t err = be32_get (hdr + 4);
  uint64_t cookie = be64_get (hdr + 8);
  struct command *c = nbd_internal_find_inflight (h, cookie, false);

  if (!c)
    return protocol_error (h, "simple reply with an unknown cookie");
  if (h->sr_negotiated && c->type == NBD_CMD_READ)
    return protocol_error (h, "simple reply to a read after structured replies were negotiated");
  if (c->type == NBD_CMD_BLOCK_STATUS && err == 0)
    return protocol_error (h, "simple success reply to block status (extents need a structured reply)");
  if (err != 0) {
    c->error = nbd_internal_nbd_errno (err);
    report_done (h, c);
    return 0;
  }
  if (c->type == NBD_CMD_READ && c->count > 0) {
    h->rcmd = c;
    h->rdest = c->buf;
    h->rremaining = c->count;
    h->rphase = RP_SIMPLE_DATA;
    return 0;
  }
  c->covered = c->count;
  report_done (h, c);
  return 0;
}

/* A chunk header, structured or extended: checks the type and length
 * against the command before anything is buffered. */
static int
process_chunk (struct nbd_handle *h, struct command *c, uint16_t flags, uint16_t type,
               uint32_t len)
{
  h->rcmd = c;
  h->rflags = flags;
  h->rtype = type;
  h->rlength = len;

  switch (type) {
  case NBD_REPLY_TYPE_NONE:
    if (len != 0)
      return protocol_error (h, "NONE chunk with a payload");
    if (!(flags & NBD_REPLY_FLAG_DONE))
      return protocol_error (h, "NONE chunk without the DONE flag");
    return chunk_done (h);
  case NBD_REPLY_TYPE_OFFSET_DATA:
    if (c->type != NBD_CMD_READ)
      return protocol_error (h, "data chunk in reply to a command that is not a read");
    if (len <= 8 || len - 8 > c->count)
      return protocol_error (h, "data chunk with an invalid length");
    return start_buffered (h, 8);
  case NBD_REPLY_TYPE_OFFSET_HOLE:
    if (c->type != NBD_CMD_READ)
      return protocol_error (h, "hole chunk in reply to a command that is not a read");
    if (len != 12)
      return protocol_error (h, "hole chunk with an invalid length");
    return start_buffered (h, 12);
  case NBD_REPLY_TYPE_BLOCK_STATUS:
    if (c->type != NBD_CMD_BLOCK_STATUS)
      return protocol_error (h, "block status chunk in reply to another command");
    if (h->eh_negotiated)
      return protocol_error (h, "32-bit block status chunk after extended headers were "
                             "negotiated (BLOCK_STATUS_EXT is required)");
    if (len < 12 || (len - 4) % 8 != 0 || len > NBD_MAX_BS_PAYLOAD)
      return protocol_error (h, "block status chunk with an invalid length");
    return start_buffered (h, len);
  case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
    if (!h->eh_negotiated)
      return protocol_error (h, "BLOCK_STATUS_EXT chunk but extended headers were not negotiated");
    if (c->type != NBD_CMD_BLOCK_STATUS)
      return protocol_error (h, "block status chunk in reply to another command");
    if (len < NBD_BS_EXT_PREFIX + NBD_BS_EXT_DESCRIPTOR ||
        (len - NBD_BS_EXT_PREFIX) % NBD_BS_EXT_DESCRIPTOR != 0 ||
        len > NBD_MAX_BS_EXT_PAYLOAD)
      return protocol_error (h, "BLOCK_STATUS_EXT chunk with an invalid length");
    return start_buffered (h, len);
  default:
    if (type & NBD_REPLY_TYPE_ERR_BIT) {
      if (len < 6 || len > 6 + 8 + NBD_MAX_STRING)
        return protocol_error (h, "error chunk with an invalid length");
      return start_buffered (h, len);
    }
    return protocol_error (h, "unknown structured reply chunk type");
  }
}

/* A structured reply chunk header (20 bytes). */
static int
process_chunk_header (struct nbd_handle *h, const uint8_t *hdr)
{
  uint16_t flags = be16_get (hdr + 4), type = be16_get (hdr + 6);
  uint64_t cookie = be64_get (hdr + 8);
  uint32_t len = be32_get (hdr + 16);
  struct command *c;

  if (!h->sr_negotiated)
    return protocol_error (h, "structured reply chunk but structured replies were not negotiated");
  c = nbd_internal_find_inflight (h, cookie, false);
  if (!c)
    return protocol_error (h, "reply chunk with an unknown cookie");
  return process_chunk (h, c, flags, type, len);
}

/* An extended reply header (32 bytes): the chunk header with the
 * request's offset echoed and a 64-bit payload length. */
static int
process_extended_header (struct nbd_handle *h, const uint8_t *hdr)
{
  uint16_t flags = be16_get (hdr + 4), type = be16_get (hdr + 6);
  uint64_t cookie = be64_get (hdr + 8);
  uint64_t offset = be64_get (hdr + 16);
  uint64_t len = be64_get (hdr + 24);
  struct command *c;

  c = nbd_internal_find_inflight (h, cookie, false);
  if (!c)
    return protocol_error (h, "reply chunk with an unknown cookie");
  if (offset != c->offset)
    return protocol_error (h, "extended reply offset does not match the request's offset");
  /* Payload lengths are bounded by 32-bit block sizes; every type's own
   * limit (process_chunk) is far below this. */
  if (len > UINT32_MAX)
    return protocol_error (h, "extended reply payload length exceeds 32 bits");
  return process_chunk (h, c, flags, type, (uint32_t) len);
}

/* Checks one extent of a block status chunk (the i-th, length len) and
 * advances *pos, the bytes covered so far from the request's offset. */
static int
check_extent (struct nbd_handle *h, struct command *c, size_t i, uint64_t len, uint64_t *pos)
{
  if (len == 0)
    return protocol_error (h, "zero-length extent");
  if (*pos >= c->count)
    return protocol_error (h, "extent beyond the end of the request");
  if ((c->wire_flags & NBD_CMD_FLAG_REQ_ONE) && (i > 0 || len > c->count))
    return protocol_error (h, i > 0 ? "more than one extent despite the REQ_ONE flag"
                                    : "extent longer than the request despite the REQ_ONE flag");
  if (len > UINT64_MAX - c->offset - *pos)
    return protocol_error (h, "extent runs past the largest 64-bit offset");
  *pos += len;
  return 0;
}

/* Which negotiated context a status chunk is for; -1 (after recording the
 * protocol error) for an unknown, excluded or repeated one. */
static ssize_t
status_context (struct nbd_handle *h, struct command *c, uint32_t id)
{
  size_t ctx;

  for (ctx = 0; ctx < h->nr_meta; ctx++)
    if (h->meta[ctx].id == id) break;
  if (ctx == h->nr_meta)
    return protocol_error (h, "block status for a meta context that was not negotiated");
  if (c->payload) {
    /* A filtered request: only the contexts it listed may answer. */
    size_t k, n = (c->payload_len - NBD_BS_FILTER_PREFIX) / 4;
    for (k = 0; k < n; k++)
      if (be32_get (c->payload + NBD_BS_FILTER_PREFIX + 4 * k) == id) break;
    if (k == n)
      return protocol_error (h, "block status for a meta context the filter left out");
  }
  if (ctx < 32) {
    if (c->bs_seen_mask & (1U << ctx))
      return protocol_error (h, "two block status chunks for the same meta context");
    c->bs_seen_mask |= 1U << ctx;
  }
  return (ssize_t) ctx;
}

static void
extent_result (struct command *c, int r, int err)
{
  if (r == -1 && c->error == 0)
    c->error = err ? err : EPROTO;
}

/* BLOCK_STATUS_EXT: 64-bit extents.  A 64-bit closure gets them as they
 * are; a 32-bit one gets them narrowed as libnbd documents: an extent of
 * 4 GiB or more is cut to the largest multiple of the minimum block size
 * (at least 512) below 4 GiB and ends the list; a flags value beyond 32
 * bits is passed with EOVERFLOW (and fails the command). */
static int
process_block_status_ext (struct nbd_handle *h, struct command *c)
{
  uint32_t id = be32_get (h->pbuf);
  uint32_t count = be32_get (h->pbuf + 4);
  size_t n = (h->rlength - NBD_BS_EXT_PREFIX) / NBD_BS_EXT_DESCRIPTOR, i;
  const uint8_t *d = h->pbuf + NBD_BS_EXT_PREFIX;
  uint64_t pos = 0;
  ssize_t ctx;
  int err, r;

  if (count != n)
    return protocol_error (h, "BLOCK_STATUS_EXT descriptor count does not match its length");
  if ((ctx = status_context (h, c, id)) == -1)
    return -1;
  for (i = 0; i < n; i++)
    if (check_extent (h, c, i, be64_get (d + NBD_BS_EXT_DESCRIPTOR * i), &pos) == -1)
      return -1;
  c->nr_bs_chunks++;
  if (c->extent64.callback) {
    /* n is bounded by NBD_MAX_BS_EXT_PAYLOAD (checked before buffering). */
    nbd_extent *wide = malloc (n * sizeof *wide);
    if (!wide)
      return nbd_internal_parse_fail (h, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
      wide[i].length = be64_get (d + NBD_BS_EXT_DESCRIPTOR * i);
      wide[i].flags = be64_get (d + NBD_BS_EXT_DESCRIPTOR * i + 8);
    }
    err = c->error;
    r = c->extent64.callback (c->extent64.user_data, h->meta[ctx].name, c->offset,
                              wide, n, &err);
    free (wide);
    extent_result (c, r, err);
  }
  else if (c->extent.callback) {
    uint32_t cut = (uint32_t) ((UINT64_C (1) << 32) - (h->block_min > 512 ? h->block_min : 512));
    uint32_t *narrow = malloc (2 * n * sizeof *narrow);
    size_t m = 0;
    bool overflow = false;
    if (!narrow)
      return nbd_internal_parse_fail (h, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
      uint64_t len = be64_get (d + NBD_BS_EXT_DESCRIPTOR * i);
      uint64_t flags = be64_get (d + NBD_BS_EXT_DESCRIPTOR * i + 8);
      if (flags > UINT32_MAX)
        overflow = true;
      narrow[m++] = len > UINT32_MAX ? cut : (uint32_t) len;
      narrow[m++] = (uint32_t) flags;
      if (len > UINT32_MAX)
        break;              /* the rest would not be contiguous */
    }
    if (overflow && c->error == 0)
      c->error = EOVERFLOW;
    err = c->error;
    r = c->extent.callback (c->extent.user_data, h->meta[ctx].name, c->offset,
                            narrow, m, &err);
    free (narrow);
    extent_result (c, r, err);
  }
  return 0;
}

static int
process_block_status (struct nbd_handle *h, struct command *c)
{
  uint32_t id = be32_get (h->pbuf);
  size_t n = (h->rlength - 4) / 8, i;
  uint32_t *entries = (uint32_t *) (void *) (h->pbuf + 4);
  uint64_t pos = 0;
  ssize_t ctx;
  int err, r;

  if ((ctx = status_context (h, c, id)) == -1)
    return -1;
  for (i = 0; i < n; i++) {
    uint32_t len = be32_get (h->pbuf + 4 + 8 * i);
    uint32_t flags = be32_get (h->pbuf + 8 + 8 * i);
    if (check_extent (h, c, i, len, &pos) == -1)
      return -1;
    entries[2 * i] = len;
    entries[2 * i + 1] = flags;
  }
  c->nr_bs_chunks++;
  if (c->extent.callback) {
    err = c->error;
    r = c->extent.callback (c->extent.user_data, h->meta[ctx].name, c->offset,
                            entries, 2 * n, &err);
    if (r == -1 && c->error == 0)
      c->error = err ? err : EPROTO;
  }
  else if (c->extent64.callback) {
    /* nbd_block_status_64: the same extents, widened.  n is bounded by
     * NBD_MAX_BS_PAYLOAD (checked before the payload was buffered). */
    nbd_extent *wide = malloc (n * sizeof *wide);
    if (!wide)
      return nbd_internal_parse_fail (h, ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
      wide[i].length = entries[2 * i];
      wide[i].flags = entries[2 * i + 1];
    }
    err = c->error;
    r = c->extent64.callback (c->extent64.user_data, h->meta[ctx].name, c->offset,
                              wide, n, &err);
    free (wide);
    if (r == -1 && c->error == 0)
      c->error = err ? err : EPROTO;
  }
  return 0;
}

static int
process_error_chunk (struct nbd_handle *h, struct command *c)
{
  uint32_t err = be32_get (h->pbuf);
  uint16_t msglen = be16_get (h->pbuf + 4);
  size_t extra = h->rtype == NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0;

  if (err == 0)
    return protocol_error (h, "error chunk with error code 0");
  if (msglen > NBD_MAX_STRING)
    return protocol_error (h, "error chunk message too long");
  if (h->rtype == NBD_REPLY_TYPE_ERROR || h->rtype == NBD_REPLY_TYPE_ERROR_OFFSET) {
    if ((size_t) 6 + msglen + extra != h->rlength)
      return protocol_error (h, "error chunk length does not match its message");
  }
  else if ((size_t) 6 + msglen > h->rlength)
    return protocol_error (h, "error chunk message exceeds the chunk");
  if (extra) {
    uint64_t off = be64_get (h->pbuf + 6 + msglen);
    if (off < c->offset || off - c->offset >= c->count)
      return protocol_error (h, "error chunk offset outside the request");
  }
  debug (h, "server error %u for cookie %llu: %.*s", err,
         (unsigned long long) c->cookie, (int) msglen, (const char *) h->pbuf + 6);
  if (c->error == 0)
    c->error = nbd_internal_nbd_errno (err);
  return 0;
}

static int
buffered_done (struct nbd_handle *h)
{
  struct command *c = h->rcmd;

  switch (h->rtype) {
  case NBD_REPLY_TYPE_OFFSET_DATA: {
    uint64_t off = be64_get (h->pbuf);
    uint64_t len = h->rlength - 8;
    if (check_read_chunk (h, c, off, len) == -1) return -1;
    h->rdata_offset = off;
    h->rdest = (uint8_t *) c->buf + (off - c->offset);
    h->rremaining = len;
    h->rphase = RP_CHUNK_DATA;
    return 0;
  }
  case NBD_REPLY_TYPE_OFFSET_HOLE: {
    uint64_t off = be64_get (h->pbuf);
    uint32_t len = be32_get (h->pbuf + 8);
    uint8_t *dest;
    if (len == 0)
      return protocol_error (h, "hole chunk of size 0");
    if (check_read_chunk (h, c, off, len) == -1) return -1;
    dest = (uint8_t *) c->buf + (off - c->offset);
    memset (dest, 0, len);
    call_chunk (c, dest, len, off, LIBNBD_READ_HOLE);
    return chunk_done (h);
  }
  case NBD_REPLY_TYPE_BLOCK_STATUS:
    if (process_block_status (h, c) == -1) return -1;
    return chunk_done (h);
  case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
    if (process_block_status_ext (h, c) == -1) return -1;
    return chunk_done (h);
  default:
    if (process_error_chunk (h, c) == -1) return -1;
    return chunk_done (h);
  }
}

static int
data_done (struct nbd_handle *h)
{
  struct command *c = h->rcmd;

  if (h->rphase == RP_SIMPLE_DATA) {
    h->rphase = RP_HEADER;
    h->rcmd = NULL;
    c->covered = c->count;
    call_chunk (c, c->buf, c->count, c->offset, LIBNBD_READ_DATA);
    report_done (h, c);
    return 0;
  }
  call_chunk (c, (uint8_t *) c->buf + (h->rdata_offset - c->offset),
              h->rlength - 8, h->rdata_offset, LIBNBD_READ_DATA);
  return chunk_done (h);
}

static int
process_header (struct nbd_handle *h, const uint8_t *hdr)
{
  uint32_t m = be32_get (hdr);

  h->chunks_received++;
  if (m == NBD_EXTENDED_REPLY_MAGIC)
    return process_extended_header (h, hdr);
  return m == NBD_SIMPLE_REPLY_MAGIC
    ? process_simple (h, hdr) : process_chunk_header (h, hdr);
}

/* The header length a magic announces; 0 (after recording the protocol
 * error) when the magic is unknown or not the negotiated style: with
 * extended headers every reply uses the extended header, and without
 * them the extended header is never valid. */
static size_t
header_size (struct nbd_handle *h, const uint8_t *magic)
{
  uint32_t m = be32_get (magic);

  if (h->eh_negotiated) {
    if (m == NBD_EXTENDED_REPLY_MAGIC) return NBD_EXT_REPLY_SIZE;
    if (m == NBD_SIMPLE_REPLY_MAGIC || m == NBD_STRUCTURED_REPLY_MAGIC) {
      protocol_error (h, m == NBD_SIMPLE_REPLY_MAGIC
                      ? "simple reply after extended headers were negotiated"
                      : "structured reply header after extended headers were negotiated");
      return 0;
    }
  }
  else {
    if (m == NBD_SIMPLE_REPLY_MAGIC) return NBD_SIMPLE_REPLY_SIZE;
    if (m == NBD_STRUCTURED_REPLY_MAGIC) return NBD_CHUNK_HEADER_SIZE;
    if (m == NBD_EXTENDED_REPLY_MAGIC) {
      protocol_error (h, "extended reply header but extended headers were not negotiated");
      return 0;
    }
  }
  protocol_error (h, "reply with a bad magic");
  return 0;
}

ssize_t
nbd_internal_reply_consume (struct nbd_handle *h, const uint8_t *p, size_t n)
{
  size_t used = 0;

  while (used < n && h->state == ST_TRANSMISSION) {
    switch (h->rphase) {
    case RP_HEADER: {
      size_t need, k;
      if (h->rhdr_len == 0 && n - used >= 4) {
        /* Fast path: the whole header is in the buffer. */
        need = header_size (h, p + used);
        if (need == 0)
          return -1;
        if (n - used >= need) {
          used += need;
          if (process_header (h, p + used - need) == -1) return -1;
          break;
        }
      }
      if (h->rhdr_len < 4) {
        k = 4 - h->rhdr_len < n - used ? 4 - h->rhdr_len : n - used;
        memcpy (h->rhdr + h->rhdr_len, p + used, k);
        h->rhdr_len += k; used += k;
        if (h->rhdr_len < 4) break;
      }
      need = header_size (h, h->rhdr);
      if (need == 0)
        return -1;
      k = need - h->rhdr_len < n - used ? need - h->rhdr_len : n - used;
      memcpy (h->rhdr + h->rhdr_len, p + used, k);
      h->rhdr_len += k; used += k;
      if (h->rhdr_len == need) {
        h->rhdr_len = 0;
        if (process_header (h, h->rhdr) == -1) return -1;
      }
      break;
    }
    case RP_SIMPLE_DATA:
    case RP_CHUNK_DATA: {
      size_t k = h->rremaining < n - used ? h->rremaining : n - used;
      memcpy (h->rdest, p + used, k);
      h->rdest += k; h->rremaining -= k; used += k;
      if (h->rremaining == 0 && data_done (h) == -1) return -1;
      break;
    }
    case RP_CHUNK_BUFFERED: {
      size_t k = h->pbuf_need - h->pbuf_len < n - used ? h->pbuf_need - h->pbuf_len : n - used;
      memcpy (h->pbuf + h->pbuf_len, p + used, k);
      h->pbuf_len += k; used += k;
      if (h->pbuf_len == h->pbuf_need && buffered_done (h) == -1) return -1;
      break;
    }
    }
  }
  return used;
}

bool
nbd_internal_reply_direct (struct nbd_handle *h, uint8_t **dest, size_t *len)
{
  if (h->state != ST_TRANSMISSION ||
      (h->rphase != RP_SIMPLE_DATA && h->rphase != RP_CHUNK_DATA))
    return false;
  *dest = h->rdest;
  *len = h->rremaining;
  return true;
}

ssize_t
nbd_internal_reply_direct_done (struct nbd_handle *h, size_t n)
{
  h->rdest += n;
  h->rremaining -= n;
  if (h->rremaining == 0 && data_done (h) == -1)
    return -1;
  return 0;
}
