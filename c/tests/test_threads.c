/* Thread safety: one handle shared by many threads issuing sync
 * commands; per-thread error state; many handles in parallel. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define NTHREADS 8
#define ITERS 100
#define REGION (64 * 1024)

struct worker {
  struct nbd_handle *h;
  const char *sock;
  int id;
  int failures;                 /* counted here: CUnit is not thread-safe */
  char msg[256];
};

static void
note (struct worker *w, const char *what)
{
  if (w->failures++ == 0)
    snprintf (w->msg, sizeof w->msg, "thread %d: %s: %s (errno %d)", w->id,
              what, nbd_get_error () ? nbd_get_error () : "-",
              nbd_get_errno ());
}

static atomic_int go;           /* set once all threads exist */

/* Run FN in NTHREADS threads (worker i: id i, handle H, socket SOCK) and
 * check that none counted a failure.  Workers that must start together
 * wait for GO. */
static void
run_workers (void *(*fn) (void *), struct nbd_handle *h, const char *sock)
{
  pthread_t t[NTHREADS];
  struct worker w[NTHREADS];

  atomic_store (&go, 0);
  for (int i = 0; i < NTHREADS; i++) {
    w[i] = (struct worker) { .h = h, .sock = sock, .id = i };
    CU_ASSERT_EQUAL_FATAL (pthread_create (&t[i], NULL, fn, &w[i]), 0);
  }
  atomic_store (&go, 1);
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join (t[i], NULL);
    if (w[i].failures)
      fprintf (stderr, "\n  %s\n", w[i].msg);
    CU_ASSERT_EQUAL (w[i].failures, 0);
  }
}

static void *
shared_worker (void *arg)
{
  struct worker *w = arg;
  char *wb = malloc (REGION), *rb = malloc (REGION);
  uint64_t off = (uint64_t) w->id * REGION;

  for (int i = 0; i < ITERS; i++) {
    size_t n = 512 + (size_t) ((i * 7919 + w->id * 131) % (REGION - 512));
    h_fill (wb, n, (uint64_t) w->id * 1000 + i);
    if (nbd_pwrite (w->h, wb, n, off, 0) == -1) {
      note (w, "pwrite");
      continue;
    }
    if (nbd_pread (w->h, rb, n, off, 0) == -1) {
      note (w, "pread");
      continue;
    }
    if (memcmp (wb, rb, n) != 0)
      note (w, "data mismatch");
    if (i % 10 == 0 && nbd_flush (w->h, 0) == -1)
      note (w, "flush");
  }
  free (wb);
  free (rb);
  return NULL;
}

static void
test_shared_handle (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  run_workers (shared_worker, h, NULL);
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

/* Each thread provokes a different error over and over and checks that
 * the error it reads back is its own. */
static void *
error_worker (void *arg)
{
  struct worker *w = arg;
  char buf[512];

  while (!atomic_load (&go))
    ;
  for (int i = 0; i < 2000; i++) {
    int r, e;
    const char *m;
    if (w->id % 2 == 0) {
      r = nbd_pread (w->h, buf, sizeof buf, 1ULL << 40, 0);  /* EINVAL */
      e = nbd_get_errno ();
      m = nbd_get_error ();
      if (r != -1 || e != EINVAL || !h_has_prefix (m, "nbd_pread: "))
        note (w, "own error (pread)");
    }
    else {
      r = nbd_trim (w->h, 512, 0, 0xffff);                    /* EINVAL */
      e = nbd_get_errno ();
      m = nbd_get_error ();
      if (r != -1 || e != EINVAL || !h_has_prefix (m, "nbd_trim: "))
        note (w, "own error (trim)");
      r = nbd_set_handle_name (w->h, H_NULL);                  /* EFAULT */
      e = nbd_get_errno ();
      m = nbd_get_error ();
      if (r != -1 || e != EFAULT ||
          !h_has_prefix (m, "nbd_set_handle_name: "))
        note (w, "own error (EFAULT)");
    }
  }
  return NULL;
}

static void
test_thread_local_errors (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  run_workers (error_worker, h, NULL);
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

static void *
own_handle_worker (void *arg)
{
  struct worker *w = arg;
  struct nbd_handle *h = nbd_create ();
  char wb[4096], rb[4096];

  if (h == NULL || nbd_connect_unix (h, w->sock) == -1) {
    note (w, "connect");
    nbd_close (h);
    return NULL;
  }
  for (int i = 0; i < 50; i++) {
    h_fill (wb, sizeof wb, (uint64_t) w->id * 77 + i);
    if (nbd_pwrite (h, wb, sizeof wb, (uint64_t) w->id * 4096, 0) == -1 ||
        nbd_pread (h, rb, sizeof rb, (uint64_t) w->id * 4096, 0) == -1) {
      note (w, "io");
      break;
    }
    if (memcmp (wb, rb, sizeof wb) != 0)
      note (w, "mismatch");
  }
  if (nbd_shutdown (h, 0) == -1)
    note (w, "shutdown");
  nbd_close (h);
  return NULL;
}

static void
test_many_handles (void)
{
  struct h_server srv;
  int fds0 = h_count_fds ();

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  run_workers (own_handle_worker, NULL, srv.sock);
  h_stop (&srv);
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
}

/* A thread sits in nbd_poll with nothing in flight while another issues a
 * write too big for the socket buffer: the part that does not fit must
 * still go out.  Only the polling thread can send it, so it has to be told
 * (nobody else would ever wake it: the server answers nothing until the
 * whole request has arrived). */
struct poller {
  struct nbd_handle *h;
  atomic_int stop;
  int failed;
};

static void *
poll_loop (void *arg)
{
  struct poller *p = arg;

  while (!atomic_load (&p->stop))
    if (nbd_poll (p->h, 5000) == -1) {
      p->failed = 1;
      break;
    }
  return NULL;
}

static void
test_poller_sends_late_request (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct poller p = { 0 };
  pthread_t t;
  const size_t n = 32 * 1024 * 1024;
  char *buf = malloc (n);
  int64_t cookie;
  int r = 0, i;

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  h_fill (buf, n, 42);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "64M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  p.h = h;
  CU_ASSERT_EQUAL_FATAL (pthread_create (&t, NULL, poll_loop, &p), 0);
  usleep (50000);               /* let it block in poll() for reading */
  cookie = nbd_aio_pwrite (h, buf, n, 0, NBD_NULL_COMPLETION, 0);
  CU_ASSERT (cookie > 0);
  /* A poller that was not told sends only after its 5 s timeout. */
  for (i = 0; i < 2000 && cookie > 0; i++) {
    r = nbd_aio_command_completed (h, (uint64_t) cookie);
    if (r != 0)
      break;
    usleep (1000);
  }
  CU_ASSERT_EQUAL (r, 1);
  atomic_store (&p.stop, 1);
  /* A reply ends the poller's current wait, so that it sees stop. */
  CU_ASSERT (nbd_aio_pread (h, buf, 512, 0, NBD_NULL_COMPLETION, 0) > 0);
  pthread_join (t, NULL);
  CU_ASSERT_EQUAL (p.failed, 0);
  CU_ASSERT_EQUAL (nbd_shutdown (h, 0), 0);
  nbd_close (h);
  h_stop (&srv);
  free (buf);
}

/* One thread runs sync reads while another drives the same handle with
 * its own poll() and nbd_aio_notify_read.  When the second thread takes
 * a reply just after the first released the lock to sleep in poll(),
 * the first must still be woken (nothing else will arrive for it). */
struct notifier {
  struct nbd_handle *h;
  atomic_int stop;
  int failed;
};

static void *
notify_loop (void *arg)
{
  struct notifier *n = arg;
  int fd = nbd_aio_get_fd (n->h);

  while (!atomic_load (&n->stop)) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll (&p, 1, 10) == 1 && (p.revents & POLLIN) &&
        nbd_aio_notify_read (n->h) == -1 && nbd_get_errno () != EINVAL) {
      n->failed = 1;
      break;
    }
  }
  return NULL;
}

