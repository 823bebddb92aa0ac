/* C side of the Go binding; see shim.h for the rules. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include "shim.h"

/* Fills e with errnum and msg (truncated); returns -1. */
static int
fail (struct gonbd_err *e, int errnum, const char *msg)
{
  e->errnum = errnum;
  strncpy (e->msg, msg, GONBD_MSG_MAX - 1);
  e->msg[GONBD_MSG_MAX - 1] = '\0';
  return -1;
}

/* Copies this thread's libnbd error into e. */
static void
capture (struct gonbd_err *e)
{
  const char *m = nbd_get_error ();
  fail (e, nbd_get_errno (), m ? m : "unknown error");
}

/* Passes r through, capturing the error when it is -1. */
static int64_t
checked (int64_t r, struct gonbd_err *e)
{
  if (r == -1)
    capture (e);
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
    capture (&s->err);
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

/* Runs inside the driver's notify call; only touches C memory. */
static int
extent_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct gonbd_extents *e = user_data;
  size_t i, ci;

  (void) error;
  for (ci = 0; ci < e->nctx; ci++)
    if (strcmp (e->ctx[ci], metacontext) == 0)
      break;
  if (ci == e->nctx) {
    if (e->nctx == GONBD_MAX_CTX) {
      e->oom = 1;
      return 0;
    }
    e->ctx[ci] = strdup (metacontext);
    if (e->ctx[ci] == NULL) {
      e->oom = 1;
      return 0;
    }
    e->nctx++;
  }
  for (i = 0; i + 1 < nr_entries; i += 2) {
    if (e->n == e->cap) {
      size_t ncap = e->cap ? e->cap * 2 : 16;
      struct gonbd_extent *p = realloc (e->ext, ncap * sizeof *p);
      if (p == NULL) {
        e->oom = 1;
        return 0;
      }
      e->ext = p;
      e->cap = ncap;
    }
    e->ext[e->n].ctx = ci;
    e->ext[e->n].offset = offset;
    e->ext[e->n].length = entries[i];
    e->ext[e->n].flags = entries[i + 1];
    e->n++;
    offset += entries[i];
  }
  return 0;
}

int64_t
gonbd_block_status (struct nbd_handle *h, uint64_t count, uint64_t off,
                    uint32_t flags, struct gonbd_extents *e,
                    struct gonbd_sub *s)
{
  nbd_extent_callback cb = { .callback = extent_cb, .user_data = e };
  gonbd_extents_reset (e);
  return submitted (nbd_aio_block_status (h, count, off, cb,
                                          NBD_NULL_COMPLETION, flags), s);
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
      capture (&x->err);
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

    if ((dir & LIBNBD_AIO_DIRECTION_READ) && !d->write_only)
      r = nbd_aio_notify_read (h);
    else if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      r = nbd_aio_notify_write (h);
    if (r == -1) {
      capture (&d->err);
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
      capture (&d->err);
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
    capture (&d->err);
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
      capture (&d->err);
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
    capture (e);
  return h;
}

#define CHECK(call) return (int) checked ((call), e)

int
gonbd_aio_connect_unix (struct nbd_handle *h, const char *path,
                        struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_unix (h, path));
}

int
gonbd_aio_connect_tcp (struct nbd_handle *h, const char *host,
                       const char *port, struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_tcp (h, host, port));
}

int
gonbd_aio_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port,
                         struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_vsock (h, cid, port));
}

int
gonbd_aio_connect_socket (struct nbd_handle *h, int fd, struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_socket (h, fd));
}

int
gonbd_aio_connect_uri (struct nbd_handle *h, const char *uri,
                       struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_uri (h, uri));
}

int
gonbd_aio_connect_command (struct nbd_handle *h, char **argv,
                           struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_command (h, argv));
}

int
gonbd_set_str (struct nbd_handle *h, int op, const char *v,
               struct gonbd_err *e)
{
  int r;
  switch (op) {
  case GONBD_SET_EXPORT_NAME: r = nbd_set_export_name (h, v); break;
  case GONBD_SET_HANDLE_NAME: r = nbd_set_handle_name (h, v); break;
  case GONBD_ADD_META_CONTEXT: r = nbd_add_meta_context (h, v); break;
  case GONBD_SET_TLS_CERTIFICATES: r = nbd_set_tls_certificates (h, v); break;
  case GONBD_SET_TLS_USERNAME: r = nbd_set_tls_username (h, v); break;
  case GONBD_SET_TLS_PSK_FILE: r = nbd_set_tls_psk_file (h, v); break;
  default:
    return fail (e, EINVAL, "gonbd_set_str: unknown op");
  }
  return checked (r, e);
}

int
gonbd_set_int (struct nbd_handle *h, int op, int64_t v, struct gonbd_err *e)
{
  int r;
  switch (op) {
  case GONBD_SET_DEBUG: r = nbd_set_debug (h, v != 0); break;
  case GONBD_SET_REQUEST_STRUCTURED_REPLIES:
    r = nbd_set_request_structured_replies (h, v != 0); break;
  case GONBD_SET_TLS: r = nbd_set_tls (h, (int) v); break;
  case GONBD_SET_HANDSHAKE_FLAGS: r = nbd_set_handshake_flags (h, (uint32_t) v); break;
  case GONBD_SET_STRICT_MODE: r = nbd_set_strict_mode (h, (uint32_t) v); break;
  case GONBD_SET_FULL_INFO: r = nbd_set_full_info (h, v != 0); break;
  case GONBD_SET_REQUEST_BLOCK_SIZE: r = nbd_set_request_block_size (h, v != 0); break;
  case GONBD_SET_URI_ALLOW_LOCAL_FILE: r = nbd_set_uri_allow_local_file (h, v != 0); break;
  case GONBD_SET_PREAD_INITIALIZE: r = nbd_set_pread_initialize (h, v != 0); break;
  case GONBD_SET_OPT_MODE: r = nbd_set_opt_mode (h, v != 0); break;
  case GONBD_KILL_SUBPROCESS: r = nbd_kill_subprocess (h, (int) v); break;
  default:
    return fail (e, EINVAL, "gonbd_set_int: unknown op");
  }
  return checked (r, e);
}

