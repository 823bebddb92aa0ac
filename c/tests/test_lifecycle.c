/* Handle lifecycle, handle properties, debug, states and error reporting. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

/* Message must be "nbd_CALL: invalid state: STATE: the handle must be
 * newly created", optionally followed by ": <strerror(EINVAL)>" (the
 * system libnbd 1.14 appends the errno text to every message). */
static void
assert_not_new_msg (const char *call, const char *msg)
{
  char prefix[128];
  const char *mid = ": the handle must be newly created";
  const char *p;
  char tail[128];

  snprintf (prefix, sizeof prefix, "%s: invalid state: ", call);
  if (!h_has_prefix (msg, prefix))
    fprintf (stderr, "\n  %s: bad message prefix: %s\n", call,
             msg ? msg : "(null)");
  CU_ASSERT (h_has_prefix (msg, prefix));
  if (msg == NULL)
    return;
  p = strstr (msg, mid);
  CU_ASSERT_PTR_NOT_NULL (p);
  if (p == NULL) {
    fprintf (stderr, "\n  %s: message lacks '%s': %s\n", call, mid, msg);
    return;
  }
  /* The state name sits between the prefix and mid, non-empty. */
  CU_ASSERT (p > msg + strlen (prefix));
  snprintf (tail, sizeof tail, "%s: %s", mid, strerror (EINVAL));
  if (!(h_has_suffix (msg, mid) || h_has_suffix (msg, tail)))
    fprintf (stderr, "\n  %s: bad message suffix: %s\n", call, msg);
  CU_ASSERT (h_has_suffix (msg, mid) || h_has_suffix (msg, tail));
}

static void
test_create_close (void)
{
  int fds0 = h_count_fds ();
  struct nbd_handle *h = nbd_create ();

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  nbd_close (h);
  nbd_close (NULL);             /* documented as harmless */
  CU_ASSERT_EQUAL (h_count_fds (), fds0);

  /* Many handles at once, closed in a different order. */
  struct nbd_handle *hs[32];
  for (int i = 0; i < 32; i++) {
    hs[i] = nbd_create ();
    CU_ASSERT_PTR_NOT_NULL (hs[i]);
  }
  for (int i = 31; i >= 0; i--)
    nbd_close (hs[i]);
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
}

static void
test_handle_name (void)
{
  struct nbd_handle *h = nbd_create ();
  struct nbd_handle *h2 = nbd_create ();
  char *n, *n2;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h2);
  n = nbd_get_handle_name (h);
  n2 = nbd_get_handle_name (h2);
  CU_ASSERT_PTR_NOT_NULL (n);
  CU_ASSERT_PTR_NOT_NULL (n2);
  if (n && n2) {
    CU_ASSERT (strlen (n) > 0);
    CU_ASSERT_STRING_NOT_EQUAL (n, n2);   /* default names are distinct */
  }
  free (n);
  free (n2);

  H_ASSERT_OK (nbd_set_handle_name (h, "my-handle"));
  n = nbd_get_handle_name (h);
  CU_ASSERT_PTR_NOT_NULL (n);
  if (n)
    CU_ASSERT_STRING_EQUAL (n, "my-handle");
  /* The caller owns the returned copy: modifying it does not affect h. */
  if (n) {
    n[0] = 'X';
    free (n);
  }
  n = nbd_get_handle_name (h);
  if (n)
    CU_ASSERT_STRING_EQUAL (n, "my-handle");
  free (n);

  /* NULL parameter: EFAULT, message names the call. */
  H_ASSERT_ERR (nbd_set_handle_name (h, H_NULL), EFAULT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_set_handle_name: "));

  nbd_close (h);
  nbd_close (h2);
}

static void
test_private_data (void)
{
  struct nbd_handle *h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_private_data (h), 0);
  CU_ASSERT_EQUAL (nbd_set_private_data (h, 42), 0);        /* returns old */
  CU_ASSERT_EQUAL (nbd_get_private_data (h), 42);
  CU_ASSERT_EQUAL (nbd_set_private_data (h, (uintptr_t) h), 42);
  CU_ASSERT_EQUAL (nbd_get_private_data (h), (uintptr_t) h);
  nbd_close (h);
}

struct dbg {
  int calls;
  int frees;
  int bad_msg;
};

