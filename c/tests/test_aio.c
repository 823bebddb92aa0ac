/* Many aio commands in flight: callbacks, retirement, in_flight,
 * driving with nbd_poll and with our own poll() loop; shutdown,
 * aio_disconnect, closing with commands in flight. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define N 64
#define CHUNK 65536

struct cmd {
  int64_t cookie;
  int completions;
  int frees;
  int error;
  int ret;                      /* what the completion callback returns */
  int order;                    /* completion order, to check it is free */
  int retired;                  /* times retired via command_completed */
};

static int completed_total;

static int
completion_cb (void *user_data, int *error)
{
  struct cmd *c = user_data;
  c->completions++;
  c->error = *error;
  c->order = completed_total++;
  return c->ret;
}

static void
free_cb (void *user_data)
{
  struct cmd *c = user_data;
  c->frees++;
}

static nbd_completion_callback
cb (struct cmd *c)
{
  return (nbd_completion_callback) {
    .callback = completion_cb, .user_data = c, .free = free_cb };
}

/* Drive with our own poll() using get_fd / get_direction / notify. */
static int
own_poll_once (struct nbd_handle *h, int timeout_ms)
{
  struct pollfd pfd;
  unsigned dir;
  int r;

  pfd.fd = nbd_aio_get_fd (h);
  if (pfd.fd == -1)
    return -1;
  dir = nbd_aio_get_direction (h);
  pfd.events = 0;
  if (dir & LIBNBD_AIO_DIRECTION_READ)
    pfd.events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    pfd.events |= POLLOUT;
  pfd.revents = 0;
  r = poll (&pfd, 1, timeout_ms);
  if (r == -1)
    return errno == EINTR ? 0 : -1;
  if (r == 0)
    return 0;
  if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
      (dir & LIBNBD_AIO_DIRECTION_READ)) {
    if (nbd_aio_notify_read (h) == -1)
      return -1;
  }
  else if (pfd.revents & POLLOUT) {
    if (nbd_aio_notify_write (h) == -1)
      return -1;
  }
  else if (pfd.revents & (POLLHUP | POLLERR)) {
    if (nbd_aio_notify_read (h) == -1)
      return -1;
  }
  return 1;
}

enum driver { DRIVE_NBD_POLL, DRIVE_OWN_POLL };

static int
drive (struct nbd_handle *h, enum driver d)
{
  if (d == DRIVE_NBD_POLL)
    return nbd_poll (h, 5000);
  return own_poll_once (h, 5000);
}

