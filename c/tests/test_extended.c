/* test_extended.c: extended headers against a real server that speaks
 * them.  Debian 12's qemu-nbd 7.2 and nbdkit 1.32 do not; qemu-nbd 10
 * from bookworm-backports does.  `make qemu-nbd-ext` unpacks it into
 * build/qemu-ext (see c/tests/tests.mk); NBD_TEST_QEMU_NBD_EXT names
 * another binary.  Without that binary every test here prints a SKIP line
 * and passes; with it, extended headers must be negotiated.
 *
 * The export is a sparse 16 GiB raw file, so that zero, trim and block
 * status can cover more than 4 GiB in one request (64-bit effect
 * lengths), and the server reports holes longer than 4 GiB. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libnbd.h>

#include "harness.h"

#if defined (LIBNBD_HAVE_NBD_BLOCK_STATUS_FILTER) && defined (LIBNBD_HAVE_NBD_OPT_EXTENDED_HEADERS)

#ifndef QEMU_NBD_EXT
#define QEMU_NBD_EXT "qemu-nbd-ext-not-configured"
#endif

#define GiB (1024ULL * 1024 * 1024)
#define EXPORT_BYTES (16 * GiB)
#define DEPTH_CONTEXT "qemu:allocation-depth"

static const char *
qemu_nbd_ext (void)
{
  const char *p = getenv ("NBD_TEST_QEMU_NBD_EXT");
  return p && *p ? p : QEMU_NBD_EXT;
}

/* A qemu-nbd serving a fresh sparse EXPORT_BYTES raw file, with
 * qemu:allocation-depth as a second meta context (-A) and trims punching
 * holes (--discard=unmap).  false (after a SKIP line) when the qemu-nbd
 * is not there. */
static bool
start_server (struct h_server *srv, const char *test, char *file, size_t flen)
{
  static const char *const extra[] = { "-A", "--discard=unmap", NULL };
  char dir[256];
  int fd;

  if (access (qemu_nbd_ext (), X_OK) == -1) {
    char why[512];
    snprintf (why, sizeof why, "no qemu-nbd with extended headers at %s "
              "(run `make qemu-nbd-ext`, or set NBD_TEST_QEMU_NBD_EXT)", qemu_nbd_ext ());
    h_skip (test, why);
    return false;
  }
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (file, flen, "%s/disk.raw", dir);
  fd = open (file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_EQUAL_FATAL (ftruncate (fd, EXPORT_BYTES), 0);
  close (fd);
  CU_ASSERT_EQUAL_FATAL (h_start_qemu_nbd_bin (srv, qemu_nbd_ext (), extra, "raw", file), 0);
  return true;
}

static void
remove_file (const char *file)
{
  char dir[256];
  char *slash;

  unlink (file);
  snprintf (dir, sizeof dir, "%s", file);
  if ((slash = strrchr (dir, '/')) != NULL) {
    *slash = '\0';
    rmdir (dir);
  }
}

/* Connects with base:allocation and qemu:allocation-depth; the handshake
 * must have agreed to extended headers (NULL after a failure if not). */
static struct nbd_handle *
connect_ext (struct h_server *srv, const char *test)
{
  struct nbd_handle *h = nbd_create ();

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK (nbd_add_meta_context (h, DEPTH_CONTEXT));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv->sock));
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 1);
  if (nbd_get_extended_headers_negotiated (h) != 1) {
    fprintf (stderr, "%s: %s did not negotiate extended headers\n", test, qemu_nbd_ext ());
    nbd_close (h);
    return NULL;
  }
  return h;
}

struct extents {
  const char *only;          /* record this context only, or NULL */
  int calls, other_calls;
  size_t n;
  uint64_t len[64], flags[64];
  uint64_t total;
  int err_seen;
};

static int
ext64_cb (void *ud, const char *ctx, uint64_t offset, nbd_extent *e, size_t n, int *error)
{
  struct extents *x = ud;

  if (x->only && strcmp (ctx, x->only) != 0) {
    x->other_calls++;
    return 0;
  }
  x->calls++;
  for (size_t i = 0; i < n; i++) {
    if (x->n < 64) {
      x->len[x->n] = e[i].length;
      x->flags[x->n] = e[i].flags;
      x->n++;
    }
    x->total += e[i].length;
  }
  return 0;
}

static int
ext32_cb (void *ud, const char *ctx, uint64_t offset, uint32_t *e, size_t n, int *error)
{
  struct extents *x = ud;

  if (x->only && strcmp (ctx, x->only) != 0)
    return 0;
  x->calls++;
  x->err_seen = *error;
  for (size_t i = 0; i + 1 < n; i += 2) {
    if (x->n < 64) {
      x->len[x->n] = e[i];
      x->flags[x->n] = e[i + 1];
      x->n++;
    }
    x->total += e[i];
  }
  return 0;
}

static bool
is_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* Reads and writes across the 4 GiB boundary; zero and trim of more than
 * 4 GiB in one request. */
