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
  case ST_HS_TLS: return "NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE";
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
  case ST_HS_OPT_REPLY: case ST_HS_EXPORT_NAME: case ST_HS_TLS:
    return true;
  default:
    return false;
  }
}

/* The public state predicates, written over our internal states.  As in
 * libnbd, a handle is connecting (not negotiating) while any option is in
 * flight, including one an nbd_aio_opt_* call started: "poll until it is
 * no longer connecting" then finds it negotiating or ready. */
static bool is_created (const struct nbd_handle *h) { return h->state == ST_CREATED; }
static bool is_connecting (const struct nbd_handle *h)
{
  return h->state == ST_CONNECTING || nbd_internal_is_handshaking (h);
}
static bool is_negotiating (const struct nbd_handle *h) { return h->state == ST_NEGOTIATING; }
static bool is_processing (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION &&
    (h->send_off > 0 || !nbd_internal_between_replies (h));
}
static bool is_ready (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION && !is_processing (h);
}

/* The public state of each internal state: one load on every call's state
 * check (the hot path of every request). */
static const unsigned public_state[] = {
  [ST_CREATED] = NBD_STATE_CREATED,
  [ST_CONNECTING] = NBD_STATE_CONNECTING,
  [ST_HS_MAGIC] = NBD_STATE_CONNECTING,
  [ST_HS_OLDSTYLE] = NBD_STATE_CONNECTING,
  [ST_HS_GFLAGS] = NBD_STATE_CONNECTING,
  [ST_HS_OPT_REPLY] = NBD_STATE_CONNECTING,
  [ST_HS_EXPORT_NAME] = NBD_STATE_CONNECTING,
  [ST_HS_TLS] = NBD_STATE_CONNECTING,
  [ST_NEGOTIATING] = NBD_STATE_NEGOTIATING,
  [ST_TRANSMISSION] = NBD_STATE_CONNECTED,
  [ST_CLOSED] = NBD_STATE_CLOSED,
  [ST_DEAD] = NBD_STATE_DEAD,
};

unsigned
nbd_internal_public_state (const struct nbd_handle *h)
{
  return public_state[h->state];
}

bool
nbd_internal_check_state (struct nbd_handle *h, unsigned mask, const char *must_be)
{
  if (nbd_internal_public_state (h) & mask)
    return true;
  /* As libnbd: a handle that never connected says ENOTCONN; any other
   * wrong state (including shut down or dead) is EINVAL. */
  set_error (is_created (h) ? ENOTCONN : EINVAL, "invalid state: %s: the handle must be %s",
             nbd_internal_state_name (h->state), must_be);
  return false;
}

/* The state diagram of README.md as data: which states each state may move
 * to (DEAD is reachable from every state but CLOSED and DEAD, through
 * nbd_internal_set_dead). */
#define B(st) (1U << (st))
static const unsigned next_states[] = {
  [ST_CREATED] = B(ST_CONNECTING) | B(ST_HS_MAGIC),
  [ST_CONNECTING] = B(ST_CONNECTING) | B(ST_HS_MAGIC) | B(ST_CREATED),
  [ST_HS_MAGIC] = B(ST_HS_OLDSTYLE) | B(ST_HS_GFLAGS),
  [ST_HS_OLDSTYLE] = B(ST_TRANSMISSION),
  /* Option mode without structured replies: straight to negotiating. */
  [ST_HS_GFLAGS] = B(ST_HS_OPT_REPLY) | B(ST_HS_EXPORT_NAME) | B(ST_NEGOTIATING),
  [ST_HS_OPT_REPLY] = B(ST_HS_OPT_REPLY) | B(ST_HS_EXPORT_NAME) | B(ST_NEGOTIATING) |
                      B(ST_TRANSMISSION) | B(ST_CLOSED) | B(ST_HS_TLS),
  [ST_HS_EXPORT_NAME] = B(ST_TRANSMISSION),
  /* After the TLS handshake: the next option, or option mode. */
  [ST_HS_TLS] = B(ST_HS_OPT_REPLY) | B(ST_HS_EXPORT_NAME) | B(ST_NEGOTIATING),
  [ST_NEGOTIATING] = B(ST_HS_OPT_REPLY) | B(ST_HS_EXPORT_NAME) | B(ST_CLOSED),
  [ST_TRANSMISSION] = B(ST_CLOSED),
  [ST_CLOSED] = 0,
  [ST_DEAD] = 0,
};
#undef B

void
nbd_internal_set_state (struct nbd_handle *h, enum nbd_state next)
{
  if (next == h->state)
    return;
  if (!(next_states[h->state] & (1U << next))) {
    nbd_internal_set_dead (h, EINVAL, "internal error: no transition from %s to %s",
                           nbd_internal_state_name (h->state), nbd_internal_state_name (next));
    return;
  }
  h->state = next;
}

