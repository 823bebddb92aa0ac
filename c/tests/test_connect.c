/* Connection methods: socket (sync/aio), unix, tcp, command, aio_connect,
 * fd ownership, kill_subprocess. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

/* Write a pattern at OFFSET and read it back. */
static void
round_trip (struct nbd_handle *h, uint64_t offset, size_t len, uint64_t seed)
{
  char *w = malloc (len), *r = malloc (len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (w);
  CU_ASSERT_PTR_NOT_NULL_FATAL (r);
  h_fill (w, len, seed);
  memset (r, 0, len);
  H_ASSERT_OK (nbd_pwrite (h, w, len, offset, 0));
  H_ASSERT_OK (nbd_pread (h, r, len, offset, 0));
  CU_ASSERT (memcmp (w, r, len) == 0);
  free (w);
  free (r);
}

/* The library's own sockets must not leak into exec'd programs. */
static void
assert_cloexec (struct nbd_handle *h)
{
  int fd = nbd_aio_get_fd (h);
  CU_ASSERT_FATAL (fd >= 0);
  int fl = fcntl (fd, F_GETFD);
  CU_ASSERT (fl != -1 && (fl & FD_CLOEXEC));
}

static void
test_connect_socket (void)
{
  pid_t pid;
  int fd, fds0;
  struct nbd_handle *h;

  fds0 = h_count_fds ();
  fd = h_start_socketpair (&pid, "memory", "1M", NULL);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT (h_fd_is_open (fd));
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_socket (h, fd));
  CU_ASSERT (nbd_aio_is_ready (h));
  /* The handle uses (and now owns) the very fd we gave it. */
  CU_ASSERT (h_fd_is_open (fd));
  CU_ASSERT_EQUAL (nbd_aio_get_fd (h), fd);
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  round_trip (h, 4096, 8192, 1);
  nbd_close (h);
  /* nbd_close closed it. */
  CU_ASSERT (!h_fd_is_open (fd));
  CU_ASSERT_EQUAL (errno, EBADF);
  h_kill_pid (pid, SIGTERM);
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
}

static void
test_connect_socket_refused_keeps_fd (void)
{
  struct h_server srv;
  pid_t pid;
  int fd;
  struct nbd_handle *h;
  char buf[512];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  fd = h_start_socketpair (&pid, "memory", "1M", NULL);
  CU_ASSERT_FATAL (fd >= 0);

  H_ASSERT_ERR (nbd_connect_socket (h, fd), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (),
                           "nbd_connect_socket: invalid state: "));
  H_ASSERT_ERR (nbd_aio_connect_socket (h, fd), EINVAL);
  /* The caller still owns fd; the handle is unaffected. */
  CU_ASSERT (h_fd_is_open (fd));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
  CU_ASSERT (h_fd_is_open (fd));        /* close did not touch it either */

  /* And the fd still works: use it on a fresh handle. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_connect_socket (h, fd));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
  CU_ASSERT (!h_fd_is_open (fd));
  h_kill_pid (pid, SIGTERM);
  h_stop (&srv);
}

static void
test_aio_connect_socket (void)
{
  pid_t pid;
  int fd, polls = 0;
  struct nbd_handle *h;

  fd = h_start_socketpair (&pid, "memory", "1M", NULL);
  CU_ASSERT_FATAL (fd >= 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_aio_connect_socket (h, fd));
  /* The handshake needs the server's replies: cannot be ready yet. */
  CU_ASSERT (!nbd_aio_is_created (h));
  CU_ASSERT (!nbd_aio_is_ready (h));
  CU_ASSERT (nbd_aio_is_connecting (h));
  CU_ASSERT (!nbd_aio_is_dead (h));
  while (!nbd_aio_is_ready (h) && !nbd_aio_is_dead (h)) {
    int r = nbd_poll (h, 5000);
    CU_ASSERT_NOT_EQUAL_FATAL (r, -1);
    polls++;
  }
  CU_ASSERT (polls > 0);
  CU_ASSERT (nbd_aio_is_ready (h));
  round_trip (h, 0, 65536, 2);
  nbd_close (h);
  CU_ASSERT (!h_fd_is_open (fd));
  h_kill_pid (pid, SIGTERM);
}

