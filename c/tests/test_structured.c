/* pread_structured chunk callbacks (data and holes) and block_status
 * with base:allocation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define KiB 1024
#define MiB (1024 * 1024)

struct chunks {
  char *buf;                    /* the caller's buffer */
  uint64_t base;                /* request offset */
  size_t len;                   /* request length */
  const char *expect;           /* expected contents of the range */
  unsigned char *seen;          /* per-byte coverage counter */
  int ndata, nhole, nother, bad_ptr, bad_content, calls;
  int fail_with;                /* if non-zero: set *error and return -1 */
  int frees;
};

static int
chunk_cb (void *user_data, const void *subbuf, size_t count,
          uint64_t offset, unsigned status, int *error)
{
  struct chunks *c = user_data;

  c->calls++;
  if (c->fail_with) {
    *error = c->fail_with;
    return -1;
  }
  if (offset < c->base || offset + count > c->base + c->len ||
      (const char *) subbuf != c->buf + (offset - c->base)) {
    c->bad_ptr++;
    return 0;
  }
  for (size_t i = 0; i < count; i++)
    c->seen[offset - c->base + i]++;
  switch (status) {
  case LIBNBD_READ_DATA:
    c->ndata++;
    if (memcmp (subbuf, c->expect + (offset - c->base), count) != 0)
      c->bad_content++;
    break;
  case LIBNBD_READ_HOLE:
    c->nhole++;
    /* A hole must be zeroes in the caller's buffer and in reality. */
    for (size_t i = 0; i < count; i++)
      if (((const char *) subbuf)[i] != 0 ||
          c->expect[offset - c->base + i] != 0) {
        c->bad_content++;
        break;
      }
    break;
  default:
    c->nother++;
  }
  return 0;
}

static void
chunk_free (void *user_data)
{
  struct chunks *c = user_data;
  c->frees++;
}

static void
chunks_init (struct chunks *c, char *buf, uint64_t base, size_t len,
             const char *expect)
{
  memset (c, 0, sizeof *c);
  c->buf = buf;
  c->base = base;
  c->len = len;
  c->expect = expect;
  c->seen = calloc (len, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (c->seen);
  memset (buf, 0xaa, len);      /* holes must overwrite this */
}

static void
chunks_check_covered (struct chunks *c)
{
  size_t bad = 0;
  for (size_t i = 0; i < c->len; i++)
    if (c->seen[i] != 1)
      bad++;
  if (bad)
    fprintf (stderr, "\n  %zu bytes not covered exactly once\n", bad);
  CU_ASSERT_EQUAL (bad, 0);
  CU_ASSERT_EQUAL (c->bad_ptr, 0);
  CU_ASSERT_EQUAL (c->bad_content, 0);
  CU_ASSERT_EQUAL (c->nother, 0);
  CU_ASSERT (memcmp (c->buf, c->expect, c->len) == 0);
  free (c->seen);
  c->seen = NULL;
}

static nbd_chunk_callback
ccb (struct chunks *c)
{
  return (nbd_chunk_callback) { .callback = chunk_cb, .user_data = c,
                                .free = chunk_free };
}

static void
test_pread_structured_nbdkit (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *expect = calloc (MiB, 1), *buf = malloc (MiB);
  struct chunks c;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  h_fill (expect + 64 * KiB, 64 * KiB, 5);
  H_ASSERT_OK (nbd_pwrite (h, expect + 64 * KiB, 64 * KiB, 64 * KiB, 0));

  chunks_init (&c, buf, 0, MiB, expect);
  H_ASSERT_OK (nbd_pread_structured (h, buf, MiB, 0, ccb (&c), 0));
  CU_ASSERT (c.calls >= 1);
  chunks_check_covered (&c);
  CU_ASSERT_EQUAL (c.frees, 1);

  /* Sub-range at an odd offset, with DF: exactly one data chunk. */
  chunks_init (&c, buf, 100 * KiB + 3, 50 * KiB, expect + 100 * KiB + 3);
  H_ASSERT_OK (nbd_pread_structured (h, buf, 50 * KiB, 100 * KiB + 3,
                                     ccb (&c), LIBNBD_CMD_FLAG_DF));
  CU_ASSERT_EQUAL (c.nhole, 0);
  CU_ASSERT_EQUAL (c.ndata, 1);
  chunks_check_covered (&c);

  /* A callback returning -1 fails the command with its *error; the
   * connection survives. */
  chunks_init (&c, buf, 0, 4096, expect);
  c.fail_with = EPROTO;
  H_ASSERT_ERR (nbd_pread_structured (h, buf, 4096, 0, ccb (&c), 0), EPROTO);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread_structured: "));
  CU_ASSERT_EQUAL (c.frees, 1);
  free (c.seen);
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_pread (h, buf, 4096, 64 * KiB, 0));
  CU_ASSERT (memcmp (buf, expect + 64 * KiB, 4096) == 0);

  /* Invalid flag for pread_structured. */
  H_ASSERT_ERR (nbd_pread_structured (h, buf, 512, 0, ccb (&c),
                                      LIBNBD_CMD_FLAG_FUA), EINVAL);
  nbd_close (h);
  h_stop (&srv);
  free (expect);
  free (buf);
}

