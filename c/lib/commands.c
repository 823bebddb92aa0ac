/* commands.c: issuing transmission-phase commands.  Client-side checks run
 * before anything is queued, so a refused call never touches the
 * connection.  A sync call is its aio call plus a wait. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Flags each command may carry (LIBNBD_CMD_FLAG_* == NBD_CMD_FLAG_*). */
static uint32_t
allowed_flags (uint16_t type)
{
  switch (type) {
  case NBD_CMD_READ: return LIBNBD_CMD_FLAG_DF;
  case NBD_CMD_WRITE: return LIBNBD_CMD_FLAG_FUA;
  case NBD_CMD_TRIM: return LIBNBD_CMD_FLAG_FUA;
  case NBD_CMD_WRITE_ZEROES:
    return LIBNBD_CMD_FLAG_FUA | LIBNBD_CMD_FLAG_NO_HOLE | LIBNBD_CMD_FLAG_FAST_ZERO;
  case NBD_CMD_BLOCK_STATUS: return LIBNBD_CMD_FLAG_REQ_ONE;
  default: return 0;
  }
}

static const char *
command_name (uint16_t type)
{
  switch (type) {
  case NBD_CMD_READ: return "read";
  case NBD_CMD_WRITE: return "write";
  case NBD_CMD_FLUSH: return "flush";
  case NBD_CMD_TRIM: return "trim";
  case NBD_CMD_CACHE: return "cache";
  case NBD_CMD_WRITE_ZEROES: return "zero";
  case NBD_CMD_BLOCK_STATUS: return "block status";
  default: return "command";
  }
}

static int
refuse_read_only (void)
{
  set_error (EPERM, "server does not support write operations (the export is read-only)");
  return -1;
}

