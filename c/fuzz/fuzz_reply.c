/* fuzz_reply.c: libFuzzer target for the transmission-phase reply parser.
 *
 * The handle is put straight into TRANSMISSION (no socket: h->fd = -1)
 * with a 1 MiB export, every export flag, one or two negotiated meta
 * contexts, and a few commands already "in flight" (registered with
 * nbd_internal_add_inflight, as socket.c does once a request is sent).  The input is
 * the server's byte stream, fed in chunks.
 *
 * Commands, by cookie (the convention of testdata/gen_fuzz_seeds.py):
 *   1 READ 4096@8192 (chunk callback)   2 BLOCK_STATUS 65536@0
 *   3 FLUSH
 * and with settings bit7 also:
 *   4 WRITE 512@0   5 READ 1024@0 with DF   6 BLOCK_STATUS 4096@4096 REQ_ONE
 *   7 READ 131072@65536 (a "big" read)   8 TRIM 4096@0
 * and with extended headers (b3 bit0) also:
 *   9 BLOCK_STATUS 8 GiB@4096 (32-bit callback: extents are cut)
 *   10 WRITE_ZEROES 6 GiB@0
 *
 * Input format:
 *   - If the input starts with a reply magic it is a raw stream (the seed
 *     corpus testdata/fuzz/reply/): structured replies are negotiated
 *     unless it starts with a simple reply, extended headers (with commands
 *     9 and 10) if it starts with an extended reply; one meta context (id
 *     1, base:allocation); commands 1-3; fed in one piece.
 *   - Otherwise 4 bytes of settings, then the stream:
 *       b0 bit0 structured replies  bit1 second context (id 2, qemu:dirty-bitmap:x)
 *          bit2 pread_initialize   bit3 completion callbacks retire (return 1)
 *          bit4 chunk callback fails on its 2nd call   bit5 extent callback fails
 *          bit6 debug callback     bit7 the extra commands 4-8
 *       b1 largest chunk (0 = one feed)   b2 chunk-size seed
 *       b3 bit0 extended headers (implies structured replies; commands 9, 10)
 *          bit1 block status commands use 64-bit (extent64) callbacks
 *          bit2 command 2 is filtered (a payload naming context id 1)
 *
 * Invariants checked: every callback argument lies inside its request and
 * buffer; a READ that completes successfully was fully covered by the
 * chunks delivered to the chunk callback (tracked independently, byte by
 * byte); a successful BLOCK_STATUS delivered extents; no command completes
 * twice; a dead handle has no command left uncompleted; after nbd_close
 * every callback's .free has run exactly once.
 */
#include "fuzz_common.h"

#include <errno.h>

#define EXPORT_SIZE (1024 * 1024)
#define MAX_CMDS 10

struct fcmd {
  uint64_t cookie;
  uint16_t type, flags;
  uint64_t offset, count;
  uint8_t *buf;
  uint8_t *covered;          /* one byte per request byte, READ only */
  int completions;
  int error;
  int chunk_calls, extent_calls;
  bool wide;                 /* BLOCK_STATUS with an extent64 callback */
  int frees;                 /* .free calls, all three callbacks */
  int nr_callbacks;          /* callbacks that have a .free */
  bool fail_chunk, fail_extent, retire;
  bool sr;
  struct nbd_handle *h;
};

static const char *const ctx_names[2] = { "base:allocation", "qemu:dirty-bitmap:x" };

static void
cb_free (void *ud)
{
  struct fcmd *f = ud;
  f->frees++;
}

/* Commands that completed without error over all inputs: replaying the
 * seeds must reach some, or the harness no longer matches the core (a reply
 * that finds no command is just a protocol error, and no invariant fails). */
static unsigned long nr_successes;

int fuzz_replay_summary (void);
int
fuzz_replay_summary (void)
{
  printf ("fuzz_reply: %lu commands completed successfully\n", nr_successes);
  return nr_successes > 0 ? 0 : -1;
}

static int
completion_cb (void *ud, int *error)
{
  struct fcmd *f = ud;
  f->completions++;
  FZ_CHECK (f->completions == 1);
  f->error = *error;
  if (*error == 0)
    nr_successes++;
  if (*error == 0 && f->type == NBD_CMD_READ && f->sr) {
    uint64_t i;
    for (i = 0; i < f->count; i++)
      FZ_CHECK (f->covered[i]);
  }
  if (*error == 0 && f->type == NBD_CMD_READ && !f->sr)
    FZ_CHECK (f->chunk_calls == 1);
  if (*error == 0 && f->type == NBD_CMD_BLOCK_STATUS)
    FZ_CHECK (f->extent_calls > 0);
  return f->retire ? 1 : 0;
}

