/* Option negotiation mode: opt_list, opt_info, opt_go, opt_abort,
 * full info (description, canonical name), request limits, strict mode. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define MiB (1024 * 1024)

static int
start_named (struct h_server *srv)
{
  return h_start_unix (srv, "--filter=exportname", "memory", "8M",
                       "exportname=alpha", "exportname=beta",
                       "exportname-list=explicit",
                       "exportname-strict=true",
                       "exportdesc=fixed:a memory disk", NULL);
}

struct names {
  int n, frees;
  char seen[8][64];
};

static int
list_cb (void *user_data, const char *name, const char *description)
{
  struct names *l = user_data;
  if (l->n < 8)
    snprintf (l->seen[l->n], sizeof l->seen[0], "%s", name);
  l->n++;
  return 0;
}

static void
list_free (void *user_data)
{
  struct names *l = user_data;
  l->frees++;
}

static bool
listed (struct names *l, const char *name)
{
  for (int i = 0; i < l->n && i < 8; i++)
    if (strcmp (l->seen[i], name) == 0)
      return true;
  return false;
}

static void
test_opt_list_info_go (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct names l = { 0 };
  char *s;

  if (!h_nbdkit_has_filter ("exportname")) {
    h_skip ("test_opt_list_info_go", "no exportname filter");
    return;
  }
  CU_ASSERT_EQUAL_FATAL (start_named (&srv), 0);
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_get_opt_mode (h), 0);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  CU_ASSERT_EQUAL (nbd_get_opt_mode (h), 1);
  H_ASSERT_OK (nbd_set_full_info (h, true));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_negotiating (h));
  CU_ASSERT (!nbd_aio_is_ready (h));
  /* Commands are not allowed while negotiating. */
  {
    char buf[512];
    CU_ASSERT_EQUAL (nbd_pread (h, buf, sizeof buf, 0, 0), -1);
    CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  }

  CU_ASSERT_EQUAL (nbd_opt_list (h, (nbd_list_callback) {
        .callback = list_cb, .user_data = &l, .free = list_free }), 2);
  CU_ASSERT_EQUAL (l.n, 2);
  CU_ASSERT (listed (&l, "alpha"));
  CU_ASSERT (listed (&l, "beta"));
  CU_ASSERT_EQUAL (l.frees, 1);
  CU_ASSERT (nbd_aio_is_negotiating (h));

  /* opt_info on a known export fills in the export's information. */
  H_ASSERT_OK (nbd_set_export_name (h, "beta"));
  H_ASSERT_OK (nbd_opt_info (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 8 * MiB);
  s = nbd_get_export_description (h);
  CU_ASSERT_PTR_NOT_NULL (s);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "a memory disk");
  free (s);
  s = nbd_get_canonical_export_name (h);
  CU_ASSERT_PTR_NOT_NULL (s);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "beta");
  free (s);
  CU_ASSERT (nbd_aio_is_negotiating (h));

  /* An unknown export: opt_info fails, still negotiating. */
  H_ASSERT_OK (nbd_set_export_name (h, "gamma"));
  CU_ASSERT_EQUAL (nbd_opt_info (h), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_opt_info: "));
  CU_ASSERT (nbd_aio_is_negotiating (h));
  /* opt_go to it fails the same way and we can try again. */
  CU_ASSERT_EQUAL (nbd_opt_go (h), -1);
  CU_ASSERT (nbd_aio_is_negotiating (h));

  H_ASSERT_OK (nbd_set_export_name (h, "alpha"));
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT (nbd_aio_is_ready (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 8 * MiB);
  {
    char w[4096], r[4096];
    h_fill (w, sizeof w, 91);
    H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
    H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
    CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  }
  /* No more option calls once ready. */
  CU_ASSERT_EQUAL (nbd_opt_go (h), -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), EINVAL);
  nbd_close (h);
  h_stop (&srv);
}

/* A server that refuses NBD_OPT_LIST (here with an error reply from
 * nbdkit's exportname-list=error): the list call fails with ENOTSUP, the
 * callback's free still runs once, and the handle stays negotiating. */