static void
many_in_flight (enum driver d)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd wc[N], rc[N];
  char *wbuf = malloc (N * CHUNK), *rbuf = malloc (N * CHUNK);
  int retired_by_call = 0;

  CU_ASSERT_PTR_NOT_NULL_FATAL (wbuf);
  CU_ASSERT_PTR_NOT_NULL_FATAL (rbuf);
  memset (wc, 0, sizeof wc);
  memset (rc, 0, sizeof rc);
  completed_total = 0;
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "8M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);

  /* Connect with the chosen driver as well. */
  H_ASSERT_OK_FATAL (nbd_aio_connect_unix (h, srv.sock));
  while (!nbd_aio_is_ready (h)) {
    CU_ASSERT_FATAL (!nbd_aio_is_dead (h));
    CU_ASSERT_NOT_EQUAL_FATAL (drive (h, d), -1);
  }
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  /* No commands at all: peek is an error. */
  CU_ASSERT_EQUAL (nbd_aio_peek_command_completed (h), -1);

  /* 64 writes at once; even ones auto-retire (callback returns 1), odd
   * ones must be retired with nbd_aio_command_completed. */
  h_fill (wbuf, N * CHUNK, 77);
  for (int i = 0; i < N; i++) {
    wc[i].ret = (i % 2 == 0);
    wc[i].cookie = nbd_aio_pwrite (h, wbuf + i * CHUNK, CHUNK,
                                   (uint64_t) i * CHUNK, cb (&wc[i]), 0);
    CU_ASSERT (wc[i].cookie > 0);
    for (int j = 0; j < i; j++)
      CU_ASSERT_NOT_EQUAL (wc[i].cookie, wc[j].cookie);
  }
  {
    /* Replies may already be processed while issuing: 0..N. */
    int inflight = nbd_aio_in_flight (h);
    CU_ASSERT (inflight >= 0 && inflight <= N);
  }
  while (nbd_aio_in_flight (h) > 0) {
    /* Retire odd commands as soon as they complete. */
    int64_t ck;
    while ((ck = nbd_aio_peek_command_completed (h)) > 0) {
      int found = 0;
      for (int i = 0; i < N; i++)
        if (wc[i].cookie == ck) {
          found = 1;
          CU_ASSERT_EQUAL (i % 2, 1);     /* only non-auto-retired ones */
          CU_ASSERT_EQUAL (wc[i].completions, 1);
          CU_ASSERT_EQUAL (nbd_aio_command_completed (h, ck), 1);
          wc[i].retired++;
          retired_by_call++;
        }
      CU_ASSERT (found);
    }
    if (nbd_aio_in_flight (h) == 0)
      break;
    CU_ASSERT_NOT_EQUAL_FATAL (drive (h, d), -1);
  }
  /* Anything completed in the last round not yet retired.  (The free
   * callback may already have run: libnbd promises only that it runs
   * once the callback will not be called again.) */
  for (int i = 1; i < N; i += 2)
    if (wc[i].retired == 0 && wc[i].completions == 1) {
      CU_ASSERT_EQUAL (nbd_aio_command_completed (h, wc[i].cookie), 1);
      wc[i].retired++;
      retired_by_call++;
    }
  /* Nothing is left awaiting retirement. */
  CU_ASSERT_EQUAL (nbd_aio_peek_command_completed (h), -1);
  CU_ASSERT_EQUAL (retired_by_call, N / 2);
  for (int i = 0; i < N; i++) {
    CU_ASSERT_EQUAL (wc[i].completions, 1);
    CU_ASSERT_EQUAL (wc[i].frees, 1);
    CU_ASSERT_EQUAL (wc[i].error, 0);
    CU_ASSERT_EQUAL (wc[i].retired, i % 2);
  }
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);

  /* Retired cookies never report success again (libnbd 1.14 answers 0
   * for an unknown cookie; cookie 0 is an EINVAL error). */
  CU_ASSERT_NOT_EQUAL (nbd_aio_command_completed (h, wc[0].cookie), 1);
  CU_ASSERT_NOT_EQUAL (nbd_aio_command_completed (h, wc[1].cookie), 1);
  H_ASSERT_ERR (nbd_aio_command_completed (h, 0), EINVAL);

  /* 64 reads back, all auto-retired. */
  memset (rbuf, 0, N * CHUNK);
  for (int i = 0; i < N; i++) {
    rc[i].ret = 1;
    rc[i].cookie = nbd_aio_pread (h, rbuf + i * CHUNK, CHUNK,
                                  (uint64_t) i * CHUNK, cb (&rc[i]), 0);
    CU_ASSERT (rc[i].cookie > 0);
  }
  while (nbd_aio_in_flight (h) > 0)
    CU_ASSERT_NOT_EQUAL_FATAL (drive (h, d), -1);
  for (int i = 0; i < N; i++) {
    CU_ASSERT_EQUAL (rc[i].completions, 1);
    CU_ASSERT_EQUAL (rc[i].frees, 1);
    CU_ASSERT_EQUAL (rc[i].error, 0);
  }
  CU_ASSERT (memcmp (wbuf, rbuf, N * CHUNK) == 0);

  /* Commands without callbacks: retire by cookie; mixing kinds. */
  {
    int64_t c1 = nbd_aio_pread (h, rbuf, 4096, 0, NBD_NULL_COMPLETION, 0);
    int64_t c2 = nbd_aio_flush (h, NBD_NULL_COMPLETION, 0);
    int64_t c3 = nbd_aio_zero (h, 4096, 0, NBD_NULL_COMPLETION, 0);
    int64_t c4 = nbd_aio_trim (h, 4096, 8192, NBD_NULL_COMPLETION, 0);
    int64_t c5 = nbd_aio_cache (h, 4096, 8192, NBD_NULL_COMPLETION, 0);
    int64_t cs[5] = { c1, c2, c3, c4, c5 };
    int done[5] = { 0 };
    int ndone = 0;
    for (int i = 0; i < 5; i++)
      CU_ASSERT (cs[i] > 0);
    while (ndone < 5) {
      for (int i = 0; i < 5; i++)
        if (!done[i]) {
          int r = nbd_aio_command_completed (h, cs[i]);
          CU_ASSERT_NOT_EQUAL (r, -1);
          if (r == 1) {
            done[i] = 1;
            ndone++;
          }
        }
      if (ndone < 5)
        CU_ASSERT_NOT_EQUAL_FATAL (drive (h, d), -1);
    }
    CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  }

  nbd_close (h);
  h_stop (&srv);
  free (wbuf);
  free (rbuf);
}

