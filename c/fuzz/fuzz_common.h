/* fuzz_common.h: helpers shared by the libFuzzer targets in c/fuzz/.
 *
 * The targets compile the core sources directly and drive the parsers
 * through nbd_internal_feed(), without a socket.  This header holds the
 * pieces both need: a tiny deterministic PRNG (chunk sizes come from a seed
 * byte of the input), an emulation of socket.c's receive buffer (bytes the
 * parser did not consume are kept and offered again with the next chunk),
 * and a check macro that aborts so libFuzzer reports a crash. */
#ifndef NBD_FUZZ_COMMON_H
#define NBD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FZ_CHECK(cond) \
  do { if (!(cond)) { \
         fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
         abort (); } } while (0)

struct fz_rng { uint32_t s; };

static inline uint32_t
fz_next (struct fz_rng *r)
{
  /* xorshift32; a zero state would stick at zero */
  uint32_t x = r->s ? r->s : 0x9e3779b9u;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  r->s = x;
  return x;
}

/* What the socket layer keeps between reads: unconsumed server bytes. */
struct fz_pending {
  uint8_t *buf;
  size_t len, cap;
};

static inline void
fz_pending_append (struct fz_pending *p, const uint8_t *d, size_t n)
{
  if (p->len + n > p->cap) {
    size_t ncap = (p->len + n) * 2 + 64;
    uint8_t *b = realloc (p->buf, ncap);
    FZ_CHECK (b != NULL);
    p->buf = b; p->cap = ncap;
  }
  memcpy (p->buf + p->len, d, n);
  p->len += n;
}

/* Offers every pending byte to the parsers, like one trip through
 * nbd_internal_on_readable.  Returns the feed result. */
static inline ssize_t
fz_pending_feed (struct nbd_handle *h, struct fz_pending *p)
{
  ssize_t used = nbd_internal_feed (h, p->buf, p->len);
  if (used > 0) {
    FZ_CHECK ((size_t) used <= p->len);
    memmove (p->buf, p->buf + used, p->len - used);
    p->len -= used;
  }
  /* The client's answers (handshake) would go to the socket: discard. */
  h->wlen = h->woff = 0;
  return used;
}

/* Debug callback: touches the whole message (ASan checks it is a valid,
 * terminated string) and bounds its length. */
static int
fz_debug_cb (void *user_data, const char *context, const char *msg)
{
  size_t n = strlen (msg);
  FZ_CHECK (n < 4096 + 512);
  FZ_CHECK (context != NULL && strlen (context) < 256);
  (void) user_data;
  return 0;
}

/* Debug messages on, through fz_debug_cb. */
static inline void
fz_enable_debug (struct nbd_handle *h)
{
  nbd_debug_callback dcb = { .callback = fz_debug_cb };
  nbd_set_debug_callback (h, dcb);
  nbd_set_debug (h, true);
}

#endif