static int
chunk_cb (void *ud, const void *subbuf, size_t count, uint64_t offset,
          unsigned status, int *error)
{
  struct fcmd *f = ud;
  const uint8_t *s = subbuf;
  uint64_t rel, i;
  unsigned sum = 0;

  FZ_CHECK (f->type == NBD_CMD_READ);
  FZ_CHECK (f->completions == 0);
  FZ_CHECK (status == LIBNBD_READ_DATA || status == LIBNBD_READ_HOLE);
  FZ_CHECK (offset >= f->offset && offset - f->offset <= f->count);
  rel = offset - f->offset;
  FZ_CHECK (count <= f->count - rel);
  FZ_CHECK (s == f->buf + rel);
  if (status == LIBNBD_READ_HOLE || !f->sr)
    FZ_CHECK (count > 0 || f->count == 0);
  for (i = 0; i < count; i++) {
    sum += s[i];                         /* ASan: the bytes must be readable */
    if (status == LIBNBD_READ_HOLE) FZ_CHECK (s[i] == 0);
    FZ_CHECK (!f->covered[rel + i]);     /* no byte delivered twice */
    f->covered[rel + i] = 1;
  }
  (void) sum;
  FZ_CHECK (*error >= 0);
  f->chunk_calls++;
  if (f->fail_chunk && f->chunk_calls == 2) { *error = EIO; return -1; }
  return 0;
}

static int
extent_cb (void *ud, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct fcmd *f = ud;
  uint64_t pos = 0;
  size_t i;
  bool known = false;

  FZ_CHECK (f->type == NBD_CMD_BLOCK_STATUS);
  FZ_CHECK (f->completions == 0);
  for (i = 0; i < f->h->nr_meta; i++)
    if (strcmp (metacontext, f->h->meta[i].name) == 0) known = true;
  FZ_CHECK (known);
  FZ_CHECK (offset == f->offset);
  FZ_CHECK (nr_entries > 0 && nr_entries % 2 == 0);
  if (f->flags & NBD_CMD_FLAG_REQ_ONE)
    FZ_CHECK (nr_entries == 2);
  for (i = 0; i < nr_entries; i += 2) {
    FZ_CHECK (entries[i] > 0);
    FZ_CHECK (pos < f->count);   /* only the last extent may overshoot */
    pos += entries[i];
    (void) entries[i + 1];
  }
  f->extent_calls++;
  if (f->fail_extent) { *error = ENOSPC; return -1; }
  return 0;
}

static int
extent64_cb (void *ud, const char *metacontext, uint64_t offset,
             nbd_extent *entries, size_t nr_entries, int *error)
{
  struct fcmd *f = ud;
  uint64_t pos = 0;
  size_t i;
  bool known = false;

  FZ_CHECK (f->type == NBD_CMD_BLOCK_STATUS && f->wide);
  FZ_CHECK (f->completions == 0);
  for (i = 0; i < f->h->nr_meta; i++)
    if (strcmp (metacontext, f->h->meta[i].name) == 0) known = true;
  FZ_CHECK (known);
  FZ_CHECK (offset == f->offset);
  FZ_CHECK (nr_entries > 0);
  if (f->flags & NBD_CMD_FLAG_REQ_ONE)
    FZ_CHECK (nr_entries == 1 && entries[0].length <= f->count);
  for (i = 0; i < nr_entries; i++) {
    FZ_CHECK (entries[i].length > 0);
    FZ_CHECK (pos < f->count);   /* only the last extent may overshoot */
    FZ_CHECK (entries[i].length <= UINT64_MAX - f->offset - pos);
    pos += entries[i].length;
  }
  f->extent_calls++;
  if (f->fail_extent) { *error = ENOSPC; return -1; }
  return 0;
}

