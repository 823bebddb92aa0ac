/* libnbd's documented call behaviour, each case as a user meets it; the
 * same source runs against our library and the system libnbd
 * (make check-ctests / check-ctests-system), so each expectation is one
 * both libraries meet:
 *  - NULL pointer arguments are EFAULT; a closure is absent only when both
 *    .callback and .free are NULL, and every .free runs exactly once;
 *  - errno precedence: state before flags;
 *  - trim and zero past the end are ENOSPC (like writes), cache EINVAL;
 *  - nbd_aio_is_connecting stays true while an nbd_aio_opt_* call waits
 *    for its reply, so "poll until not connecting" works;
 *  - a server that closes cleanly after its last reply leaves the handle
 *    closed and nbd_poll returns normally;
 *  - nbd_get_uri after nbd_aio_connect to an IP address and after socket
 *    activation; EINVAL after nbd_connect_command;
 *  - nbd_close does not wait for a socket-activated server;
 *  - a URI naming a local file (tls-psk-file) is EPERM unless
 *    nbd_set_uri_allow_local_file allowed it;
 *  - nbd_set_debug traces every call's entry and exit with its name. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

static int frees;
static void count_free (void *p) { frees++; }

static int
extent_cb (void *ud, const char *ctx, uint64_t off, uint32_t *e, size_t n, int *err)
{
  return 0;
}

/* Keeps the compiler from seeing the NULL (the header marks these
 * arguments nonnull). */
static void *volatile null_ptr;