static void
test_connect_unix (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char dir[256], path[300];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "2M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_ready (h));
  assert_cloexec (h);
  CU_ASSERT_EQUAL (nbd_get_size (h), 2 * 1024 * 1024);
  round_trip (h, 1024 * 1024, 4096, 3);
  nbd_close (h);
  h_stop (&srv);

  /* Nobody listening: ENOENT for a missing path, ECONNREFUSED for a
   * socket file without a listener. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (path, sizeof path, "%s/missing", dir);
  h = nbd_create ();
  H_ASSERT_ERR (nbd_connect_unix (h, path), ENOENT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_unix: "));
  CU_ASSERT (nbd_aio_is_dead (h));
  nbd_close (h);

  {
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int s = socket (AF_UNIX, SOCK_STREAM, 0);
    snprintf (path, sizeof path, "%s/stale", dir);
    CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, path), 0);
    CU_ASSERT_EQUAL (bind (s, (struct sockaddr *) &sun, sizeof sun), 0);
    close (s);                  /* leaves a socket file, no listener */
    h = nbd_create ();
    H_ASSERT_ERR (nbd_connect_unix (h, path), ECONNREFUSED);
    CU_ASSERT (nbd_aio_is_dead (h));
    nbd_close (h);
  }
  h_rmdir (dir);
}

static void
test_connect_tcp (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char port[16];
  int freeport;

  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&srv, "memory", "1M", NULL), 0);
  snprintf (port, sizeof port, "%d", srv.port);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_tcp (h, "127.0.0.1", port));
  CU_ASSERT (nbd_aio_is_ready (h));
  assert_cloexec (h);
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  round_trip (h, 512, 100000, 4);
  nbd_close (h);

  /* By name: "localhost" must reach the 127.0.0.1 listener (trying
   * every resolved address until one accepts). */
  h = nbd_create ();
  H_ASSERT_OK (nbd_connect_tcp (h, "localhost", port));
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);

  /* aio form, driven by nbd_poll. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_aio_connect_tcp (h, "127.0.0.1", port));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  round_trip (h, 0, 512, 5);
  nbd_close (h);
  h_stop (&srv);

  /* Refused: a port where nobody listens. */
  freeport = h_free_port ();
  CU_ASSERT_FATAL (freeport > 0);
  snprintf (port, sizeof port, "%d", freeport);
  h = nbd_create ();
  H_ASSERT_ERR (nbd_connect_tcp (h, "127.0.0.1", port), ECONNREFUSED);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_tcp: "));
  CU_ASSERT (!nbd_aio_is_ready (h));
  /* aio form: the refusal shows up at the call or while polling. */
  {
    struct nbd_handle *h2 = nbd_create ();
    int r = nbd_aio_connect_tcp (h2, "127.0.0.1", port);
    if (r == 0) {
      while (!nbd_aio_is_ready (h2) && !nbd_aio_is_dead (h2) &&
             !nbd_aio_is_created (h2))
        if ((r = nbd_poll (h2, 5000)) == -1)
          break;
    }
    CU_ASSERT_EQUAL (r, -1);
    CU_ASSERT_EQUAL (nbd_get_errno (), ECONNREFUSED);
    CU_ASSERT (!nbd_aio_is_ready (h2));
    nbd_close (h2);
  }
  /* libnbd 1.14: when every address refused, the handle goes back to
   * the created state and may be used to connect again. */
  CU_ASSERT (nbd_aio_is_created (h));
  CU_ASSERT (!nbd_aio_is_dead (h));
  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&srv, "memory", "1M", NULL), 0);
  snprintf (port, sizeof port, "%d", srv.port);
  H_ASSERT_OK (nbd_connect_tcp (h, "127.0.0.1", port));
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_connect_command (void)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "3M",
                   NULL };
  struct nbd_handle *h;
  int fds0 = h_count_fds ();

  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  CU_ASSERT (nbd_aio_is_ready (h));
  assert_cloexec (h);
  CU_ASSERT_EQUAL (nbd_get_size (h), 3 * 1024 * 1024);
  round_trip (h, 2 * 1024 * 1024, 1024 * 1024, 6);
  nbd_close (h);
  CU_ASSERT_EQUAL (h_count_fds (), fds0);

  /* aio form */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_aio_connect_command (h, argv));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  round_trip (h, 0, 4096, 7);
  nbd_close (h);
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
}

