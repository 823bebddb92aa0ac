/* Test harness: private nbdkit servers, watchdog, fd counting.
 * See harness.h for the interface. */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>

#include <CUnit/Basic.h>
#include <libnbd.h>

#include "harness.h"

#define MAX_ARGS 64
#define MAX_PIDS 64

unsigned h_skipped;
void *volatile h_null;

static pid_t pids[MAX_PIDS];            /* children not yet reaped */
#define MAX_DIRS 64
static char *dirs[MAX_DIRS];            /* temp dirs not yet removed */
static bool dir_of_test[MAX_DIRS];      /* made inside a test: teardown removes */
static bool in_test;
static const char *volatile current_test = "(none)";
static const char *progname = "test";

static void
register_pid (pid_t pid)
{
  for (int i = 0; i < MAX_PIDS; i++)
    if (pids[i] == 0) {
      pids[i] = pid;
      return;
    }
  fprintf (stderr, "harness: too many child processes\n");
  abort ();
}

static void
unregister_pid (pid_t pid)
{
  for (int i = 0; i < MAX_PIDS; i++)
    if (pids[i] == pid)
      pids[i] = 0;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

void
h_kill_pid (pid_t pid, int sig)
{
  int status;

  if (pid <= 0)
    return;
  if (waitpid (pid, &status, WNOHANG) == pid) {
    unregister_pid (pid);
    return;
  }
  kill (pid, sig);
  /* Up to 5 s grace, then SIGKILL. */
  for (int i = 0; i < 500; i++) {
    pid_t r = waitpid (pid, &status, WNOHANG);
    if (r == pid || (r == -1 && errno == ECHILD)) {
      unregister_pid (pid);
      return;
    }
    sleep_ms (10);
  }
  kill (pid, SIGKILL);
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  unregister_pid (pid);
}

void
h_kill_all (void)
{
  for (int i = 0; i < MAX_PIDS; i++)
    if (pids[i] > 0)
      h_kill_pid (pids[i], SIGTERM);
}

int
h_mkdtemp (char *buf, size_t len)
{
  const char *tmp = getenv ("TMPDIR");
  /* Unix socket paths are limited to 107 bytes: avoid long TMPDIRs. */
  if (tmp == NULL || *tmp == '\0' || strlen (tmp) > 60)
    tmp = "/tmp";
  if ((size_t) snprintf (buf, len, "%s/ctests-XXXXXX", tmp) >= len) {
    fprintf (stderr, "harness: TMPDIR too long\n");
    return -1;
  }
  if (mkdtemp (buf) == NULL) {
    perror ("harness: mkdtemp");
    return -1;
  }
  for (int i = 0; i < MAX_DIRS; i++)
    if (dirs[i] == NULL) {
      dirs[i] = strdup (buf);
      dir_of_test[i] = in_test;
      break;
    }
  return 0;
}

void
h_rmdir (const char *dir)
{
  DIR *d;
  struct dirent *e;
  char path[600];

  if (dir == NULL || dir[0] == '\0')
    return;
  d = opendir (dir);
  if (d != NULL) {
    while ((e = readdir (d)) != NULL) {
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
      unlink (path);
    }
    closedir (d);
  }
  rmdir (dir);
  for (int i = 0; i < MAX_DIRS; i++)
    if (dirs[i] && strcmp (dirs[i], dir) == 0) {
      free (dirs[i]);
      dirs[i] = NULL;
    }
}

/* Remove temp dirs left behind (e.g. by a fatal assertion).  With
 * only_test, just those made inside the test that is ending. */
static void
remove_all_dirs (bool only_test)
{
  for (int i = 0; i < MAX_DIRS; i++)
    if (dirs[i] && (!only_test || dir_of_test[i])) {
      char d[256];
      snprintf (d, sizeof d, "%s", dirs[i]);
      h_rmdir (d);              /* also frees and clears dirs[i] */
    }
}

int
h_free_port (void)
{
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  int fd, port;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return -1;
  memset (&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  sin.sin_port = 0;
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) == -1 ||
      getsockname (fd, (struct sockaddr *) &sin, &len) == -1) {
    close (fd);
    return -1;
  }
  port = ntohs (sin.sin_port);
  close (fd);
  return port;
}

