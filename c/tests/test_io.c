/* Data round trips, flush/trim/zero/cache, export information,
 * protocol and structured-reply negotiation. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define MiB (1024 * 1024)

static struct h_server srv;     /* memory 8M, restarted per test */

static struct nbd_handle *
mem_handle (const char *size)
{
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", size, NULL), 0);
  return h_connect_unix (&srv);
}

static bool
all_zero (const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

static void
test_round_trips (void)
{
  static const size_t sizes[] = { 1, 2, 511, 512, 513, 4096, 65535, 65536,
                                  65537, 1 * MiB, 4 * MiB };
  static const uint64_t offsets[] = { 0, 1, 511, 4096, 3 * MiB + 7 };
  struct nbd_handle *h = mem_handle ("8M");
  char *w = malloc (4 * MiB), *r = malloc (4 * MiB);
  uint64_t seed = 100;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_size (h), 8 * MiB);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (size_t j = 0; j < sizeof offsets / sizeof offsets[0]; j++) {
      size_t n = sizes[i];
      uint64_t off = offsets[j];
      if (off + n > 8 * MiB)
        continue;
      h_fill (w, n, ++seed);
      memset (r, 0xaa, n);
      H_ASSERT_OK (nbd_pwrite (h, w, n, off, 0));
      H_ASSERT_OK (nbd_pread (h, r, n, off, 0));
      if (memcmp (w, r, n) != 0)
        fprintf (stderr, "\n  mismatch size %zu offset %" PRIu64 "\n", n, off);
      CU_ASSERT (memcmp (w, r, n) == 0);
    }
  /* The last byte of the export. */
  h_fill (w, 1, 7);
  H_ASSERT_OK (nbd_pwrite (h, w, 1, 8 * MiB - 1, 0));
  H_ASSERT_OK (nbd_pread (h, r, 1, 8 * MiB - 1, 0));
  CU_ASSERT_EQUAL (r[0], w[0]);
  free (w);
  free (r);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_fua_and_flush (void)
{
  struct nbd_handle *h = mem_handle ("1M");
  char w[4096], r[4096];

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_fua (h), 1);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 1);
  h_fill (w, sizeof w, 11);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 8192, LIBNBD_CMD_FLAG_FUA));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 8192, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  H_ASSERT_OK (nbd_flush (h, 0));
  H_ASSERT_OK (nbd_pwrite (h, w, 512, 0, 0));
  H_ASSERT_OK (nbd_flush (h, 0));
  /* Data survives a reconnect to the same server (memory keeps it). */
  nbd_close (h);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 8192, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_trim_zero_cache (void)
{
  struct nbd_handle *h = mem_handle ("4M");
  char *w = malloc (MiB), *r = malloc (MiB);

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 1);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 1);
  CU_ASSERT_EQUAL (nbd_can_cache (h), 1);

  /* trim: memory plugin reads trimmed ranges back as zeroes. */
  h_fill (w, MiB, 21);
  H_ASSERT_OK (nbd_pwrite (h, w, MiB, 0, 0));
  H_ASSERT_OK (nbd_trim (h, 65536, 65536, 0));
  H_ASSERT_OK (nbd_pread (h, r, MiB, 0, 0));
  CU_ASSERT (memcmp (r, w, 65536) == 0);
  CU_ASSERT (all_zero (r + 65536, 65536));
  CU_ASSERT (memcmp (r + 131072, w + 131072, MiB - 131072) == 0);
  H_ASSERT_OK (nbd_trim (h, 4096, 0, LIBNBD_CMD_FLAG_FUA));

  /* zero, plain and with NO_HOLE. */
  H_ASSERT_OK (nbd_zero (h, 4096, 8192, 0));
  H_ASSERT_OK (nbd_zero (h, 4096, 300000, LIBNBD_CMD_FLAG_NO_HOLE));
  H_ASSERT_OK (nbd_zero (h, 1, 500000, LIBNBD_CMD_FLAG_FUA));
  H_ASSERT_OK (nbd_pread (h, r, MiB, 0, 0));
  CU_ASSERT (all_zero (r, 4096));                       /* trimmed */
  CU_ASSERT (memcmp (r + 4096, w + 4096, 4096) == 0);
  CU_ASSERT (all_zero (r + 8192, 4096));
  CU_ASSERT (all_zero (r + 300000, 4096));
  CU_ASSERT (r[500000] == 0);
  CU_ASSERT (memcmp (r + 500001, w + 500001, MiB - 500001) == 0);

  /* FAST_ZERO only when advertised. */
  if (nbd_can_fast_zero (h) == 1) {
    int rr = nbd_zero (h, 65536, MiB, LIBNBD_CMD_FLAG_FAST_ZERO);
    /* A server may refuse a fast zero with ENOTSUP, never with other
     * errors; the memory plugin does it. */
    if (rr == -1) {
      CU_ASSERT_EQUAL (nbd_get_errno (), ENOTSUP);
    }
    else {
      H_ASSERT_OK (nbd_pread (h, r, 65536, MiB, 0));
      CU_ASSERT (all_zero (r, 65536));
    }
  }
  else
    h_skip ("test_trim_zero_cache/fast_zero", "server lacks fast zero");

  /* cache: advisory, succeeds, does not change data. */
  h_fill (w, 8192, 22);
  H_ASSERT_OK (nbd_pwrite (h, w, 8192, 2 * MiB, 0));
  H_ASSERT_OK (nbd_cache (h, 8192, 2 * MiB, 0));
  H_ASSERT_OK (nbd_cache (h, 2 * MiB, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, 8192, 2 * MiB, 0));
  CU_ASSERT (memcmp (w, r, 8192) == 0);

  /* Invalid flags for these commands. */
  H_ASSERT_ERR (nbd_trim (h, 512, 0, LIBNBD_CMD_FLAG_NO_HOLE), EINVAL);
  H_ASSERT_ERR (nbd_cache (h, 512, 0, LIBNBD_CMD_FLAG_FUA), EINVAL);
  H_ASSERT_ERR (nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_DF), EINVAL);
  CU_ASSERT (nbd_aio_is_ready (h));
  free (w);
  free (r);
  nbd_close (h);
  h_stop (&srv);
}

