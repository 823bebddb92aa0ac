/* faults.h: small helpers shared by the fault tests in c/tests/faults/.
 * Each test is a plain C program: it starts its own nbdkit on a private
 * Unix socket (nbdkit -f --exit-with-parent, killed in teardown), is
 * bounded by alarm(), and exits non-zero if any check failed. */
#ifndef FAULTS_H
#define FAULTS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

static int fault_failures;

#define CHECK(cond, ...) \
  do { if (!(cond)) { \
         fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
         fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); \
         fault_failures++; } } while (0)
/* cond is evaluated once: a second evaluation (a second connect call,
 * say) would replace the error being reported. */
#define REQUIRE(cond, ...) \
  do { if (!(cond)) { \
         fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
         fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); \
         fault_failures++; fault_finish (); } } while (0)

struct server {
  pid_t pid;
  char dir[64];
  char sock[128];
  char pidfile[128];
};

static struct server *fault_server;

static inline void
server_stop (struct server *s)
{
  if (s->pid > 0) {
    kill (s->pid, SIGTERM);
    waitpid (s->pid, NULL, 0);
    s->pid = 0;
  }
  if (s->sock[0]) unlink (s->sock);
  if (s->pidfile[0]) unlink (s->pidfile);
  if (s->dir[0]) {
    char log[160];
    snprintf (log, sizeof log, "%s/nbdkit.log", s->dir);
    unlink (log);
    rmdir (s->dir);
  }
  s->sock[0] = s->pidfile[0] = s->dir[0] = 0;
}

static void fault_finish (void) __attribute__ ((noreturn));
static void
fault_finish (void)
{
  if (fault_server) server_stop (fault_server);
  if (fault_failures) {
    fprintf (stderr, "%d check(s) FAILED\n", fault_failures);
    exit (1);
  }
  exit (0);
}

static void
on_alarm (int sig)
{
  static const char m[] = "FAIL: watchdog fired (test hung)\n";
  if (write (2, m, sizeof m - 1)) {}
  if (fault_server && fault_server->pid > 0) kill (fault_server->pid, SIGKILL);
  _exit (2);
}

static void
fault_watchdog (unsigned secs)
{
  signal (SIGALRM, on_alarm);
  alarm (secs);
}

/* Starts "nbdkit -f --exit-with-parent -U <sock> ARGS..." and waits for
 * the socket.  nbdkit runs in the foreground, so s->pid is nbdkit itself. */
static inline int
server_start (struct server *s, const char *const *args)
{
  const char *argv[32];
  int n = 0, i;

  memset (s, 0, sizeof *s);
  strcpy (s->dir, "/tmp/nbdfaultXXXXXX");
  if (!mkdtemp (s->dir)) { perror ("mkdtemp"); return -1; }
  snprintf (s->sock, sizeof s->sock, "%s/sock", s->dir);
  snprintf (s->pidfile, sizeof s->pidfile, "%s/pid", s->dir);
  argv[n++] = "nbdkit";
  argv[n++] = "-f";
  argv[n++] = "--exit-with-parent";
  argv[n++] = "-U";
  argv[n++] = s->sock;
  /* nbdkit writes its pid file once it listens; the socket file appears
   * at bind(), a moment too early to connect. */
  argv[n++] = "-P";
  argv[n++] = s->pidfile;
  for (i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  s->pid = fork ();
  if (s->pid == -1) { perror ("fork"); return -1; }
  if (s->pid == 0) {
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    /* nbdkit is never run under a test's valgrind or sanitizer preload */
    unsetenv ("LD_PRELOAD");
    {
      /* nbdkit's messages (e.g. every injected error) go to a log file */
      char log[160];
      int fd;
      snprintf (log, sizeof log, "%s/nbdkit.log", s->dir);
      fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) { dup2 (fd, 2); close (fd); }
    }
    execvp ("nbdkit", (char **) argv);
    perror ("exec nbdkit");
    _exit (127);
  }
  fault_server = s;
  for (i = 0; i < 3000; i++) {          /* up to 30 s on a loaded machine */
    struct stat st;
    int status;
    if (stat (s->pidfile, &st) == 0 && st.st_size > 0 &&
        stat (s->sock, &st) == 0 && S_ISSOCK (st.st_mode)) return 0;
    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      char cmd[200];
      fprintf (stderr, "nbdkit exited early (status 0x%x):\n", status);
      snprintf (cmd, sizeof cmd, "cat %s/nbdkit.log >&2", s->dir);
      if (system (cmd)) {}
      s->pid = 0;
      return -1;
    }
    usleep (10000);
  }
  fprintf (stderr, "nbdkit socket %s did not appear\n", s->sock);
  return -1;
}

static inline double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
