/* connect.c: every way of getting a connected socket into the handle:
 * unix, tcp, vsock, a sockaddr, an adopted socket, a subprocess. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "internal.h"

int
nbd_internal_remember_endpoint (struct nbd_handle *h, int transport, const char *host,
                                const char *port, uint32_t cid, const char *socket)
{
  struct nbd_uri *u = calloc (1, sizeof *u);

  if (!u) return -1;
  u->transport = transport;
  u->tls_verify_peer = -1;
  u->cid = cid;
  if ((host && !(u->host = strdup (host))) || (port && !(u->port = strdup (port))) ||
      (socket && !(u->socket = strdup (socket)))) {
    nbd_internal_free_uri (u);
    free (u);
    return -1;
  }
  if (h->uri_parts) { nbd_internal_free_uri (h->uri_parts); free (h->uri_parts); }
  h->uri_parts = u;
  return 0;
}

static bool
connect_finished (const struct nbd_handle *h)
{
  return h->state == ST_TRANSMISSION || h->state == ST_NEGOTIATING ||
    h->state == ST_DEAD || h->state == ST_CLOSED;
}

/* The sync half of every connect call. */
int
nbd_internal_wait_connected (struct nbd_handle *h)
{
  if (nbd_internal_wait_until (h, connect_finished) == -1)
    return -1;
  if (h->state == ST_TRANSMISSION || h->state == ST_NEGOTIATING)
    return 0;
  if (h->state == ST_CREATED) {   /* TCP: every address failed */
    if (h->uri_parts && h->uri_parts->host)
      set_error (h->connect_errno, "connect: %s:%s: %s", h->uri_parts->host,
                 h->uri_parts->port, strerror (h->connect_errno));
    else
      set_error (h->connect_errno, "connect: %s", strerror (h->connect_errno));
    return -1;
  }
  set_error (h->dead_errno ? h->dead_errno : ENOTCONN, "%s",
             h->dead_msg ? h->dead_msg : "the server closed the connection");
  return -1;
}

/* ---- public connect calls ------------------------------------------------- */
int
nbd_internal_connect_unix (struct nbd_handle *h, const char *path)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  size_t len = strlen (path);

  if (len == 0 || len >= sizeof sun.sun_path) {
    set_error (ENAMETOOLONG, "socket path must be 1 to %zu bytes", sizeof sun.sun_path - 1);
    return -1;
  }
  memcpy (sun.sun_path, path, len);
  nbd_internal_remember_endpoint (h, NBD_URI_UNIX, NULL, NULL, 0, path);
  return nbd_internal_start_connect (h, AF_UNIX, (struct sockaddr *) &sun, sizeof sun);
}

int
nbd_unlocked_aio_connect_unix (struct nbd_handle *h, const char *path)
{
  return nbd_internal_connect_unix (h, path);
}

int
nbd_unlocked_connect_unix (struct nbd_handle *h, const char *path)
{
  if (nbd_internal_connect_unix (h, path) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

int
nbd_internal_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  struct sockaddr_vm svm;

  memset (&svm, 0, sizeof svm);
  svm.svm_family = AF_VSOCK;
  svm.svm_cid = cid;
  svm.svm_port = port;
  {
    char portstr[16];
    snprintf (portstr, sizeof portstr, "%u", port);
    nbd_internal_remember_endpoint (h, NBD_URI_VSOCK, NULL, portstr, cid, NULL);
  }
  return nbd_internal_start_connect (h, AF_VSOCK, (struct sockaddr *) &svm, sizeof svm);
}

int
nbd_unlocked_aio_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  return nbd_internal_connect_vsock (h, cid, port);
}