static int
check_request (struct nbd_handle *h, uint16_t type, uint64_t offset, uint64_t count,
               uint32_t flags, bool structured)
{
  uint32_t st = h->strict;
  /* DF only means something to a read that reports chunks. */
  uint32_t allowed = allowed_flags (type) & (type == NBD_CMD_READ && !structured ? 0 : ~0U);
  bool ranged = type != NBD_CMD_FLUSH;

  if (flags > 0xffff) {
    set_error (EINVAL, "flags: 0x%x does not fit the protocol's 16 bits", flags);
    return -1;
  }
  if (flags & LIBNBD_CMD_FLAG_PAYLOAD_LEN) {
    set_error (EINVAL, "flags: LIBNBD_CMD_FLAG_PAYLOAD_LEN is only meaningful on a write "
               "or a filtered block status (and the library sets it)");
    return -1;
  }
  if ((st & LIBNBD_STRICT_FLAGS) && (flags & ~allowed)) {
    set_error (EINVAL, "flags: 0x%x is not valid for this %s call",
               flags & ~allowed, command_name (type));
    return -1;
  }
  if (st & LIBNBD_STRICT_COMMANDS) {
    uint16_t ef = h->eflags;
    const char *missing = NULL;
    /* Writes to a read-only export: a WRITE is refused before anything
     * else, TRIM and WRITE_ZEROES only after their own feature checks (the
     * order in which libnbd reports them). */
    bool read_only = (ef & NBD_FLAG_READ_ONLY) &&
      (type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES);
    if (read_only && type == NBD_CMD_WRITE)
      return refuse_read_only ();
    if (type == NBD_CMD_FLUSH && !(ef & NBD_FLAG_SEND_FLUSH)) missing = "flush";
    else if (type == NBD_CMD_TRIM && !(ef & NBD_FLAG_SEND_TRIM)) missing = "trim";
    else if (type == NBD_CMD_WRITE_ZEROES && !(ef & NBD_FLAG_SEND_WRITE_ZEROES)) missing = "zero";
    else if (type == NBD_CMD_CACHE && !(ef & NBD_FLAG_SEND_CACHE)) missing = "cache";
    else if ((flags & LIBNBD_CMD_FLAG_FUA) && !(ef & NBD_FLAG_SEND_FUA)) missing = "the FUA flag";
    else if ((flags & LIBNBD_CMD_FLAG_DF) && (!(ef & NBD_FLAG_SEND_DF) || !h->sr_negotiated))
      missing = "the DF flag";
    else if ((flags & LIBNBD_CMD_FLAG_FAST_ZERO) && !(ef & NBD_FLAG_SEND_FAST_ZERO))
      missing = "the FAST_ZERO flag";
    if (type == NBD_CMD_BLOCK_STATUS && (!h->sr_negotiated || h->nr_meta == 0)) {
      set_error (ENOTSUP, "server does not support block status (%s)",
                 h->sr_negotiated ? "no meta context was negotiated"
                                  : "structured replies were not negotiated");
      return -1;
    }
    if (missing) {
      set_error (EINVAL, "server does not support %s", missing);
      return -1;
    }
    if (read_only)
      return refuse_read_only ();
  }
  if (ranged) {
    if ((st & LIBNBD_STRICT_ZERO_SIZE) && count == 0) {
      set_error (EINVAL, "count cannot be 0");
      return -1;
    }
    if ((st & LIBNBD_STRICT_BOUNDS) &&
        (offset > h->size || count > h->size - offset)) {
      /* libnbd reports writing, trimming or zeroing past the end as ENOSPC. */
      bool writes = type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
      set_error (writes ? ENOSPC : EINVAL, "request out of bounds: offset %llu + count %llu > export size %llu",
                 (unsigned long long) offset, (unsigned long long) count,
                 (unsigned long long) h->size);
      return -1;
    }
    if ((st & LIBNBD_STRICT_ALIGN) && h->block_min > 1 &&
        ((offset | count) & (h->block_min - 1))) {
      set_error (EINVAL, "request is not aligned to the server's minimum block size %u",
                 h->block_min);
      return -1;
    }
  }
  if (type == NBD_CMD_READ || type == NBD_CMD_WRITE) {
    uint64_t max = nbd_internal_max_payload (h);
    if (count > max) {
      set_error (ERANGE, "request too large: %llu bytes (maximum %llu)",
                 (unsigned long long) count, (unsigned long long) max);
      return -1;
    }
  }
  else if (count > UINT32_MAX && !h->eh_negotiated) {
    /* Only extended headers carry a 64-bit effect length. */
    set_error (EINVAL, "count %llu does not fit the protocol's 32 bits "
               "(extended headers were not negotiated)",
               (unsigned long long) count);
    return -1;
  }
  return 0;
}

static void
enqueue (struct nbd_handle *h, struct command *c)
{
  bool was_idle = h->sendq_head == NULL;

  if (h->eh_negotiated) {
    /* Extended request: the length is 64 bits.  It is a payload length
     * (with NBD_CMD_FLAG_PAYLOAD_LEN) for a write and for a request that
     * carries its own payload, else the effect length. */
    uint64_t len = c->count;
    if (c->type == NBD_CMD_WRITE || c->payload) {
      c->wire_flags |= NBD_CMD_FLAG_PAYLOAD_LEN;
      if (c->payload) len = c->payload_len;
    }
    be32_put (c->hdr, NBD_EXTENDED_REQUEST_MAGIC);
    be64_put (c->hdr + 24, len);
    c->hdr_len = NBD_EXT_REQUEST_SIZE;
  }
  else {
    be32_put (c->hdr, NBD_REQUEST_MAGIC);
    be32_put (c->hdr + 24, (uint32_t) c->count);
    c->hdr_len = NBD_REQUEST_SIZE;
  }
  be16_put (c->hdr + 4, c->wire_flags);
  be16_put (c->hdr + 6, c->type);
  be64_put (c->hdr + 8, c->cookie);
  be64_put (c->hdr + 16, c->offset);
  c->next = NULL;
  if (h->sendq_tail) h->sendq_tail->next = c; else h->sendq_head = c;
  h->sendq_tail = c;
  h->nr_sendq++;
  h->sendq_bytes += nbd_internal_wire_size (c);
  if (nbd_internal_is_big_read (c))
    h->nr_big_reads++;
  /* When nothing is in flight, send at once: nobody else would.  While
   * replies are still due, an aio request waits only until the caller next
   * drives the handle (nbd_poll, nbd_aio_get_direction, a notify call, or
   * the end of processing the replies that came in), so a burst of
   * requests leaves in one sendmsg.  It never waits for a reply: when
   * another thread is already blocked in poll() nobody would come back
   * for it, so it goes at once; so do sync requests, NBD_CMD_DISC and a
   * big backlog. */
  if ((was_idle && (c->sync || h->nr_inflight == 0)) || h->nr_pollers > 0 ||
      c->type == NBD_CMD_DISC || h->sendq_bytes >= NBD_SEND_BATCH_BYTES)
    nbd_internal_flush (h);
}