int
nbd_internal_apply_parse_result (struct nbd_handle *h)
{
  if (h->parse_errno) {
    int err = h->parse_errno;
    char *msg = h->parse_msg;

    h->parse_errno = 0;
    h->parse_msg = NULL;
    set_dead (h, err, "%s", msg ? msg : "out of memory");
    free (msg);
    return -1;
  }
  if (h->parse_closed) {
    h->parse_closed = false;
    nbd_internal_set_closed (h);
  }
  return 0;
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
  /* As libnbd: when the server went away (closed or reset the connection,
   * or a send found it gone) the commands left in flight fail with
   * ENOTCONN; other fatal errors (EPROTO, ENOMEM) pass their own errno. */
  nbd_internal_fail_all_commands (h, errnum == ECONNRESET || errnum == EPIPE ? ENOTCONN : errnum);
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
}

/* The eventfd belongs to the connection: it goes with the socket
 * (nbd_internal_poll_once creates it). */
void
nbd_internal_close_wake_fd (struct nbd_handle *h)
{
  if (h->wake_fd >= 0) {
    close (h->wake_fd);
    h->wake_fd = -1;
  }
}

void
nbd_internal_close_socket (struct nbd_handle *h)
{
  if (h->fd < 0)
    return;
  /* shutdown() wakes a thread blocked in poll() on this fd; the close
   * waits until that thread is back, so the fd number cannot be reused
   * while it is still being polled. */
  h->transport->shutdown (h, SHUT_RDWR);
  if (h->nr_pollers > 0)
    h->deferred_close_fd = h->fd;
  else {
    h->transport->close (h, h->fd);
    nbd_internal_close_wake_fd (h);
  }
  h->fd = -1;
  /* Nothing more crosses this connection: a deferred close is of the
   * bare fd, and a TLS session (if any) goes now. */
  nbd_internal_tls_free (h);
  h->transport = &nbd_internal_plain_transport;
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
  case ST_HS_TLS:
    return nbd_internal_tls_direction (h);
  case ST_TRANSMISSION:
    return LIBNBD_AIO_DIRECTION_READ | (h->sendq_head ? LIBNBD_AIO_DIRECTION_WRITE : 0);
  default:
    return 0;
  }
}

/* After NBD_CMD_DISC went out and the last reply came in, all that is left
 * is the server's EOF (see nbd_internal_disc_idle). */
bool
nbd_internal_disc_idle (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION && h->disc_sent && h->nr_inflight == 0 &&
    nbd_internal_between_replies (h);
}

bool
nbd_internal_is_shut_down (const struct nbd_handle *h)
{
  return h->state == ST_CLOSED || h->state == ST_DEAD;
}

/* ---- public state queries (lock-free reads, as in libnbd) ------------------ */
int nbd_unlocked_aio_is_created (struct nbd_handle *h) { return is_created (h); }
int nbd_unlocked_aio_is_connecting (struct nbd_handle *h) { return is_connecting (h); }
int nbd_unlocked_aio_is_negotiating (struct nbd_handle *h) { return is_negotiating (h); }
int nbd_unlocked_aio_is_ready (struct nbd_handle *h) { return is_ready (h); }
int nbd_unlocked_aio_is_processing (struct nbd_handle *h) { return is_processing (h); }
int nbd_unlocked_aio_is_dead (struct nbd_handle *h) { return h->state == ST_DEAD; }
int nbd_unlocked_aio_is_closed (struct nbd_handle *h) { return h->state == ST_CLOSED; }

const char *
nbd_unlocked_connection_state (struct nbd_handle *h)
{
  switch (h->state) {
  case ST_CREATED: return "START: handle has not started connecting";
  case ST_CONNECTING: return "CONNECT.CONNECTING: waiting for the socket to connect";
  case ST_HS_MAGIC: return "MAGIC.RECV_MAGIC: waiting for the server greeting";
  case ST_HS_OLDSTYLE: return "OLDSTYLE.RECV_REMAINING: receiving the oldstyle greeting";
  case ST_HS_GFLAGS: return "NEWSTYLE.RECV_GFLAGS: receiving the newstyle handshake flags";
  case ST_HS_OPT_REPLY: return "NEWSTYLE.OPT.RECV_REPLY: negotiating an option";
  case ST_HS_EXPORT_NAME: return "NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY: waiting for the export";
  case ST_HS_TLS: return "NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE: running the TLS handshake";
  case ST_NEGOTIATING: return "NEGOTIATING: waiting for an option command";
  case ST_TRANSMISSION:
    return is_processing (h) ? "PROCESSING: transferring a request or reply"
                             : "READY: connected and ready for commands";
  case ST_CLOSED: return "CLOSED: connection was shut down";
  case ST_DEAD: return "DEAD: connection failed";
  }
  return "UNKNOWN";
}
