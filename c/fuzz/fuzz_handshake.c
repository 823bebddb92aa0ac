/* fuzz_handshake.c: libFuzzer target for the handshake parser.
 *
 * Input format:
 *   - If the input starts with "NBDMAGIC" it is a raw server stream (the
 *     seed corpus testdata/fuzz/handshake/ is in this form): default
 *     settings (structured replies, meta context base:allocation, block
 *     size request, not opt mode) and the whole stream in one feed.
 *   - Otherwise the first 4 bytes are settings, the rest is the stream:
 *       b0 bit0 opt mode          bit1 request structured replies
 *          bit2 add "base:allocation"   bit3 full info
 *          bit4 add namespace query "qemu:"  bit5 request block size
 *          bit6 debug callback    bit7 non-empty export name
 *       b1 bits0-1 handshake flags (FIXED_NEWSTYLE, NO_ZEROES)
 *          bits2-7 seed for the opt-mode option choices
 *       b2 largest chunk (0 = the whole stream in one feed)
 *       b3 seed for the chunk sizes (in opt mode: more option-choice seed)
 *     In opt mode the stream is fed one byte at a time, because server
 *     bytes that arrive while no option is pending are (rightly) fatal;
 *     each time the handle reaches NEGOTIATING an option is started with
 *     nbd_internal_begin_user_option (GO, INFO, LIST, LIST_META_CONTEXT,
 *     rarely ABORT).
 * Extended headers: in both forms the client asks for them (before
 * structured replies) exactly when the stream's first option reply, at
 * byte 18 after the greeting, answers NBD_OPT_EXTENDED_HEADERS; older
 * seeds, whose first reply answers STRUCTURED_REPLY, keep their meaning.
 * The client's own bytes (h->wbuf) are discarded after each feed.
 */
#include "fuzz_common.h"

#include <errno.h>

#define MAX_USER_OPTIONS 16

struct hs_ctx {
  bool want_base, want_ns;
  int list_calls, ctx_calls, completions;
  int frees;
};

static int
list_cb (void *ud, const char *name, const char *desc)
{
  struct hs_ctx *x = ud;
  FZ_CHECK (strlen (name) <= NBD_MAX_STRING);
  FZ_CHECK (strlen (desc) <= NBD_MAX_STRING);
  x->list_calls++;
  return 0;
}

static int
ctx_cb (void *ud, const char *name)
{
  struct hs_ctx *x = ud;
  FZ_CHECK (strlen (name) <= NBD_MAX_STRING);
  x->ctx_calls++;
  return 0;
}

static int
opt_done_cb (void *ud, int *err)
{
  struct hs_ctx *x = ud;
  FZ_CHECK (*err >= 0);
  x->completions++;
  return 0;
}

static void
count_free (void *ud)
{
  struct hs_ctx *x = ud;
  x->frees++;
}

static void
check_invariants (struct nbd_handle *h, struct hs_ctx *x)
{
  size_t i, j;

  switch (h->state) {
  case ST_HS_MAGIC: case ST_HS_OLDSTYLE: case ST_HS_GFLAGS: case ST_HS_OPT_REPLY:
  case ST_HS_EXPORT_NAME: case ST_NEGOTIATING: case ST_TRANSMISSION:
  case ST_CLOSED: case ST_DEAD:
    break;
  default:
    FZ_CHECK (!"unexpected state");
  }
  if (h->state == ST_DEAD) {
    FZ_CHECK (h->dead_errno != 0);
    FZ_CHECK (h->dead_msg != NULL);
  }
  /* Extended headers imply structured replies. */
  if (h->eh_negotiated)
    FZ_CHECK (h->sr_negotiated);
  if (h->state == ST_TRANSMISSION) {
    FZ_CHECK (h->have_info);
    FZ_CHECK (h->eflags & NBD_FLAG_HAS_FLAGS);
    FZ_CHECK (h->size <= INT64_MAX);
    FZ_CHECK (h->opt_current == 0);
  }
  if (h->block_min) {
    FZ_CHECK ((h->block_min & (h->block_min - 1)) == 0);
    FZ_CHECK (h->block_pref >= h->block_min);
    FZ_CHECK (h->block_max >= h->block_pref);
  }
  if (h->canonical_name) FZ_CHECK (strlen (h->canonical_name) <= NBD_MAX_STRING);
  if (h->description) FZ_CHECK (strlen (h->description) <= NBD_MAX_STRING);
  for (i = 0; i < h->nr_meta; i++) {
    const char *n = h->meta[i].name;
    FZ_CHECK (n != NULL && strlen (n) <= NBD_MAX_STRING);
    /* Only what was asked for may be negotiated. */
    FZ_CHECK ((x->want_base && strcmp (n, "base:allocation") == 0) ||
              (x->want_ns && strncmp (n, "qemu:", 5) == 0));
    for (j = 0; j < i; j++) {
      FZ_CHECK (h->meta[j].id != h->meta[i].id);
      FZ_CHECK (strcmp (h->meta[j].name, n) != 0);
    }
  }
}

