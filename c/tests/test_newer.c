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

#if defined (LIBNBD_HAVE_NBD_STATS_BYTES_SENT) && defined (LIBNBD_HAVE_NBD_IS_URI) && \
    defined (LIBNBD_HAVE_NBD_BLOCK_STATUS_64) && defined (LIBNBD_HAVE_NBD_OPT_STRUCTURED_REPLY)

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

/* Extents seen through the 32-bit and the 64-bit callbacks. */
struct ext { int calls, frees; uint64_t total; uint64_t len[64], flags[64]; size_t n; };

static int
ext32_cb (void *ud, const char *ctx, uint64_t off, uint32_t *e, size_t n, int *err)
{
  struct ext *x = ud;
  x->calls++;
  for (size_t i = 0; i + 1 < n && x->n < 64; i += 2, x->n++) {
    x->len[x->n] = e[i]; x->flags[x->n] = e[i + 1]; x->total += e[i];
  }
  return 0;
}

static int
ext64_cb (void *ud, const char *ctx, uint64_t off, nbd_extent *e, size_t n, int *err)
{
  struct ext *x = ud;
  x->calls++;
  CU_ASSERT_STRING_EQUAL (ctx, LIBNBD_CONTEXT_BASE_ALLOCATION);
  for (size_t i = 0; i < n && x->n < 64; i++, x->n++) {
    x->len[x->n] = e[i].length; x->flags[x->n] = e[i].flags; x->total += e[i].length;
  }
  return 0;
}

static void
ext_free (void *ud)
{
  ((struct ext *) ud)->frees++;
}

/* libnbd 1.18's calls: block status with 64-bit extents reports what the
 * 32-bit call reports (the server's extents are 32-bit without extended
 * headers, which are turned off here; test_extended covers them). */
static void
test_block_status_64 (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct ext a = { 0 }, b = { 0 }, c = { 0 };
  char buf[65536];
  int64_t ck;

  memset (buf, 0x5a, sizeof buf);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_request_extended_headers (h), 1);
  H_ASSERT_OK (nbd_set_request_extended_headers (h, false));
  CU_ASSERT_EQUAL (nbd_get_request_extended_headers (h), 0);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 0);
  CU_ASSERT_EQUAL (nbd_can_block_status_payload (h), 0);
  H_ASSERT_OK (nbd_pwrite (h, buf, sizeof buf, 65536, 0));

  H_ASSERT_OK (nbd_block_status (h, 1024 * 1024, 0,
                                 (nbd_extent_callback) { .callback = ext32_cb, .user_data = &a }, 0));
  H_ASSERT_OK (nbd_block_status_64 (h, 1024 * 1024, 0,
                                    (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &b,
                                                              .free = ext_free }, 0));
  CU_ASSERT_EQUAL (b.calls, 1);
  CU_ASSERT_EQUAL (b.frees, 1);
  CU_ASSERT (b.n >= 2);                 /* a hole, then the written data */
  CU_ASSERT_EQUAL (a.n, b.n);
  CU_ASSERT_EQUAL (a.total, b.total);
  for (size_t i = 0; i < a.n && i < b.n; i++) {
    CU_ASSERT_EQUAL (a.len[i], b.len[i]);
    CU_ASSERT_EQUAL (a.flags[i], b.flags[i]);
  }

  ck = nbd_aio_block_status_64 (h, 1024 * 1024, 0,
                                (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &c,
                                                          .free = ext_free },
                                NBD_NULL_COMPLETION, 0);
  CU_ASSERT_FATAL (ck > 0);
  while (nbd_aio_command_completed (h, ck) == 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT_EQUAL (c.calls, 1);
  CU_ASSERT_EQUAL (c.frees, 1);
  CU_ASSERT_EQUAL (c.total, b.total);
  nbd_close (h);
  h_stop (&srv);
}

/* libnbd 1.16–1.22 option calls: structured replies asked for by hand in
 * option mode; STARTTLS refused cleanly (no TLS yet) and extended headers
 * refused by this nbdkit (false, not an error) without disturbing the
 * negotiation; the TLS hostname is kept. */
static void
test_opt_structured_reply (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *s;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  s = nbd_get_tls_hostname (h);
  CU_ASSERT_PTR_NOT_NULL (s);
  if (s) CU_ASSERT_STRING_EQUAL (s, "");
  free (s);
  H_ASSERT_OK (nbd_set_tls_hostname (h, "server.example"));
  s = nbd_get_tls_hostname (h);
  if (s) CU_ASSERT_STRING_EQUAL (s, "server.example");
  free (s);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_set_request_structured_replies (h, false));
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 0);

  /* This server has no TLS: the refusal is the answer false (test_tls.c
   * has servers that agree). */
  CU_ASSERT_EQUAL (nbd_opt_starttls (h), 0);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
  /* libnbd 1.22: the largest payload this library sends: 64 MiB here,
   * as nbdkit's memory plugin announces no maximum. */