static int
debug_cb (void *user_data, const char *context, const char *msg)
{
  struct dbg *d = user_data;
  d->calls++;
  if (msg == NULL)
    d->bad_msg++;
  (void) context;
  return 0;
}

static void
debug_free (void *user_data)
{
  struct dbg *d = user_data;
  d->frees++;
}

static void
test_debug_flag (void)
{
  struct nbd_handle *h;

  unsetenv ("LIBNBD_DEBUG");
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_debug (h), 0);
  H_ASSERT_OK (nbd_set_debug (h, true));
  CU_ASSERT_EQUAL (nbd_get_debug (h), 1);
  H_ASSERT_OK (nbd_set_debug (h, false));
  CU_ASSERT_EQUAL (nbd_get_debug (h), 0);
  nbd_close (h);
}

static void
test_debug_env (void)
{
  struct nbd_handle *h;

  setenv ("LIBNBD_DEBUG", "1", 1);
  h = nbd_create ();
  unsetenv ("LIBNBD_DEBUG");
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_debug (h), 1);
  /* Keep the debug output out of the test log. */
  struct dbg d = { 0 };
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) {
        .callback = debug_cb, .user_data = &d, .free = debug_free }));
  nbd_close (h);
  CU_ASSERT_EQUAL (d.frees, 1);

  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_get_debug (h), 0);
  nbd_close (h);
}

static void
test_debug_callback (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct dbg d1 = { 0 }, d2 = { 0 };
  char buf[512];

  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);

  /* Replacing a callback frees the old one exactly once. */
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) {
        .callback = debug_cb, .user_data = &d1, .free = debug_free }));
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) {
        .callback = debug_cb, .user_data = &d2, .free = debug_free }));
  CU_ASSERT_EQUAL (d1.frees, 1);
  CU_ASSERT_EQUAL (d2.frees, 0);

  /* Clearing frees it too; then set again for the connection. */
  H_ASSERT_OK (nbd_clear_debug_callback (h));
  CU_ASSERT_EQUAL (d2.frees, 1);
  memset (&d2, 0, sizeof d2);
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) {
        .callback = debug_cb, .user_data = &d2, .free = debug_free }));
  H_ASSERT_OK (nbd_set_debug (h, true));

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  CU_ASSERT (d2.calls > 0);                 /* debug messages were emitted */
  CU_ASSERT_EQUAL (d2.bad_msg, 0);

  /* With debug off, the callback is not called. */
  H_ASSERT_OK (nbd_set_debug (h, false));
  int before = d2.calls;
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  CU_ASSERT_EQUAL (d2.calls, before);

  CU_ASSERT_EQUAL (d2.frees, 0);
  nbd_close (h);
  CU_ASSERT_EQUAL (d2.frees, 1);            /* exactly once, at close */
  CU_ASSERT_EQUAL (d1.frees, 1);
  h_stop (&srv);
}

static void
test_export_name (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  char *s;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  s = nbd_get_export_name (h);
  CU_ASSERT_PTR_NOT_NULL (s);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "");
  free (s);
  H_ASSERT_OK (nbd_set_export_name (h, "some-export"));
  s = nbd_get_export_name (h);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "some-export");
  free (s);
  H_ASSERT_ERR (nbd_set_export_name (h, H_NULL), EFAULT);

  /* nbdkit's exportname filter echoes... here we just use memory,
   * which accepts any name, then check the name cannot change once
   * connected. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  H_ASSERT_ERR (nbd_set_export_name (h, "other"), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (),
                           "nbd_set_export_name: invalid state: "));
  s = nbd_get_export_name (h);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "some-export");
  free (s);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_version (void)
{
  struct nbd_handle *h = nbd_create ();
  const char *v, *p;
  int major = -1, minor = -1;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  v = nbd_get_version (h);
  p = nbd_get_package_name (h);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_PTR_NOT_NULL_FATAL (p);
  CU_ASSERT_STRING_EQUAL (p, "libnbd");
  CU_ASSERT_EQUAL (sscanf (v, "%d.%d", &major, &minor), 2);
  CU_ASSERT_EQUAL (major, 1);
  CU_ASSERT (minor >= 14);
  /* Both are static strings: same pointer contents on every call. */
  CU_ASSERT_STRING_EQUAL (nbd_get_version (h), v);
  nbd_close (h);
}