static void
test_pread_structured_holes (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char dir[256], img[300];
  char *expect = calloc (MiB, 1), *buf = malloc (MiB);
  struct chunks c;
  int fd;

  if (system ("qemu-nbd --version >/dev/null 2>&1") != 0) {
    h_skip ("test_pread_structured_holes", "qemu-nbd not installed");
    goto out;
  }
  /* A sparse 1 MiB raw image with data at [128K, 132K) and the tail. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (img, sizeof img, "%s/sparse.img", dir);
  fd = open (img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_EQUAL (ftruncate (fd, MiB), 0);
  h_fill (expect + 128 * KiB, 4 * KiB, 9);
  h_fill (expect + MiB - 64 * KiB, 64 * KiB, 10);
  CU_ASSERT_EQUAL (pwrite (fd, expect + 128 * KiB, 4 * KiB, 128 * KiB),
                   4 * KiB);
  CU_ASSERT_EQUAL (pwrite (fd, expect + MiB - 64 * KiB, 64 * KiB,
                           MiB - 64 * KiB), 64 * KiB);
  close (fd);

  if (h_start_qemu_nbd (&srv, "raw", img) == -1) {
    h_skip ("test_pread_structured_holes", "qemu-nbd did not start");
    h_rmdir (dir);
    goto out;
  }
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);

  chunks_init (&c, buf, 0, MiB, expect);
  H_ASSERT_OK (nbd_pread_structured (h, buf, MiB, 0, ccb (&c), 0));
  CU_ASSERT (c.nhole >= 1);             /* qemu-nbd reports holes */
  CU_ASSERT (c.ndata >= 1);
  chunks_check_covered (&c);
  CU_ASSERT_EQUAL (c.frees, 1);

  /* plain pread over the same range: holes read as zeroes. */
  memset (buf, 0xaa, MiB);
  H_ASSERT_OK (nbd_pread (h, buf, MiB, 0, 0));
  CU_ASSERT (memcmp (buf, expect, MiB) == 0);

  /* aio form, callback run once, freed once. */
  chunks_init (&c, buf, 64 * KiB, 128 * KiB, expect + 64 * KiB);
  {
    int64_t ck = nbd_aio_pread_structured (h, buf, 128 * KiB, 64 * KiB,
                                           ccb (&c), NBD_NULL_COMPLETION, 0);
    CU_ASSERT_FATAL (ck > 0);
    int r;
    while ((r = nbd_aio_command_completed (h, ck)) == 0)
      CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
    CU_ASSERT_EQUAL (r, 1);
  }
  CU_ASSERT (c.nhole >= 1);
  chunks_check_covered (&c);
  CU_ASSERT_EQUAL (c.frees, 1);

  /* Without structured replies: a single data callback. */
  nbd_close (h);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_request_structured_replies (h, false));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  chunks_init (&c, buf, 0, MiB, expect);
  H_ASSERT_OK (nbd_pread_structured (h, buf, MiB, 0, ccb (&c), 0));
  CU_ASSERT_EQUAL (c.ndata, 1);
  CU_ASSERT_EQUAL (c.nhole, 0);
  chunks_check_covered (&c);
  nbd_close (h);
  h_stop (&srv);
  h_rmdir (dir);