/* Wait for the pidfile to have contents.  Returns 0 if ready, -1 if
 * the child died or it took too long. */
static int
wait_ready (struct h_server *s)
{
  struct stat st;
  int status;

  for (int i = 0; i < 3000; i++) {      /* 30 s */
    if (stat (s->pidfile, &st) == 0 && st.st_size > 0)
      return 0;
    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      unregister_pid (s->pid);
      s->pid = 0;
      fprintf (stderr, "harness: nbdkit exited before becoming ready "
               "(status 0x%x)\n", status);
      return -1;
    }
    sleep_ms (10);
  }
  fprintf (stderr, "harness: nbdkit did not become ready\n");
  return -1;
}

static pid_t
spawn_pdeath (const char *const *argv, int stdio_fd, bool pdeath)
{
  pid_t pid;

  fflush (NULL);
  pid = fork ();
  if (pid == -1) {
    perror ("harness: fork");
    return -1;
  }
  if (pid == 0) {
    if (stdio_fd >= 0) {
      dup2 (stdio_fd, 0);
      dup2 (stdio_fd, 1);
      if (stdio_fd > 2)
        close (stdio_fd);
    }
    else {
      int nullfd = open ("/dev/null", O_RDONLY);
      if (nullfd >= 0) {
        dup2 (nullfd, 0);
        if (nullfd > 2)
          close (nullfd);
      }
    }
    if (pdeath)
      prctl (PR_SET_PDEATHSIG, SIGTERM);
    /* Tests must not leak their watchdog or signal state into nbdkit
     * (and the child must never run the parent's cleanup handlers). */
    alarm (0);
    {
      static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
                                  SIGPIPE, SIGTERM, SIGINT, SIGALRM };
      for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal (sigs[i], SIG_DFL);
    }
    execvp (argv[0], (char *const *) argv);
    fprintf (stderr, "harness: exec %s: %m\n", argv[0]);
    _exit (127);
  }
  register_pid (pid);
  return pid;
}

static pid_t
spawn (const char *const *argv, int stdio_fd)
{
  return spawn_pdeath (argv, stdio_fd, false);
}

enum mode { M_UNIX, M_UNIX_AT, M_TCP, M_CUSTOM };

static int
start_common (struct h_server *s, enum mode mode, const char *sockpath,
              const char *const *args)
{
  const char *argv[MAX_ARGS + 16];
  char portstr[16];
  size_t n = 0;

  memset (s, 0, sizeof *s);
  if (h_mkdtemp (s->dir, sizeof s->dir) == -1)
    return -1;
  snprintf (s->pidfile, sizeof s->pidfile, "%s/pid", s->dir);
  if (mode == M_UNIX)
    snprintf (s->sock, sizeof s->sock, "%s/sock", s->dir);
  else if (mode == M_UNIX_AT)
    snprintf (s->sock, sizeof s->sock, "%s", sockpath);

  argv[n++] = "nbdkit";
  argv[n++] = "-f";
  argv[n++] = "--exit-with-parent";
  argv[n++] = "-P";
  argv[n++] = s->pidfile;
  if (mode == M_TCP) {
    s->port = h_free_port ();
    if (s->port <= 0) {
      fprintf (stderr, "harness: no free port\n");
      h_rmdir (s->dir);
      return -1;
    }
    snprintf (portstr, sizeof portstr, "%d", s->port);
    argv[n++] = "-p";
    argv[n++] = portstr;
    argv[n++] = "-i";
    argv[n++] = "127.0.0.1";
  }
  else if (mode != M_CUSTOM) {
    argv[n++] = "-U";
    argv[n++] = s->sock;
  }
  for (size_t i = 0; args[i] != NULL; i++) {
    if (n >= MAX_ARGS + 14) {
      fprintf (stderr, "harness: too many args\n");
      return -1;
    }
    argv[n++] = args[i];
  }
  argv[n] = NULL;

  s->pid = spawn (argv, -1);
  if (s->pid == -1) {
    s->pid = 0;
    h_rmdir (s->dir);
    return -1;
  }
  if (wait_ready (s) == -1) {
    h_stop (s);
    return -1;
  }
  return 0;
}