static void
test_ext_io_over_4g (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char file[300];
  static uint8_t buf[1 << 20], back[1 << 20];

  if (!start_server (&srv, "test_ext_io_over_4g", file, sizeof file))
    return;
  if ((h = connect_ext (&srv, "test_ext_io_over_4g")) == NULL)
    goto out;
  CU_ASSERT_EQUAL (nbd_get_size (h), (int64_t) EXPORT_BYTES);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);

  /* 1 MiB straddling 4 GiB, and data at 1, 5 and 7 GiB. */
  h_fill (buf, sizeof buf, 42);
  H_ASSERT_OK (nbd_pwrite (h, buf, sizeof buf, 4 * GiB - sizeof buf / 2, 0));
  H_ASSERT_OK (nbd_pread (h, back, sizeof back, 4 * GiB - sizeof back / 2, 0));
  CU_ASSERT (memcmp (buf, back, sizeof buf) == 0);
  H_ASSERT_OK (nbd_pwrite (h, buf, 65536, 1 * GiB, 0));
  H_ASSERT_OK (nbd_pwrite (h, buf, 65536, 5 * GiB, 0));
  H_ASSERT_OK (nbd_pwrite (h, buf, 65536, 7 * GiB, 0));

  /* One zero request of 6 GiB (a 64-bit effect length). */
  H_ASSERT_OK (nbd_zero (h, 6 * GiB, 0, 0));
  H_ASSERT_OK (nbd_pread (h, back, 65536, 1 * GiB, 0));
  CU_ASSERT (is_zero (back, 65536));
  H_ASSERT_OK (nbd_pread (h, back, 65536, 5 * GiB, 0));
  CU_ASSERT (is_zero (back, 65536));
  H_ASSERT_OK (nbd_pread (h, back, sizeof back, 4 * GiB - sizeof back / 2, 0));
  CU_ASSERT (is_zero (back, sizeof back));
  H_ASSERT_OK (nbd_pread (h, back, 65536, 7 * GiB, 0));
  CU_ASSERT (memcmp (buf, back, 65536) == 0);    /* beyond the zeroed range */

  /* One trim of 5 GiB covering 7 GiB: the data reads back as zeroes
   * (qemu-nbd punches holes in a raw file). */
  H_ASSERT_OK (nbd_trim (h, 5 * GiB, 6 * GiB, 0));
  H_ASSERT_OK (nbd_pread (h, back, 65536, 7 * GiB, 0));
  CU_ASSERT (is_zero (back, 65536));

  /* A flush and a 64-bit cache request (an advisory command). */
  H_ASSERT_OK (nbd_flush (h, 0));
  if (nbd_can_cache (h) == 1) {
    int r = nbd_cache (h, 5 * GiB, 0, 0);
    /* The server may decline so large a prefetch, but only with an error
     * reply: never a protocol problem, and the connection stays. */
    if (r == -1)
      CU_ASSERT_NOT_EQUAL (nbd_get_errno (), EPROTO);
    CU_ASSERT (nbd_aio_is_ready (h));
  }
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
 out:
  h_stop (&srv);
  remove_file (file);
}

/* Block status over more than 4 GiB: the 64-bit call sees a hole longer
 * than 4 GiB whole; the 32-bit call sees it cut below 4 GiB to a multiple
 * of the minimum block size (at least 512), as libnbd documents. */
static void
test_ext_block_status (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char file[300];
  static uint8_t buf[65536];
  struct extents a = { .only = LIBNBD_CONTEXT_BASE_ALLOCATION };
  struct extents b = { .only = LIBNBD_CONTEXT_BASE_ALLOCATION };
  uint64_t align;

  if (!start_server (&srv, "test_ext_block_status", file, sizeof file))
    return;
  if ((h = connect_ext (&srv, "test_ext_block_status")) == NULL)
    goto out;
  h_fill (buf, sizeof buf, 7);
  H_ASSERT_OK (nbd_pwrite (h, buf, sizeof buf, 14 * GiB, 0));

  /* [0, 14 GiB) is one hole: ask for 12 GiB of it in one request. */
  H_ASSERT_OK (nbd_block_status_64 (h, 12 * GiB, 0,
                                    (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &a }, 0));
  CU_ASSERT_EQUAL (a.calls, 1);
  CU_ASSERT_FATAL (a.n >= 1);
  CU_ASSERT (a.len[0] > 4 * GiB);
  CU_ASSERT_EQUAL (a.flags[0], LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);

  /* Past the hole: the written 64 KiB is data. */
  memset (&a, 0, sizeof a);
  a.only = LIBNBD_CONTEXT_BASE_ALLOCATION;
  H_ASSERT_OK (nbd_block_status_64 (h, 65536, 14 * GiB,
                                    (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &a }, 0));
  CU_ASSERT_FATAL (a.n >= 1);
  CU_ASSERT_EQUAL (a.flags[0] & LIBNBD_STATE_HOLE, 0);

  /* The same hole through the 32-bit callback. */
  align = nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM);
  if (align < 512) align = 512;
  H_ASSERT_OK (nbd_block_status (h, 12 * GiB, 0,
                                 (nbd_extent_callback) { .callback = ext32_cb, .user_data = &b }, 0));
  CU_ASSERT_EQUAL (b.calls, 1);
  CU_ASSERT_EQUAL (b.n, 1);                  /* the cut extent ends the list */
  CU_ASSERT_EQUAL (b.len[0], (1ULL << 32) - align);
  CU_ASSERT_EQUAL (b.flags[0], LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
  CU_ASSERT_EQUAL (b.err_seen, 0);

  /* REQ_ONE over 12 GiB: one extent, no longer than the request. */
  memset (&a, 0, sizeof a);
  a.only = LIBNBD_CONTEXT_BASE_ALLOCATION;
  H_ASSERT_OK (nbd_block_status_64 (h, 12 * GiB, 0,
                                    (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &a },
                                    LIBNBD_CMD_FLAG_REQ_ONE));
  CU_ASSERT_EQUAL (a.n, 1);
  CU_ASSERT (a.len[0] > 4 * GiB && a.len[0] <= 12 * GiB);
  nbd_close (h);
 out:
  h_stop (&srv);
  remove_file (file);
}

