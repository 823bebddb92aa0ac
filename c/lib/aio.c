/* aio.c: the event loop: nbd_poll, the notify calls, the waiting done by
 * sync calls, and waking the threads that sleep in it.  Waking happens
 * here, after events were processed, never from deep inside the layers
 * below. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* ---- the event loop --------------------------------------------------------- */

/* One poll() on the handle's socket (and on extra_fd, if >= 0, for
 * nbd_poll2) with the lock released, then the I/O it allows.  Returns 1 if
 * events were handled, 0 on timeout, -1 on error. */
int
nbd_internal_poll_once (struct nbd_handle *h, int timeout, int extra_fd)
{
  struct pollfd fds[3] = { { .fd = h->fd } };
  unsigned dir;
  int nfds = 1, wake_at = -1, r, saved;

  if (nbd_internal_flush (h) == -1)
    return -1;
  dir = nbd_internal_direction (h);
  if (dir == 0 || h->fd < 0) {
    set_error (EINVAL, "nothing to wait for in state %s",
               nbd_internal_state_name (h->state));
    return -1;
  }
  /* Bytes a TLS session already decrypted are invisible to poll(): take
   * them first rather than sleep on a socket with nothing more to say. */
  if ((dir & LIBNBD_AIO_DIRECTION_READ) && h->transport->pending (h))
    return nbd_internal_on_readable (h) == -1 ? -1 : 1;
  /* Another thread may queue a request while we sleep, and what the
   * socket does not take at once only we can send: so we always watch an
   * eventfd that nbd_internal_flush can wake us with.  (Created on the
   * first sleep: one created later, by a waiting thread, would not be in
   * the poll() that is already running, and that poll() might never end.) */
  if (h->wake_fd < 0)
    h->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  fds[0].fd = h->fd;
  fds[0].events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
                  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
  if (h->wake_fd >= 0) {
    wake_at = nfds;
    fds[nfds++] = (struct pollfd) { .fd = h->wake_fd, .events = POLLIN };
  }
  if (extra_fd >= 0)
    fds[nfds++] = (struct pollfd) { .fd = extra_fd, .events = POLLIN };
  h->nr_pollers++;
  pthread_mutex_unlock (&h->lock);
  r = poll (fds, nfds, timeout);
  saved = r == -1 ? errno : 0;
  pthread_mutex_lock (&h->lock);
  h->nr_pollers--;
  /* The fd is closed only when no thread is polling it any more. */
  if (h->deferred_close_fd >= 0 && h->nr_pollers == 0) {
    h->transport->close (h, h->deferred_close_fd);
    h->deferred_close_fd = -1;
    nbd_internal_close_wake_fd (h);
  }
  if (r == -1) {
    if (saved == EINTR) return 0;
    set_error (saved, "poll: %s", strerror (saved));
    return -1;
  }
  if (r == 0)
    return 0;
  if (wake_at >= 0 && fds[wake_at].revents) {
    eventfd_t v;
    eventfd_read (fds[wake_at].fd, &v);
  }
  /* The state may have moved on while we were unlocked. */
  if (h->state == ST_DEAD || h->state == ST_CLOSED || h->fd != fds[0].fd)
    return 1;
  if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
    if (h->state == ST_CONNECTING) {
      if (nbd_internal_on_writable (h) == -1) return -1;
    }
    else if (nbd_internal_on_readable (h) == -1)
      return -1;
  }
  if ((fds[0].revents & POLLOUT) && h->state != ST_DEAD && h->state != ST_CLOSED) {
    if (nbd_internal_on_writable (h) == -1) return -1;
  }
  /* Another thread still in poll() (a sync call beside an nbd_poll) may
   * be waiting for a reply we have just taken off the socket: nothing
   * more will arrive for it, so it must look again. */
  nbd_internal_wake_pollers (h);
  return 1;
}

/* After events were processed: wake the sleeping waiters that mode asks
 * for.  A handover is only needed when nobody is polling any more. */
void
nbd_internal_wake_waiters (struct nbd_handle *h, enum wake_mode mode)
{
  struct waiter *w;
  bool handed_over = mode != WAKE_DONE_HANDOVER || h->nr_pollers > 0;

  /* The connection ended: every waiter must see it. */
  if (nbd_internal_is_shut_down (h))
    mode = WAKE_ALL;
  for (w = h->waiters_list; w; w = w->next) {
    if (mode == WAKE_ALL || w->done (h, w->arg))
      pthread_cond_signal (&w->cond);
    else if (!handed_over) {
      pthread_cond_signal (&w->cond);
      handed_over = true;
    }
  }
}