static void
test_opt_list_refused (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct names l = { 0 };

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=exportname", "memory", "1M",
                                       "exportname-list=error", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  H_ASSERT_ERR (nbd_opt_list (h, (nbd_list_callback) { .callback = list_cb,
                                                      .user_data = &l,
                                                      .free = list_free }),
                ENOTSUP);
  CU_ASSERT (strncmp (nbd_get_error (), "nbd_opt_list: ", 14) == 0);
  CU_ASSERT_EQUAL (l.frees, 1);
  CU_ASSERT_EQUAL (nbd_aio_is_negotiating (h), 1);
  H_ASSERT_OK (nbd_opt_abort (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_negotiating_details (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *s;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_negotiating (h));

  /* Before opt_info/opt_go nothing is known about the export: EINVAL. */
  H_ASSERT_ERR (nbd_get_size (h), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_get_size: "));
  H_ASSERT_ERR (nbd_can_flush (h), EINVAL);
  H_ASSERT_ERR (nbd_is_read_only (h), EINVAL);
  H_ASSERT_ERR (nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM), EINVAL);
  CU_ASSERT_PTR_NULL (nbd_get_canonical_export_name (h));
  CU_ASSERT_EQUAL (nbd_get_errno (), EINVAL);
  /* Nothing to poll for while the handle waits for the next option. */
  H_ASSERT_ERR (nbd_poll (h, 0), EINVAL);

  /* A NULL list callback is a caller error. */
  H_ASSERT_ERR (nbd_opt_list (h, (nbd_list_callback) { .callback = NULL }),
                EFAULT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_opt_list: "));
  CU_ASSERT (nbd_aio_is_negotiating (h));

  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  /* Full info was not requested: the canonical name is unknown. */
  s = nbd_get_canonical_export_name (h);
  if (s != NULL)
    fprintf (stderr, "\n  canonical name without full info: \"%s\"\n", s);
  CU_ASSERT_PTR_NULL (s);
  CU_ASSERT_EQUAL (nbd_get_errno (), ENOTSUP);
  free (s);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_opt_abort (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_negotiating (h));
  H_ASSERT_OK (nbd_opt_abort (h));
  CU_ASSERT (nbd_aio_is_closed (h));
  CU_ASSERT_EQUAL (nbd_opt_abort (h), -1);
  nbd_close (h);

  /* Opt calls are refused when not negotiating. */
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_opt_go (h), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_opt_go: "));
  nbd_close (h);

  /* opt_mode cannot change after connecting. */
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_set_opt_mode (h, true), EINVAL);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_request_limits (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *buf = malloc (64 * MiB + 1);

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "100M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  /* Over 64 MiB: refused client side with ERANGE. */
  H_ASSERT_ERR (nbd_pread (h, buf, 64 * MiB + 1, 0, 0), ERANGE);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  H_ASSERT_ERR (nbd_pwrite (h, buf, 64 * MiB + 1, 0, 0), ERANGE);
  CU_ASSERT (nbd_aio_is_ready (h));
  /* 32 MiB + 1 is fine against nbdkit. */
  h_fill (buf, 32 * MiB + 1, 3);
  H_ASSERT_OK (nbd_pwrite (h, buf, 32 * MiB + 1, 1, 0));
  memset (buf, 0, 32 * MiB + 1);
  H_ASSERT_OK (nbd_pread (h, buf, 32 * MiB + 1, 1, 0));
  CU_ASSERT (h_check (buf, 32 * MiB + 1, 3));
  nbd_close (h);
  h_stop (&srv);
  free (buf);
}

static void
test_strict_mode (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char buf[512];
  uint32_t mode;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  mode = nbd_get_strict_mode (h);
  CU_ASSERT (mode & LIBNBD_STRICT_BOUNDS);
  CU_ASSERT (mode & LIBNBD_STRICT_COMMANDS);
  /* Unknown strict bits are refused. */
  H_ASSERT_ERR (nbd_set_strict_mode (h, 0x80000000), EINVAL);
  /* With BOUNDS off, an out-of-range read goes to the server, which
   * refuses it (nbdkit: EINVAL); the connection survives. */
  H_ASSERT_OK (nbd_set_strict_mode (h, mode & ~LIBNBD_STRICT_BOUNDS));
  CU_ASSERT_EQUAL (nbd_get_strict_mode (h), mode & ~LIBNBD_STRICT_BOUNDS);
  CU_ASSERT_EQUAL (nbd_pread (h, buf, sizeof buf, 1024 * 1024, 0), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_pread_initialize (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char buf[512];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=error", "memory",
                                       "1M", "error-pread=EIO",
                                       "error-pread-rate=100%", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_pread_initialize (h), 1);
  /* A failed read leaves the buffer zeroed (no stale data exposed). */
  memset (buf, 0x55, sizeof buf);
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0), EIO);
  {
    int nz = 0;
    for (size_t i = 0; i < sizeof buf; i++)
      nz += buf[i] != 0;
    CU_ASSERT_EQUAL (nz, 0);
  }
  H_ASSERT_OK (nbd_set_pread_initialize (h, false));
  CU_ASSERT_EQUAL (nbd_get_pread_initialize (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_opt") == -1)
    return 2;
  s = h_add_suite ("opt");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_opt_list_info_go);
  H_ADD_TEST (s, test_opt_list_refused);
  H_ADD_TEST (s, test_negotiating_details);
  H_ADD_TEST (s, test_opt_abort);
  H_ADD_TEST (s, test_request_limits);
  H_ADD_TEST (s, test_strict_mode);
  H_ADD_TEST (s, test_pread_initialize);
  return h_run_all ();
}
