/* Server error replies mapped to errno; the server dying mid-command;
 * client-side checks that refuse a request before sending anything. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#define KiB 1024
#define MiB (1024 * 1024)

static void
touch (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT, 0600);
  CU_ASSERT (fd >= 0);
  if (fd >= 0)
    close (fd);
}

static int
ignore_extents (void *user_data, const char *metacontext, uint64_t offset,
                uint32_t *entries, size_t nr_entries, int *error)
{
  return 0;
}

/* One server, each operation injecting a different errno while the
 * trigger file exists. */
static void
server_errors (bool structured)
{
  struct h_server srv;
  struct nbd_handle *h;
  char trigger[300], buf[4096] = { 0 };
  char tdir[256];

  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (tdir, sizeof tdir), 0);
  snprintf (trigger, sizeof trigger, "%s/inject", tdir);
  char f1[350], f2[350], f3[350], f4[350], f5[350], f6[350];
  snprintf (f1, sizeof f1, "error-pread-file=%s", trigger);
  snprintf (f2, sizeof f2, "error-pwrite-file=%s", trigger);
  snprintf (f3, sizeof f3, "error-trim-file=%s", trigger);
  snprintf (f4, sizeof f4, "error-zero-file=%s", trigger);
  snprintf (f5, sizeof f5, "error-cache-file=%s", trigger);
  snprintf (f6, sizeof f6, "error-extents-file=%s", trigger);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=error", "memory",
                                       "1M",
                                       "error-pread=EIO",
                                       "error-pread-rate=100%",
                                       "error-pwrite=ENOSPC",
                                       "error-pwrite-rate=100%",
                                       "error-trim=EPERM",
                                       "error-trim-rate=100%",
                                       "error-zero=EINVAL",
                                       "error-zero-rate=100%",
                                       "error-cache=ENOMEM",
                                       "error-cache-rate=100%",
                                       "error-extents=ESHUTDOWN",
                                       "error-extents-rate=100%",
                                       f1, f2, f3, f4, f5, f6, NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_request_structured_replies (h, structured));
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_structured_replies_negotiated (h), structured);

  /* No trigger: all fine. */
  H_ASSERT_OK (nbd_pwrite (h, buf, sizeof buf, 0, 0));

  touch (trigger);
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0), EIO);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_ERR (nbd_pwrite (h, buf, sizeof buf, 0, 0), ENOSPC);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pwrite: "));
  H_ASSERT_ERR (nbd_trim (h, 4096, 0, 0), EPERM);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_trim: "));
  H_ASSERT_ERR (nbd_zero (h, 4096, 0, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_zero: "));
  H_ASSERT_ERR (nbd_cache (h, 4096, 0, 0), ENOMEM);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_cache: "));
  if (structured) {
    H_ASSERT_ERR (nbd_block_status (h, 4096, 0, (nbd_extent_callback) {
          .callback = ignore_extents }, 0), ESHUTDOWN);
    CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_block_status: "));
  }
  /* Still usable while errors keep coming. */
  CU_ASSERT (nbd_aio_is_ready (h));

  /* aio: the error comes back through command_completed. */
  {
    int64_t ck = nbd_aio_pread (h, buf, sizeof buf, 0,
                                NBD_NULL_COMPLETION, 0);
    int r;
    CU_ASSERT_FATAL (ck > 0);
    while ((r = nbd_aio_command_completed (h, ck)) == 0)
      CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
    CU_ASSERT_EQUAL (r, -1);
    CU_ASSERT_EQUAL (nbd_get_errno (), EIO);
  }

  unlink (trigger);
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  H_ASSERT_OK (nbd_flush (h, 0));
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  h_stop (&srv);
  h_rmdir (tdir);
}

static void test_server_errors_structured (void) { server_errors (true); }
static void test_server_errors_simple (void) { server_errors (false); }

struct cmd {
  int completions;
  int frees;
  int error;
};

static int
completion_cb (void *user_data, int *error)
{
  struct cmd *c = user_data;
  c->completions++;
  c->error = *error;
  return 0;
}

static void
free_cb (void *user_data)
{
  struct cmd *c = user_data;
  c->frees++;
}

static void
test_server_dies_aio (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct cmd c[16];
  int64_t ck[16];
  static char buf[16][4096];

  memset (c, 0, sizeof c);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=delay", "memory",
                                       "1M", "rdelay=30", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  for (int i = 0; i < 16; i++) {
    ck[i] = nbd_aio_pread (h, buf[i], sizeof buf[i], i * 4096,
                           (nbd_completion_callback) {
                             .callback = completion_cb, .user_data = &c[i],
                             .free = free_cb }, 0);
    CU_ASSERT_FATAL (ck[i] > 0);
  }
  /* Get the requests on the wire. */
  CU_ASSERT_NOT_EQUAL (nbd_poll (h, 100), -1);
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 16);

  h_kill_pid (srv.pid, SIGKILL);
  srv.pid = 0;
  /* Poll until the handle notices; bounded by the watchdog. */
  while (!nbd_aio_is_dead (h)) {
    if (nbd_poll (h, 5000) == -1)
      break;
  }
  /* libnbd 1.14 ends in CLOSED when the server's EOF falls between
   * replies, DEAD otherwise: either way no longer usable. */
  CU_ASSERT (nbd_aio_is_dead (h) || nbd_aio_is_closed (h));
  for (int i = 0; i < 16; i++) {
    CU_ASSERT_EQUAL (c[i].completions, 1);
    CU_ASSERT_NOT_EQUAL (c[i].error, 0);
    CU_ASSERT_EQUAL (nbd_aio_command_completed (h, ck[i]), -1);
    CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
    CU_ASSERT_EQUAL (c[i].frees, 1);
  }
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  /* New commands fail at once. */
  H_ASSERT_ERR (nbd_pread (h, buf[0], 512, 0, 0), EINVAL);
  nbd_close (h);
  h_stop (&srv);
}