/* Blocks (lock held, released while polling) until done(h, arg).  Several
 * threads may wait at once: one polls, the others sleep, each on its own
 * condition variable, so a completion wakes only the thread it concerns. */
static int
wait_loop (struct nbd_handle *h, bool (*done) (struct nbd_handle *, void *), void *arg)
{
  while (!done (h, arg)) {
    int r;

    if (h->state == ST_DEAD || h->state == ST_CLOSED || h->state == ST_CREATED)
      return 0;
    if (h->nr_pollers > 0) {
      struct waiter w = { .done = done, .arg = arg }, **pp;
      pthread_cond_init (&w.cond, NULL);
      w.next = h->waiters_list;
      h->waiters_list = &w;
      pthread_cond_wait (&w.cond, &h->lock);
      for (pp = &h->waiters_list; *pp != &w; pp = &(*pp)->next)
        ;
      *pp = w.next;
      pthread_cond_destroy (&w.cond);
      continue;
    }
    r = nbd_internal_poll_once (h, -1, -1);
    /* We keep the poller role while our own wait goes on: only the
     * threads whose wait is over need waking. */
    nbd_internal_wake_waiters (h, WAKE_DONE);
    if (r == -1 && h->state != ST_DEAD && h->state != ST_CLOSED)
      return -1;
  }
  /* We are leaving: if we were the poller, someone else must take over. */
  nbd_internal_wake_waiters (h, WAKE_DONE_HANDOVER);
  return 0;
}

static bool
cmd_done (struct nbd_handle *h, void *arg)
{
  (void) h;
  return ((struct command *) arg)->done;
}

int
nbd_internal_wait_command (struct nbd_handle *h, struct command *c)
{
  return wait_loop (h, cmd_done, c);
}

static bool
pred_done (struct nbd_handle *h, void *arg)
{
  bool (*pred) (const struct nbd_handle *) = (bool (*) (const struct nbd_handle *)) arg;
  return pred (h);
}

int
nbd_internal_wait_until (struct nbd_handle *h, bool (*pred) (const struct nbd_handle *))
{
  return wait_loop (h, pred_done, (void *) pred);
}

/* After NBD_CMD_DISC: gives the server timeout_ms to close, then closes
 * the socket ourselves, so a server that ignores the disconnect cannot
 * hang nbd_shutdown.  If another thread is polling, it will see the EOF. */
int
nbd_internal_wait_eof (struct nbd_handle *h, int timeout_ms)
{
  struct timespec now, end;

  clock_gettime (CLOCK_MONOTONIC, &end);
  end.tv_sec += timeout_ms / 1000;
  end.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
  if (end.tv_nsec >= 1000000000) { end.tv_sec++; end.tv_nsec -= 1000000000; }
  while (nbd_internal_disc_idle (h)) {
    long left;

    if (h->nr_pollers > 0)
      return nbd_internal_wait_until (h, nbd_internal_is_shut_down);
    clock_gettime (CLOCK_MONOTONIC, &now);
    left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
    if (left <= 0) {
      debug (h, "the server did not close within %d ms of NBD_CMD_DISC: closing", timeout_ms);
      nbd_internal_set_closed (h);
      break;
    }
    if (nbd_internal_poll_once (h, (int) left, -1) == -1 &&
        h->state != ST_DEAD && h->state != ST_CLOSED)
      return -1;
  }
  nbd_internal_wake_waiters (h, WAKE_DONE_HANDOVER);
  return 0;
}

/* ---- public event-loop calls ------------------------------------------------ */
/* nbd_poll and nbd_poll2: one poll, then hand polling on to a sleeping
 * sync caller if there is one. */
int
nbd_internal_poll_call (struct nbd_handle *h, int timeout, int extra_fd)
{
  int r;

  /* Many replies due and requests queued: if replies have already arrived,
   * handle them first without sending, so that the caller can queue more
   * requests and the batch leaves in one sendmsg.  Nothing waits for this:
   * when nothing has arrived, poll_once sends everything before it sleeps,
   * and a queue held once goes out at the start of the next nbd_poll
   * whatever has arrived (send_held), so no request waits while other
   * replies keep coming. */
  if (h->state == ST_TRANSMISSION && h->sendq_head && h->send_off == 0 && !h->send_held &&
      h->nr_inflight >= NBD_BATCH_INFLIGHT && h->nr_sendq < NBD_BATCH_REQUESTS &&
      h->sendq_bytes < NBD_SEND_BATCH_BYTES && h->nr_pollers == 0) {
    uint64_t before = h->bytes_received;
    h->defer_send = true;
    r = nbd_internal_on_readable (h);
    h->defer_send = false;
    if (r == 0 && h->bytes_received == before && h->state == ST_TRANSMISSION)
      r = nbd_internal_poll_once (h, timeout, extra_fd);   /* nothing had arrived */
    else if (r == 0) {
      r = 1;
      h->send_held = h->sendq_head != NULL;
    }
  }
  else {
    h->send_held = false;
    r = nbd_internal_poll_once (h, timeout, extra_fd);
  }

  nbd_internal_wake_waiters (h, WAKE_DONE_HANDOVER);
  if (r >= 0 && h->state == ST_DEAD) {
    set_error (h->dead_errno, "%s", h->dead_msg ? h->dead_msg : "connection failed");
    r = -1;
  }
  return r;
}