static void
collect (const char **out, size_t max, va_list ap)
{
  size_t n = 0;
  const char *a;

  while ((a = va_arg (ap, const char *)) != NULL) {
    if (n + 1 >= max) {
      fprintf (stderr, "harness: too many args\n");
      abort ();
    }
    out[n++] = a;
  }
  out[n] = NULL;
}

int
h_start_unix (struct h_server *s, ...)
{
  const char *args[MAX_ARGS];
  va_list ap;

  va_start (ap, s);
  collect (args, MAX_ARGS, ap);
  va_end (ap);
  return start_common (s, M_UNIX, NULL, args);
}

int
h_start_unix_at (struct h_server *s, const char *sockpath, ...)
{
  const char *args[MAX_ARGS];
  va_list ap;

  va_start (ap, sockpath);
  collect (args, MAX_ARGS, ap);
  va_end (ap);
  return start_common (s, M_UNIX_AT, sockpath, args);
}

int
h_start_custom (struct h_server *s, ...)
{
  const char *args[MAX_ARGS];
  va_list ap;

  va_start (ap, s);
  collect (args, MAX_ARGS, ap);
  va_end (ap);
  return start_common (s, M_CUSTOM, NULL, args);
}

int
h_start_tcp (struct h_server *s, ...)
{
  const char *args[MAX_ARGS];
  va_list ap;

  va_start (ap, s);
  collect (args, MAX_ARGS, ap);
  va_end (ap);
  /* The free port may be taken between probe and bind: retry. */
  for (int attempt = 0; attempt < 5; attempt++)
    if (start_common (s, M_TCP, NULL, args) == 0)
      return 0;
  return -1;
}

int
h_start_socketpair (pid_t *pid, ...)
{
  const char *args[MAX_ARGS];
  const char *argv[MAX_ARGS + 4];
  int sv[2];
  size_t n = 0;
  va_list ap;

  va_start (ap, pid);
  collect (args, MAX_ARGS, ap);
  va_end (ap);

  argv[n++] = "nbdkit";
  argv[n++] = "-s";
  argv[n++] = "--exit-with-parent";
  for (size_t i = 0; args[i] != NULL; i++)
    argv[n++] = args[i];
  argv[n] = NULL;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    perror ("harness: socketpair");
    return -1;
  }
  *pid = spawn (argv, sv[1]);
  close (sv[1]);
  if (*pid == -1) {
    close (sv[0]);
    return -1;
  }
  return sv[0];
}

int
h_start_qemu_nbd (struct h_server *s, const char *format, const char *file)
{
  return h_start_qemu_nbd_bin (s, "qemu-nbd", NULL, format, file);
}

int
h_start_qemu_nbd_args (struct h_server *s, const char *const *extra,
                       const char *format, const char *file)
{
  return h_start_qemu_nbd_bin (s, "qemu-nbd", extra, format, file);
}