/* Writing to a server that has gone away must fail with an error, not
 * kill the process with SIGPIPE (sends use MSG_NOSIGNAL). */
static void
test_no_sigpipe (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *buf = calloc (1, 4 * MiB);
  int r = 0;

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  /* SIGPIPE must be fatal here (default action or the harness's crash
   * handler, which dies of it): it must not be ignored. */
  {
    struct sigaction old;
    CU_ASSERT_EQUAL_FATAL (sigaction (SIGPIPE, NULL, &old), 0);
    CU_ASSERT_FATAL (old.sa_handler != SIG_IGN);
  }
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "8M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  h_kill_pid (srv.pid, SIGKILL);        /* killed and reaped: socket gone */
  srv.pid = 0;
  for (int i = 0; i < 4 && r != -1; i++)
    r = nbd_pwrite (h, buf, 4 * MiB, 0, 0);
  CU_ASSERT_EQUAL (r, -1);              /* and we are still alive */
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
  free (buf);
}

struct killer {
  pid_t pid;
  int delay_ms;
};

static void *
killer_thread (void *arg)
{
  struct killer *k = arg;
  usleep (k->delay_ms * 1000);
  kill (k->pid, SIGKILL);
  return NULL;
}

static void
test_server_dies_sync (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  pthread_t t;
  struct killer k;
  char buf[4096];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=delay", "memory",
                                       "1M", "rdelay=30", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  k.pid = srv.pid;
  k.delay_ms = 300;
  CU_ASSERT_EQUAL_FATAL (pthread_create (&t, NULL, killer_thread, &k), 0);
  /* Blocks until the server is killed under it; must not hang. */
  CU_ASSERT_EQUAL (nbd_pread (h, buf, sizeof buf, 0, 0), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  CU_ASSERT (nbd_aio_is_dead (h) || nbd_aio_is_closed (h));
  pthread_join (t, NULL);
  nbd_close (h);
  h_stop (&srv);
}

/* A handle connected through a byte-counting relay to SFD (the nbdkit -s
 * end from h_start_socketpair, or -1 if that failed). */
static struct nbd_handle *
relay_connect (int sfd, struct h_relay **relay)
{
  int cfd;
  struct nbd_handle *h;

  if (sfd == -1)
    return NULL;
  *relay = h_relay_start (sfd, &cfd);
  if (*relay == NULL) {
    close (sfd);
    return NULL;
  }
  h = nbd_create ();
  if (nbd_connect_socket (h, cfd) == -1) {
    fprintf (stderr, "relay connect: %s\n", nbd_get_error ());
    nbd_close (h);
    return NULL;
  }
  return h;
}

#define REFUSED(h, relay, expr, e) \
  do { \
    uint64_t before_ = h_relay_sent (relay); \
    H_ASSERT_ERR ((expr), (e)); \
    CU_ASSERT_EQUAL (h_relay_sent (relay), before_); \
    CU_ASSERT (nbd_aio_is_ready (h)); \
  } while (0)

static void
test_client_side_checks (void)
{
  struct h_relay *relay;
  pid_t pid;
  struct nbd_handle *h;
  char buf[4096] = { 0 };
  uint64_t before;

  /* Read-only export: writes, trims, zeroes refused without sending. */
  h = relay_connect (h_start_socketpair (&pid, "-r", "memory", "1M", NULL),
                     &relay);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 1);
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  before = h_relay_sent (relay);
  CU_ASSERT (before > 0);
  REFUSED (h, relay, nbd_pwrite (h, buf, sizeof buf, 0, 0), EPERM);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pwrite: "));
  CU_ASSERT (nbd_aio_pwrite (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0)
             == -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), EPERM);
  REFUSED (h, relay, nbd_trim (h, 4096, 0, 0), EINVAL);
  REFUSED (h, relay, nbd_zero (h, 4096, 0, 0), EINVAL);
  /* Out of range reads. */
  REFUSED (h, relay, nbd_pread (h, buf, 512, MiB, 0), EINVAL);
  REFUSED (h, relay, nbd_pread (h, buf, 512, MiB - 511, 0), EINVAL);
  REFUSED (h, relay, nbd_pread (h, buf, 512, UINT64_MAX - 100, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  /* The connection still works and the byte count moves again. */
  H_ASSERT_OK (nbd_pread (h, buf, 512, MiB - 512, 0));
  CU_ASSERT (h_relay_sent (relay) > before);
  nbd_close (h);
  h_relay_stop (relay);
  h_kill_pid (pid, SIGTERM);

  /* No FUA, no trim, no zero, no cache, no flush, no fast zero. */
  h = relay_connect (h_start_socketpair (&pid, "eval",
                                         "get_size=echo 1048576",
                                         "pread=head -c $3 /dev/zero",
                                         "pwrite=cat >/dev/null",
                                         "can_write=exit 0", "can_trim=exit 3",
                                         "can_flush=exit 3",
                                         "can_fua=echo none",
                                         "can_cache=echo none",
                                         "can_fast_zero=exit 3", NULL),
                     &relay);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_fua (h), 0);
  CU_ASSERT_EQUAL (nbd_can_trim (h), 0);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 0);
  CU_ASSERT_EQUAL (nbd_can_cache (h), 0);
  CU_ASSERT_EQUAL (nbd_can_fast_zero (h), 0);
  H_ASSERT_OK (nbd_pwrite (h, buf, 512, 0, 0));
  REFUSED (h, relay, nbd_pwrite (h, buf, 512, 0, LIBNBD_CMD_FLAG_FUA),
           EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pwrite: "));
  REFUSED (h, relay, nbd_trim (h, 512, 0, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_trim: "));
  REFUSED (h, relay, nbd_flush (h, 0), EINVAL);
  REFUSED (h, relay, nbd_cache (h, 512, 0, 0), EINVAL);
  REFUSED (h, relay, nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_FAST_ZERO), EINVAL);
  REFUSED (h, relay, nbd_zero (h, 512, 0, LIBNBD_CMD_FLAG_FUA), EINVAL);
  /* Writing past the end: ENOSPC (as libnbd 1.14 does). */
  REFUSED (h, relay, nbd_pwrite (h, buf, 512, MiB, 0), ENOSPC);
  H_ASSERT_OK (nbd_pwrite (h, buf, 512, MiB - 512, 0));
  H_ASSERT_OK (nbd_pread (h, buf, 512, 0, 0));
  nbd_close (h);
  h_relay_stop (relay);
  h_kill_pid (pid, SIGTERM);

  /* No WRITE_ZEROES at all. */
  h = relay_connect (h_start_socketpair (&pid, "--filter=nozero", "memory",
                                         "1M", "zeromode=none", NULL),
                     &relay);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_can_zero (h), 0);
  REFUSED (h, relay, nbd_zero (h, 512, 0, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_zero: "));
  H_ASSERT_OK (nbd_pread (h, buf, 512, 0, 0));
  nbd_close (h);
  h_relay_stop (relay);
  h_kill_pid (pid, SIGTERM);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_errors") == -1)
    return 2;
  s = h_add_suite ("errors");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_server_errors_structured);
  H_ADD_TEST (s, test_server_errors_simple);
  H_ADD_TEST (s, test_server_dies_aio);
  H_ADD_TEST (s, test_server_dies_sync);
  H_ADD_TEST (s, test_client_side_checks);
  H_ADD_TEST (s, test_no_sigpipe);
  return h_run_all ();
}