int
nbd_unlocked_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  if (nbd_internal_connect_vsock (h, cid, port) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

int
nbd_internal_connect_tcp (struct nbd_handle *h, const char *host, const char *port)
{
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_ADDRCONFIG };
  int r;

  if (nbd_internal_refuse_tls_required (h) == -1)
    return -1;
  r = getaddrinfo (host, port, &hints, &h->ai_list);
  if (r != 0) {
    int err = r == EAI_SYSTEM ? errno : (r == EAI_NONAME ? ENOENT : EINVAL);
    set_error (err, "getaddrinfo: %s:%s: %s", host, port, gai_strerror (r));
    h->ai_list = NULL;
    return -1;
  }
  h->ai_next = h->ai_list;
  h->connect_errno = 0;
  nbd_internal_remember_endpoint (h, NBD_URI_TCP, host, port, 0, NULL);
  return nbd_internal_connect_tcp_addresses (h);
}

int
nbd_unlocked_aio_connect_tcp (struct nbd_handle *h, const char *host, const char *port)
{
  return nbd_internal_connect_tcp (h, host, port);
}

int
nbd_unlocked_connect_tcp (struct nbd_handle *h, const char *host, const char *port)
{
  if (nbd_internal_connect_tcp (h, host, port) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

/* Remembers a socket address in URI form, for nbd_get_uri. */
static void
remember_sockaddr (struct nbd_handle *h, const struct sockaddr *addr, socklen_t len)
{
  char host[NI_MAXHOST], port[NI_MAXSERV];

  switch (addr->sa_family) {
  case AF_INET: case AF_INET6:
    if (getnameinfo (addr, len, host, sizeof host, port, sizeof port,
                     NI_NUMERICHOST | NI_NUMERICSERV) == 0)
      nbd_internal_remember_endpoint (h, NBD_URI_TCP, host, port, 0, NULL);
    break;
  case AF_UNIX: {
    const struct sockaddr_un *sun = (const struct sockaddr_un *) addr;
    size_t max = len - offsetof (struct sockaddr_un, sun_path), n;
    char path[sizeof sun->sun_path + 1];

    if (max > sizeof sun->sun_path)
      max = sizeof sun->sun_path;
    n = strnlen (sun->sun_path, max);
    /* An abstract socket (leading NUL) has no path to name. */
    if (n > 0) {
      memcpy (path, sun->sun_path, n);
      path[n] = '\0';
      nbd_internal_remember_endpoint (h, NBD_URI_UNIX, NULL, NULL, 0, path);
    }
    break;
  }
  case AF_VSOCK:
    if (len >= sizeof (struct sockaddr_vm)) {
      const struct sockaddr_vm *svm = (const struct sockaddr_vm *) addr;
      snprintf (port, sizeof port, "%u", svm->svm_port);
      nbd_internal_remember_endpoint (h, NBD_URI_VSOCK, NULL, port, svm->svm_cid, NULL);
    }
    break;
  }
}

static int
connect_sockaddr (struct nbd_handle *h, const struct sockaddr *addr, socklen_t len)
{
  if (len < sizeof (sa_family_t) || len > sizeof (struct sockaddr_storage)) {
    set_error (EINVAL, "addr: invalid socket address");
    return -1;
  }
  remember_sockaddr (h, addr, len);
  return nbd_internal_start_connect (h, addr->sa_family, addr, len);
}

int
nbd_unlocked_aio_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t len)
{
  return connect_sockaddr (h, addr, len);
}

int
nbd_unlocked_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t len)
{
  if (connect_sockaddr (h, addr, len) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

static int
adopt_checked (struct nbd_handle *h, int sock)
{
  struct stat st;

  if (sock < 0 || fstat (sock, &st) == -1) {
    set_error (EBADF, "sock: invalid file descriptor %d", sock);
    return -1;
  }
  /* Refused before it is taken, so the caller still owns it. */
  if (!S_ISSOCK (st.st_mode)) {
    set_error (ENOTSOCK, "sock: file descriptor %d is not a socket", sock);
    return -1;
  }
  if (nbd_internal_refuse_tls_required (h) == -1)
    return -1;
  return nbd_internal_adopt_socket (h, sock);
}

int
nbd_unlocked_aio_connect_socket (struct nbd_handle *h, int sock)
{
  return adopt_checked (h, sock);
}

int
nbd_unlocked_connect_socket (struct nbd_handle *h, int sock)
{
  if (adopt_checked (h, sock) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

/* ---- subprocesses ----------------------------------------------------------- */
static size_t
argv_count (char **argv)
{
  size_t n = 0;
  while (argv[n]) n++;
  return n;
}

/* Writes decimal v into buf (async-signal-safe, for use after fork). */
static void
format_uint (char *buf, unsigned long v)
{
  char tmp[24];
  int i = 0, j = 0;
  do { tmp[i++] = '0' + v % 10; v /= 10; } while (v);
  while (i) buf[j++] = tmp[--i];
  buf[j] = 0;
}

/* Forks argv with child_fd as stdin+stdout (connect_command) or as fd 3 with
 * systemd's LISTEN_* variables (socket activation). */
static int
spawn (struct nbd_handle *h, char **argv, int child_fd, bool activation)
{
  pid_t pid;
  char listen_pid[48] = "LISTEN_PID=";
  char *fdnames = NULL;

  /* Everything the child needs is prepared before fork. */
  if (activation && h->sa_name && h->sa_name[0] &&
      asprintf (&fdnames, "LISTEN_FDNAMES=%s", h->sa_name) == -1) {
    set_error (ENOMEM, "out of memory");
    return -1;
  }
  sigset_t all, old;

  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  pid = fork ();
  if (pid == -1) {
    int e = errno;
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    free (fdnames);
    set_error (e, "fork: %s", strerror (e));
    return -1;
  }
  if (pid == 0) {
    sigset_t none;
    struct sigaction sa = { .sa_handler = SIG_DFL };
    int s;

    for (s = 1; s < NSIG; s++) sigaction (s, &sa, NULL);
    if (activation) {
      if (child_fd != 3) { dup2 (child_fd, 3); close (child_fd); }
      else fcntl (3, F_SETFD, 0);
      format_uint (listen_pid + strlen ("LISTEN_PID="), (unsigned long) getpid ());
      putenv (listen_pid);
      putenv ((char *) "LISTEN_FDS=1");
      if (fdnames) putenv (fdnames);
    }
    else {
      dup2 (child_fd, 0);
      dup2 (child_fd, 1);
      if (child_fd > 1) close (child_fd);
    }
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    execvp (argv[0], argv);
    _exit (126);
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  free (fdnames);
  h->pid = pid;
  return 0;
}

/* Whether execvp would find program: a name with a '/' as it is, other
 * names along $PATH.  Checked before forking, so that a missing server is
 * ENOENT here rather than an EOF in the handshake. */
static bool
can_execute (const char *program)
{
  const char *path = getenv ("PATH"), *p, *end;
  char buf[4096];

  if (strchr (program, '/'))
    return access (program, X_OK) == 0;
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  for (p = path; ; p = end + 1) {
    size_t dlen;
    end = strchr (p, ':');
    dlen = end ? (size_t) (end - p) : strlen (p);
    if (snprintf (buf, sizeof buf, "%.*s%s%s", (int) dlen, p, dlen ? "/" : "", program)
        < (int) sizeof buf && access (buf, X_OK) == 0)
      return true;
    if (!end)
      return false;
  }
}

static int
aio_connect_command_locked (struct nbd_handle *h, char **argv)
{
  int sv[2];

  if (!argv || !argv[0] || argv_count (argv) == 0) {
    set_error (EINVAL, "argv: the command must not be empty");
    return -1;
  }
  if (!can_execute (argv[0])) {
    set_error (ENOENT, "%s: command not found (or not executable)", argv[0]);
    return -1;
  }
  if (nbd_internal_refuse_tls_required (h) == -1)
    return -1;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    set_error (errno, "socketpair: %s", strerror (errno));
    return -1;
  }
  if (spawn (h, argv, sv[1], false) == -1) {
    close (sv[0]); close (sv[1]);
    return -1;
  }
  close (sv[1]);
  if (nbd_internal_adopt_socket (h, sv[0]) == -1) {
    close (sv[0]);
    return -1;
  }
  return 0;
}

int
nbd_unlocked_aio_connect_command (struct nbd_handle *h, char **argv)
{
  return aio_connect_command_locked (h, argv);
}

int
nbd_unlocked_connect_command (struct nbd_handle *h, char **argv)
{
  if (aio_connect_command_locked (h, argv) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

static int
aio_connect_activation_locked (struct nbd_handle *h, char **argv)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  char tmpl[] = "/tmp/libnbd-saXXXXXX";
  const char *dir;
  int lfd;

  if (!argv || !argv[0]) {
    set_error (EINVAL, "argv: the command must not be empty");
    return -1;
  }
  if (!can_execute (argv[0])) {
    set_error (ENOENT, "%s: command not found (or not executable)", argv[0]);
    return -1;
  }
  if (nbd_internal_refuse_tls_required (h) == -1)
    return -1;
  dir = mkdtemp (tmpl);
  if (!dir) {
    set_error (errno, "mkdtemp: %s", strerror (errno));
    return -1;
  }
  h->sa_tmpdir = strdup (dir);
  if (asprintf (&h->sa_sockpath, "%s/sock", dir) == -1 || !h->sa_tmpdir) {
    h->sa_sockpath = NULL;
    set_error (ENOMEM, "out of memory");
    return -1;
  }
  strcpy (sun.sun_path, h->sa_sockpath);
  lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd == -1 || bind (lfd, (struct sockaddr *) &sun, sizeof sun) == -1 ||
      listen (lfd, SOMAXCONN) == -1) {
    int e = errno;
    if (lfd >= 0) close (lfd);
    set_error (e, "socket activation: %s", strerror (e));
    return -1;
  }
  if (spawn (h, argv, lfd, true) == -1) {
    close (lfd);
    return -1;
  }
  close (lfd);
  nbd_internal_remember_endpoint (h, NBD_URI_UNIX, NULL, NULL, 0, h->sa_sockpath);
  return nbd_internal_start_connect (h, AF_UNIX, (struct sockaddr *) &sun, sizeof sun);
}

int
nbd_unlocked_aio_connect_systemd_socket_activation (struct nbd_handle *h, char **argv)
{
  return aio_connect_activation_locked (h, argv);
}

int
nbd_unlocked_connect_systemd_socket_activation (struct nbd_handle *h, char **argv)
{
  if (aio_connect_activation_locked (h, argv) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

int
nbd_unlocked_kill_subprocess (struct nbd_handle *h, int signum)
{
  if (h->pid <= 0) {
    set_error (ESRCH, "no subprocess to kill");
    return -1;
  }
  if (signum == 0) signum = SIGTERM;
  if (signum < 0 || signum >= NSIG) {
    set_error (EINVAL, "signum: invalid signal %d", signum);
    return -1;
  }
  if (kill (h->pid, signum) == -1) {
    set_error (errno, "kill: %s", strerror (errno));
    return -1;
  }
  return 0;
}

/* Polls for the child's exit for up to ms milliseconds. */
static bool
child_exited (struct nbd_handle *h, int ms)
{
  int status, i;

  for (i = 0; i <= ms / 10; i++) {
    pid_t r = waitpid (h->pid, &status, WNOHANG);
    if (r == h->pid || (r == -1 && errno != EINTR))
      return true;
    if (r == 0 && i < ms / 10) {
      struct timespec ts = { 0, 10 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
  }
  return false;
}

/* Reaps the subprocess after its socket was closed.  A server started by
 * nbd_connect_command exits on EOF, so it gets a grace period first; a
 * socket-activated server keeps listening for more clients, so it gets
 * SIGTERM at once (nbd_close must not wait for it).  One that ignores
 * SIGTERM is killed, so nbd_close never waits without bound. */
void
nbd_internal_reap_child (struct nbd_handle *h)
{
  int status;

  if (h->pid <= 0)
    return;
  if (h->sa_tmpdir == NULL && child_exited (h, 2000))
    goto done;
  kill (h->pid, SIGTERM);
  if (child_exited (h, 2000))
    goto done;
  kill (h->pid, SIGKILL);
  while (waitpid (h->pid, &status, 0) == -1 && errno == EINTR)
    ;
 done:
  h->pid = 0;
}
