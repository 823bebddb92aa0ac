/* states.c: state names, which calls each state permits, the poll
 * direction each state wants, and the terminal transitions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

const char *
nbd_internal_state_name (enum nbd_state st)
{
  switch (st) {
  case ST_CREATED: return "START";
  case ST_CONNECTING: return "CONNECT.CONNECTING";
  case ST_HS_MAGIC: return "MAGIC.RECV_MAGIC";
  case ST_HS_OLDSTYLE: return "OLDSTYLE.RECV_REMAINING";
  case ST_HS_GFLAGS: return "NEWSTYLE.RECV_GFLAGS";
  case ST_HS_OPT_REPLY: return "NEWSTYLE.OPT.RECV_REPLY";
  case ST_HS_EXPORT_NAME: return "NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY";
  case ST_NEGOTIATING: return "NEGOTIATING";
  case ST_TRANSMISSION: return "READY";
  case ST_CLOSED: return "CLOSED";
  case ST_DEAD: return "DEAD";
  }
  return "UNKNOWN";
}

bool
nbd_internal_is_handshaking (const struct nbd_handle *h)
{
  switch (h->state) {
  case ST_HS_MAGIC: case ST_HS_OLDSTYLE: case ST_HS_GFLAGS:
  case ST_HS_OPT_REPLY: case ST_HS_EXPORT_NAME:
    return true;
  default:
    return false;
  }
}

/* The public state predicates, written over our internal states. */
static bool is_created (const struct nbd_handle *h) { return h->state == ST_CREATED; }
static bool is_connecting (const struct nbd_handle *h)
{
  /* A user option in flight counts as negotiating, not connecting. */
  if (h->state == ST_HS_OPT_REPLY && h->opt_user) return false;
  return h->state == ST_CONNECTING || nbd_internal_is_handshaking (h);
}
static bool is_negotiating (const struct nbd_handle *h)
{
  return h->state == ST_NEGOTIATING || (h->state == ST_HS_OPT_REPLY && h->opt_user);
}
static bool is_processing (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION &&
    (h->send_off > 0 || !nbd_internal_between_replies (h));
}
static bool is_ready (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION && !is_processing (h);
}
static bool is_connected (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION;
}

bool
nbd_internal_permits (struct nbd_handle *h, enum nbd_permit p)
{
  switch (p) {
  case PERMIT_ANY: return true;
  case PERMIT_CREATED: return is_created (h);
  case PERMIT_CREATED_NEGOTIATING: return is_created (h) || h->state == ST_NEGOTIATING;
  case PERMIT_NEGOTIATING: return h->state == ST_NEGOTIATING;
  case PERMIT_CONNECTED: return is_connected (h) && !h->disc_queued;
  case PERMIT_NEG_CONN_CLOSED:
    return h->state == ST_NEGOTIATING || is_connected (h) || h->state == ST_CLOSED;
  case PERMIT_NEG_CONN: return h->state == ST_NEGOTIATING || is_connected (h);
  case PERMIT_CONN_CLOSED_DEAD:
    return is_connected (h) || h->state == ST_CLOSED || h->state == ST_DEAD;
  case PERMIT_AFTER_CREATED: return !is_created (h);
  }
  return false;
}

int
nbd_internal_state_error (struct nbd_handle *h, enum nbd_permit p)
{
  const char *want;

  switch (p) {
  case PERMIT_CREATED: want = "the handle must be newly created"; break;
  case PERMIT_CREATED_NEGOTIATING: want = "the handle must be newly created or negotiating"; break;
  case PERMIT_NEGOTIATING: want = "the handle must be negotiating"; break;
  case PERMIT_CONNECTED: want = "the handle must be connected with the server"; break;
  case PERMIT_NEG_CONN_CLOSED: want = "the handle must be negotiating, connected or shut down"; break;
  case PERMIT_NEG_CONN: want = "the handle must be negotiating or connected"; break;
  case PERMIT_CONN_CLOSED_DEAD: want = "the handle must be connected, shut down or dead"; break;
  case PERMIT_AFTER_CREATED: want = "the handle must have started connecting"; break;
  default: want = "the call is not permitted now"; break;
  }
  /* As libnbd: a handle that never connected says ENOTCONN; any other
   * wrong state (including shut down or dead) is EINVAL. */
  set_error (is_created (h) ? ENOTCONN : EINVAL, "invalid state: %s: %s",
             nbd_internal_state_name (h->state), want);
  return -1;
}

/* Fatal error: every queued and in-flight command fails, the handle is dead
 * and (as in libnbd) its socket is closed: nbd_aio_get_fd fails from now on.
 * An event loop that registered the fd must drop it when the handle dies. */