static void
test_connect_command_fails (void)
{
  char *argv[] = { "/nonexistent/nbd-server-binary", NULL };
  char *argv2[] = { "false", NULL };
  struct nbd_handle *h = nbd_create ();

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  /* Exec fails in the child: the handshake cannot complete. */
  CU_ASSERT_EQUAL (nbd_connect_command (h, argv), -1);
#ifndef AGAINST_SYSTEM_LIBNBD
  /* libnbd 1.14 reports "server disconnected unexpectedly" with errno 0;
   * ours finds the program missing before forking: ENOENT, and the handle
   * is still new. */
  CU_ASSERT_EQUAL (nbd_get_errno (), ENOENT);
  CU_ASSERT (nbd_aio_is_created (h));
#endif
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_command: "));
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);

  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_connect_command (h, argv2), -1);
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);

  /* Empty argv. */
  char *empty[] = { NULL };
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_connect_command (h, empty), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  nbd_close (h);
}

/* After killing the server: the server may still answer a request that
 * races its exit; within a bounded number of tries a pread fails.
 * Returns the last pread's result. */
static int
pread_until_fails (struct nbd_handle *h, char *buf, size_t len)
{
  int r = 0;
  for (int i = 0; i < 500 && r != -1; i++) {
    r = nbd_pread (h, buf, len, 0, 0);
    if (r != -1)
      usleep (10000);
  }
  return r;
}

static void
test_kill_subprocess (void)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M",
                   NULL };
  struct nbd_handle *h;
  char buf[512];
  struct h_server srv;
  int r;

  /* No subprocess: ESRCH. */
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_kill_subprocess (h, 0), ESRCH);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_kill_subprocess: "));
  nbd_close (h);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = h_connect_unix (&srv);
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_ERR (nbd_kill_subprocess (h, 0), ESRCH);
  nbd_close (h);
  h_stop (&srv);

  /* With a subprocess: kill it; commands then fail, no hang. */
  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  H_ASSERT_OK (nbd_kill_subprocess (h, 0));
  /* The commands fail and the handle dies. */
  r = pread_until_fails (h, buf, sizeof buf);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_pread: "));
  /* nbdkit may first answer ESHUTDOWN while exiting; then EOF. */
  for (int i = 0; i < 500 && !nbd_aio_is_dead (h); i++) {
    if (nbd_pread (h, buf, sizeof buf, 0, 0) == 0)
      break;
    if (!nbd_aio_is_dead (h))
      usleep (10000);
  }
  CU_ASSERT (nbd_aio_is_dead (h));
  nbd_close (h);

  /* An explicit signal number. */
  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_OK (nbd_kill_subprocess (h, SIGKILL));
  r = pread_until_fails (h, buf, sizeof buf);
  CU_ASSERT_EQUAL (r, -1);
  nbd_close (h);

  /* Invalid signal number. */
  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_ERR (nbd_kill_subprocess (h, -1), EINVAL);
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);
}