static int
ignore_chunk (void *user_data, const void *subbuf, size_t count,
              uint64_t offset, unsigned status, int *error)
{
  return 0;
}

static int
ignore_extent (void *user_data, const char *metacontext, uint64_t offset,
               uint32_t *entries, size_t nr_entries, int *error)
{
  return 0;
}

/* Which command flags each call accepts, against an export that
 * advertises everything (memory plugin, structured replies, a meta
 * context).  Accepted: the call succeeds; otherwise -1/EINVAL before
 * anything is sent. */
static void
test_flag_matrix (void)
{
  enum { PREAD, PREAD_S, PWRITE, FLUSH, TRIM, CACHE, ZERO, BS, NCMD };
  static const char *names[NCMD] = { "pread", "pread_structured", "pwrite",
                                     "flush", "trim", "cache", "zero",
                                     "block_status" };
  const uint32_t F = LIBNBD_CMD_FLAG_FUA, NH = LIBNBD_CMD_FLAG_NO_HOLE,
    DF = LIBNBD_CMD_FLAG_DF, R1 = LIBNBD_CMD_FLAG_REQ_ONE,
    FZ = LIBNBD_CMD_FLAG_FAST_ZERO;
  /* Allowed flag bits per command (libnbd 1.14; from libnbd 1.18 a write
   * also takes LIBNBD_CMD_FLAG_PAYLOAD_LEN, which the library manages). */
#ifdef LIBNBD_CMD_FLAG_PAYLOAD_LEN
  const uint32_t PL = LIBNBD_CMD_FLAG_PAYLOAD_LEN;
#else
  const uint32_t PL = 0;
#endif
  const uint32_t allowed[NCMD] = {
    [PREAD] = 0, [PREAD_S] = DF, [PWRITE] = F | PL, [FLUSH] = 0,
    [TRIM] = F, [CACHE] = 0, [ZERO] = F | NH | FZ, [BS] = R1,
  };
  struct nbd_handle *h;
  char buf[512] = { 0 };

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  for (int c = 0; c < NCMD; c++)
    for (uint32_t bit = 1; bit <= 0x20; bit <<= 1) {
      int r = -1;
      switch (c) {
      case PREAD: r = nbd_pread (h, buf, 512, 0, bit); break;
      case PREAD_S:
        r = nbd_pread_structured (h, buf, 512, 0, (nbd_chunk_callback) {
            .callback = ignore_chunk }, bit);
        break;
      case PWRITE: r = nbd_pwrite (h, buf, 512, 0, bit); break;
      case FLUSH: r = nbd_flush (h, bit); break;
      case TRIM: r = nbd_trim (h, 512, 0, bit); break;
      case CACHE: r = nbd_cache (h, 512, 0, bit); break;
      case ZERO: r = nbd_zero (h, 512, 0, bit); break;
      case BS:
        r = nbd_block_status (h, 512, 0, (nbd_extent_callback) {
            .callback = ignore_extent }, bit);
        break;
      }
      bool want_ok = (allowed[c] & bit) != 0;
      int e = nbd_get_errno ();
      if (want_ok ? r != 0 : (r != -1 || e != EINVAL))
        fprintf (stderr, "\n  %s flags=0x%x: want %s, got r=%d errno=%d (%s)\n",
                 names[c], bit, want_ok ? "success" : "-1/EINVAL", r, e,
                 r == -1 ? nbd_get_error () : "");
      if (want_ok) {
        CU_ASSERT_EQUAL (r, 0);
      }
      else {
        CU_ASSERT_EQUAL (r, -1);
        CU_ASSERT_EQUAL (e, EINVAL);
      }
    }
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_read_only (void)
{
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "-r", "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 1);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 0);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fast_zero (h), 0);
  nbd_close (h);
  h_stop (&srv);

  h = mem_handle ("1M");
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

/* Start an eval-plugin server where every capability is YES or not. */
static struct nbd_handle *
eval_handle (bool yes)
{
  const char *t = yes ? "exit 0" : "exit 3";
  const char *mode = yes ? "echo native" : "echo none";
  char can_write[32], can_flush[32], is_rot[32], can_trim[32], can_zero[32],
    can_fz[32], can_mc[32], can_fua[32], can_cache[32];
  snprintf (can_write, sizeof can_write, "can_write=%s", t);
  snprintf (can_flush, sizeof can_flush, "can_flush=%s", t);
  snprintf (is_rot, sizeof is_rot, "is_rotational=%s", t);
  snprintf (can_trim, sizeof can_trim, "can_trim=%s", t);
  snprintf (can_zero, sizeof can_zero, "can_zero=%s", t);
  snprintf (can_fz, sizeof can_fz, "can_fast_zero=%s", t);
  snprintf (can_mc, sizeof can_mc, "can_multi_conn=%s", t);
  snprintf (can_fua, sizeof can_fua, "can_fua=%s", mode);
  snprintf (can_cache, sizeof can_cache, "can_cache=%s", mode);
  if (h_start_unix (&srv, "eval",
                    "get_size=echo 1048576",
                    "pread=head -c $3 /dev/zero",
                    "pwrite=cat >/dev/null",
                    "flush=exit 0", "trim=exit 0", "zero=exit 0",
                    "cache=exit 0",
                    can_write, can_flush, is_rot, can_trim, can_zero,
                    can_fz, can_mc, can_fua, can_cache, NULL) == -1)
    return NULL;
  return h_connect_unix (&srv);
}

static void
test_capabilities (void)
{
  struct nbd_handle *h;

  if (!h_nbdkit_has_plugin ("eval")) {
    h_skip ("test_capabilities", "nbdkit eval plugin not installed");
    return;
  }
  h = eval_handle (true);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_size (h), MiB);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 0);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 1);
  CU_ASSERT_EQUAL (nbd_can_fua (h), 1);
  CU_ASSERT_EQUAL (nbd_is_rotational (h), 1);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 1);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 1);
  CU_ASSERT_EQUAL (nbd_can_fast_zero (h), 1);
  CU_ASSERT_EQUAL (nbd_can_multi_conn (h), 1);
  CU_ASSERT_EQUAL (nbd_can_cache (h), 1);
  CU_ASSERT_EQUAL (nbd_can_df (h), 1);
  nbd_close (h);
  h_stop (&srv);

  h = eval_handle (false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 1);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fua (h), 0);
  CU_ASSERT_EQUAL (nbd_is_rotational (h), 0);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 0);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fast_zero (h), 0);
  CU_ASSERT_EQUAL (nbd_can_multi_conn (h), 0);
  CU_ASSERT_EQUAL (nbd_can_cache (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_capabilities_filters (void)
{
  struct nbd_handle *h;

  /* nozero: no WRITE_ZEROES; nocache=none; multi-conn off.  (The fua
   * filter of nbdkit 1.32 rejects fuamode=none; can_fua=false is covered
   * by the eval plugin test.) */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv,
                                       "--filter=nozero",
                                       "--filter=nocache",
                                       "--filter=multi-conn",
                                       "memory", "1M",
                                       "zeromode=none",
                                       "cachemode=none",
                                       "multi-conn-mode=disable", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fast_zero (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fua (h), 1);
  CU_ASSERT_EQUAL (nbd_can_cache (h), 0);
  CU_ASSERT_EQUAL (nbd_can_multi_conn (h), 0);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 1);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 1);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_block_size (void)
{
  struct nbd_handle *h;

  if (!h_nbdkit_has_filter ("blocksize-policy")) {
    h_skip ("test_block_size", "nbdkit blocksize-policy filter missing");
    return;
  }
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=blocksize-policy",
                                       "memory", "1M",
                                       "blocksize-minimum=512",
                                       "blocksize-preferred=4096",
                                       "blocksize-maximum=65536", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 512);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), 4096);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM), 65536);
  H_ASSERT_ERR (nbd_get_block_size (h, 99), EINVAL);
  /* Requests within the limits work. */
  {
    static char big[131072];
    H_ASSERT_OK (nbd_pread (h, big, 65536, 4096, 0));
    /* An unaligned request is refused client side (strict ALIGN). */
    H_ASSERT_ERR (nbd_pread (h, big, 1, 1, 0), EINVAL);
#ifdef AGAINST_SYSTEM_LIBNBD
    /* libnbd 1.14 does not enforce the maximum client side: a request
     * above it is sent, and this server (error policy "allow") serves
     * it. */
    H_ASSERT_OK (nbd_pread (h, big, 131072, 0, 0));
    H_ASSERT_OK (nbd_pwrite (h, big, 131072, 0, 0));
#else
    /* Ours refuses a payload above the advertised maximum before sending
     * anything (robustness requirement), and the connection stays usable. */
    H_ASSERT_ERR (nbd_pread (h, big, 131072, 0, 0), ERANGE);
    H_ASSERT_ERR (nbd_pwrite (h, big, 131072, 0, 0), ERANGE);
    H_ASSERT_OK (nbd_pread (h, big, 65536, 0, 0));
#endif
  }
  nbd_close (h);
  h_stop (&srv);

  /* Without the filter the memory plugin advertises nothing: 0. */
  h = mem_handle ("1M");
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), 0);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_PREFERRED), 0);
  CU_ASSERT_EQUAL (nbd_get_block_size (h, LIBNBD_SIZE_MAXIMUM), 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_protocol (void)
{
  struct nbd_handle *h;
  const char *p;
  char buf[4096], w[4096];

  h = mem_handle ("1M");
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  p = nbd_get_protocol (h);
  CU_ASSERT_PTR_NOT_NULL (p);
  if (p)
    CU_ASSERT_STRING_EQUAL (p, "newstyle-fixed");
  nbd_close (h);
  h_stop (&srv);

  /* Before connecting, get_protocol is an error. */
  h = nbd_create ();
  CU_ASSERT_PTR_NULL (nbd_get_protocol (h));
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  nbd_close (h);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "-o", "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  p = nbd_get_protocol (h);
  CU_ASSERT_PTR_NOT_NULL (p);
  if (p)
    CU_ASSERT_STRING_EQUAL (p, "oldstyle");
  CU_ASSERT_EQUAL (nbd_get_size (h), MiB);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 0);
  h_fill (w, sizeof w, 31);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 4096, 0));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 4096, 0));
  CU_ASSERT (memcmp (w, buf, sizeof w) == 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_handshake_flags (void)
{
  struct nbd_handle *h;
  const char *p;
  char w[8192], r[8192];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h_fill (w, sizeof w, 33);

  /* Plain (unfixed) newstyle: NBD_OPT_EXPORT_NAME path, no options. */
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_get_handshake_flags (h),
                   LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE |
                   LIBNBD_HANDSHAKE_FLAG_NO_ZEROES);
  H_ASSERT_OK (nbd_set_handshake_flags (h, 0));
  CU_ASSERT_EQUAL (nbd_get_handshake_flags (h), 0);
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  p = nbd_get_protocol (h);
  if (p)
    CU_ASSERT_STRING_EQUAL (p, "newstyle");
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 0);
  CU_ASSERT_EQUAL (nbd_get_size (h), MiB);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);

  /* Fixed newstyle without NO_ZEROES: the server sends the 124 zeroes. */
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_handshake_flags (h,
                                        LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  p = nbd_get_protocol (h);
  if (p)
    CU_ASSERT_STRING_EQUAL (p, "newstyle-fixed");
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  /* Unknown handshake flags are refused; only settable before connect. */
  H_ASSERT_ERR (nbd_set_handshake_flags (h, 0), EINVAL);
  nbd_close (h);
  h = nbd_create ();
  H_ASSERT_ERR (nbd_set_handshake_flags (h, 0x100), EINVAL);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_structured_replies (void)
{
  struct nbd_handle *h;
  char w[65536], r[65536];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);

  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_get_request_structured_replies (h), 1);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_can_df (h), 1);
  nbd_close (h);

  h = nbd_create ();
  H_ASSERT_OK (nbd_set_request_structured_replies (h, false));
  CU_ASSERT_EQUAL (nbd_get_request_structured_replies (h), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 0);
  /* Data still flows with simple replies. */
  h_fill (w, sizeof w, 41);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  /* After connecting the request setting cannot change. */
  CU_ASSERT_EQUAL (nbd_set_request_structured_replies (h, true), -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), EINVAL);
  nbd_close (h);

  /* A server that refuses structured replies. */
  h_stop (&srv);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--no-sr", "memory", "1M",
                                       NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), 0);
  h_fill (w, sizeof w, 42);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_multiple_handles (void)
{
  struct nbd_handle *h1, *h2;
  char w[4096], r[4096];

  h1 = mem_handle ("1M");
  CU_ASSERT_PTR_NOT_NULL_FATAL (h1);
  h2 = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h2);
  h_fill (w, sizeof w, 51);
  H_ASSERT_OK (nbd_pwrite (h1, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_flush (h1, 0));
  H_ASSERT_OK (nbd_pread (h2, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h1);
  H_ASSERT_OK (nbd_pread (h2, r, sizeof r, 0, 0));
  nbd_close (h2);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_io") == -1)
    return 2;
  s = h_add_suite ("io");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_round_trips);
  H_ADD_TEST (s, test_fua_and_flush);
  H_ADD_TEST (s, test_trim_zero_cache);
  H_ADD_TEST (s, test_flag_matrix);
  H_ADD_TEST (s, test_read_only);
  H_ADD_TEST (s, test_capabilities);
  H_ADD_TEST (s, test_capabilities_filters);
  H_ADD_TEST (s, test_block_size);
  H_ADD_TEST (s, test_protocol);
  H_ADD_TEST (s, test_handshake_flags);
  H_ADD_TEST (s, test_structured_replies);
  H_ADD_TEST (s, test_multiple_handles);
  return h_run_all ();
}