struct reader {
  struct nbd_handle *h;
  atomic_int count;
  atomic_int stop;
  int failed;
};

static void *
read_loop (void *arg)
{
  struct reader *r = arg;
  char buf[512];

  while (!atomic_load (&r->stop) && atomic_load (&r->count) < 20000) {
    if (nbd_pread (r->h, buf, sizeof buf, 0, 0) == -1) {
      r->failed = 1;
      break;
    }
    atomic_fetch_add (&r->count, 1);
  }
  atomic_store (&r->stop, 1);
  return NULL;
}

/* Runs 20000 sync reads while LOOP drives the same handle from another
 * thread; a read stuck for 2 s is a lost wake-up (nothing else would
 * arrive for it). */
static void
sync_reads_beside (void *(*loop) (void *))
{
  struct h_server srv;
  struct nbd_handle *h;
  struct notifier n = { 0 };
  struct reader r = { 0 };
  pthread_t tn, tr;
  int last = -1, idle = 0, stuck = 0;
  char buf[512];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  n.h = r.h = h;
  CU_ASSERT_EQUAL_FATAL (pthread_create (&tn, NULL, loop, &n), 0);
  CU_ASSERT_EQUAL_FATAL (pthread_create (&tr, NULL, read_loop, &r), 0);
  while (!atomic_load (&r.stop)) {
    int c = atomic_load (&r.count);
    usleep (10000);
    if (c != last) {
      last = c;
      idle = 0;
    }
    else if (++idle == 200) {
      stuck = 1;
      atomic_store (&r.stop, 1);
      /* Another reply on the socket frees the stuck reader. */
      nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0);
    }
  }
  pthread_join (tr, NULL);
  CU_ASSERT_EQUAL (stuck, 0);
  CU_ASSERT_EQUAL (r.failed, 0);
  atomic_store (&n.stop, 1);
  pthread_join (tn, NULL);
  CU_ASSERT_EQUAL (n.failed, 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_sync_wait_with_foreign_notify (void)
{
  sync_reads_beside (notify_loop);
}

/* The same with nbd_poll as the second thread: two threads in poll() on
 * the handle at once.  When nbd_poll takes the reply the sync reader is
 * waiting for, the reader must be woken. */
static void *
nbd_poll_loop (void *arg)
{
  struct notifier *n = arg;

  while (!atomic_load (&n->stop))
    if (nbd_poll (n->h, 10) == -1 && nbd_get_errno () != EINVAL) {
      n->failed = 1;
      break;
    }
  return NULL;
}

static void
test_sync_wait_with_nbd_poll (void)
{
  sync_reads_beside (nbd_poll_loop);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_threads") == -1)
    return 2;
  s = h_add_suite ("threads");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_shared_handle);
  H_ADD_TEST (s, test_thread_local_errors);
  H_ADD_TEST (s, test_many_handles);
  H_ADD_TEST (s, test_poller_sends_late_request);
  H_ADD_TEST (s, test_sync_wait_with_foreign_notify);
  H_ADD_TEST (s, test_sync_wait_with_nbd_poll);
  return h_run_all ();
}