/* Validates, builds and queues one command.  Returns it, or NULL with the
 * error set.  On success the command keeps the closures (the caller's
 * copies are cleared) and the payload; on failure the wrapper frees the
 * closures and this frees the payload. */
static struct command *
issue_payload (struct nbd_handle *h, uint16_t type, uint64_t offset, uint64_t count,
               void *buf, uint32_t flags, bool sync,
               nbd_completion_callback *completion, nbd_chunk_callback *chunk,
               nbd_extent_callback *extent, uint8_t *payload, uint32_t payload_len)
{
  struct command *c;

  if (h->disc_queued) {
    set_error (EINVAL, "cannot request more commands after NBD_CMD_DISC");
    free (payload);
    return NULL;
  }
  /* NBD_CMD_FLAG_PAYLOAD_LEN follows the wire format, not the caller: on
   * a write or a filtered block status it is ignored (enqueue sets it
   * when extended headers are in use); elsewhere check_request refuses
   * it, since the server would then wait for a payload. */
  if (type == NBD_CMD_WRITE || payload)
    flags &= ~(uint32_t) LIBNBD_CMD_FLAG_PAYLOAD_LEN;
  if (check_request (h, type, offset, count, flags, chunk != NULL) == -1 ||
      (c = nbd_internal_cmd_alloc (h)) == NULL) {
    free (payload);
    return NULL;
  }
  c->payload = payload;
  c->payload_len = payload_len;
  c->type = type;
  c->wire_flags = (uint16_t) flags;
  c->offset = offset;
  c->count = count;
  c->buf = buf;
  c->sync = sync;
  c->cookie = h->next_cookie++;
  if (completion) TAKE_CALLBACK (c->completion, completion);
  if (chunk) TAKE_CALLBACK (c->chunk, chunk);
  if (extent) TAKE_CALLBACK (c->extent, extent);
  enqueue (h, c);
  return c;
}

static struct command *
issue (struct nbd_handle *h, uint16_t type, uint64_t offset, uint64_t count,
       void *buf, uint32_t flags, bool sync,
       nbd_completion_callback *completion, nbd_chunk_callback *chunk,
       nbd_extent_callback *extent)
{
  return issue_payload (h, type, offset, count, buf, flags, sync, completion,
                        chunk, extent, NULL, 0);
}

/* Finishes a sync command: waits, frees, reports. */
static int
finish_sync (struct nbd_handle *h, struct command *c)
{
  int err;

  if (nbd_internal_wait_command (h, c) == -1 && !c->done) {
    /* poll failed without the connection dying: the command cannot be
     * abandoned safely while the server may still answer it. */
    return -1;
  }
  err = c->done ? c->error : (h->dead_errno ? h->dead_errno : ENOTCONN);
  if (c->done)
    nbd_internal_cmd_free (h, c);   /* runs the callbacks' .free too */
  if (err) {
    if (h->state == ST_DEAD && h->dead_msg && (err == h->dead_errno || err == ENOTCONN))
      set_error (err, "%s", h->dead_msg);
    else if (err == ENOTCONN && h->state == ST_CLOSED)
      set_error (err, "the connection was closed before the command completed");
    else
      set_error (err, "%s", strerror (err));
    return -1;
  }
  return 0;
}