static void test_many_in_flight_nbd_poll (void) { many_in_flight (DRIVE_NBD_POLL); }
static void test_many_in_flight_own_poll (void) { many_in_flight (DRIVE_OWN_POLL); }

static void
test_lots_in_flight (void)
{
  enum { M = 512 };
  struct h_server srv;
  struct nbd_handle *h;
  static struct cmd c[M];
  static char buf[M][4096];
  char *img = malloc (M * 4096);

  CU_ASSERT_PTR_NOT_NULL_FATAL (img);
  memset (c, 0, sizeof c);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "2M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  h_fill (img, M * 4096, 5);
  H_ASSERT_OK (nbd_pwrite (h, img, M * 4096, 0, 0));
  /* Idle handle: a short nbd_poll times out and returns 0. */
  CU_ASSERT_EQUAL (nbd_poll (h, 10), 0);
  for (int i = 0; i < M; i++) {
    c[i].ret = 1;
    CU_ASSERT (nbd_aio_pread (h, buf[i], 4096, (uint64_t) i * 4096,
                              cb (&c[i]), 0) > 0);
  }
  while (nbd_aio_in_flight (h) > 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  for (int i = 0; i < M; i++) {
    CU_ASSERT_EQUAL (c[i].completions, 1);
    CU_ASSERT_EQUAL (c[i].frees, 1);
    CU_ASSERT (memcmp (buf[i], img + i * 4096, 4096) == 0);
  }
  nbd_close (h);
  h_stop (&srv);
  free (img);
}

/* The server answers in reverse order (later requests sleep less):
 * replies must be matched to their commands by cookie. */
/* Ten reads answered in reverse order.  With reads of 64 KiB and more the
 * library guesses that the oldest read is answered next and receives its
 * payload straight into that read's buffer (socket.c): every reply but
 * the last proves the guess is undone when wrong. */
static void
out_of_order (bool structured, size_t size)
{
  enum { K = 10 };
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c[K];
  char *bufs = malloc (K * size);
  char dir[256], img[300], pread_arg[700], size_arg[64];
  char *data = malloc (K * size);
  FILE *fp;

  if (!h_nbdkit_has_plugin ("eval")) {
    h_skip ("test_out_of_order", "nbdkit eval plugin not installed");
    free (data);
    free (bufs);
    return;
  }
  memset (c, 0, sizeof c);
  completed_total = 0;
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (img, sizeof img, "%s/img", dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL (bufs);
  CU_ASSERT_PTR_NOT_NULL_FATAL (data);
  memset (bufs, 0xee, K * size);
  h_fill (data, K * size, 404);
  fp = fopen (img, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL (fp);
  CU_ASSERT_EQUAL (fwrite (data, size, K, fp), K);
  fclose (fp);
  snprintf (pread_arg, sizeof pread_arg,
            "pread=sleep 0.$((9 - $4 / %zu)); "
            "dd if=%s skip=$4 count=$3 iflag=skip_bytes,count_bytes "
            "status=none", size, img);
  snprintf (size_arg, sizeof size_arg, "get_size=echo %zu", K * size);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "eval",
                                       "thread_model=echo parallel",
                                       size_arg, pread_arg,
                                       NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_request_structured_replies (h, structured));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  for (int i = 0; i < K; i++) {
    c[i].ret = 1;
    CU_ASSERT (nbd_aio_pread (h, bufs + i * size, size, (uint64_t) i * size,
                              cb (&c[i]), 0) > 0);
  }
  while (nbd_aio_in_flight (h) > 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  for (int i = 0; i < K; i++) {
    CU_ASSERT_EQUAL (c[i].completions, 1);
    CU_ASSERT_EQUAL (c[i].error, 0);
    CU_ASSERT (memcmp (bufs + i * size, data + i * size, size) == 0);
  }
  /* Not an assertion on timing: just report whether the server really
   * reordered (it normally does: the first request sleeps longest). */
  if (c[0].order != K - 1)
    printf ("\n  note: replies were not fully reversed (first=%d)\n",
            c[0].order);
  nbd_close (h);
  h_stop (&srv);
  h_rmdir (dir);
  free (data);
  free (bufs);
}

static void test_out_of_order_structured (void) { out_of_order (true, 4096); }
static void test_out_of_order_simple (void) { out_of_order (false, 4096); }
static void test_out_of_order_big_reads (void) { out_of_order (true, 128 * 1024); }

static void
test_direction (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  unsigned dir;

  /* Created: no fd, nothing to wait for. */
  CU_ASSERT_EQUAL (nbd_aio_get_fd (h), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT_EQUAL (nbd_aio_get_direction (h), 0);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_get_fd (h) >= 0);
  /* Ready and idle: waiting for the server to say something. */
  dir = nbd_aio_get_direction (h);
  CU_ASSERT (dir & LIBNBD_AIO_DIRECTION_READ);
  CU_ASSERT_EQUAL (dir & ~LIBNBD_AIO_DIRECTION_BOTH, 0);
  nbd_close (h);
  h_stop (&srv);
}

/* No request waits for another request's reply (libnbd sends each at
 * once).  With FIRST reads in flight on a server that takes 2 s to answer
 * each, one more read must reach the server the next time the caller
 * drives the handle (nbd_poll, or its own loop: get_direction, poll,
 * notify), and so before any reply could have come back.  The server is
 * reached through a byte-counting relay, so the test sees what was sent. */
static void
no_request_waits (enum driver d)
{
  enum { FIRST = 20 };
  struct h_server srv;
  struct h_relay *relay = NULL;
  struct nbd_handle *h;
  static struct cmd c[FIRST + 1];
  static char buf[FIRST + 1][512];
  struct sockaddr_un sun;
  uint64_t before, after;
  int sfd, cfd, polls = 0;

  if (!h_nbdkit_has_filter ("delay")) {
    h_skip ("no_request_waits", "nbdkit delay filter missing");
    return;
  }
  memset (c, 0, sizeof c);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=delay", "memory", "1M",
                                       "delay-read=2", NULL), 0);
  CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, srv.sock), 0);
  sfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CU_ASSERT_FATAL (sfd >= 0);
  CU_ASSERT_EQUAL_FATAL (connect (sfd, (struct sockaddr *) &sun, sizeof sun), 0);
  relay = h_relay_start (sfd, &cfd);
  CU_ASSERT_PTR_NOT_NULL_FATAL (relay);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_socket (h, cfd));

  for (int i = 0; i < FIRST; i++) {
    c[i].ret = 1;
    CU_ASSERT (nbd_aio_pread (h, buf[i], 512, (uint64_t) i * 512, cb (&c[i]), 0) > 0);
  }
  CU_ASSERT_NOT_EQUAL (d == DRIVE_NBD_POLL ? nbd_poll (h, 100) : own_poll_once (h, 100), -1);
  before = h_relay_sent (relay);

  c[FIRST].ret = 1;
  CU_ASSERT (nbd_aio_pread (h, buf[FIRST], 512, 0, cb (&c[FIRST]), 0) > 0);
  CU_ASSERT_NOT_EQUAL (d == DRIVE_NBD_POLL ? nbd_poll (h, 100) : own_poll_once (h, 100), -1);
  after = h_relay_sent (relay);
  /* One more request header went out, while no reply has arrived. */
  CU_ASSERT_EQUAL (after - before, 28);
  for (int i = 0; i <= FIRST; i++)
    CU_ASSERT_EQUAL (c[i].completions, 0);

  while (nbd_aio_in_flight (h) > 0 && polls++ < 1000)
    CU_ASSERT_NOT_EQUAL_FATAL (drive (h, d), -1);
  for (int i = 0; i <= FIRST; i++) {
    CU_ASSERT_EQUAL (c[i].completions, 1);
    CU_ASSERT_EQUAL (c[i].error, 0);
    CU_ASSERT_EQUAL (c[i].frees, 1);
  }
  nbd_close (h);
  h_relay_stop (relay);
  h_stop (&srv);
}