out:
  free (expect);
  free (buf);
}

/* Extents collected from a block_status call. */
struct ext {
  int calls;
  int frees;
  int wrong_ctx;
  uint64_t offset;
  uint32_t entries[512];
  size_t n;
  int fail_with;
};

static int
extent_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct ext *e = user_data;

  e->calls++;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0) {
    e->wrong_ctx++;
    return 0;
  }
  e->offset = offset;
  e->n = nr_entries < 512 ? nr_entries : 512;
  memcpy (e->entries, entries, e->n * sizeof (uint32_t));
  if (e->fail_with) {
    *error = e->fail_with;
    return -1;
  }
  return 0;
}

static void
extent_free (void *user_data)
{
  struct ext *e = user_data;
  e->frees++;
}

static nbd_extent_callback
ecb (struct ext *e)
{
  memset (e, 0, offsetof (struct ext, fail_with));
  return (nbd_extent_callback) { .callback = extent_cb, .user_data = e,
                                 .free = extent_free };
}

/* Flags of the extent covering absolute offset OFF, or -1. */
static int
flags_at (const struct ext *e, uint64_t off)
{
  uint64_t pos = e->offset;
  for (size_t i = 0; i + 1 < e->n; i += 2) {
    if (off >= pos && off < pos + e->entries[i])
      return (int) e->entries[i + 1];
    pos += e->entries[i];
  }
  return -1;
}