/* ---- the calls (state and arguments already checked by api.c) ------------ */
static int64_t
aio_command (struct nbd_handle *h, uint16_t type, uint64_t offset, uint64_t count,
             void *buf, uint32_t flags, nbd_completion_callback *completion,
             nbd_chunk_callback *chunk, nbd_extent_callback *extent)
{
  struct command *c = issue (h, type, offset, count, buf, flags, false,
                             completion, chunk, extent);
  return c ? (int64_t) c->cookie : -1;
}

int64_t
nbd_unlocked_aio_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                        nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_READ, offset, count, buf, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_pread_structured (struct nbd_handle *h, void *buf, size_t count,
                                   uint64_t offset, nbd_chunk_callback *chunk,
                                   nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_READ, offset, count, buf, flags, completion, chunk, NULL);
}

int64_t
nbd_unlocked_aio_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset,
                         nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_WRITE, offset, count, (void *) buf, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_flush (struct nbd_handle *h, nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_FLUSH, 0, 0, NULL, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_trim (struct nbd_handle *h, uint64_t count, uint64_t offset,
                       nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_TRIM, offset, count, NULL, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_cache (struct nbd_handle *h, uint64_t count, uint64_t offset,
                        nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_CACHE, offset, count, NULL, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_zero (struct nbd_handle *h, uint64_t count, uint64_t offset,
                       nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_WRITE_ZEROES, offset, count, NULL, flags, completion, NULL, NULL);
}

int64_t
nbd_unlocked_aio_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset,
                               nbd_extent_callback *extent,
                               nbd_completion_callback *completion, uint32_t flags)
{
  return aio_command (h, NBD_CMD_BLOCK_STATUS, offset, count, NULL, flags, completion, NULL, extent);
}

/* Sync calls: the same checks, then a wait on our own command. */
static int
sync_command (struct nbd_handle *h, uint16_t type, uint64_t offset, uint64_t count,
              void *buf, uint32_t flags, nbd_chunk_callback *chunk,
              nbd_extent_callback *extent)
{
  struct command *c = issue (h, type, offset, count, buf, flags, true, NULL, chunk, extent);

  return c ? finish_sync (h, c) : -1;
}

int
nbd_unlocked_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, uint32_t flags)
{
  return sync_command (h, NBD_CMD_READ, offset, count, buf, flags, NULL, NULL);
}

int
nbd_unlocked_pread_structured (struct nbd_handle *h, void *buf, size_t count, uint64_t offset,
                               nbd_chunk_callback *chunk, uint32_t flags)
{
  return sync_command (h, NBD_CMD_READ, offset, count, buf, flags, chunk, NULL);
}

int
nbd_unlocked_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset,
                     uint32_t flags)
{
  return sync_command (h, NBD_CMD_WRITE, offset, count, (void *) buf, flags, NULL, NULL);
}

int
nbd_unlocked_flush (struct nbd_handle *h, uint32_t flags)
{
  return sync_command (h, NBD_CMD_FLUSH, 0, 0, NULL, flags, NULL, NULL);
}

int
nbd_unlocked_trim (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  return sync_command (h, NBD_CMD_TRIM, offset, count, NULL, flags, NULL, NULL);
}

int
nbd_unlocked_cache (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  return sync_command (h, NBD_CMD_CACHE, offset, count, NULL, flags, NULL, NULL);
}

int
nbd_unlocked_zero (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  return sync_command (h, NBD_CMD_WRITE_ZEROES, offset, count, NULL, flags, NULL, NULL);
}

int
nbd_unlocked_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset,
                           nbd_extent_callback *extent, uint32_t flags)
{
  return sync_command (h, NBD_CMD_BLOCK_STATUS, offset, count, NULL, flags, NULL, extent);
}