#ifndef AGAINST_SYSTEM_LIBNBD
/* nbd_connect: our blocking extension of nbd_aio_connect. */
static void
test_connect_sockaddr_sync (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  char dir[256], path[300];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, srv.sock), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect (h, (struct sockaddr *) &sun, sizeof sun));
  CU_ASSERT (nbd_aio_is_ready (h));
  round_trip (h, 4096, 4096, 3);
  /* Not a new handle any more. */
  H_ASSERT_ERR (nbd_connect (h, (struct sockaddr *) &sun, sizeof sun), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect: invalid state: "));
  nbd_close (h);
  h_stop (&srv);

  /* Nobody listening: -1 with the connect's errno, handle dead. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (path, sizeof path, "%s/missing", dir);
  CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, path), 0);
  h = nbd_create ();
  H_ASSERT_ERR (nbd_connect (h, (struct sockaddr *) &sun, sizeof sun), ENOENT);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect: "));
  CU_ASSERT (nbd_aio_is_dead (h));
  nbd_close (h);
  h_rmdir (dir);
}
#endif

static void
test_aio_connect_sockaddr (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  char dir[256];

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, srv.sock), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_aio_connect (h, (struct sockaddr *) &sun,
                                      sizeof sun));
  CU_ASSERT (!nbd_aio_is_created (h));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  CU_ASSERT (nbd_aio_is_ready (h));
  round_trip (h, 8192, 4096, 8);
  nbd_close (h);

  /* aio_connect_unix likewise. */
  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_aio_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  round_trip (h, 0, 512, 9);
  nbd_close (h);
  h_stop (&srv);

  /* Nobody listening: the error shows up either at the call or after
   * polling; either way the handle ends up dead with errno set. */
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  {
    char path[300];
    snprintf (path, sizeof path, "%s/missing", dir);
    CU_ASSERT_EQUAL_FATAL (h_sockaddr_un (&sun, path), 0);
  }
  h = nbd_create ();
  if (nbd_aio_connect (h, (struct sockaddr *) &sun, sizeof sun) == 0) {
    while (!nbd_aio_is_dead (h) && nbd_poll (h, 1000) != -1)
      ;
  }
  CU_ASSERT (nbd_aio_is_dead (h));
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  nbd_close (h);
  h_rmdir (dir);
}

static void
test_export_name_reaches_server (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char *s;

  /* The exportname filter with exportname-strict=true rejects names it
   * does not list, so the name we set really is sent. */
  if (!h_nbdkit_has_filter ("exportname")) {
    h_skip ("test_export_name_reaches_server", "no exportname filter");
    return;
  }
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--filter=exportname",
                                       "memory", "1M", "exportname=good",
                                       "exportname-strict=true", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_export_name (h, "good"));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT (nbd_aio_is_ready (h));
  s = nbd_get_export_name (h);
  if (s)
    CU_ASSERT_STRING_EQUAL (s, "good");
  free (s);
  nbd_close (h);

  h = nbd_create ();
  H_ASSERT_OK (nbd_set_export_name (h, "bad"));
  CU_ASSERT_EQUAL (nbd_connect_unix (h, srv.sock), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_unix: "));
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

/* No child is left behind: nbd_close reaps the subprocess it started. */
static void
assert_no_children (void)
{
  int st;
  errno = 0;
  pid_t r = waitpid (-1, &st, WNOHANG);
  if (r != -1)
    fprintf (stderr, "\n  unreaped/running child after nbd_close: %d\n",
             (int) r);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (errno, ECHILD);
}

static void
test_socket_activation (void)
{
  char *argv[] = { "nbdkit", "--exit-with-parent", "memory", "2M", NULL };
  struct nbd_handle *h;
  int fds0 = h_count_fds ();

  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_systemd_socket_activation (h, argv));
  CU_ASSERT (nbd_aio_is_ready (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 2 * 1024 * 1024);
  round_trip (h, 4096, 4096, 12);
  nbd_close (h);
  assert_no_children ();
  CU_ASSERT_EQUAL (h_count_fds (), fds0);

  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_aio_connect_systemd_socket_activation (h, argv));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  round_trip (h, 0, 512, 13);
  nbd_close (h);
  assert_no_children ();
  CU_ASSERT_EQUAL (h_count_fds (), fds0);
}

