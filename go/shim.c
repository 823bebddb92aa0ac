/* C side of the Go binding; see shim.h for the rules. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "shim.h"

int
gonbd_fail (struct gonbd_err *e, int errnum, const char *msg)
{
  e->errnum = errnum;
  strncpy (e->msg, msg, GONBD_MSG_MAX - 1);
  e->msg[GONBD_MSG_MAX - 1] = '\0';
  return -1;
}

void
gonbd_capture (struct gonbd_err *e)
{
  const char *m = nbd_get_error ();
  gonbd_fail (e, nbd_get_errno (), m ? m : "unknown error");
}

/* Passes r through, capturing the error when it is -1. */
static int64_t
checked (int64_t r, struct gonbd_err *e)
{
  if (r == -1)
    gonbd_capture (e);
  return r;
}

static unsigned
sub_flags (struct nbd_handle *h)
{
  unsigned f = 0;
  if (nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_WRITE)
    f |= GONBD_NEED_WRITE;
  if (nbd_aio_peek_command_completed (h) > 0)
    f |= GONBD_HAVE_DONE;
  return f;
}

/* No nbd_aio_get_direction after a submission: a core may hold requests
 * back while replies are due and send them together on the next direction
 * or notify call; the Go side decides when to flush. */
static int64_t
submitted (int64_t cookie, struct gonbd_sub *s)
{
  return checked (cookie, &s->err);
}