int
h_start_qemu_nbd_bin (struct h_server *s, const char *bin, const char *const *extra,
                      const char *format, const char *file)
{
  const char *argv[32];
  size_t n = 0;
  struct sockaddr_un sun;
  int status;

  memset (s, 0, sizeof *s);
  if (h_mkdtemp (s->dir, sizeof s->dir) == -1)
    return -1;
  snprintf (s->pidfile, sizeof s->pidfile, "%s/pid", s->dir);
  snprintf (s->sock, sizeof s->sock, "%s/sock", s->dir);
  argv[n++] = bin;
  for (; extra && *extra && n < 20; extra++)
    argv[n++] = *extra;
  argv[n++] = "-f";
  argv[n++] = format;
  argv[n++] = "-t";
  argv[n++] = "-k";
  argv[n++] = s->sock;
  argv[n++] = "--pid-file";
  argv[n++] = s->pidfile;
  argv[n++] = file;
  argv[n] = NULL;
  s->pid = spawn_pdeath (argv, -1, true);
  if (s->pid == -1) {
    s->pid = 0;
    h_rmdir (s->dir);
    return -1;
  }
  if (h_sockaddr_un (&sun, s->sock) == -1) {
    h_stop (s);
    return -1;
  }
  /* Ready when a connect succeeds (-t: the probe connection is fine). */
  for (int i = 0; i < 3000; i++) {
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int r = connect (fd, (struct sockaddr *) &sun, sizeof sun);
      close (fd);
      if (r == 0)
        return 0;
    }
    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      unregister_pid (s->pid);
      s->pid = 0;
      fprintf (stderr, "harness: qemu-nbd exited early (status 0x%x)\n",
               status);
      h_stop (s);
      return -1;
    }
    sleep_ms (10);
  }
  fprintf (stderr, "harness: qemu-nbd did not become ready\n");
  h_stop (s);
  return -1;
}

void
h_stop (struct h_server *s)
{
  if (s->pid > 0)
    h_kill_pid (s->pid, SIGTERM);
  s->pid = 0;
  if (s->dir[0]) {
    if (s->sock[0] && strncmp (s->sock, s->dir, strlen (s->dir)) != 0)
      unlink (s->sock);
    h_rmdir (s->dir);
    s->dir[0] = '\0';
  }
}

/* Async-signal-safe last-ditch cleanup: kill children, remove the files
 * the harness and tests put in temp dirs, and the dirs. */
static pid_t harness_pid;

static void
emergency_cleanup (void)
{
  static const char *const files[] = { "pid", "sock", "img", "sparse.img",
                                       "inject", "stale", NULL };
  char path[512];

  for (int i = 0; i < MAX_PIDS; i++)
    if (pids[i] > 0)
      kill (pids[i], SIGKILL);
  for (int i = 0; i < MAX_DIRS; i++) {
    if (dirs[i] == NULL)
      continue;
    for (int j = 0; files[j]; j++) {
      size_t dl = strlen (dirs[i]), fl = strlen (files[j]);
      if (dl + fl + 2 > sizeof path)
        continue;
      memcpy (path, dirs[i], dl);
      path[dl] = '/';
      memcpy (path + dl + 1, files[j], fl + 1);
      unlink (path);
    }
    rmdir (dirs[i]);
  }
}

static void
watchdog_handler (int sig)
{
  static const char msg1[] = "\n*** WATCHDOG: test '";
  static const char msg2[] = "' timed out; aborting test program\n";
  const char *t = current_test;
  ssize_t r;

  (void) sig;
  r = write (2, msg1, sizeof msg1 - 1);
  r = write (2, t, strlen (t));
  r = write (2, msg2, sizeof msg2 - 1);
  (void) r;
  emergency_cleanup ();
  _exit (3);
}

/* A crash (SIGSEGV etc.) in the library under test: say which test,
 * clean up, then die of the same signal so the exit status shows it. */
static void
crash_handler (int sig)
{
  static const char msg1[] = "\n*** CRASH (fatal signal) in test '";
  static const char msg2[] = "'\n";
  const char *t = current_test;
  ssize_t r;

  /* A child the library forked inherits this handler until it execs:
   * there the signal (e.g. SIGTERM from nbd_close) must only end the
   * child, never clean up the parent's files. */
  if (getpid () != harness_pid) {
    signal (sig, SIG_DFL);
    raise (sig);
    return;
  }
  r = write (2, msg1, sizeof msg1 - 1);
  r = write (2, t, strlen (t));
  r = write (2, msg2, sizeof msg2 - 1);
  (void) r;
  emergency_cleanup ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
install_crash_handlers (void)
{
  static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
                              SIGPIPE, SIGTERM, SIGINT };
  struct sigaction sa;

  harness_pid = getpid ();
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = crash_handler;
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction (sigs[i], &sa, NULL);
}