static void
test_null_and_closures (void)
{
  struct nbd_handle *h = nbd_create ();
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  char buf[512];
  int64_t ck;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_set_export_name (h, null_ptr), EFAULT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_set_export_name: "));
  H_ASSERT_ERR (nbd_add_meta_context (h, null_ptr), EFAULT);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_ERR (nbd_pwrite (h, null_ptr, sizeof buf, 0, 0), EFAULT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pwrite: "));
#ifndef AGAINST_SYSTEM_LIBNBD
  /* libnbd zeroes a read buffer before it checks it, so a NULL one
   * crashes there; ours checks first. */
  H_ASSERT_ERR (nbd_pread (h, null_ptr, sizeof buf, 0, 0), EFAULT);
#endif

  /* A required closure that is entirely absent is EFAULT. */
  H_ASSERT_ERR (nbd_block_status (h, 512, 0, (nbd_extent_callback) { .callback = NULL }, 0),
                EFAULT);
  /* With only .free set it is present: the call goes ahead, and .free
   * runs once. */
  frees = 0;
  H_ASSERT_OK (nbd_block_status (h, 512, 0,
                                 (nbd_extent_callback) { .callback = extent_cb, .free = count_free },
                                 0));
  CU_ASSERT_EQUAL (frees, 1);
  /* An optional completion with only .free: the command runs, .free runs
   * once when it retires. */
  frees = 0;
  ck = nbd_aio_flush (h, (nbd_completion_callback) { .callback = NULL, .free = count_free }, 0);
  CU_ASSERT (ck > 0);
  while (nbd_aio_in_flight (h) > 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT_EQUAL (nbd_aio_command_completed (h, ck), 1);
  CU_ASSERT_EQUAL (frees, 1);
  /* Refused for its state: .free still runs once. */
  frees = 0;
  H_ASSERT_ERR (nbd_aio_opt_go (h, (nbd_completion_callback) { .callback = NULL, .free = count_free }),
                EINVAL);
  CU_ASSERT_EQUAL (frees, 1);
  nbd_close (h);
}

static void
test_errno_precedence (void)
{
  struct nbd_handle *h = nbd_create ();
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  char buf[512];

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  /* Not connected yet: the state error wins over the bad flag. */
  H_ASSERT_ERR (nbd_shutdown (h, 0x1234), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_shutdown: "));
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0x1234), ENOTCONN);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_ERR (nbd_set_tls (h, 99), EINVAL);      /* state (connected) */
  CU_ASSERT (strstr (nbd_get_error (), "invalid state") != NULL);
  /* Past the end: writes, trims and zeroes are ENOSPC, cache EINVAL. */
  H_ASSERT_ERR (nbd_pwrite (h, buf, sizeof buf, 1024 * 1024, 0), ENOSPC);
  H_ASSERT_ERR (nbd_trim (h, 1024, 1024 * 1024, 0), ENOSPC);
  H_ASSERT_ERR (nbd_zero (h, 1024, 1024 * 1024, 0), ENOSPC);
  H_ASSERT_ERR (nbd_cache (h, 1024, 1024 * 1024, 0), EINVAL);
  H_ASSERT_OK (nbd_shutdown (h, 0));
  /* Shut down: EINVAL, not ENOTCONN (the handle did connect). */
  H_ASSERT_ERR (nbd_shutdown (h, 0), EINVAL);
  nbd_close (h);
}

static int opt_done;
static int
opt_cb (void *ud, int *error)
{
  opt_done++;
  return 1;
}

static void
test_connecting_while_option_runs (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  int polls = 0;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_negotiating (h));
  opt_done = 0;
  H_ASSERT_OK (nbd_aio_opt_info (h, (nbd_completion_callback) { .callback = opt_cb }));
  /* The documented loop: poll while connecting.  (libnbd may already have
   * read a quick reply within the call itself.) */
  CU_ASSERT (opt_done == 1 || nbd_aio_is_connecting (h));
  CU_ASSERT (opt_done == 1 || !nbd_aio_is_negotiating (h));
  while (nbd_aio_is_connecting (h) && polls++ < 100)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT_EQUAL (opt_done, 1);
  CU_ASSERT (nbd_aio_is_negotiating (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  H_ASSERT_OK (nbd_aio_opt_go (h, NBD_NULL_COMPLETION));
  CU_ASSERT (nbd_aio_is_connecting (h) || nbd_aio_is_ready (h));
  while (nbd_aio_is_connecting (h) && polls++ < 200)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_clean_close_after_last_reply (void)
{
  char *argv[] = { "python3", BADSERVER_PY, "--scenario", "close-after-reply", "-s", NULL };
  struct nbd_handle *h = nbd_create ();
  char buf[512];
  int i, r = 0;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  /* Nothing is in flight when the server closes: the handle is closed,
   * not dead, and nbd_poll reports no error. */
  for (i = 0; i < 100 && !nbd_aio_is_closed (h) && !nbd_aio_is_dead (h); i++) {
    r = nbd_poll (h, 5000);
    if (r == -1) {
      fprintf (stderr, "\n  nbd_poll: %s\n", nbd_get_error ());
      break;
    }
  }
  CU_ASSERT_NOT_EQUAL (r, -1);
  CU_ASSERT (nbd_aio_is_closed (h));
  nbd_close (h);
}

static void
test_get_uri_forms (void)
{
  struct nbd_handle *h;
  struct sockaddr_in sin = { .sin_family = AF_INET };
  char *argv[] = { "nbdkit", "--exit-with-parent", "memory", "1M", NULL };
  char *argv_s[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  char expect[64], *u;
  struct timespec t0, t1;
  int port = h_free_port ();
  struct h_server srv;

  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  sin.sin_port = htons (srv.port);
  inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
  H_ASSERT_OK_FATAL (nbd_aio_connect (h, (struct sockaddr *) &sin, sizeof sin));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  u = nbd_get_uri (h);
  snprintf (expect, sizeof expect, "nbd://127.0.0.1:%d/", srv.port);
  CU_ASSERT_PTR_NOT_NULL (u);
  if (u) CU_ASSERT_STRING_EQUAL (u, expect);
  free (u);
  nbd_close (h);
  h_stop (&srv);
  (void) port;

  /* Socket activation: a Unix socket URI; and closing does not wait for
   * the server, which would serve more clients if left alone. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_systemd_socket_activation (h, argv));
  u = nbd_get_uri (h);
  CU_ASSERT_PTR_NOT_NULL (u);
  if (u) CU_ASSERT (h_has_prefix (u, "nbd+unix:///?socket="));
  free (u);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  nbd_close (h);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  CU_ASSERT ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);

  /* A command's socketpair has no URI: EINVAL. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv_s));
  CU_ASSERT_PTR_NULL (nbd_get_uri (h));
  CU_ASSERT_EQUAL (nbd_get_errno (), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_get_uri: "));
  nbd_close (h);
}

#ifndef AGAINST_SYSTEM_LIBNBD
/* Ours refuses a descriptor that is not a socket before taking it, so the
 * caller still owns it (libnbd takes it and fails in the handshake). */
static void
test_connect_socket_not_a_socket (void)
{
  struct nbd_handle *h = nbd_create ();
  int fd = open ("/dev/null", O_RDWR | O_CLOEXEC);

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_FATAL (fd >= 0);
  H_ASSERT_ERR (nbd_connect_socket (h, fd), ENOTSOCK);
  CU_ASSERT (nbd_aio_is_created (h));
  CU_ASSERT (h_fd_is_open (fd));
  nbd_close (h);
  CU_ASSERT (h_fd_is_open (fd));
  close (fd);
}
#endif

static void
test_uri_local_file (void)
{
  const char *uri = "nbd+unix:///?socket=/nonexistent/sock&tls-psk-file=/etc/passwd";
  struct nbd_handle *h = nbd_create ();

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_connect_uri (h, uri), EPERM);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_uri: "));
  CU_ASSERT (nbd_aio_is_created (h));
  nbd_close (h);
  /* Allowed: the URI is used (and fails only because nothing listens). */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_uri_allow_local_file (h, true));
  CU_ASSERT_EQUAL (nbd_connect_uri (h, uri), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), EPERM);
  nbd_close (h);
}

struct trace { int enter_size, leave_size, enter_pread, leave_pread; };

static int
debug_cb (void *ud, const char *context, const char *msg)
{
  struct trace *t = ud;
  if (strcmp (context, "nbd_get_size") == 0) {
    if (h_has_prefix (msg, "enter")) t->enter_size++;
    if (h_has_prefix (msg, "leave")) t->leave_size++;
  }
  if (strcmp (context, "nbd_pread") == 0) {
    /* The arguments are named on entry. */
    if (h_has_prefix (msg, "enter") && strstr (msg, "count=512") && strstr (msg, "offset=4096"))
      t->enter_pread++;
    if (h_has_prefix (msg, "leave")) t->leave_pread++;
  }
  return 0;
}

static void
test_debug_traces_calls (void)
{
  struct nbd_handle *h = nbd_create ();
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  struct trace t = { 0 };
  char buf[512];

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) { .callback = debug_cb, .user_data = &t }));
  H_ASSERT_OK (nbd_set_debug (h, true));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 4096, 0));
  H_ASSERT_OK (nbd_set_debug (h, false));
  CU_ASSERT_EQUAL (t.enter_size, 1);
  CU_ASSERT_EQUAL (t.leave_size, 1);
  CU_ASSERT_EQUAL (t.enter_pread, 1);
  CU_ASSERT_EQUAL (t.leave_pread, 1);
  nbd_close (h);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_behaviour") == -1)
    return EXIT_FAILURE;
  s = h_add_suite ("behaviour");
  if (!s) return h_cunit_fail ();
  H_ADD_TEST (s, test_null_and_closures);
  H_ADD_TEST (s, test_errno_precedence);
  H_ADD_TEST (s, test_connecting_while_option_runs);
  H_ADD_TEST (s, test_clean_close_after_last_reply);
  H_ADD_TEST (s, test_get_uri_forms);
  H_ADD_TEST (s, test_uri_local_file);
#ifndef AGAINST_SYSTEM_LIBNBD
  H_ADD_TEST (s, test_connect_socket_not_a_socket);
#endif
  H_ADD_TEST (s, test_debug_traces_calls);
  return h_run_all ();
}
