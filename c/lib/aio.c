/* aio.c: command records, completion and retirement, and the event loop
 * (nbd_poll, the notify calls, and the waiting done by sync calls). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define MAX_FREE_CMDS 256

struct command *
nbd_internal_cmd_alloc (struct nbd_handle *h)
{
  struct command *c = h->free_cmds;
  if (c) {
    struct covered_range *ranges = c->ranges;
    size_t cap = c->cap_ranges;
    h->free_cmds = c->next;
    h->nr_free_cmds--;
    memset (c, 0, offsetof (struct command, hdr));
    c->ranges = ranges;
    c->cap_ranges = cap;
    return c;
  }
  c = calloc (1, sizeof *c);
  if (!c)
    set_error (ENOMEM, "out of memory");
  return c;
}

void
nbd_internal_free_callbacks (struct command *c)
{
  FREE_CALLBACK (c->chunk);
  FREE_CALLBACK (c->extent);
  FREE_CALLBACK (c->completion);
}

void
nbd_internal_cmd_free (struct nbd_handle *h, struct command *c)
{
  nbd_internal_free_callbacks (c);
  if (h->nr_free_cmds < MAX_FREE_CMDS) {
    c->next = h->free_cmds;
    h->free_cmds = c;
    h->nr_free_cmds++;
    c->nr_ranges = 0;
    return;
  }
  free (c->ranges);
  free (c);
}

void
nbd_internal_add_inflight (struct nbd_handle *h, struct command *c)
{
  struct command **bucket = &h->inflight_index[c->cookie % NBD_INFLIGHT_BUCKETS];

  c->next = NULL;
  c->iprev = h->inflight_tail;
  if (h->inflight_tail) h->inflight_tail->next = c; else h->inflight_head = c;
  h->inflight_tail = c;
  c->hnext = *bucket;
  *bucket = c;
  h->nr_inflight++;
}

struct command *
nbd_internal_find_inflight (struct nbd_handle *h, uint64_t cookie, bool unlink)
{
  struct command **pp = &h->inflight_index[cookie % NBD_INFLIGHT_BUCKETS];
  struct command *c;

  while ((c = *pp) != NULL && c->cookie != cookie)
    pp = &c->hnext;
  if (c && unlink) {
    *pp = c->hnext;
    if (c->iprev) c->iprev->next = c->next; else h->inflight_head = c->next;
    if (c->next) c->next->iprev = c->iprev; else h->inflight_tail = c->iprev;
    c->next = c->iprev = c->hnext = NULL;
    h->nr_inflight--;
  }
  return c;
}

/* A command got its last reply (or was stranded).  It has already been
 * unlinked from the send queue / in-flight list. */
void
nbd_internal_cmd_complete (struct nbd_handle *h, struct command *c)
{
  int err = c->error;

  if (nbd_internal_is_big_read (c))
    h->nr_big_reads--;
  /* With pread_initialize the caller never sees stale memory, even after a
   * failed read: zeroing on failure gives that guarantee without paying
   * for a memset on every successful read. */
  if (err && c->type == NBD_CMD_READ && h->pread_initialize && c->buf)
    memset (c->buf, 0, c->count);

  c->done = true;
  if (c->sync)
    return;                   /* its waiter is woken by wake_waiters */
  /* Callbacks are called at most once; their .free runs when the command
   * retires (here if the completion callback retires it, else in
   * nbd_aio_command_completed or nbd_close). */
  c->chunk.callback = NULL;
  c->extent.callback = NULL;
  if (c->completion.callback) {
    int r = c->completion.callback (c->completion.user_data, &err);
    c->completion.callback = NULL;
    if (r == 1) {
      nbd_internal_cmd_free (h, c);
      return;
    }
  }
  c->next = NULL;
  if (h->done_tail) h->done_tail->next = c; else h->done_head = c;
  h->done_tail = c;
  h->nr_done++;
}

/* Fails every command not yet completed (the connection is gone). */
void
nbd_internal_fail_all_commands (struct nbd_handle *h, int errnum)
{
  struct command *lists[2] = { h->sendq_head, h->inflight_head };
  int i;

  h->sendq_head = h->sendq_tail = NULL;
  h->inflight_head = h->inflight_tail = NULL;
  memset (h->inflight_index, 0, sizeof h->inflight_index);
  h->nr_sendq = h->nr_inflight = 0;
  h->sendq_bytes = 0;
  h->sendq_urgent = false;
  h->send_off = 0;
  h->rcmd = NULL;
  h->rphase = RP_HEADER;
  for (i = 0; i < 2; i++) {
    struct command *c = lists[i];
    while (c) {
      struct command *next = c->next;
      c->next = NULL;
      if (c->type == NBD_CMD_DISC) {
        nbd_internal_cmd_free (h, c);
      }
      else {
        if (c->error == 0) c->error = errnum;
        nbd_internal_cmd_complete (h, c);
      }
      c = next;
    }
  }
}

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
  fds[0].fd = h->fd;
  fds[0].events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
                  ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
  if (h->wake_fd >= 0) {
    wake_at = nfds;
    fds[nfds++] = (struct pollfd) { .fd = h->wake_fd, .events = POLLIN };
  }
  if (extra_fd >= 0)
    fds[nfds++] = (struct pollfd) { .fd = extra_fd, .events = POLLIN };
  h->poller_active = true;
  pthread_mutex_unlock (&h->lock);
  r = poll (fds, nfds, timeout);
  saved = r == -1 ? errno : 0;
  pthread_mutex_lock (&h->lock);
  h->poller_active = false;
  if (h->deferred_close_fd >= 0) {
    close (h->deferred_close_fd);
    h->deferred_close_fd = -1;
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
  return 1;
}

/* After events were processed: wake the sleeping waiters that mode asks
 * for.  A handover is only needed when nobody is polling any more. */
void
nbd_internal_wake_waiters (struct nbd_handle *h, enum wake_mode mode)
{
  struct waiter *w;
  bool handed_over = mode != WAKE_DONE_HANDOVER || h->poller_active;

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
    if (h->poller_active) {
      struct waiter w = { .done = done, .arg = arg }, **pp;
      /* Several threads share the connection: from now on the poller
       * also watches an eventfd so that it can be told to send. */
      if (h->wake_fd < 0)
        h->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
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
  bool (*pred) (struct nbd_handle *) = (bool (*) (struct nbd_handle *)) arg;
  return pred (h);
}

int
nbd_internal_wait_until (struct nbd_handle *h, bool (*pred) (struct nbd_handle *))
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

    if (h->poller_active)
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
  int r = nbd_internal_poll_once (h, timeout, extra_fd);

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