void
h_watchdog (unsigned secs)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = watchdog_handler;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGALRM, &sa, NULL);
  alarm (secs);
}

int
h_count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n - 1;                 /* the directory's own fd */
}

bool
h_fd_is_open (int fd)
{
  return fcntl (fd, F_GETFD) != -1;
}

static bool
nbdkit_has (const char *kind, const char *name)
{
  char cmd[512];

  if (strcmp (kind, "filter") == 0)
    snprintf (cmd, sizeof cmd,
              "nbdkit --filter=%s null --dump-plugin >/dev/null 2>&1", name);
  else
    snprintf (cmd, sizeof cmd,
              "nbdkit %s --dump-plugin >/dev/null 2>&1", name);
  return system (cmd) == 0;
}

bool h_nbdkit_has_filter (const char *name) { return nbdkit_has ("filter", name); }
bool h_nbdkit_has_plugin (const char *name) { return nbdkit_has ("plugin", name); }

/* xorshift-based deterministic pattern, position dependent. */
static uint8_t
pat (uint64_t seed, uint64_t i)
{
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 29;
  return (uint8_t) x;
}

void
h_fill (void *buf, size_t len, uint64_t seed)
{
  uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    p[i] = pat (seed, i);
}

bool
h_check (const void *buf, size_t len, uint64_t seed)
{
  const uint8_t *p = buf;
  for (size_t i = 0; i < len; i++)
    if (p[i] != pat (seed, i))
      return false;
  return true;
}

void
h_skip (const char *test, const char *why)
{
  h_skipped++;
  printf ("\nSKIP: %s: %s\n", test, why);
  fflush (stdout);
}

bool
h_has_prefix (const char *s, const char *prefix)
{
  return s != NULL && strncmp (s, prefix, strlen (prefix)) == 0;
}

bool
h_has_suffix (const char *s, const char *suffix)
{
  size_t ls, lx;
  if (s == NULL)
    return false;
  ls = strlen (s);
  lx = strlen (suffix);
  return ls >= lx && strcmp (s + ls - lx, suffix) == 0;
}

struct nbd_handle *
h_connect_unix (const struct h_server *s)
{
  struct nbd_handle *h = nbd_create ();
  if (h == NULL) {
    fprintf (stderr, "harness: nbd_create: %s\n", nbd_get_error ());
    return NULL;
  }
  if (nbd_connect_unix (h, s->sock) == -1) {
    fprintf (stderr, "harness: nbd_connect_unix %s: %s\n",
             s->sock, nbd_get_error ());
    nbd_close (h);
    return NULL;
  }
  return h;
}

int
h_poll_until_ready (struct nbd_handle *h)
{
  while (!nbd_aio_is_ready (h)) {
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h))
      return -1;
    if (nbd_poll (h, 1000) == -1)
      return -1;
  }
  return 0;
}

void
h_test_setup (void)
{
  CU_pTest t = CU_get_current_test ();
  const char *env = getenv ("CTESTS_WATCHDOG");
  unsigned secs = H_TEST_TIMEOUT;

  current_test = t && t->pName ? t->pName : "(unknown)";
  in_test = true;
  /* CTESTS_WATCHDOG=<seconds> overrides (e.g. under valgrind). */
  if (env && atoi (env) > 0)
    secs = (unsigned) atoi (env);
  h_watchdog (secs);
}

void
h_test_teardown (void)
{
  h_kill_all ();
  remove_all_dirs (true);
  in_test = false;
  h_watchdog (0);
  current_test = "(between tests)";
}

CU_pSuite
h_add_suite (const char *name)
{
  return CU_add_suite_with_setup_and_teardown (name, NULL, NULL,
                                               h_test_setup, h_test_teardown);
}

int
h_cunit_fail (void)
{
  fprintf (stderr, "%s: CUnit error: %s\n", progname, CU_get_error_msg ());
  CU_cleanup_registry ();
  return 2;
}