static void test_no_request_waits_nbd_poll (void) { no_request_waits (DRIVE_NBD_POLL); }
static void test_no_request_waits_own_poll (void) { no_request_waits (DRIVE_OWN_POLL); }

static void
test_completion_error_value (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c = { .ret = 0 };   /* retire by call */
  char buf[512];
  int64_t ck;

  /* A read failing on the server: the callback sees the errno. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=error", "memory",
                                       "1M", "error-pread=EIO",
                                       "error-pread-rate=100%", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  ck = nbd_aio_pread (h, buf, sizeof buf, 0, cb (&c), 0);
  CU_ASSERT_FATAL (ck > 0);
  while (c.completions == 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT_EQUAL (c.error, EIO);
  CU_ASSERT_EQUAL (nbd_aio_peek_command_completed (h), ck);
  CU_ASSERT_EQUAL (nbd_aio_command_completed (h, ck), -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), EIO);
  CU_ASSERT_EQUAL (c.frees, 1);
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

/* "Libnbd will call [the free] function when the callback will not be
 * called again by libnbd, including in the case where the API fails." */
static int
chunk_never (void *user_data, const void *subbuf, size_t count,
             uint64_t offset, unsigned status, int *error)
{
  struct cmd *c = user_data;
  c->completions++;
  return 0;
}

static void
test_free_on_api_failure (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  struct cmd c = { 0 }, k = { 0 };
  char buf[512];

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  /* Wrong state. */
  CU_ASSERT_EQUAL (nbd_aio_pread (h, buf, sizeof buf, 0, cb (&c), 0), -1);
  CU_ASSERT_EQUAL (c.completions, 0);
  CU_ASSERT_EQUAL (c.frees, 1);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  /* Bad flags, out of range, both callbacks of pread_structured. */
  memset (&c, 0, sizeof c);
  CU_ASSERT_EQUAL (nbd_aio_pread (h, buf, sizeof buf, 0, cb (&c), 0xff), -1);
  CU_ASSERT_EQUAL (c.frees, 1);
  memset (&c, 0, sizeof c);
  CU_ASSERT_EQUAL (nbd_aio_pread (h, buf, sizeof buf, 1 << 20, cb (&c), 0),
                   -1);
  CU_ASSERT_EQUAL (c.frees, 1);
  CU_ASSERT_EQUAL (c.completions, 0);
  memset (&c, 0, sizeof c);
  CU_ASSERT_EQUAL (nbd_aio_pread_structured (h, buf, sizeof buf, 1 << 20,
                                             (nbd_chunk_callback) {
                                               .callback = chunk_never,
                                               .user_data = &k,
                                               .free = free_cb },
                                             cb (&c), 0), -1);
  CU_ASSERT_EQUAL (c.frees, 1);
  CU_ASSERT_EQUAL (k.frees, 1);
  CU_ASSERT_EQUAL (k.completions, 0);
  /* A sync call with a chunk callback that fails validation. */
  memset (&k, 0, sizeof k);
  CU_ASSERT_EQUAL (nbd_pread_structured (h, buf, sizeof buf, 0,
                                         (nbd_chunk_callback) {
                                           .callback = chunk_never,
                                           .user_data = &k,
                                           .free = free_cb }, 0xff), -1);
  CU_ASSERT_EQUAL (k.frees, 1);
  CU_ASSERT_EQUAL (k.completions, 0);
  /* And after success, freed exactly once too. */
  memset (&k, 0, sizeof k);
  H_ASSERT_OK (nbd_pread_structured (h, buf, sizeof buf, 0,
                                     (nbd_chunk_callback) {
                                       .callback = chunk_never,
                                       .user_data = &k,
                                       .free = free_cb }, 0));
  CU_ASSERT (k.completions >= 1);
  CU_ASSERT_EQUAL (k.frees, 1);
  nbd_close (h);
  CU_ASSERT_EQUAL (k.frees, 1);
  h_stop (&srv);
}

static void
test_close_with_in_flight (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c[N];
  static char buf[N][4096];
  int fds0;

  memset (c, 0, sizeof c);
  /* Slow server: every read takes 2 s, so nothing completes before close. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=delay", "memory",
                                       "1M", "rdelay=2", NULL), 0);
  fds0 = h_count_fds ();
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  for (int i = 0; i < N; i++) {
    c[i].ret = 1;
    c[i].cookie = nbd_aio_pread (h, buf[i], sizeof buf[i], i * 4096,
                                 cb (&c[i]), 0);
    CU_ASSERT (c[i].cookie > 0);
  }
  /* Push the requests out (does not wait for replies). */
  CU_ASSERT_NOT_EQUAL (nbd_poll (h, 0), -1);
  CU_ASSERT (nbd_aio_in_flight (h) > 0);
  nbd_close (h);
  for (int i = 0; i < N; i++) {
    CU_ASSERT_EQUAL (c[i].frees, 1);
    CU_ASSERT (c[i].completions <= 1);
  }
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
  h_stop (&srv);
}

static void
test_shutdown (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c[8];
  static char w[8][4096];
  char r[4096];

  memset (c, 0, sizeof c);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  for (int i = 0; i < 8; i++) {
    h_fill (w[i], sizeof w[i], 200 + i);
    c[i].ret = 1;
    c[i].cookie = nbd_aio_pwrite (h, w[i], sizeof w[i], i * 4096,
                                  cb (&c[i]), 0);
    CU_ASSERT (c[i].cookie > 0);
  }
  /* shutdown without ABANDON_PENDING: queued commands are still sent
   * and their replies awaited before the handle is closed. */
  H_ASSERT_OK (nbd_shutdown (h, 0));
  CU_ASSERT (nbd_aio_is_closed (h));
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  /* The disconnect goes out right behind the writes; a server may strand
   * commands in flight at that point, which libnbd reports as ENOTCONN
   * (see nbd_aio_in_flight(3)), and nbdkit may answer commands it sees
   * after the disconnect with ESHUTDOWN.  Every command completes once. */
  for (int i = 0; i < 8; i++) {
    if (c[i].completions != 1 ||
        (c[i].error != 0 && c[i].error != ENOTCONN &&
         c[i].error != ESHUTDOWN))
      fprintf (stderr, "\n  write %d: completions=%d error=%d (%s)\n", i,
               c[i].completions, c[i].error, strerror (c[i].error));
    CU_ASSERT_EQUAL (c[i].completions, 1);
    CU_ASSERT (c[i].error == 0 || c[i].error == ENOTCONN ||
               c[i].error == ESHUTDOWN);
    CU_ASSERT_EQUAL (c[i].frees, 1);
  }
  /* After shutdown: commands refused, shutdown again refused. */
  H_ASSERT_ERR (nbd_pread (h, r, sizeof r, 0, 0), EINVAL);
  nbd_close (h);

  /* The writes reached the server. */
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  for (int i = 0; i < 8; i++) {
    H_ASSERT_OK (nbd_pread (h, r, sizeof r, i * 4096, 0));
    if (c[i].error == 0)        /* acknowledged => really written */
      CU_ASSERT (memcmp (r, w[i], sizeof r) == 0);
  }
  /* Unknown shutdown flags. */
  H_ASSERT_ERR (nbd_shutdown (h, 0x1), EINVAL);
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_shutdown (h, LIBNBD_SHUTDOWN_ABANDON_PENDING));
  CU_ASSERT (nbd_aio_is_closed (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_aio_disconnect (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c = { .ret = 1 };
  char buf[4096];
  int64_t ck;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  ck = nbd_aio_pread (h, buf, sizeof buf, 0, cb (&c), 0);
  CU_ASSERT (ck > 0);
  H_ASSERT_OK (nbd_aio_disconnect (h, 0));
  /* No new commands after a disconnect was requested. */
  CU_ASSERT_EQUAL (nbd_aio_pread (h, buf, sizeof buf, 0,
                                  NBD_NULL_COMPLETION, 0), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  H_ASSERT_ERR (nbd_aio_disconnect (h, 0), EINVAL);
  while (!nbd_aio_is_closed (h) && !nbd_aio_is_dead (h))
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT (nbd_aio_is_closed (h));
  /* The command issued before the disconnect completed (normally, or
   * stranded by the server: ENOTCONN, see nbd_aio_in_flight(3); or
   * refused by nbdkit as it shuts down: ESHUTDOWN). */
  CU_ASSERT_EQUAL (c.completions, 1);
  if (c.error != 0 && c.error != ENOTCONN && c.error != ESHUTDOWN)
    fprintf (stderr, "\n  pread before disconnect: error %d\n", c.error);
  CU_ASSERT (c.error == 0 || c.error == ENOTCONN || c.error == ESHUTDOWN);
  CU_ASSERT_EQUAL (c.frees, 1);
  nbd_close (h);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_aio") == -1)
    return 2;
  s = h_add_suite ("aio");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_many_in_flight_nbd_poll);
  H_ADD_TEST (s, test_many_in_flight_own_poll);
  H_ADD_TEST (s, test_lots_in_flight);
  H_ADD_TEST (s, test_out_of_order_structured);
  H_ADD_TEST (s, test_out_of_order_simple);
  H_ADD_TEST (s, test_out_of_order_big_reads);
  H_ADD_TEST (s, test_direction);
  H_ADD_TEST (s, test_no_request_waits_nbd_poll);
  H_ADD_TEST (s, test_no_request_waits_own_poll);
  H_ADD_TEST (s, test_completion_error_value);
  H_ADD_TEST (s, test_free_on_api_failure);
  H_ADD_TEST (s, test_close_with_in_flight);
  H_ADD_TEST (s, test_shutdown);
  H_ADD_TEST (s, test_aio_disconnect);
  return h_run_all ();
}