/* nbd_block_status_filter: only the contexts named answer. */
static void
test_ext_block_status_filter (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char file[300];
  char *only_depth[] = { DEPTH_CONTEXT, NULL };
  char *unknown[] = { "base:nonexistent", NULL };
  char *none[] = { NULL };
  struct extents x = { .only = DEPTH_CONTEXT };
  int64_t ck;

  if (!start_server (&srv, "test_ext_block_status_filter", file, sizeof file))
    return;
  if ((h = connect_ext (&srv, "test_ext_block_status_filter")) == NULL)
    goto out;
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, DEPTH_CONTEXT), 1);
  CU_ASSERT_EQUAL (nbd_can_block_status_payload (h), 1);
  H_ASSERT_OK (nbd_block_status_filter (h, 8 * GiB, 0, only_depth,
                                        (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &x }, 0));
  CU_ASSERT_EQUAL (x.calls, 1);
  CU_ASSERT_EQUAL (x.other_calls, 0);        /* base:allocation was filtered out */
  CU_ASSERT (x.total > 0);

  memset (&x, 0, sizeof x);
  x.only = DEPTH_CONTEXT;
  ck = nbd_aio_block_status_filter (h, GiB, 0, only_depth,
                                    (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &x },
                                    NBD_NULL_COMPLETION, 0);
  CU_ASSERT_FATAL (ck > 0);
  while (nbd_aio_command_completed (h, ck) == 0)
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  CU_ASSERT_EQUAL (x.calls, 1);
  CU_ASSERT_EQUAL (x.other_calls, 0);

  /* Refused before sending: a context that was not negotiated, none. */
  H_ASSERT_ERR (nbd_block_status_filter (h, GiB, 0, unknown,
                                         (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &x }, 0),
                EINVAL);
  H_ASSERT_ERR (nbd_block_status_filter (h, GiB, 0, none,
                                         (nbd_extent64_callback) { .callback = ext64_cb, .user_data = &x }, 0),
                EINVAL);
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
 out:
  h_stop (&srv);
  remove_file (file);
}

/* Option mode: nbd_opt_extended_headers is true, a repeat may be refused
 * (false) but extended headers stay negotiated; with
 * nbd_set_request_extended_headers off the same server gives compact
 * headers, and a 64-bit zero is then refused before sending. */
static void
test_ext_opt_mode (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char file[300];
  int r;

  if (!start_server (&srv, "test_ext_opt_mode", file, sizeof file))
    return;
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_set_request_structured_replies (h, false));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 0);
  r = nbd_opt_extended_headers (h);
  CU_ASSERT_EQUAL (r, 1);
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  r = nbd_opt_extended_headers (h);          /* redundant: either answer */
  CU_ASSERT (r == 0 || r == 1);
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 1);
  r = nbd_opt_structured_reply (h);          /* a downgrade is refused */
  CU_ASSERT (r == 0 || r == 1);
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  CU_ASSERT (nbd_aio_is_negotiating (h));
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_zero (h, 5 * GiB, 0, 0));
  nbd_close (h);

  /* Extended headers turned off: compact headers, 32-bit lengths. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_request_extended_headers (h, false));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 0);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_can_block_status_payload (h), 0);
  H_ASSERT_ERR (nbd_zero (h, 5 * GiB, 0, 0), EINVAL);
  H_ASSERT_OK (nbd_zero (h, GiB, 0, 0));
  nbd_close (h);
  h_stop (&srv);
  remove_file (file);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_extended") == -1)
    return EXIT_FAILURE;
  s = h_add_suite ("extended");
  if (!s) return h_cunit_fail ();
  H_ADD_TEST (s, test_ext_io_over_4g);
  H_ADD_TEST (s, test_ext_block_status);
  H_ADD_TEST (s, test_ext_block_status_filter);
  H_ADD_TEST (s, test_ext_opt_mode);
  return h_run_all ();
}

#else

int
main (void)
{
  printf ("SKIP: test_extended: this libnbd lacks the extended header calls\n");
  return 0;
}

#endif