#ifdef LIBNBD_SIZE_PAYLOAD
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_PAYLOAD), -1);   /* no export info yet */
#endif
  /* nbdkit 1.32 does not know NBD_OPT_EXTENDED_HEADERS: an answer. */
  CU_ASSERT_EQUAL (nbd_opt_extended_headers (h), 0);
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 0);
  CU_ASSERT (nbd_aio_is_negotiating (h));

  CU_ASSERT_EQUAL (nbd_opt_structured_reply (h), 1);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  CU_ASSERT (nbd_aio_is_negotiating (h));
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT (nbd_aio_is_ready (h));
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
#ifdef LIBNBD_SIZE_PAYLOAD
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_PAYLOAD), 64 * 1024 * 1024);
#endif
  nbd_close (h);
  h_stop (&srv);
}

static int
ctx_cb (void *ud, const char *name)
{
  int *n = ud;
  if (strcmp (name, LIBNBD_CONTEXT_BASE_ALLOCATION) == 0)
    (*n)++;
  return 0;
}

/* libnbd 1.16's meta context calls with explicit queries, and
 * SET_META_CONTEXT by hand: the contexts it agrees stay for nbd_opt_go when
 * nbd_set_request_meta_context is off. */
static void
test_opt_meta_context_queries (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *base[] = { "base:", NULL };
  char *alloc[] = { LIBNBD_CONTEXT_BASE_ALLOCATION, NULL };
  int seen = 0;
  char buf[512];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_set_request_meta_context (h, false));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_opt_list_meta_context_queries (h, base,
               (nbd_context_callback) { .callback = ctx_cb, .user_data = &seen }) >= 1);
  CU_ASSERT_EQUAL (seen, 1);
  CU_ASSERT_EQUAL (nbd_get_nr_meta_contexts (h), 0);   /* the list is left alone */
  seen = 0;
  CU_ASSERT_EQUAL (nbd_opt_set_meta_context_queries (h, alloc,
                     (nbd_context_callback) { .callback = ctx_cb, .user_data = &seen }), 1);
  CU_ASSERT_EQUAL (seen, 1);
  CU_ASSERT (nbd_aio_is_negotiating (h));
  /* Nothing added with nbd_add_meta_context: the implicit list is empty. */
  seen = 0;
  CU_ASSERT_EQUAL (nbd_opt_set_meta_context (h,
                     (nbd_context_callback) { .callback = ctx_cb, .user_data = &seen }), 0);
  CU_ASSERT_EQUAL (seen, 0);
  CU_ASSERT_EQUAL (nbd_opt_set_meta_context_queries (h, alloc,
                     (nbd_context_callback) { .callback = ctx_cb, .user_data = &seen }), 1);
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 1);
  {
    struct ext e = { 0 };
    H_ASSERT_OK (nbd_block_status (h, sizeof buf, 0,
                                   (nbd_extent_callback) { .callback = ext32_cb, .user_data = &e }, 0));
    CU_ASSERT_EQUAL (e.calls, 1);
  }
  nbd_close (h);
  h_stop (&srv);
}

/* libnbd 1.16's rule: in option mode, changing the export name forgets
 * what the server said about the previous export until the next
 * nbd_opt_info or nbd_opt_go. */
static void
test_export_name_change_forgets (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *alloc[] = { LIBNBD_CONTEXT_BASE_ALLOCATION, NULL };
  int seen = 0;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_set_request_meta_context (h, false));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  H_ASSERT_OK (nbd_opt_info (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  CU_ASSERT_EQUAL (nbd_opt_set_meta_context_queries (h, alloc,
                     (nbd_context_callback) { .callback = ctx_cb, .user_data = &seen }), 1);
  H_ASSERT_OK (nbd_set_export_name (h, "other"));
  H_ASSERT_ERR (nbd_get_size (h), EINVAL);
  H_ASSERT_OK (nbd_opt_info (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  /* The contexts agreed for the previous name are gone too. */
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION), 0);
  nbd_close (h);
  h_stop (&srv);
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
  H_ADD_TEST (s, test_block_status_64);
  H_ADD_TEST (s, test_opt_structured_reply);
  H_ADD_TEST (s, test_opt_meta_context_queries);
  H_ADD_TEST (s, test_export_name_change_forgets);
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