/* libnbd 1.18: block status with 64-bit extents.  Without extended
 * headers the server's extents are 32-bit; the reply parser widens them
 * for the command's 64-bit closure (reply.c). */
static struct command *
issue_bs64 (struct nbd_handle *h, uint64_t count, uint64_t offset, bool sync,
            nbd_extent64_callback *extent64, nbd_completion_callback *completion,
            uint32_t flags)
{
  struct command *c = issue (h, NBD_CMD_BLOCK_STATUS, offset, count, NULL, flags, sync,
                             completion, NULL, NULL);
  if (c)
    TAKE_CALLBACK (c->extent64, extent64);
  return c;
}

/* libnbd 1.18: block status limited to some of the negotiated contexts.
 * The request carries a payload (NBD_CMD_FLAG_PAYLOAD_LEN): the effect
 * length, then the ids of the wanted contexts.  That needs extended
 * headers and a server that advertised NBD_FLAG_BLOCK_STAT_PAYLOAD.
 * Returns the payload (malloc'd) or NULL with the error set. */
static uint8_t *
filter_payload (struct nbd_handle *h, uint64_t count, char **contexts, uint32_t *len)
{
  size_t n = 0, i, j, k = 0;
  uint8_t *p;

  if (!h->eh_negotiated) {
    set_error (ENOTSUP, "the server cannot filter block status by context "
               "(that needs extended headers, which were not negotiated)");
    return NULL;
  }
  if ((h->strict & LIBNBD_STRICT_COMMANDS) && !(h->eflags & NBD_FLAG_BLOCK_STAT_PAYLOAD)) {
    set_error (ENOTSUP, "the server does not support block status payloads "
               "(see nbd_can_block_status_payload)");
    return NULL;
  }
  while (contexts[n]) n++;
  if (n == 0) {
    set_error (EINVAL, "contexts: the filter must name at least one meta context");
    return NULL;
  }
  p = malloc (NBD_BS_FILTER_PREFIX + 4 * n);
  if (!p) {
    set_error (ENOMEM, "out of memory");
    return NULL;
  }
  be64_put (p, count);
  for (i = 0; contexts[i]; i++) {
    uint32_t id;
    for (j = 0; j < h->nr_meta; j++)
      if (strcmp (h->meta[j].name, contexts[i]) == 0) break;
    if (j == h->nr_meta) {
      set_error (EINVAL, "contexts: '%s' is not a negotiated meta context "
                 "(see nbd_can_meta_context)", contexts[i]);
      free (p);
      return NULL;
    }
    id = h->meta[j].id;
    /* A context named twice is sent once. */
    for (j = 0; j < k; j++)
      if (be32_get (p + NBD_BS_FILTER_PREFIX + 4 * j) == id) break;
    if (j == k)
      be32_put (p + NBD_BS_FILTER_PREFIX + 4 * k++, id);
  }
  *len = (uint32_t) (NBD_BS_FILTER_PREFIX + 4 * k);
  return p;
}

static struct command *
issue_filter (struct nbd_handle *h, uint64_t count, uint64_t offset, char **contexts,
              bool sync, nbd_extent64_callback *extent64,
              nbd_completion_callback *completion, uint32_t flags)
{
  struct command *c;
  uint32_t len = 0;
  uint8_t *payload = filter_payload (h, count, contexts, &len);

  if (!payload)
    return NULL;
  c = issue_payload (h, NBD_CMD_BLOCK_STATUS, offset, count, NULL, flags, sync,
                     completion, NULL, NULL, payload, len);
  if (c)
    TAKE_CALLBACK (c->extent64, extent64);
  return c;
}

int
nbd_unlocked_block_status_filter (struct nbd_handle *h, uint64_t count, uint64_t offset,
                                  char **contexts, nbd_extent64_callback *extent64,
                                  uint32_t flags)
{
  struct command *c = issue_filter (h, count, offset, contexts, true, extent64, NULL, flags);
  return c ? finish_sync (h, c) : -1;
}