static void
assert_state (struct nbd_handle *h, int created, int connecting,
              int negotiating, int ready, int processing, int dead,
              int closed, const char *state_word)
{
  const char *cs;

  CU_ASSERT_EQUAL (nbd_aio_is_created (h), created);
  CU_ASSERT_EQUAL (nbd_aio_is_connecting (h), connecting);
  CU_ASSERT_EQUAL (nbd_aio_is_negotiating (h), negotiating);
  CU_ASSERT_EQUAL (nbd_aio_is_ready (h), ready);
  CU_ASSERT_EQUAL (nbd_aio_is_processing (h), processing);
  CU_ASSERT_EQUAL (nbd_aio_is_dead (h), dead);
  CU_ASSERT_EQUAL (nbd_aio_is_closed (h), closed);
  cs = nbd_connection_state (h);
  CU_ASSERT_PTR_NOT_NULL (cs);
  if (cs && !h_has_prefix (cs, state_word))
    fprintf (stderr, "\n  connection_state: want prefix %s, got %s\n",
             state_word, cs);
  CU_ASSERT (cs && h_has_prefix (cs, state_word));
}

static void
test_states (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  char dir[256], path[300];

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  assert_state (h, 1, 0, 0, 0, 0, 0, 0, "START");

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  assert_state (h, 0, 0, 0, 1, 0, 0, 0, "READY");
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);

  H_ASSERT_OK (nbd_shutdown (h, 0));
  assert_state (h, 0, 0, 0, 0, 0, 0, 1, "CLOSED");
  CU_ASSERT_EQUAL (nbd_aio_in_flight (h), 0);
  nbd_close (h);
  h_stop (&srv);

  /* Dead: connect to a Unix path where nobody listens. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (path, sizeof path, "%s/nobody", dir);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_connect_unix (h, path), ENOENT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_unix: "));
  assert_state (h, 0, 0, 0, 0, 0, 1, 0, "DEAD");
  nbd_close (h);
  h_rmdir (dir);
}

static void
test_wrong_state_commands (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  char buf[512];
  int64_t r;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);

  /* Commands on a newly created handle: ENOTCONN, message names the call. */
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: invalid state: "));
  H_ASSERT_ERR (nbd_pwrite (h, buf, sizeof buf, 0, 0), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pwrite: "));
  H_ASSERT_ERR (nbd_flush (h, 0), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_flush: "));
  r = nbd_aio_pread (h, buf, sizeof buf, 0, NBD_NULL_COMPLETION, 0);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_aio_pread: "));
  r = nbd_get_size (h);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (nbd_get_errno (), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_get_size: "));
  H_ASSERT_ERR (nbd_shutdown (h, 0), ENOTCONN);

  /* The last error is per-call: a successful call in between does not
   * matter, the next failing call overwrites the message. */
  H_ASSERT_ERR (nbd_trim (h, 512, 0, 0), ENOTCONN);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_trim: "));

  /* Commands after shutdown (closed): EINVAL. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  H_ASSERT_OK (nbd_shutdown (h, 0));
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: invalid state: "));
  H_ASSERT_ERR (nbd_shutdown (h, 0), EINVAL);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_argument_errors (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char buf[512];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_connect_unix (h, H_NULL), EFAULT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_unix: "));
  /* A refused argument leaves the handle new. */
  CU_ASSERT (nbd_aio_is_created (h));
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));

  /* Unknown flag bits, and flags not allowed for the command. */
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, 0xffff), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  H_ASSERT_ERR (nbd_pread (h, buf, sizeof buf, 0, LIBNBD_CMD_FLAG_FUA), EINVAL);
  H_ASSERT_ERR (nbd_flush (h, LIBNBD_CMD_FLAG_NO_HOLE), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_flush: "));
#ifndef AGAINST_SYSTEM_LIBNBD
  /* The system libnbd 1.14 crashes here (it memsets buf before checking
   * it); ours must refuse with EFAULT. */
  H_ASSERT_ERR (nbd_pread (h, H_NULL, sizeof buf, 0, 0), EFAULT);
#endif
  /* Zero-length reads are refused. */
  H_ASSERT_ERR (nbd_pread (h, buf, 0, 0, 0), EINVAL);
  /* The connection is unaffected. */
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
  h_stop (&srv);
}