static void
add_command (struct nbd_handle *h, struct fcmd *f, uint64_t cookie, uint16_t type,
             uint64_t offset, uint64_t count, uint16_t flags, bool wide)
{
  struct command *c = nbd_internal_cmd_alloc (h);
  FZ_CHECK (c != NULL);
  f->h = h;
  f->cookie = cookie;
  f->type = type;
  f->flags = flags;
  f->offset = offset;
  f->count = count;
  f->sr = h->sr_negotiated;
  if (type == NBD_CMD_READ || type == NBD_CMD_WRITE) {
    /* exactly count bytes so ASan catches any write past the end */
    f->buf = malloc (count ? count : 1);
    FZ_CHECK (f->buf != NULL);
    memset (f->buf, 0xa5, count ? count : 1);
    f->covered = calloc (1, count ? count : 1);
    FZ_CHECK (f->covered != NULL);
  }
  c->cookie = cookie;
  c->type = type;
  c->wire_flags = flags;
  c->offset = offset;
  c->count = count;
  c->buf = f->buf;
  c->completion = (nbd_completion_callback) { .callback = completion_cb, .user_data = f, .free = cb_free };
  f->nr_callbacks = 1;
  if (type == NBD_CMD_READ) {
    c->chunk = (nbd_chunk_callback) { .callback = chunk_cb, .user_data = f, .free = cb_free };
    f->nr_callbacks++;
  }
  if (type == NBD_CMD_BLOCK_STATUS && wide) {
    c->extent64 = (nbd_extent64_callback) { .callback = extent64_cb, .user_data = f, .free = cb_free };
    f->wide = true;
    f->nr_callbacks++;
  }
  else if (type == NBD_CMD_BLOCK_STATUS) {
    c->extent = (nbd_extent_callback) { .callback = extent_cb, .user_data = f, .free = cb_free };
    f->nr_callbacks++;
  }
  c->hdr_len = h->eh_negotiated ? NBD_EXT_REQUEST_SIZE : NBD_REQUEST_SIZE;
  if (type == NBD_CMD_READ && count >= NBD_BIG_READ)
    h->nr_big_reads++;
  /* what request_sent() in socket.c does */
  nbd_internal_add_inflight (h, c);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nbd_handle *h;
  struct fcmd cmds[MAX_CMDS];
  struct fz_pending pend = { 0 };
  struct fz_rng rng;
  uint8_t b0, b1, b2, b3;
  bool wide;
  size_t pos = 0, ncmds = 0, i, nctx;
  bool dead = false;

  memset (cmds, 0, sizeof cmds);
  if (size >= 4 && (be32_get (data) == NBD_SIMPLE_REPLY_MAGIC ||
                    be32_get (data) == NBD_STRUCTURED_REPLY_MAGIC ||
                    be32_get (data) == NBD_EXTENDED_REPLY_MAGIC)) {
    b0 = be32_get (data) == NBD_SIMPLE_REPLY_MAGIC ? 0x04 : 0x05;
    b1 = 0; b2 = 0;
    b3 = be32_get (data) == NBD_EXTENDED_REPLY_MAGIC ? 0x01 : 0;
  }
  else {
    if (size < 4) return 0;
    b0 = data[0]; b1 = data[1]; b2 = data[2]; b3 = data[3];
    data += 4; size -= 4;
  }
  wide = (b3 & 0x02) != 0;
  rng.s = b2 * 0x01000193u + 3;

  h = nbd_create ();
  FZ_CHECK (h != NULL);
  if (b0 & 0x40)
    fz_enable_debug (h);
  h->state = ST_TRANSMISSION;
  h->protocol = "newstyle-fixed";
  h->eh_negotiated = (b3 & 0x01) != 0;
  h->sr_negotiated = (b0 & 0x01) != 0 || h->eh_negotiated;
  h->have_info = true;
  h->size = EXPORT_SIZE;
  h->eflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
    NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
    NBD_FLAG_SEND_DF | NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE |
    NBD_FLAG_SEND_FAST_ZERO | (h->eh_negotiated ? NBD_FLAG_BLOCK_STAT_PAYLOAD : 0);
  h->block_min = 1; h->block_pref = 4096; h->block_max = 32 * 1024 * 1024;
  h->pread_initialize = (b0 & 0x04) != 0;
  nctx = (b0 & 0x02) ? 2 : 1;
  h->meta = malloc (nctx * sizeof *h->meta);
  FZ_CHECK (h->meta != NULL);
  for (i = 0; i < nctx; i++) {
    h->meta[i].id = i + 1;
    h->meta[i].name = strdup (ctx_names[i]);
    FZ_CHECK (h->meta[i].name != NULL);
  }
  h->nr_meta = nctx;
  h->meta_valid = true;

  add_command (h, &cmds[ncmds++], 1, NBD_CMD_READ, 8192, 4096, 0, false);
  add_command (h, &cmds[ncmds++], 2, NBD_CMD_BLOCK_STATUS, 0, 65536, 0, wide);
  if ((b3 & 0x04) && h->eh_negotiated) {
    /* A filtered block status: only context id 1 may answer. */
    struct command *c = nbd_internal_find_inflight (h, 2, false);
    FZ_CHECK (c != NULL && (c->payload = malloc (NBD_BS_FILTER_PREFIX + 4)) != NULL);
    be64_put (c->payload, 65536);
    be32_put (c->payload + NBD_BS_FILTER_PREFIX, 1);
    c->payload_len = NBD_BS_FILTER_PREFIX + 4;
    c->wire_flags |= NBD_CMD_FLAG_PAYLOAD_LEN;
  }
  add_command (h, &cmds[ncmds++], 3, NBD_CMD_FLUSH, 0, 0, 0, false);
  if (b0 & 0x80) {
    add_command (h, &cmds[ncmds++], 4, NBD_CMD_WRITE, 0, 512, NBD_CMD_FLAG_FUA, false);
    add_command (h, &cmds[ncmds++], 5, NBD_CMD_READ, 0, 1024,
                 h->sr_negotiated ? NBD_CMD_FLAG_DF : 0, false);
    add_command (h, &cmds[ncmds++], 6, NBD_CMD_BLOCK_STATUS, 4096, 4096, NBD_CMD_FLAG_REQ_ONE,
                 wide);
    add_command (h, &cmds[ncmds++], 7, NBD_CMD_READ, 65536, 131072, 0, false);
    add_command (h, &cmds[ncmds++], 8, NBD_CMD_TRIM, 0, 4096, 0, false);
  }
  if (h->eh_negotiated) {
    /* The 64-bit effect lengths extended headers allow; cookies 9 and 10
     * whatever b0 says (then 4-8 are simply unknown cookies). */
    add_command (h, &cmds[ncmds++], 9, NBD_CMD_BLOCK_STATUS, 4096, 8ULL << 30, 0, false);
    add_command (h, &cmds[ncmds++], 10, NBD_CMD_WRITE_ZEROES, 0, 6ULL << 30, 0, false);
  }
  for (i = 0; i < ncmds; i++) {
    cmds[i].retire = (b0 & 0x08) != 0;
    cmds[i].fail_chunk = (b0 & 0x10) != 0;
    cmds[i].fail_extent = (b0 & 0x20) != 0;
  }
  h->next_cookie = ncmds + 1;

  while (pos < size && !dead && h->state == ST_TRANSMISSION) {
    size_t n = b1 == 0 ? size - pos : 1 + fz_next (&rng) % b1;
    if (n > size - pos) n = size - pos;
    fz_pending_append (&pend, data + pos, n);
    pos += n;
    if (fz_pending_feed (h, &pend) < 0)
      dead = true;
    /* The reply parser buffers internally: it always takes everything. */
    if (!dead) FZ_CHECK (pend.len == 0);
    FZ_CHECK (h->nr_inflight >= 0 && h->nr_big_reads >= 0);
  }

  if (dead) {
    FZ_CHECK (h->state == ST_DEAD);
    FZ_CHECK (h->dead_errno != 0);
    FZ_CHECK (h->nr_inflight == 0 && h->inflight_head == NULL);
    for (i = 0; i < ncmds; i++) {
      FZ_CHECK (cmds[i].completions == 1);
    }
  }
  {
    int inflight = 0;
    for (i = 0; i < ncmds; i++) {
      FZ_CHECK (cmds[i].completions <= 1);
      if (cmds[i].completions == 0) inflight++;
      /* failed commands carry an errno the library can produce */
      if (cmds[i].completions && cmds[i].error)
        FZ_CHECK (cmds[i].error > 0 && cmds[i].error < 4096);
    }
    FZ_CHECK (inflight == h->nr_inflight);
    FZ_CHECK (nbd_aio_in_flight (h) >= 0);
  }
  (void) nbd_aio_is_processing (h);
  (void) nbd_aio_peek_command_completed (h);
  if (getenv ("FUZZ_VERBOSE")) {
    fprintf (stderr, "state %s, sr %d, eh %d:", nbd_internal_state_name (h->state),
             h->sr_negotiated, h->eh_negotiated);
    for (i = 0; i < ncmds; i++)
      fprintf (stderr, " [%d: done %d err %d chunks %d extents %d]", (int) cmds[i].cookie,
               cmds[i].completions, cmds[i].error, cmds[i].chunk_calls, cmds[i].extent_calls);
    fprintf (stderr, "\n");
  }
  nbd_close (h);

  for (i = 0; i < ncmds; i++) {
    FZ_CHECK (cmds[i].frees == cmds[i].nr_callbacks);
    free (cmds[i].buf);
    free (cmds[i].covered);
  }
  free (pend.buf);
  return 0;
}