static void
test_block_status (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct ext e = { 0 };
  char *w = malloc (64 * KiB);
  uint64_t total;
  char *name;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);

  /* Without add_meta_context: block_status is refused (ENOTSUP). */
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION),
                   0);
  H_ASSERT_ERR (nbd_block_status (h, 4096, 0, ecb (&e), 0), ENOTSUP);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_block_status: "));
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);

  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_get_nr_meta_contexts (h), 0);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK (nbd_add_meta_context (h, "x-no-such:context"));
  CU_ASSERT_EQUAL (nbd_get_nr_meta_contexts (h), 2);
  name = nbd_get_meta_context (h, 0);
  CU_ASSERT_PTR_NOT_NULL (name);
  if (name)
    CU_ASSERT_STRING_EQUAL (name, LIBNBD_CONTEXT_BASE_ALLOCATION);
  free (name);
  CU_ASSERT_PTR_NULL (nbd_get_meta_context (h, 2));
  CU_ASSERT_EQUAL (nbd_get_errno (), EINVAL);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION),
                   1);
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, "x-no-such:context"), 0);
  /* Cannot add contexts once connected. */
  H_ASSERT_ERR (nbd_add_meta_context (h, "base:allocation"), EINVAL);

  /* Data only at [64K,128K). */
  h_fill (w, 64 * KiB, 3);
  H_ASSERT_OK (nbd_pwrite (h, w, 64 * KiB, 64 * KiB, 0));

  H_ASSERT_OK (nbd_block_status (h, MiB, 0, ecb (&e), 0));
  CU_ASSERT_EQUAL (e.calls, 1);         /* one context negotiated */
  CU_ASSERT_EQUAL (e.wrong_ctx, 0);
  CU_ASSERT_EQUAL (e.frees, 1);
  CU_ASSERT_EQUAL (e.offset, 0);
  CU_ASSERT (e.n >= 2 && e.n % 2 == 0);
  total = 0;
  for (size_t i = 0; i + 1 < e.n; i += 2) {
    CU_ASSERT (e.entries[i] > 0);
    total += e.entries[i];
  }
  CU_ASSERT (total > 0 && total <= MiB + 0ULL);
  if (total >= 128 * KiB) {
    CU_ASSERT_EQUAL (flags_at (&e, 0),
                     LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);
    CU_ASSERT_EQUAL (flags_at (&e, 64 * KiB), 0);
    CU_ASSERT_EQUAL (flags_at (&e, 128 * KiB - 1), 0);
  }
  if (total == MiB)
    CU_ASSERT_EQUAL (flags_at (&e, MiB - 1),
                     LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO);

  /* REQ_ONE: exactly one extent, starting at the offset. */
  H_ASSERT_OK (nbd_block_status (h, MiB - 96 * KiB, 96 * KiB, ecb (&e),
                                 LIBNBD_CMD_FLAG_REQ_ONE));
  CU_ASSERT_EQUAL (e.n, 2);
  CU_ASSERT_EQUAL (e.offset, 96 * KiB);
  CU_ASSERT (e.entries[0] > 0 && e.entries[0] <= 32 * KiB);
  CU_ASSERT_EQUAL (e.entries[1], 0);    /* still inside the data */

  /* After a trim the range reads back as a hole. */
  H_ASSERT_OK (nbd_trim (h, 64 * KiB, 64 * KiB, 0));
  H_ASSERT_OK (nbd_block_status (h, 64 * KiB, 64 * KiB, ecb (&e), 0));
  CU_ASSERT (flags_at (&e, 64 * KiB) & LIBNBD_STATE_ZERO);

  /* Callback failure → command error with that errno, handle fine. */
  {
    nbd_extent_callback cb = ecb (&e);
    e.fail_with = ENOMEM;
    H_ASSERT_ERR (nbd_block_status (h, 4096, 0, cb, 0), ENOMEM);
    e.fail_with = 0;
    CU_ASSERT_EQUAL (e.frees, 1);
  }
  CU_ASSERT (nbd_aio_is_ready (h));

  /* Flags that block_status does not take. */
  H_ASSERT_ERR (nbd_block_status (h, 4096, 0, ecb (&e),
                                  LIBNBD_CMD_FLAG_FUA), EINVAL);
  /* Past the end. */
  H_ASSERT_ERR (nbd_block_status (h, 4096, MiB, ecb (&e), 0), EINVAL);

  /* aio form. */
  {
    int64_t ck = nbd_aio_block_status (h, MiB, 0, ecb (&e),
                                       NBD_NULL_COMPLETION, 0);
    int r;
    CU_ASSERT_FATAL (ck > 0);
    while ((r = nbd_aio_command_completed (h, ck)) == 0)
      CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
    CU_ASSERT_EQUAL (r, 1);
    CU_ASSERT_EQUAL (e.calls, 1);
    CU_ASSERT_EQUAL (e.frees, 1);
  }
  nbd_close (h);
  h_stop (&srv);
  free (w);
}

static void
test_block_status_no_sr (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct ext e = { 0 };

  /* Meta contexts need structured replies: without them, none. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_request_structured_replies (h, false));
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION),
                   0);
  H_ASSERT_ERR (nbd_block_status (h, 4096, 0, ecb (&e), 0), ENOTSUP);
  CU_ASSERT_EQUAL (e.calls, 0);
  nbd_close (h);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_structured") == -1)
    return 2;
  s = h_add_suite ("structured");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_pread_structured_nbdkit);
  H_ADD_TEST (s, test_pread_structured_holes);
  H_ADD_TEST (s, test_block_status);
  H_ADD_TEST (s, test_block_status_no_sr);
  return h_run_all ();
}