static int
no_extents (void *user_data, const char *metacontext, uint64_t offset,
            uint32_t *entries, size_t nr_entries, int *error)
{
  return 0;
}

static void
test_edge_arguments (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  char *big = malloc (5000);
  char buf[512] = { 0 };
  int fds_before;

  CU_ASSERT_PTR_NOT_NULL_FATAL (big);
  memset (big, 'a', 4999);
  big[4999] = '\0';

  /* Nothing to poll for on a new handle. */
  H_ASSERT_ERR (nbd_poll (h, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_poll: "));
  /* Names longer than the protocol's 4096 bytes. */
  H_ASSERT_ERR (nbd_set_export_name (h, big), ENAMETOOLONG);
  H_ASSERT_ERR (nbd_add_meta_context (h, big), ENAMETOOLONG);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_add_meta_context: "));
  CU_ASSERT_EQUAL (nbd_get_nr_meta_contexts (h), 0);
  H_ASSERT_OK (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  fds_before = h_count_fds ();
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));

  /* Zero-length requests are refused for every command. */
  H_ASSERT_ERR (nbd_pwrite (h, buf, 0, 0, 0), EINVAL);
  H_ASSERT_ERR (nbd_zero (h, 0, 0, 0), EINVAL);
  H_ASSERT_ERR (nbd_trim (h, 0, 0, 0), EINVAL);
  H_ASSERT_ERR (nbd_cache (h, 0, 0, 0), EINVAL);
  H_ASSERT_ERR (nbd_block_status (h, 0, 0, (nbd_extent_callback) {
        .callback = no_extents }, 0), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_block_status: "));
  CU_ASSERT (nbd_aio_is_ready (h));

  /* After shutdown: export information is still readable, the socket
   * is gone, and there is nothing left to poll. */
  H_ASSERT_OK (nbd_shutdown (h, 0));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  CU_ASSERT_EQUAL (nbd_can_flush (h), 1);
  CU_ASSERT_EQUAL (nbd_is_read_only (h), 0);
  CU_ASSERT_PTR_NOT_NULL (nbd_get_protocol (h));
  CU_ASSERT_EQUAL (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION),
                   1);
  CU_ASSERT_EQUAL (nbd_aio_get_fd (h), -1);
  H_ASSERT_ERR (nbd_poll (h, 0), EINVAL);
  CU_ASSERT_EQUAL (h_count_fds (), fds_before);
  nbd_close (h);
  h_stop (&srv);
  free (big);
}

/* notify_read/notify_write when the handle is not waiting for I/O. */
static void
test_notify_wrong_state (void)
{
  struct h_server srv;
  struct nbd_handle *h = nbd_create ();
  char dir[256], path[300];

  H_ASSERT_ERR (nbd_aio_notify_read (h), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_aio_notify_read: "));
  H_ASSERT_ERR (nbd_aio_notify_write (h), EINVAL);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  H_ASSERT_OK (nbd_shutdown (h, 0));
  H_ASSERT_ERR (nbd_aio_notify_read (h), EINVAL);
  H_ASSERT_ERR (nbd_aio_notify_write (h), EINVAL);
  nbd_close (h);
  h_stop (&srv);

  /* Dead: no fd, nothing to poll, notify refused, all with EINVAL. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (path, sizeof path, "%s/nobody", dir);
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_connect_unix (h, path), -1);
  CU_ASSERT (nbd_aio_is_dead (h));
  CU_ASSERT_EQUAL (nbd_aio_get_fd (h), -1);
  H_ASSERT_ERR (nbd_poll (h, 0), EINVAL);
  H_ASSERT_ERR (nbd_aio_notify_read (h), EINVAL);
  H_ASSERT_ERR (nbd_aio_notify_write (h), EINVAL);
  nbd_close (h);
  h_rmdir (dir);
}

static char *cmd_argv[] = { "nbdkit", "-s", "--exit-with-parent", "null",
                            "1M", NULL };

/* Try every connect call on H (which is not newly created). */
static void
try_all_connects (struct nbd_handle *h)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX,
                            .sun_path = "/nonexistent" };
  int fd = dup (2);

#define TRY(call, expr) \
  do { \
    H_ASSERT_ERR ((expr), EINVAL); \
    assert_not_new_msg (call, nbd_get_error ()); \
  } while (0)

  TRY ("nbd_connect_unix", nbd_connect_unix (h, "/nonexistent"));
  TRY ("nbd_connect_tcp", nbd_connect_tcp (h, "127.0.0.1", "1"));
  TRY ("nbd_connect_socket", nbd_connect_socket (h, fd));
  TRY ("nbd_connect_command", nbd_connect_command (h, cmd_argv));
  TRY ("nbd_connect_vsock", nbd_connect_vsock (h, 1, 1));
  TRY ("nbd_connect_systemd_socket_activation",
       nbd_connect_systemd_socket_activation (h, cmd_argv));
  if (nbd_supports_uri (h))
    TRY ("nbd_connect_uri", nbd_connect_uri (h, "nbd+unix:///?socket=/x"));
  TRY ("nbd_aio_connect",
       nbd_aio_connect (h, (const struct sockaddr *) &sun, sizeof sun));
  TRY ("nbd_aio_connect_unix", nbd_aio_connect_unix (h, "/nonexistent"));
  TRY ("nbd_aio_connect_tcp", nbd_aio_connect_tcp (h, "127.0.0.1", "1"));
  TRY ("nbd_aio_connect_socket", nbd_aio_connect_socket (h, fd));
  TRY ("nbd_aio_connect_command", nbd_aio_connect_command (h, cmd_argv));
  TRY ("nbd_aio_connect_vsock", nbd_aio_connect_vsock (h, 1, 1));
  TRY ("nbd_aio_connect_systemd_socket_activation",
       nbd_aio_connect_systemd_socket_activation (h, cmd_argv));
  if (nbd_supports_uri (h))
    TRY ("nbd_aio_connect_uri",
         nbd_aio_connect_uri (h, "nbd+unix:///?socket=/x"));
#undef TRY
  /* The refused connect_socket did not take ownership of fd. */
  CU_ASSERT (h_fd_is_open (fd));
  close (fd);
}

static void
test_connect_not_new (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char dir[256], path[300];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);

  /* Ready handle. */
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  try_all_connects (h);
  CU_ASSERT (nbd_aio_is_ready (h));     /* still usable */
  char buf[512];
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));

  /* Closed handle. */
  H_ASSERT_OK (nbd_shutdown (h, 0));
  try_all_connects (h);
  nbd_close (h);

  /* Dead handle. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (path, sizeof path, "%s/nobody", dir);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  CU_ASSERT_EQUAL (nbd_connect_unix (h, path), -1);
  CU_ASSERT (nbd_aio_is_dead (h));
  try_all_connects (h);
  nbd_close (h);
  h_rmdir (dir);

  /* Connecting (aio connect in progress / negotiating). */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_aio_connect_unix (h, srv.sock));
  CU_ASSERT (!nbd_aio_is_created (h));
  try_all_connects (h);
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_no_fd_leak (void)
{
  struct h_server srv;
  int fds0;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  fds0 = h_count_fds ();
  for (int i = 0; i < 20; i++) {
    struct nbd_handle *h = h_connect_unix (&srv);
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    if (i % 2)
      H_ASSERT_OK (nbd_shutdown (h, 0));
    nbd_close (h);
  }
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_lifecycle") == -1)
    return 2;
  s = h_add_suite ("lifecycle");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_create_close);
  H_ADD_TEST (s, test_handle_name);
  H_ADD_TEST (s, test_private_data);
  H_ADD_TEST (s, test_debug_flag);
  H_ADD_TEST (s, test_debug_env);
  H_ADD_TEST (s, test_debug_callback);
  H_ADD_TEST (s, test_export_name);
  H_ADD_TEST (s, test_version);
  H_ADD_TEST (s, test_states);
  H_ADD_TEST (s, test_wrong_state_commands);
  H_ADD_TEST (s, test_argument_errors);
  H_ADD_TEST (s, test_edge_arguments);
  H_ADD_TEST (s, test_notify_wrong_state);
  H_ADD_TEST (s, test_connect_not_new);
  H_ADD_TEST (s, test_no_fd_leak);
  return h_run_all ();
}