void
nbd_internal_set_dead (struct nbd_handle *h, int errnum, const char *fmt, ...)
{
  char msg[4096 + 256];
  va_list ap;

  if (h->state == ST_DEAD || h->state == ST_CLOSED)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (errnum == 0) errnum = EIO;

  debug (h, "connection failed: %s", msg);
  free (h->dead_msg);
  h->dead_msg = strdup (msg);
  h->dead_errno = errnum;
  h->state = ST_DEAD;
  nbd_internal_set_error_raw (errnum, msg);
  nbd_internal_fail_all_commands (h, errnum);
  nbd_internal_close_socket (h);
  if (h->opt_user && !h->opt_done) {
    h->opt_err = errnum;
    h->opt_done = true;
    if (h->opt_completion.callback) {
      int e = errnum;
      h->opt_completion.callback (h->opt_completion.user_data, &e);
    }
    FREE_CALLBACK (h->opt_completion);
    FREE_CALLBACK (h->opt_list_cb);
    FREE_CALLBACK (h->opt_ctx_cb);
  }
  nbd_internal_wake_waiters (h, WAKE_ALL);
}

void
nbd_internal_set_closed (struct nbd_handle *h)
{
  if (h->state == ST_DEAD || h->state == ST_CLOSED)
    return;
  debug (h, "connection closed");
  h->state = ST_CLOSED;
  nbd_internal_fail_all_commands (h, ENOTCONN);
  nbd_internal_close_socket (h);
  nbd_internal_wake_waiters (h, WAKE_ALL);
}

void
nbd_internal_close_socket (struct nbd_handle *h)
{
  if (h->fd < 0)
    return;
  /* shutdown() wakes a thread blocked in poll() on this fd; the close
   * waits until that thread is back, so the fd number cannot be reused
   * while it is still being polled. */
  shutdown (h->fd, SHUT_RDWR);
  if (h->poller_active)
    h->deferred_close_fd = h->fd;
  else
    close (h->fd);
  h->fd = -1;
}

unsigned
nbd_internal_direction (struct nbd_handle *h)
{
  switch (h->state) {
  case ST_CONNECTING:
    return LIBNBD_AIO_DIRECTION_WRITE;
  case ST_HS_MAGIC: case ST_HS_OLDSTYLE: case ST_HS_GFLAGS:
  case ST_HS_OPT_REPLY: case ST_HS_EXPORT_NAME:
    return h->woff < h->wlen ? LIBNBD_AIO_DIRECTION_WRITE : LIBNBD_AIO_DIRECTION_READ;
  case ST_TRANSMISSION:
    return LIBNBD_AIO_DIRECTION_READ |
      (h->sendq_head && !nbd_internal_hold_sends (h) ?
       LIBNBD_AIO_DIRECTION_WRITE : 0);
  default:
    return 0;
  }
}

/* ---- public state queries (lock-free reads, as in libnbd) ------------------ */
NBD_API int nbd_aio_is_created (struct nbd_handle *h) { return is_created (h); }
NBD_API int nbd_aio_is_connecting (struct nbd_handle *h) { return is_connecting (h); }
NBD_API int nbd_aio_is_negotiating (struct nbd_handle *h) { return is_negotiating (h); }
NBD_API int nbd_aio_is_ready (struct nbd_handle *h) { return is_ready (h); }
NBD_API int nbd_aio_is_processing (struct nbd_handle *h) { return is_processing (h); }
NBD_API int nbd_aio_is_dead (struct nbd_handle *h) { return h->state == ST_DEAD; }
NBD_API int nbd_aio_is_closed (struct nbd_handle *h) { return h->state == ST_CLOSED; }

NBD_API const char *
nbd_connection_state (struct nbd_handle *h)
{
  const char *s;

  API_ENTER (h, "nbd_connection_state");
  switch (h->state) {
  case ST_CREATED: s = "START: handle has not started connecting"; break;
  case ST_CONNECTING: s = "CONNECT.CONNECTING: waiting for the socket to connect"; break;
  case ST_HS_MAGIC: s = "MAGIC.RECV_MAGIC: waiting for the server greeting"; break;
  case ST_HS_OLDSTYLE: s = "OLDSTYLE.RECV_REMAINING: receiving the oldstyle greeting"; break;
  case ST_HS_GFLAGS: s = "NEWSTYLE.RECV_GFLAGS: receiving the newstyle handshake flags"; break;
  case ST_HS_OPT_REPLY: s = "NEWSTYLE.OPT.RECV_REPLY: negotiating an option"; break;
  case ST_HS_EXPORT_NAME: s = "NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY: waiting for the export"; break;
  case ST_NEGOTIATING: s = "NEGOTIATING: waiting for an option command"; break;
  case ST_TRANSMISSION:
    s = is_processing (h) ? "PROCESSING: transferring a request or reply"
                          : "READY: connected and ready for commands";
    break;
  case ST_CLOSED: s = "CLOSED: connection was shut down"; break;
  case ST_DEAD: s = "DEAD: connection failed"; break;
  default: s = "UNKNOWN"; break;
  }
  API_LEAVE (h);
  return s;
}