static void
test_command_reaped (void)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "memory", "1M",
                   NULL };
  struct nbd_handle *h = nbd_create ();

  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  nbd_close (h);
  assert_no_children ();

  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_connect_command (h, argv));
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  assert_no_children ();
}

static void
test_tls_never_downgrades (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  int r;

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_get_tls (h), LIBNBD_TLS_DISABLE);
  H_ASSERT_ERR (nbd_set_tls (h, 7), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_set_tls: "));

  /* TLS required, plaintext server: the connection must fail, never
   * fall back to plaintext.  (A build without TLS may refuse the
   * setting itself with ENOTSUP.) */
  r = nbd_set_tls (h, LIBNBD_TLS_REQUIRE);
  if (r == -1) {
    CU_ASSERT (!nbd_supports_tls (h));
    CU_ASSERT_EQUAL (nbd_get_errno (), ENOTSUP);
  }
  else {
    CU_ASSERT_EQUAL (nbd_get_tls (h), LIBNBD_TLS_REQUIRE);
    CU_ASSERT_EQUAL (nbd_connect_unix (h, srv.sock), -1);
    CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
    CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_unix: "));
    CU_ASSERT (!nbd_aio_is_ready (h));
  }
  nbd_close (h);

  /* TLS allowed: a plaintext server is fine; nothing negotiated. */
  h = nbd_create ();
  if (nbd_set_tls (h, LIBNBD_TLS_ALLOW) == 0) {
    H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
    CU_ASSERT (nbd_aio_is_ready (h));
    CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
  }
  else
    CU_ASSERT (!nbd_supports_tls (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_connect_uri (void)
{
  struct h_server srv, tsrv;
  struct nbd_handle *h;
  char uri[512];
  char buf[512];

  h = nbd_create ();
  if (!nbd_supports_uri (h)) {
    nbd_close (h);
    h_skip ("test_connect_uri", "library built without URI support");
    return;
  }
  nbd_close (h);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  snprintf (uri, sizeof uri, "nbd+unix:///?socket=%s", srv.sock);
  h = nbd_create ();
  H_ASSERT_OK (nbd_connect_uri (h, uri));
  CU_ASSERT (nbd_aio_is_ready (h));
  H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  nbd_close (h);

  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&tsrv, "memory", "2M", NULL), 0);
  snprintf (uri, sizeof uri, "nbd://127.0.0.1:%d/", tsrv.port);
  h = nbd_create ();
  H_ASSERT_OK (nbd_connect_uri (h, uri));
  CU_ASSERT_EQUAL (nbd_get_size (h), 2 * 1024 * 1024);
  nbd_close (h);

  /* Garbage and TLS-only URIs without TLS. */
  h = nbd_create ();
  CU_ASSERT_EQUAL (nbd_connect_uri (h, "this is not a uri"), -1);
  CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_uri: "));
  nbd_close (h);
  h_stop (&srv);
  h_stop (&tsrv);
}

int
main (void)
{
  CU_pSuite s;

  if (h_init ("test_connect") == -1)
    return 2;
  s = h_add_suite ("connect");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_connect_socket);
  H_ADD_TEST (s, test_connect_socket_refused_keeps_fd);
  H_ADD_TEST (s, test_aio_connect_socket);
  H_ADD_TEST (s, test_connect_unix);
  H_ADD_TEST (s, test_connect_tcp);
  H_ADD_TEST (s, test_connect_command);
  H_ADD_TEST (s, test_connect_command_fails);
  H_ADD_TEST (s, test_kill_subprocess);
  H_ADD_TEST (s, test_aio_connect_sockaddr);
#ifndef AGAINST_SYSTEM_LIBNBD
  H_ADD_TEST (s, test_connect_sockaddr_sync);
#endif
  H_ADD_TEST (s, test_export_name_reaches_server);
  H_ADD_TEST (s, test_socket_activation);
  H_ADD_TEST (s, test_command_reaped);
  H_ADD_TEST (s, test_tls_never_downgrades);
  H_ADD_TEST (s, test_connect_uri);
  return h_run_all ();
}
