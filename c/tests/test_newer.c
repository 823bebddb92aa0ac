/* test_newer.c: the calls from libnbd releases after 1.14 that our library
 * also offers.  Built against the system libnbd 1.14 it only reports a
 * skip, since those calls do not exist there. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libnbd.h>

#include "harness.h"

#if defined (LIBNBD_HAVE_NBD_STATS_BYTES_SENT) && defined (LIBNBD_HAVE_NBD_IS_URI)

static void
test_stats (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char buf[4096];
  uint64_t bs, br, cs, cr;

  memset (buf, 0x5a, sizeof buf);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_stats_bytes_sent (h), 0);
  CU_ASSERT_EQUAL (nbd_stats_chunks_received (h), 0);
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  bs = nbd_stats_bytes_sent (h);
  br = nbd_stats_bytes_received (h);
  cs = nbd_stats_chunks_sent (h);
  cr = nbd_stats_chunks_received (h);
  /* Handshake: at least the client flags and two options went out, and
   * the greeting plus their replies came back. */
  CU_ASSERT (bs >= 4 + 2 * 16);
  CU_ASSERT (br >= 18 + 2 * 20);
  CU_ASSERT (cs >= 2);
  CU_ASSERT (cr >= 2);
  H_ASSERT_OK (nbd_pwrite (h, buf, sizeof buf, 0, 0));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  /* One write request with its payload, one read request. */
  CU_ASSERT_EQUAL (nbd_stats_bytes_sent (h) - bs, 2 * 28 + sizeof buf);
  CU_ASSERT_EQUAL (nbd_stats_chunks_sent (h) - cs, 2);
  CU_ASSERT (nbd_stats_bytes_received (h) - br >= sizeof buf + 16);
  CU_ASSERT (nbd_stats_chunks_received (h) - cr >= 2);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_small_calls (void)
{
  struct nbd_handle *h = nbd_create ();
  char *s;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_supports_vsock (h), 1);
  CU_ASSERT_EQUAL (nbd_is_uri (h, "nbd+unix:///?socket=/tmp/x"), 1);
  CU_ASSERT_EQUAL (nbd_is_uri (h, "nbd://example.com/disk"), 1);
  CU_ASSERT_EQUAL (nbd_is_uri (h, "http://example.com/"), 0);
  CU_ASSERT_EQUAL (nbd_is_uri (h, "not a uri"), 0);
  CU_ASSERT_EQUAL (nbd_get_request_meta_context (h), 1);
  H_ASSERT_OK (nbd_set_request_meta_context (h, false));
  CU_ASSERT_EQUAL (nbd_get_request_meta_context (h), 0);
  s = nbd_get_socket_activation_name (h);
  CU_ASSERT (s && strcmp (s, "") == 0);
  free (s);
  H_ASSERT_OK (nbd_set_socket_activation_name (h, "disk0"));
  s = nbd_get_socket_activation_name (h);
  CU_ASSERT (s && strcmp (s, "disk0") == 0);
  free (s);
  H_ASSERT_ERR (nbd_set_socket_activation_name (h, "bad:name"), EINVAL);
  H_ASSERT_ERR (nbd_get_subprocess_pid (h), ESRCH);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_get_subprocess_pid: "));
  nbd_close (h);
}

static void
test_request_meta_context_off (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK (nbd_set_request_meta_context (h, false));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  /* The context was added but, as asked, never negotiated. */
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_subprocess_pid_and_poll2 (void)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M", NULL };
  struct nbd_handle *h = nbd_create ();
  int pipefd[2];
  int64_t pid;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  pid = nbd_get_subprocess_pid (h);
  CU_ASSERT (pid > 0);
  CU_ASSERT_EQUAL (kill ((pid_t) pid, 0), 0);

  /* poll2 returns when the extra fd is readable, even with nothing due
   * on the connection. */
  CU_ASSERT_EQUAL_FATAL (pipe (pipefd), 0);
  CU_ASSERT_EQUAL (nbd_poll2 (h, pipefd[0], 0), 0);
  CU_ASSERT_EQUAL (write (pipefd[1], "x", 1), 1);
  CU_ASSERT_EQUAL (nbd_poll2 (h, pipefd[0], 5000), 1);
  CU_ASSERT (nbd_aio_is_ready (h));
  close (pipefd[0]);
  close (pipefd[1]);
  nbd_close (h);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_newer") == -1)
    return EXIT_FAILURE;
  s = h_add_suite ("newer");
  if (!s) return h_cunit_fail ();
  H_ADD_TEST (s, test_stats);
  H_ADD_TEST (s, test_small_calls);
  H_ADD_TEST (s, test_request_meta_context_off);
  H_ADD_TEST (s, test_subprocess_pid_and_poll2);
  return h_run_all ();
}

#else

int
main (void)
{
  printf ("SKIP: test_newer: this libnbd lacks the post-1.14 calls\n");
  return 0;
}

#endif