int64_t
gonbd_get_int (struct nbd_handle *h, int op, struct gonbd_err *e)
{
  int64_t r;
  switch (op) {
  case GONBD_GET_SIZE: r = nbd_get_size (h); break;
  case GONBD_IS_READ_ONLY: r = nbd_is_read_only (h); break;
  case GONBD_CAN_FLUSH: r = nbd_can_flush (h); break;
  case GONBD_CAN_FUA: r = nbd_can_fua (h); break;
  case GONBD_CAN_TRIM: r = nbd_can_trim (h); break;
  case GONBD_CAN_ZERO: r = nbd_can_zero (h); break;
  case GONBD_CAN_FAST_ZERO: r = nbd_can_fast_zero (h); break;
  case GONBD_CAN_DF: r = nbd_can_df (h); break;
  case GONBD_CAN_MULTI_CONN: r = nbd_can_multi_conn (h); break;
  case GONBD_CAN_CACHE: r = nbd_can_cache (h); break;
  case GONBD_IS_ROTATIONAL: r = nbd_is_rotational (h); break;
  case GONBD_BLOCK_SIZE_MIN: r = nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM); break;
  case GONBD_BLOCK_SIZE_PREF: r = nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED); break;
  case GONBD_BLOCK_SIZE_MAX: r = nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM); break;
  case GONBD_GET_STRUCTURED_REPLIES_NEGOTIATED:
    r = nbd_get_structured_replies_negotiated (h); break;
  case GONBD_GET_DEBUG: r = nbd_get_debug (h); break;
  case GONBD_AIO_IS_CREATED: r = nbd_aio_is_created (h); break;
  case GONBD_AIO_IS_CONNECTING: r = nbd_aio_is_connecting (h); break;
  case GONBD_AIO_IS_NEGOTIATING: r = nbd_aio_is_negotiating (h); break;
  case GONBD_AIO_IS_READY: r = nbd_aio_is_ready (h); break;
  case GONBD_AIO_IS_PROCESSING: r = nbd_aio_is_processing (h); break;
  case GONBD_AIO_IS_DEAD: r = nbd_aio_is_dead (h); break;
  case GONBD_AIO_IS_CLOSED: r = nbd_aio_is_closed (h); break;
  case GONBD_AIO_IN_FLIGHT: r = nbd_aio_in_flight (h); break;
  case GONBD_GET_HANDSHAKE_FLAGS: r = nbd_get_handshake_flags (h); break;
  case GONBD_GET_TLS_NEGOTIATED: r = nbd_get_tls_negotiated (h); break;
  case GONBD_GET_OPT_MODE: r = nbd_get_opt_mode (h); break;
  case GONBD_GET_FULL_INFO: r = nbd_get_full_info (h); break;
  case GONBD_GET_REQUEST_BLOCK_SIZE: r = nbd_get_request_block_size (h); break;
  case GONBD_GET_REQUEST_STRUCTURED_REPLIES:
    r = nbd_get_request_structured_replies (h); break;
  default:
    return fail (e, EINVAL, "gonbd_get_int: unknown op");
  }
  return checked (r, e);
}

int
gonbd_can_meta_context (struct nbd_handle *h, const char *name,
                        struct gonbd_err *e)
{
  CHECK (nbd_can_meta_context (h, name));
}

char *
gonbd_get_str (struct nbd_handle *h, int op, struct gonbd_err *e)
{
  const char *cs;
  char *s;
  switch (op) {
  case GONBD_GET_PROTOCOL:
    cs = nbd_get_protocol (h);
    goto dup;
  case GONBD_GET_PACKAGE_VERSION:
    cs = nbd_get_version (h);
    goto dup;
  case GONBD_GET_EXPORT_NAME: s = nbd_get_export_name (h); break;
  case GONBD_GET_HANDLE_NAME: s = nbd_get_handle_name (h); break;
  case GONBD_GET_CANONICAL_EXPORT_NAME: s = nbd_get_canonical_export_name (h); break;
  case GONBD_GET_EXPORT_DESCRIPTION: s = nbd_get_export_description (h); break;
  default:
    fail (e, EINVAL, "gonbd_get_str: unknown op");
    return NULL;
  }
  if (s == NULL)
    capture (e);
  return s;
 dup:
  if (cs == NULL) {
    capture (e);
    return NULL;
  }
  s = strdup (cs);
  if (s == NULL)
    fail (e, ENOMEM, "strdup: out of memory");
  return s;
}

int
gonbd_aio_connect_systemd (struct nbd_handle *h, char **argv,
                           struct gonbd_err *e)
{
  CHECK (nbd_aio_connect_systemd_socket_activation (h, argv));
}

int
gonbd_aio_connect_unix_addr (struct nbd_handle *h, const char *path,
                             size_t len, struct gonbd_err *e)
{
  struct sockaddr_un a;

  memset (&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (len == 0 || len >= sizeof a.sun_path)
    return fail (e, len == 0 ? EINVAL : ENAMETOOLONG,
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
    return fail (e, EINVAL, "port out of range");
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
  return fail (e, EINVAL, "IP address must have 4 or 16 bytes");
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
  }
  return fail (e, EINVAL, "gonbd_aio_opt: unknown option");
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