int
h_init (const char *name)
{
  progname = name;
  setvbuf (stdout, NULL, _IOLBF, 0);
  install_crash_handlers ();
  if (CU_initialize_registry () != CUE_SUCCESS) {
    fprintf (stderr, "%s: CU_initialize_registry failed\n", name);
    return -1;
  }
  return 0;
}

int
h_run_all (void)
{
  unsigned failures, tests_failed, suites_failed, ran;
  CU_ErrorCode err;

  CU_basic_set_mode (CU_BRM_VERBOSE);
  err = CU_basic_run_tests ();
  failures = CU_get_number_of_failures ();
  tests_failed = CU_get_number_of_tests_failed ();
  suites_failed = CU_get_number_of_suites_failed ();
  ran = CU_get_number_of_tests_run ();
  printf ("\n%s: %u tests run, %u failed, %u skipped, %u assertion failures%s\n",
          progname, ran, tests_failed, h_skipped, failures,
          H_SYSTEM_LIBNBD ? " (against system libnbd)" : "");
  CU_cleanup_registry ();
  h_kill_all ();
  remove_all_dirs (false);
  if (err != CUE_SUCCESS || failures > 0 || tests_failed > 0 ||
      suites_failed > 0)
    return 1;
  return 0;
}

int
h_sockaddr_un (void *p, const char *path)
{
  struct sockaddr_un *sun = p;
  size_t len = strlen (path);

  memset (sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (len >= sizeof sun->sun_path) {
    fprintf (stderr, "harness: socket path too long: %s\n", path);
    return -1;
  }
  memcpy (sun->sun_path, path, len + 1);
  return 0;
}

struct h_relay {
  pthread_t thread;
  int cfd;                      /* relay's end of the client socketpair */
  int sfd;                      /* server connection */
  atomic_uint_least64_t sent;   /* client -> server */
  atomic_int done;
};

static void *
relay_thread (void *arg)
{
  struct h_relay *r = arg;
  char buf[65536];

  for (;;) {
    struct pollfd p[2] = { { r->cfd, POLLIN, 0 }, { r->sfd, POLLIN, 0 } };
    if (poll (p, 2, 200) == -1) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        int from = i == 0 ? r->cfd : r->sfd;
        int to = i == 0 ? r->sfd : r->cfd;
        ssize_t n = read (from, buf, sizeof buf);
        if (n <= 0)
          goto out;
        if (i == 0)             /* count before forwarding */
          atomic_fetch_add (&r->sent, (uint64_t) n);
        for (ssize_t off = 0; off < n;) {
          ssize_t w = send (to, buf + off, n - off, MSG_NOSIGNAL);
          if (w <= 0)
            goto out;
          off += w;
        }
      }
    }
  }
 out:
  shutdown (r->cfd, SHUT_RDWR);
  shutdown (r->sfd, SHUT_RDWR);
  atomic_store (&r->done, 1);
  return NULL;
}

struct h_relay *
h_relay_start (int server_fd, int *client_fd)
{
  struct h_relay *r = calloc (1, sizeof *r);
  int sv[2];

  if (r == NULL)
    return NULL;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    free (r);
    return NULL;
  }
  r->cfd = sv[1];
  r->sfd = server_fd;
  if (pthread_create (&r->thread, NULL, relay_thread, r) != 0) {
    close (sv[0]);
    close (sv[1]);
    free (r);
    return NULL;
  }
  *client_fd = sv[0];
  return r;
}

uint64_t
h_relay_sent (struct h_relay *r)
{
  /* Let the relay drain whatever the client has already written. */
  int pending;
  for (int i = 0; i < 100; i++) {
    if (ioctl (r->cfd, FIONREAD, &pending) == 0 && pending == 0)
      break;
    sleep_ms (10);
  }
  sleep_ms (20);
  return atomic_load (&r->sent);
}

void
h_relay_stop (struct h_relay *r)
{
  if (r == NULL)
    return;
  shutdown (r->sfd, SHUT_RDWR);
  pthread_join (r->thread, NULL);
  close (r->cfd);
  close (r->sfd);
  free (r);
}