int64_t
nbd_unlocked_aio_block_status_filter (struct nbd_handle *h, uint64_t count, uint64_t offset,
                                      char **contexts, nbd_extent64_callback *extent64,
                                      nbd_completion_callback *completion, uint32_t flags)
{
  struct command *c = issue_filter (h, count, offset, contexts, false, extent64,
                                    completion, flags);
  return c ? (int64_t) c->cookie : -1;
}

int
nbd_unlocked_block_status_64 (struct nbd_handle *h, uint64_t count, uint64_t offset,
                              nbd_extent64_callback *extent64, uint32_t flags)
{
  struct command *c = issue_bs64 (h, count, offset, true, extent64, NULL, flags);
  return c ? finish_sync (h, c) : -1;
}

int64_t
nbd_unlocked_aio_block_status_64 (struct nbd_handle *h, uint64_t count, uint64_t offset,
                                  nbd_extent64_callback *extent64,
                                  nbd_completion_callback *completion, uint32_t flags)
{
  struct command *c = issue_bs64 (h, count, offset, false, extent64, completion, flags);
  return c ? (int64_t) c->cookie : -1;
}

/* ---- disconnecting ------------------------------------------------------ */
static int
queue_disconnect (struct nbd_handle *h, uint32_t flags)
{
  struct command *c;

  if (h->disc_queued) {
    set_error (EINVAL, "a disconnect was already requested");
    return -1;
  }
  if (flags & LIBNBD_SHUTDOWN_ABANDON_PENDING) {
    /* Drop requests not yet started on the wire. */
    struct command **pp = &h->sendq_head, *prev = NULL;
    if (h->send_off > 0 && *pp) { prev = *pp; pp = &(*pp)->next; }
    while (*pp) {
      struct command *x = *pp;
      *pp = x->next;
      h->nr_sendq--;
      h->sendq_bytes -= nbd_internal_wire_size (x);
      x->next = NULL;
      x->error = ENOTCONN;
      nbd_internal_cmd_complete (h, x);
    }
    h->sendq_tail = prev;
  }
  c = nbd_internal_cmd_alloc (h);
  if (!c) return -1;
  c->type = NBD_CMD_DISC;
  c->cookie = h->next_cookie++;
  h->disc_queued = true;
  enqueue (h, c);
  return 0;
}

int
nbd_unlocked_aio_disconnect (struct nbd_handle *h, uint32_t flags)
{
  return queue_disconnect (h, flags);
}

/* The disconnect is on the wire and no reply is due: only EOF is left. */
static bool
shut_down_or_disc_idle (const struct nbd_handle *h)
{
  return nbd_internal_is_shut_down (h) || nbd_internal_disc_idle (h);
}

/* In option mode this ends negotiation with NBD_OPT_ABORT (libnbd 1.16
 * permits nbd_shutdown there); connected, it sends NBD_CMD_DISC. */
int
nbd_unlocked_shutdown (struct nbd_handle *h, uint32_t flags)
{
  int r = 0;

  if (h->state == ST_NEGOTIATING) {
    if (nbd_internal_begin_user_option (h, NBD_OPT_ABORT) == -1)
      r = nbd_internal_apply_parse_result (h);
    h->opt_user = false;
  }
  else if (!h->disc_queued)
    r = queue_disconnect (h, flags);
  if (r == 0 && nbd_internal_wait_until (h, shut_down_or_disc_idle) == -1)
    r = -1;
  if (r == 0 && nbd_internal_disc_idle (h) &&
      nbd_internal_wait_eof (h, NBD_DISC_GRACE_MS) == -1)
    r = -1;
  if (r == 0 && h->state == ST_DEAD) {
    set_error (h->dead_errno, "%s", h->dead_msg ? h->dead_msg : "connection failed");
    r = -1;
  }
  return r;
}