int64_t
gonbd_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t off,
             uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_pread (h, buf, count, off,
                                   NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_pwrite (struct nbd_handle *h, const void *buf, size_t count,
              uint64_t off, uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_pwrite (h, buf, count, off,
                                    NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_flush (struct nbd_handle *h, uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_flush (h, NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_trim (struct nbd_handle *h, uint64_t count, uint64_t off,
            uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_trim (h, count, off,
                                  NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_zero (struct nbd_handle *h, uint64_t count, uint64_t off,
            uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_zero (h, count, off,
                                  NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_cache (struct nbd_handle *h, uint64_t count, uint64_t off,
             uint32_t flags, struct gonbd_sub *s)
{
  return submitted (nbd_aio_cache (h, count, off,
                                   NBD_NULL_COMPLETION, flags), s);
}

int64_t
gonbd_disconnect (struct nbd_handle *h, uint32_t flags, struct gonbd_sub *s)
{
  int r = nbd_aio_disconnect (h, flags);
  if (r == -1) {
    gonbd_capture (&s->err);
    return -1;
  }
  s->flags = sub_flags (h);
  return 0;
}

void
gonbd_extents_reset (struct gonbd_extents *e)
{
  size_t i;
  for (i = 0; i < e->nctx; i++) {
    free (e->ctx[i]);
    e->ctx[i] = NULL;
  }
  e->nctx = 0;
  e->n = 0;
  e->oom = 0;
}

/* Records one extent of metacontext; false when memory ran out (then
 * e->oom says so).  Runs inside the driver's notify call; only touches C
 * memory. */
static bool
add_extent (struct gonbd_extents *e, const char *metacontext, uint64_t offset,
            uint64_t length, uint32_t flags)
{
  size_t ci;

  for (ci = 0; ci < e->nctx; ci++)
    if (strcmp (e->ctx[ci], metacontext) == 0)
      break;
  if (ci == e->nctx) {
    if (e->nctx == GONBD_MAX_CTX || (e->ctx[ci] = strdup (metacontext)) == NULL) {
      e->oom = 1;
      return false;
    }
    e->nctx++;
  }
  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 16;
    struct gonbd_extent *p = realloc (e->ext, ncap * sizeof *p);
    if (p == NULL) {
      e->oom = 1;
      return false;
    }
    e->ext = p;
    e->cap = ncap;
  }
  e->ext[e->n].ctx = ci;
  e->ext[e->n].offset = offset;
  e->ext[e->n].length = length;
  e->ext[e->n].flags = flags;
  e->n++;
  return true;
}

#ifndef LIBNBD_HAVE_NBD_AIO_BLOCK_STATUS_64
static int
extent_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  size_t i;

  (void) error;
  for (i = 0; i + 1 < nr_entries; i += 2) {
    if (!add_extent (user_data, metacontext, offset, entries[i], entries[i + 1]))
      return 0;
    offset += entries[i];
  }
  return 0;
}
#else
/* 64-bit extents (libnbd 1.18): with extended headers an extent of 4 GiB
 * or more arrives whole, where a 32-bit callback would get it cut.  Flags
 * beyond 32 bits are dropped (Extent.Flags is 32-bit; no well-known
 * context has them). */
static int
extent64_cb (void *user_data, const char *metacontext, uint64_t offset,
             nbd_extent *entries, size_t nr_entries, int *error)
{
  size_t i;

  (void) error;
  for (i = 0; i < nr_entries; i++) {
    if (!add_extent (user_data, metacontext, offset, entries[i].length,
                     (uint32_t) entries[i].flags))
      return 0;
    offset += entries[i].length;
  }
  return 0;
}
#endif

int64_t
gonbd_block_status (struct nbd_handle *h, uint64_t count, uint64_t off,
                    uint32_t flags, struct gonbd_extents *e,
                    struct gonbd_sub *s)
{
  gonbd_extents_reset (e);
#ifdef LIBNBD_HAVE_NBD_AIO_BLOCK_STATUS_64
  nbd_extent64_callback cb = { .callback = extent64_cb, .user_data = e };
  return submitted (nbd_aio_block_status_64 (h, count, off, cb,
                                             NBD_NULL_COMPLETION, flags), s);
#else
  nbd_extent_callback cb = { .callback = extent_cb, .user_data = e };
  return submitted (nbd_aio_block_status (h, count, off, cb,
                                          NBD_NULL_COMPLETION, flags), s);
#endif
}

static void
state (struct nbd_handle *h, struct gonbd_drive *d)
{
  d->dir = nbd_aio_get_direction (h);
  d->connecting = nbd_aio_is_connecting (h) == 1;
  d->negotiating = nbd_aio_is_negotiating (h) == 1;
  d->ready = nbd_aio_is_ready (h) == 1 || nbd_aio_is_processing (h) == 1;
  d->dead = nbd_aio_is_dead (h) == 1;
  d->closed = nbd_aio_is_closed (h) == 1;
}

static void
drain (struct nbd_handle *h, struct gonbd_drive *d)
{
  d->n = 0;
  while (d->n < GONBD_DRIVE_MAX) {
    int64_t c = nbd_aio_peek_command_completed (h);
    struct gonbd_done *x;
    int r;

    if (c <= 0)
      break;
    x = &d->done[d->n];
    x->cookie = c;
    r = nbd_aio_command_completed (h, c);
    if (r == 0)          /* cannot happen for a peeked cookie; stop */
      break;
    x->ok = r == 1;
    if (r == -1)
      gonbd_capture (&x->err);
    d->n++;
  }
  d->flags = 0;
  if (d->n == GONBD_DRIVE_MAX && nbd_aio_peek_command_completed (h) > 0)
    d->flags |= GONBD_HAVE_DONE;
}

/* The level-triggered loop: keep notifying while poll(timeout 0) says
 * the socket is ready in a direction the state machine wants.  When it
 * returns, the socket is not ready in the wanted direction, so the Go
 * (edge-triggered) poller will see the next change. */
void
gonbd_drive (struct nbd_handle *h, struct gonbd_drive *d)
{
  d->failed = 0;
#ifdef GONBD_EMBEDDED_CORE
  /* Our core's notify_read reads until the kernel has no more (a short
   * read) and is harmless when nothing is there, so one call leaves the
   * socket drained, as the edge-triggered Go poller needs, without the
   * poll() probes below.  (It also sends what is queued.) */
  {
    unsigned dir = nbd_aio_get_direction (h);
    int r = 0;

    if ((dir & LIBNBD_AIO_DIRECTION_READ) && !d->write_only) {
      int i;

      r = nbd_aio_notify_read (h);
      /* A short read proves only that no more *data* was there: an
       * end-of-file or error that arrived together with the data is
       * still pending, and its edge has already been consumed, so the
       * poller would never report it (a Shutdown waiting for the
       * server's EOF hung this way).  Probe once; go on while the
       * socket is readable. */
      for (i = 0; r == 0 && i < 64 && d->fd >= 0; i++) {
        struct pollfd p = { .fd = d->fd, .events = POLLIN | POLLRDHUP };

        if (!(nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_READ) ||
            poll (&p, 1, 0) != 1 ||
            !(p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)))
          break;
        r = nbd_aio_notify_read (h);
      }
    }
    else if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      r = nbd_aio_notify_write (h);
    if (r == -1) {
      gonbd_capture (&d->err);
      d->failed = 1;
    }
  }
#else
  int i;

  for (i = 0; i < 256; i++) {
    unsigned dir = nbd_aio_get_direction (h);
    struct pollfd p = { .fd = d->fd, .events = 0 };
    int r;

    /* Only notify_read when poll() says readable: libnbd treats the
     * notification as a fact and may start reading a reply in the
     * middle of sending a request, which can deadlock if nothing is
     * there to read. */
    if ((dir & LIBNBD_AIO_DIRECTION_READ) && !d->write_only)
      p.events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      p.events |= POLLOUT;
    if (p.events == 0)
      break;
    r = poll (&p, 1, 0);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if ((dir & LIBNBD_AIO_DIRECTION_READ) && !d->write_only &&
        (p.revents & (POLLIN | POLLHUP | POLLERR)))
      r = nbd_aio_notify_read (h);
    else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) &&
             (p.revents & (POLLOUT | POLLHUP | POLLERR)))
      r = nbd_aio_notify_write (h);
    else
      break;
    if (r == -1) {
      gonbd_capture (&d->err);
      d->failed = 1;
      break;
    }
  }
#endif
  drain (h, d);
  state (h, d);
}

/* One blocking step of the handshake: poll the handle's own fd (the
 * descriptor may change between connection attempts) for up to
 * timeout_ms in the direction d->dir, then notify. */
static void
poll_notify (struct nbd_handle *h, struct gonbd_drive *d, int timeout_ms)
{
  int fd = nbd_aio_get_fd (h);
  struct pollfd p = { .fd = fd, .events = 0 };
  int r;

  if (fd < 0) {
    gonbd_capture (&d->err);
    d->failed = 1;
    return;
  }
  if (d->dir & LIBNBD_AIO_DIRECTION_READ)
    p.events |= POLLIN;
  if (d->dir & LIBNBD_AIO_DIRECTION_WRITE)
    p.events |= POLLOUT;
  if (p.events == 0)
    return;
  r = poll (&p, 1, timeout_ms);
  if (r > 0) {
    if ((d->dir & LIBNBD_AIO_DIRECTION_READ) &&
        (p.revents & (POLLIN | POLLHUP | POLLERR)))
      r = nbd_aio_notify_read (h);
    else
      r = nbd_aio_notify_write (h);
    if (r == -1) {
      gonbd_capture (&d->err);
      d->failed = 1;
    }
  }
}

void
gonbd_connect_step (struct nbd_handle *h, struct gonbd_drive *d,
                    int timeout_ms)
{
  d->failed = 0;
  d->n = 0;
  state (h, d);
  if (d->connecting) {
    poll_notify (h, d, timeout_ms);
    state (h, d);
  }
}

struct nbd_handle *
gonbd_create (struct gonbd_err *e)
{
  struct nbd_handle *h = nbd_create ();
  if (h == NULL)
    gonbd_capture (e);
  return h;
}

#define CHECK(call) return (int) checked ((call), e)

int
gonbd_aio_connect_unix_addr (struct nbd_handle *h, const char *path,
                             size_t len, struct gonbd_err *e)
{
  struct sockaddr_un a;

  memset (&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (len == 0 || len >= sizeof a.sun_path)
    return gonbd_fail (e, len == 0 ? EINVAL : ENAMETOOLONG,
                 "unix socket path is empty or too long");
  memcpy (a.sun_path, path, len);
  if (path[0] == '@') {         /* abstract namespace, as in package net */
    a.sun_path[0] = '\0';
    CHECK (nbd_aio_connect (h, (struct sockaddr *) &a,
                            (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len)));
  }
  CHECK (nbd_aio_connect (h, (struct sockaddr *) &a, (socklen_t) sizeof a));
}

int
gonbd_aio_connect_inet (struct nbd_handle *h, const unsigned char *ip,
                        int iplen, int port, uint32_t scope,
                        struct gonbd_err *e)
{
  if (port < 0 || port > 65535)
    return gonbd_fail (e, EINVAL, "port out of range");
  if (iplen == 4) {
    struct sockaddr_in a;
    memset (&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons ((uint16_t) port);
    memcpy (&a.sin_addr, ip, 4);
    CHECK (nbd_aio_connect (h, (struct sockaddr *) &a, sizeof a));
  }
  if (iplen == 16) {
    struct sockaddr_in6 a;
    memset (&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons ((uint16_t) port);
    a.sin6_scope_id = scope;
    memcpy (&a.sin6_addr, ip, 16);
    CHECK (nbd_aio_connect (h, (struct sockaddr *) &a, sizeof a));
  }
  return gonbd_fail (e, EINVAL, "IP address must have 4 or 16 bytes");
}

void
gonbd_opt_reset (struct gonbd_opt *o)
{
  size_t i;
  for (i = 0; i < o->n; i++) {
    free (o->names[i]);
    free (o->descs[i]);
  }
  free (o->names);
  free (o->descs);
  memset (o, 0, sizeof *o);
}

static int
opt_add (struct gonbd_opt *o, const char *name, const char *desc)
{
  char *n, *d;

  if (o->oom)
    return 0;
  if (o->n == o->cap) {
    size_t ncap = o->cap ? o->cap * 2 : 8;
    char **pn = realloc (o->names, ncap * sizeof *pn);
    char **pd;
    if (pn == NULL) {
      o->oom = 1;
      return 0;
    }
    o->names = pn;
    pd = realloc (o->descs, ncap * sizeof *pd);
    if (pd == NULL) {
      o->oom = 1;
      return 0;
    }
    o->descs = pd;
    o->cap = ncap;
  }
  n = strdup (name ? name : "");
  d = strdup (desc ? desc : "");
  if (n == NULL || d == NULL) {
    free (n);
    free (d);
    o->oom = 1;
    return 0;
  }
  o->names[o->n] = n;
  o->descs[o->n] = d;
  o->n++;
  return 0;
}

/* These run inside a notify call made by gonbd_opt_step; C memory only. */
static int
opt_list_cb (void *user_data, const char *name, const char *description)
{
  return opt_add (user_data, name, description);
}

static int
opt_ctx_cb (void *user_data, const char *name)
{
  return opt_add (user_data, name, NULL);
}

static int
opt_done_cb (void *user_data, int *error)
{
  struct gonbd_opt *o = user_data;
  o->done = 1;
  o->err = error ? *error : 0;
  return 1;
}

int
gonbd_aio_opt (struct nbd_handle *h, int which, struct gonbd_opt *o,
               struct gonbd_err *e)
{
  nbd_completion_callback done = { .callback = opt_done_cb, .user_data = o };
  nbd_list_callback list = { .callback = opt_list_cb, .user_data = o };
  nbd_context_callback ctx = { .callback = opt_ctx_cb, .user_data = o };

  gonbd_opt_reset (o);
  switch (which) {
  case GONBD_OPT_GO: CHECK (nbd_aio_opt_go (h, done));
  case GONBD_OPT_INFO: CHECK (nbd_aio_opt_info (h, done));
  case GONBD_OPT_ABORT: CHECK (nbd_aio_opt_abort (h));
  case GONBD_OPT_LIST: CHECK (nbd_aio_opt_list (h, list, done));
  case GONBD_OPT_LIST_META_CONTEXT:
    CHECK (nbd_aio_opt_list_meta_context (h, ctx, done));
#ifdef LIBNBD_HAVE_NBD_AIO_OPT_STARTTLS
  case GONBD_OPT_STARTTLS: CHECK (nbd_aio_opt_starttls (h, done));
#else
  case GONBD_OPT_STARTTLS:
    return gonbd_fail (e, ENOTSUP, "nbd_aio_opt_starttls: not in this libnbd (before 1.16)");
#endif
  }
  return gonbd_fail (e, EINVAL, "gonbd_aio_opt: unknown option");
}

void
gonbd_opt_step (struct nbd_handle *h, struct gonbd_drive *d, int timeout_ms)
{
  d->failed = 0;
  d->n = 0;
  state (h, d);
  if (d->dead || d->closed || d->dir == 0)
    return;
  poll_notify (h, d, timeout_ms);
  state (h, d);
}