int
nbd_unlocked_poll (struct nbd_handle *h, int timeout)
{
  return nbd_internal_poll_call (h, timeout, -1);
}

int
nbd_unlocked_aio_get_fd (struct nbd_handle *h)
{
  if (h->fd < 0) {
    set_error (EINVAL, "the handle has no socket in state %s",
               nbd_internal_state_name (h->state));
    return -1;
  }
  return h->fd;
}

/* Called without the lock (as libnbd's is), but takes it itself: it
 * deliberately sends what is queued, because every event loop asks for the
 * direction before it sleeps, which makes this the natural point to push
 * out a batch of requests with one system call. */
unsigned
nbd_unlocked_aio_get_direction (struct nbd_handle *h)
{
  unsigned dir;
  pthread_mutex_lock (&h->lock);
  if (h->state == ST_TRANSMISSION && h->sendq_head)
    nbd_internal_flush (h);
  dir = nbd_internal_direction (h);
  pthread_mutex_unlock (&h->lock);
  return dir;
}

static int
notify (struct nbd_handle *h, bool readable)
{
  int r = 0;

  if (h->fd < 0 || nbd_internal_direction (h) == 0) {
    set_error (EINVAL, "the handle is not waiting for I/O in state %s",
               nbd_internal_state_name (h->state));
    return -1;
  }

  if (h->state == ST_CONNECTING)
    r = nbd_internal_on_writable (h);
  else if (readable) {
    if (nbd_internal_is_handshaking (h) || h->state == ST_TRANSMISSION)
      r = nbd_internal_on_readable (h);
  }
  else
    r = nbd_internal_on_writable (h);
  nbd_internal_wake_waiters (h, WAKE_DONE_HANDOVER);
  /* A thread blocked in poll() (a sync call) may be waiting for a reply
   * that we have just taken off the socket: nothing more will arrive for
   * it, so tell it to look again. */
  nbd_internal_wake_pollers (h);
  if (h->state == ST_DEAD) {
    set_error (h->dead_errno, "%s", h->dead_msg ? h->dead_msg : "connection failed");
    return -1;
  }
  return r;
}

int
nbd_unlocked_aio_notify_read (struct nbd_handle *h)
{
  return notify (h, true);
}

int
nbd_unlocked_aio_notify_write (struct nbd_handle *h)
{
  return notify (h, false);
}

/* ---- completion queries ---------------------------------------------------- */
static bool
in_list (struct command *c, uint64_t cookie)
{
  for (; c; c = c->next)
    if (c->cookie == cookie) return true;
  return false;
}

int
nbd_unlocked_aio_command_completed (struct nbd_handle *h, uint64_t cookie)
{
  struct command *c, *prev = NULL;
  int err;

  for (c = h->done_head; c; prev = c, c = c->next)
    if (c->cookie == cookie) break;
  if (!c) {
    if (!in_list (h->sendq_head, cookie) &&
        !nbd_internal_find_inflight (h, cookie, false)) {
      set_error (EINVAL, "invalid cookie: %llu (not an in-flight or completed command)",
                 (unsigned long long) cookie);
      return -1;
    }
    return 0;
  }
  if (prev) prev->next = c->next; else h->done_head = c->next;
  if (h->done_tail == c) h->done_tail = prev;
  h->nr_done--;
  err = c->error;
  nbd_internal_cmd_free (h, c);
  if (err) {
    if (h->state == ST_DEAD && h->dead_msg && (err == h->dead_errno || err == ENOTCONN))
      set_error (err, "%s", h->dead_msg);
    else
      set_error (err, "command failed: %s", strerror (err));
    return -1;
  }
  return 1;
}

int64_t
nbd_unlocked_aio_peek_command_completed (struct nbd_handle *h)
{
  if (h->done_head)
    return (int64_t) h->done_head->cookie;
  if (h->nr_sendq + h->nr_inflight > 0)
    return 0;
  set_error (EINVAL, "no commands are in flight");
  return -1;
}

int
nbd_unlocked_aio_in_flight (struct nbd_handle *h)
{
  return h->nr_sendq + h->nr_inflight;
}