/* The public getters must cope with whatever the parser left behind. */
static void
exercise_getters (struct nbd_handle *h)
{
  char *s;
  const char *p;

  (void) nbd_get_size (h);
  (void) nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM);
  (void) nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM);
  (void) nbd_is_read_only (h);
  (void) nbd_can_flush (h);
  (void) nbd_can_meta_context (h, "base:allocation");
  (void) nbd_get_structured_replies_negotiated (h);
  (void) nbd_get_extended_headers_negotiated (h);
  (void) nbd_can_block_status_payload (h);
  (void) nbd_aio_is_negotiating (h);
  (void) nbd_aio_is_ready (h);
  (void) nbd_aio_is_dead (h);
  (void) nbd_aio_get_direction (h);
  p = nbd_get_protocol (h);
  if (p) FZ_CHECK (strlen (p) < 64);
  s = nbd_get_canonical_export_name (h);
  free (s);
  s = nbd_get_export_description (h);
  free (s);
}

/* Whether the stream's first option reply (after the 18-byte newstyle
 * greeting) answers NBD_OPT_EXTENDED_HEADERS. */
static bool
answers_extended_headers (const uint8_t *d, size_t n)
{
  return n >= 30 && be64_get (d + 18) == NBD_REP_MAGIC &&
    be32_get (d + 26) == NBD_OPT_EXTENDED_HEADERS;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nbd_handle *h;
  struct hs_ctx x = { 0 };
  struct fz_pending pend = { 0 };
  struct fz_rng chunk_rng, opt_rng;
  uint8_t b0, b1, b2, b3;
  size_t pos = 0;
  int user_options = 0;
  bool dead = false;

  if (size >= 8 && memcmp (data, "NBDMAGIC", 8) == 0) {
    b0 = 0x02 | 0x04 | 0x20;       /* SR, base:allocation, block size */
    b1 = 0x03; b2 = 0; b3 = 0;
  }
  else {
    if (size < 4) return 0;
    b0 = data[0]; b1 = data[1]; b2 = data[2]; b3 = data[3];
    data += 4; size -= 4;
  }
  chunk_rng.s = b3 * 0x01000193u + 1;
  /* opt mode feeds byte by byte, so b3 (the chunk seed) extends the
   * option-choice seed there */
  opt_rng.s = ((uint32_t) (b1 >> 2) | ((uint32_t) b3 << 6)) * 0x2545f491u + 7;

  h = nbd_create ();
  FZ_CHECK (h != NULL);
  if (b0 & 0x40)
    fz_enable_debug (h);
  nbd_set_opt_mode (h, (b0 & 0x01) != 0);
  nbd_set_request_structured_replies (h, (b0 & 0x02) != 0);
  nbd_set_request_extended_headers (h, answers_extended_headers (data, size));
  if (b0 & 0x04) { x.want_base = true; FZ_CHECK (nbd_add_meta_context (h, "base:allocation") == 0); }
  if (b0 & 0x10) { x.want_ns = true; FZ_CHECK (nbd_add_meta_context (h, "qemu:") == 0); }
  nbd_set_full_info (h, (b0 & 0x08) != 0);
  nbd_set_request_block_size (h, (b0 & 0x20) != 0);
  nbd_set_handshake_flags (h, b1 & 3);
  if (b0 & 0x80) nbd_set_export_name (h, "fuzz-export");

  nbd_internal_start_handshake (h);
  FZ_CHECK (h->state == ST_HS_MAGIC);

  while (pos < size && !dead) {
    size_t n;
    if (h->opt_mode)
      n = 1;
    else if (b2 == 0)
      n = size - pos;
    else
      n = 1 + fz_next (&chunk_rng) % b2;
    if (n > size - pos) n = size - pos;
    fz_pending_append (&pend, data + pos, n);
    pos += n;
    if (fz_pending_feed (h, &pend) < 0)
      dead = true;
    check_invariants (h, &x);

    if (h->state == ST_NEGOTIATING && user_options < MAX_USER_OPTIONS) {
      static const uint32_t opts[] = {
        NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_LIST_META_CONTEXT,
        NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST_META_CONTEXT, NBD_OPT_ABORT,
      };
      uint32_t opt = opts[fz_next (&opt_rng) % 8];
      nbd_completion_callback cc = { .callback = opt_done_cb, .user_data = &x, .free = count_free };
      nbd_list_callback lc = { .callback = list_cb, .user_data = &x, .free = count_free };
      nbd_context_callback xc = { .callback = ctx_cb, .user_data = &x, .free = count_free };

      user_options++;
      FZ_CHECK (!h->opt_user);
      h->opt_completion = cc;
      if (opt == NBD_OPT_LIST) h->opt_list_cb = lc;
      if (opt == NBD_OPT_LIST_META_CONTEXT) h->opt_ctx_cb = xc;
      if (nbd_internal_begin_user_option (h, opt) < 0) {
        nbd_internal_apply_parse_result (h);
        dead = true;
      }
      h->wlen = h->woff = 0;
      check_invariants (h, &x);
    }
  }
  /* A finished user option has reported exactly once. */
  FZ_CHECK (x.completions <= user_options);
  exercise_getters (h);
  if (getenv ("FUZZ_VERBOSE"))
    fprintf (stderr, "state %s, options %d, completions %d, list %d, ctx %d, meta %zu\n",
             nbd_internal_state_name (h->state), user_options, x.completions,
             x.list_calls, x.ctx_calls, h->nr_meta);
  nbd_close (h);
  free (pend.buf);
  return 0;
}
