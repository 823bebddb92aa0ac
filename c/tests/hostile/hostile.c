/* Hostile-server tests: server control, child runner, generic case runner.
 * See hostile.h for the design. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <CUnit/TestRun.h>

#include "hostile.h"

#ifndef BADSERVER_PY
#define BADSERVER_PY "testdata/badserver.py"
#endif

/* Seconds a client child may take before it counts as hung. */
#define CHILD_TIMEOUT 20

uint8_t
h_expected_byte (uint64_t offset)
{
  if (offset < EXPORT_SIZE / 2)
    return (uint8_t) (offset % 251 + 1);
  return 0;
}

const char *
h_badserver_path (void)
{
  const char *p = getenv ("HOSTILE_BADSERVER");
  return p && *p ? p : BADSERVER_PY;
}

const char *
h_python (void)
{
  const char *p = getenv ("PYTHON");
  return p && *p ? p : "python3";
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Server side */

int
h_srv_start (struct h_srv *s, const char *scenario, const char *extra)
{
  const char *tmp = getenv ("TMPDIR");
  memset (s, 0, sizeof *s);
  snprintf (s->dir, sizeof s->dir, "%s/hostileXXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (s->dir) == NULL) {
    perror ("mkdtemp");
    return -1;
  }
  snprintf (s->sock, sizeof s->sock, "%s/sock", s->dir);

  pid_t parent = getpid ();
  s->pid = fork ();
  if (s->pid == -1) {
    perror ("fork");
    rmdir (s->dir);
    return -1;
  }
  if (s->pid == 0) {
    /* The server must never outlive the test program. */
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
      _exit (1);
    const char *argv[10];
    int i = 0;
    argv[i++] = h_python ();
    argv[i++] = h_badserver_path ();
    argv[i++] = "--scenario";
    argv[i++] = scenario;
    argv[i++] = "--unix";
    argv[i++] = s->sock;
    argv[i++] = "--timeout";
    argv[i++] = "60";
    if (extra)
      argv[i++] = extra;
    argv[i] = NULL;
    execvp (argv[0], (char **) argv);
    fprintf (stderr, "exec %s: %s\n", argv[0], strerror (errno));
    _exit (127);
  }

  /* badserver.py renames the socket into place after listen(), so its
   * appearance means connect() will succeed. */
  long long deadline = now_ms () + 15000;
  while (now_ms () < deadline) {
    struct stat st;
    if (stat (s->sock, &st) == 0)
      return 0;
    int status;
    if (waitpid (s->pid, &status, WNOHANG) == s->pid) {
      fprintf (stderr, "badserver.py --scenario %s exited early (status 0x%x)\n",
               scenario, status);
      s->pid = 0;
      h_srv_stop (s);
      return -1;
    }
    usleep (10000);
  }
  fprintf (stderr, "badserver.py --scenario %s: socket did not appear\n",
           scenario);
  h_srv_stop (s);
  return -1;
}

void
h_srv_stop (struct h_srv *s)
{
  if (s->pid > 0) {
    kill (s->pid, SIGTERM);
    long long deadline = now_ms () + 2000;
    int status;
    while (waitpid (s->pid, &status, WNOHANG) == 0) {
      if (now_ms () > deadline) {
        kill (s->pid, SIGKILL);
        waitpid (s->pid, &status, 0);
        break;
      }
      usleep (5000);
    }
    s->pid = 0;
  }
  if (s->sock[0]) {
    char tmpsock[340];
    unlink (s->sock);
    snprintf (tmpsock, sizeof tmpsock, "%s.tmp", s->sock);
    unlink (tmpsock);
  }
  if (s->dir[0])
    rmdir (s->dir);
  s->dir[0] = s->sock[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Child runner */

static int report_fd = -1;
static int nr_failures;

void
h_fail (const char *file, int line, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  for (char *p = msg; *p; p++)   /* one line per failure */
    if (*p == '\n' || *p == '\t')
      *p = ' ';
  nr_failures++;
  fprintf (stderr, "  FAIL %s:%d: %s\n", file, line, msg);
  if (report_fd >= 0) {
    char buf[1400];
    int n = snprintf (buf, sizeof buf, "%s\t%d\t%s\n", file, line, msg);
    if (n > (int) sizeof buf - 1)
      n = sizeof buf - 1;
    if (write (report_fd, buf, n) != n) {
      /* nothing more we can do; the exit status still says "failed" */
    }
  }
}

static void
report_cunit (const char *file, int line, const char *msg)
{
  CU_assertImplementation (CU_FALSE, line, msg, file, "", CU_FALSE);
}

void
h_run_child (const char *what, h_client_fn fn, void *arg,
             unsigned timeout_secs)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) == -1) {
    report_cunit (__FILE__, __LINE__, "pipe2 failed");
    return;
  }
  fflush (stdout);
  fflush (stderr);
  pid_t pid = fork ();
  if (pid == -1) {
    report_cunit (__FILE__, __LINE__, "fork failed");
    close (p[0]);
    close (p[1]);
    return;
  }
  if (pid == 0) {
    close (p[0]);
    report_fd = p[1];
    nr_failures = 0;
    signal (SIGALRM, SIG_DFL);
    signal (SIGPIPE, SIG_IGN);
    alarm (timeout_secs);
    fn (arg);
    _exit (nr_failures ? 1 : 0);
  }
  close (p[1]);

  /* Collect reports until the child closes the pipe (exits). */
  char buf[65536];
  size_t used = 0;
  long long deadline = now_ms () + (timeout_secs + 10) * 1000LL;
  bool killed = false;
  for (;;) {
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    int left = (int) (deadline - now_ms ());
    if (left <= 0) {
      kill (pid, SIGKILL);
      killed = true;
      break;
    }
    int r = poll (&pfd, 1, left);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      continue;
    if (used >= sizeof buf - 1)
      used = 0;      /* absurd amount of output; drop it */
    ssize_t n = read (p[0], buf + used, sizeof buf - 1 - used);
    if (n <= 0)
      break;
    used += n;
  }
  close (p[0]);
  buf[used] = '\0';

  int status = 0;
  waitpid (pid, &status, 0);

  int reported = 0;
  char *save = NULL;
  for (char *ln = strtok_r (buf, "\n", &save); ln;
       ln = strtok_r (NULL, "\n", &save)) {
    char *t1 = strchr (ln, '\t');
    char *t2 = t1 ? strchr (t1 + 1, '\t') : NULL;
    if (!t2)
      continue;
    *t1 = *t2 = '\0';
    char msg[1200];
    snprintf (msg, sizeof msg, "[%s] %s", what, t2 + 1);
    report_cunit (ln, atoi (t1 + 1), msg);
    reported++;
  }

  char msg[512];
  if (killed) {
    snprintf (msg, sizeof msg, "[%s] client child did not finish; killed", what);
    report_cunit (__FILE__, __LINE__, msg);
    fprintf (stderr, "  FAIL %s\n", msg);
  }
  else if (WIFSIGNALED (status)) {
    if (WTERMSIG (status) == SIGALRM)
      snprintf (msg, sizeof msg,
                "[%s] client hung: watchdog fired after %us", what,
                timeout_secs);
    else
      snprintf (msg, sizeof msg, "[%s] client crashed with signal %d (%s)",
                what, WTERMSIG (status), strsignal (WTERMSIG (status)));
    report_cunit (__FILE__, __LINE__, msg);
    fprintf (stderr, "  FAIL %s\n", msg);
  }
  else if (WIFEXITED (status) && WEXITSTATUS (status) != 0 && reported == 0) {
    snprintf (msg, sizeof msg, "[%s] client exited with status %d", what,
              WEXITSTATUS (status));
    report_cunit (__FILE__, __LINE__, msg);
  }
}

/* ------------------------------------------------------------------ */
/* Checks used inside the child */

static const char *
errname (int e)
{
  switch (e) {
  case 0: return "0";
  case EPROTO: return "EPROTO";
  case EIO: return "EIO";
  case EINVAL: return "EINVAL";
  case EPERM: return "EPERM";
  case ENOTCONN: return "ENOTCONN";
  case ECONNRESET: return "ECONNRESET";
  case ESHUTDOWN: return "ESHUTDOWN";
  case EPIPE: return "EPIPE";
  case ENOMEM: return "ENOMEM";
  case ENOTSUP: return "ENOTSUP";
  case ERANGE: return "ERANGE";
  case ENOENT: return "ENOENT";
  default: return strerror (e);
  }
}

bool
h_errno_matches (int got, const struct h_expect *exp)
{
  if (exp->err == -1)
    return got != 0;
  return got == exp->err || (exp->err_alt != 0 && got == exp->err_alt) ||
    (exp->err_alt2 != 0 && got == exp->err_alt2);
}

void
h_check_error (const char *call, const struct h_expect *exp, const char *ctx)
{
  const char *msg = nbd_get_error ();
  int err = nbd_get_errno ();
  size_t n = strlen (call);
  HCHECK (msg != NULL, "%s: %s returned -1 but nbd_get_error() is NULL", ctx,
          call);
  if (msg) {
    HCHECK (strncmp (msg, call, n) == 0 && strncmp (msg + n, ": ", 2) == 0,
            "%s: error message should start with \"%s: \", got \"%s\"", ctx,
            call, msg);
  }
  HCHECK (h_errno_matches (err, exp),
          "%s: %s: expected errno %s%s%s%s%s, got %s (%d), message \"%s\"",
          ctx, call, exp->err == -1 ? "non-zero" : errname (exp->err),
          exp->err_alt ? " or " : "", exp->err_alt ? errname (exp->err_alt) : "",
          exp->err_alt2 ? " or " : "",
          exp->err_alt2 ? errname (exp->err_alt2) : "",
          errname (err), err, msg ? msg : "(null)");
}

bool
h_poll_until (struct nbd_handle *h, int (*pred) (struct nbd_handle *),
              int timeout_ms)
{
  long long deadline = now_ms () + timeout_ms;
  while (!pred (h)) {
    int left = (int) (deadline - now_ms ());
    if (left <= 0)
      return false;
    if (nbd_poll (h, left > 100 ? 100 : left) == -1)
      return pred (h);
  }
  return true;
}

/* ------------------------------------------------------------------ */
/* Generic case runner */

static const char *g_sock;          /* socket of the current case */

struct bs_seen {
  int calls;
  int base_calls;
  uint64_t total;
};

static int
extent_cb (void *user_data, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct bs_seen *s = user_data;
  s->calls++;
  if (strcmp (metacontext, "base:allocation") == 0)
    s->base_calls++;
  for (size_t i = 0; i + 1 < nr_entries; i += 2)
    s->total += entries[i];
  return 0;
}

static int
chunk_cb (void *user_data, const void *subbuf, size_t count, uint64_t offset,
          unsigned status, int *error)
{
  return 0;
}

static uint8_t rbuf[3][READ_LEN];
static uint8_t wbuf[READ_LEN];
static struct bs_seen bs_seen;

static void
check_read_data (const uint8_t *buf, uint64_t off, size_t len, const char *ctx)
{
  for (size_t i = 0; i < len; i++) {
    if (buf[i] != h_expected_byte (off + i)) {
      h_fail (__FILE__, __LINE__,
              "%s: data mismatch at offset %llu: got 0x%02x, want 0x%02x", ctx,
              (unsigned long long) (off + i), buf[i], h_expected_byte (off + i));
      return;
    }
  }
}

/* Issue the triggering operation synchronously; *call gets its name. */
static int
do_op_sync (struct nbd_handle *h, enum h_op op, const char **call)
{
  nbd_extent_callback ecb = { .callback = extent_cb, .user_data = &bs_seen };
  memset (&bs_seen, 0, sizeof bs_seen);
  switch (op) {
  case OP_CONNECT:
    *call = "nbd_connect_unix";
    return nbd_connect_unix (h, g_sock);
  case OP_PREAD:
    *call = "nbd_pread";
    return nbd_pread (h, rbuf[0], READ_LEN, READ_OFF, 0);
  case OP_PREAD_DF: {
    nbd_chunk_callback ccb = { .callback = chunk_cb };
    *call = "nbd_pread_structured";
    return nbd_pread_structured (h, rbuf[0], READ_LEN, READ_OFF, ccb,
                                 LIBNBD_CMD_FLAG_DF);
  }
  case OP_PWRITE:
    *call = "nbd_pwrite";
    return nbd_pwrite (h, wbuf, READ_LEN, READ_OFF, 0);
  case OP_FLUSH:
    *call = "nbd_flush";
    return nbd_flush (h, 0);
  case OP_BLOCK_STATUS:
    *call = "nbd_block_status";
    return nbd_block_status (h, 65536, 0, ecb, 0);
  case OP_BLOCK_STATUS_ONE:
    *call = "nbd_block_status";
    return nbd_block_status (h, 65536, 0, ecb, LIBNBD_CMD_FLAG_REQ_ONE);
  }
  *call = "?";
  return -1;
}

static int64_t
do_op_aio (struct nbd_handle *h, enum h_op op, const char **call)
{
  nbd_extent_callback ecb = { .callback = extent_cb, .user_data = &bs_seen };
  nbd_completion_callback none = { .callback = NULL };
  memset (&bs_seen, 0, sizeof bs_seen);
  switch (op) {
  case OP_CONNECT:
    break;
  case OP_PREAD:
    *call = "nbd_aio_pread";
    return nbd_aio_pread (h, rbuf[0], READ_LEN, READ_OFF, none, 0);
  case OP_PREAD_DF: {
    nbd_chunk_callback ccb = { .callback = chunk_cb };
    *call = "nbd_aio_pread_structured";
    return nbd_aio_pread_structured (h, rbuf[0], READ_LEN, READ_OFF, ccb, none,
                                     LIBNBD_CMD_FLAG_DF);
  }
  case OP_PWRITE:
    *call = "nbd_aio_pwrite";
    return nbd_aio_pwrite (h, wbuf, READ_LEN, READ_OFF, none, 0);
  case OP_FLUSH:
    *call = "nbd_aio_flush";
    return nbd_aio_flush (h, none, 0);
  case OP_BLOCK_STATUS:
    *call = "nbd_aio_block_status";
    return nbd_aio_block_status (h, 65536, 0, ecb, none, 0);
  case OP_BLOCK_STATUS_ONE:
    *call = "nbd_aio_block_status";
    return nbd_aio_block_status (h, 65536, 0, ecb, none,
                                 LIBNBD_CMD_FLAG_REQ_ONE);
  }
  *call = "?";
  return -1;
}

static struct nbd_handle *
open_handle (const struct h_case *c)
{
  if ((c->setup & S_RLIMIT) && !getenv ("HOSTILE_NO_RLIMIT")) {
    /* A client that believes a huge server-given length would now fail
     * with ENOMEM instead of EPROTO (or the test would hang waiting for the
     * payload).  512 MiB is far above what the library legitimately
     * needs. */
    struct rlimit rl = { 512UL << 20, 512UL << 20 };
    setrlimit (RLIMIT_AS, &rl);
  }
  struct nbd_handle *h = nbd_create ();
  HCHECK (h != NULL, "nbd_create failed: %s", nbd_get_error ());
  if (h && !(c->setup & S_NO_META))
    HCHECK (nbd_add_meta_context (h, "base:allocation") == 0,
            "nbd_add_meta_context: %s", nbd_get_error ());
  return h;
}

/* After a failure that must leave the handle unusable: the next command
 * fails at once (it must not be sent, and must not hang). */
static void
check_next_command_fails (struct nbd_handle *h, const char *ctx)
{
  int r = nbd_pread (h, rbuf[1], 512, 0, 0);
  HCHECK (r == -1, "%s: nbd_pread on an unusable handle returned %d", ctx, r);
  if (r == -1) {
    struct h_expect any = { OUT_FATAL, -1, 0, 0 };
    h_check_error ("nbd_pread", &any, ctx);
  }
}

/* After a recoverable failure: the handle still works. */
static void
check_still_usable (struct nbd_handle *h, const char *ctx)
{
  HCHECK (!nbd_aio_is_dead (h), "%s: handle is dead after a recoverable error",
          ctx);
  memset (rbuf[1], 0xee, READ_LEN);
  int r = nbd_pread (h, rbuf[1], READ_LEN, READ_OFF, 0);
  HCHECK (r == 0, "%s: next nbd_pread failed: %s (errno %d)", ctx,
          nbd_get_error (), nbd_get_errno ());
  if (r == 0)
    check_read_data (rbuf[1], READ_OFF, READ_LEN, ctx);
}

static void
check_success (struct nbd_handle *h, const struct h_case *c, int r,
               const char *call)
{
  HCHECK (r == 0, "%s: %s should succeed, failed: %s (errno %d)", c->scenario,
          call, nbd_get_error (), nbd_get_errno ());
  if (r != 0)
    return;
  switch (c->op) {
  case OP_CONNECT:
    HCHECK (nbd_get_size (h) == EXPORT_SIZE, "%s: size %lld", c->scenario,
            (long long) nbd_get_size (h));
    check_still_usable (h, c->scenario);
    break;
  case OP_PREAD:
  case OP_PREAD_DF:
    check_read_data (rbuf[0], READ_OFF, READ_LEN, c->scenario);
    break;
  case OP_BLOCK_STATUS:
  case OP_BLOCK_STATUS_ONE:
    HCHECK (bs_seen.base_calls >= 1,
            "%s: block status callback not called for base:allocation",
            c->scenario);
    if (c->setup & S_BS_CLIP)
      HCHECK (bs_seen.total == 0xfffffe00ULL,
              "%s: 32-bit extents total %llu, want 4 GiB - 512", c->scenario,
              (unsigned long long) bs_seen.total);
    break;
  default:
    break;
  }
#if defined (LIBNBD_HAVE_NBD_GET_EXTENDED_HEADERS_NEGOTIATED) && !defined (AGAINST_SYSTEM_LIBNBD)
  if (c->setup & S_EXT)
    HCHECK (nbd_get_extended_headers_negotiated (h) == 1,
            "%s: extended headers were not negotiated", c->scenario);
#endif
}

static void
client_sync (void *arg)
{
  const struct h_case *c = arg;
  struct h_expect exp = H_EXPECT (c);
  struct nbd_handle *h = open_handle (c);
  if (!h)
    return;
  const char *call;
  int r;
  if (c->op != OP_CONNECT) {
    r = nbd_connect_unix (h, g_sock);
    HCHECK (r == 0, "%s: connect failed: %s (errno %d)", c->scenario,
            nbd_get_error (), nbd_get_errno ());
    if (r != 0) {
      nbd_close (h);
      return;
    }
  }
  r = do_op_sync (h, c->op, &call);

  switch (exp.outcome) {
  case OUT_OK:
    check_success (h, c, r, call);
    break;
  case OUT_FATAL:
  case OUT_GONE:
  case OUT_FAIL:
  case OUT_REFUSED:
    HCHECK (r == -1, "%s: %s should fail but returned %d", c->scenario, call,
            r);
    if (r != -1)
      break;
    h_check_error (call, &exp, c->scenario);
    if (exp.outcome == OUT_FATAL) {
      HCHECK (nbd_aio_is_dead (h), "%s: handle should be dead (state %s)",
              c->scenario, nbd_connection_state (h));
      check_next_command_fails (h, c->scenario);
    }
    else if (exp.outcome == OUT_GONE) {
      HCHECK (nbd_aio_is_dead (h) || nbd_aio_is_closed (h),
              "%s: handle should be dead or closed (state %s)", c->scenario,
              nbd_connection_state (h));
      check_next_command_fails (h, c->scenario);
    }
    else if (exp.outcome == OUT_REFUSED) {
      HCHECK (!nbd_aio_is_ready (h), "%s: handle should not be ready",
              c->scenario);
      check_next_command_fails (h, c->scenario);
    }
    else
      check_still_usable (h, c->scenario);
    break;
  case OUT_SKIP:
    break;
  }
  nbd_close (h);
}

static int
settled (struct nbd_handle *h)
{
  return nbd_aio_is_dead (h) || nbd_aio_is_closed (h) ||
    nbd_aio_in_flight (h) == 0;
}

/* The aio variant: the triggering command plus two more reads are in
 * flight when the fault arrives. */
static void
client_aio (void *arg)
{
  const struct h_case *c = arg;
  struct h_expect exp = H_EXPECT (c);
  struct nbd_handle *h = open_handle (c);
  if (!h)
    return;
  int r = nbd_connect_unix (h, g_sock);
  HCHECK (r == 0, "%s: connect failed: %s", c->scenario, nbd_get_error ());
  if (r != 0) {
    nbd_close (h);
    return;
  }
  const char *call = "?";
  int64_t ck[3];
  nbd_completion_callback none = { .callback = NULL };
  /* A server that closes at once can make the connection die while the
   * later commands are being issued: then the issuing call itself must
   * fail (with its own name in the message) on a dead handle, and the
   * fault has already surfaced. */
  bool died_at_issue = false;
  for (int i = 0; i < 3; i++) {
    const char *name = "nbd_aio_pread";
    if (i == 0) {
      ck[i] = do_op_aio (h, c->op, &call);
      name = call;
    }
    else
      ck[i] = nbd_aio_pread (h, rbuf[i], 512, (i - 1) * 512, none, 0);
    if (ck[i] > 0)
      continue;
    const char *m = nbd_get_error ();
    bool dead = nbd_aio_is_dead (h) || nbd_aio_is_closed (h);
    HCHECK (i > 0 && dead && exp.outcome != OUT_FAIL,
            "%s: aio command %d not issued: %s", c->scenario, i, m);
    HCHECK (m && strncmp (m, name, strlen (name)) == 0,
            "%s: issue error should start with \"%s\": %s", c->scenario,
            name, m ? m : "(null)");
    died_at_issue = true;
    break;
  }

  /* Drive the state machine until the fault is seen. */
  long long deadline = now_ms () + 8000;
  int poll_failed = 0, poll_errno = 0;
  char poll_msg[512] = "";
  while (!settled (h) && now_ms () < deadline) {
    if (nbd_poll (h, 100) == -1) {
      if (!poll_failed) {
        poll_failed = 1;
        poll_errno = nbd_get_errno ();
        snprintf (poll_msg, sizeof poll_msg, "%s",
                  nbd_get_error () ? nbd_get_error () : "(null)");
      }
      break;
    }
  }
  HCHECK (settled (h), "%s: commands still in flight after the fault",
          c->scenario);

  if (exp.outcome == OUT_FATAL || exp.outcome == OUT_GONE) {
    if (exp.outcome == OUT_FATAL)
      HCHECK (nbd_aio_is_dead (h), "%s: handle should be dead (state %s)",
              c->scenario, nbd_connection_state (h));
    else
      HCHECK (nbd_aio_is_dead (h) || nbd_aio_is_closed (h),
              "%s: handle should be dead or closed (state %s)", c->scenario,
              nbd_connection_state (h));
    if (exp.outcome == OUT_FATAL && !died_at_issue) {
      /* The protocol error surfaces from nbd_poll with its errno. */
      HCHECK (poll_failed, "%s: nbd_poll did not report the fault",
              c->scenario);
      if (poll_failed) {
        HCHECK (strncmp (poll_msg, "nbd_poll: ", 10) == 0,
                "%s: error should start with \"nbd_poll: \", got \"%s\"",
                c->scenario, poll_msg);
        HCHECK (h_errno_matches (poll_errno, &exp),
                "%s: nbd_poll errno %s, got %d (\"%s\")", c->scenario,
                exp.err == -1 ? "non-zero" : "mismatch", poll_errno, poll_msg);
      }
    }
    HCHECK (nbd_aio_in_flight (h) == 0, "%s: aio_in_flight %d after death",
            c->scenario, nbd_aio_in_flight (h));
    for (int i = 0; i < 3; i++) {
      if (died_at_issue && ck[i] <= 0)
        break;
      int rc = nbd_aio_command_completed (h, ck[i]);
      HCHECK (rc == -1, "%s: in-flight command %d (%s) completed with %d, "
              "want -1", c->scenario, i, i ? "nbd_aio_pread" : call, rc);
      if (rc == -1) {
#ifndef AGAINST_SYSTEM_LIBNBD
        int e = nbd_get_errno ();
        HCHECK (e != 0, "%s: in-flight command %d failed with errno 0 (%s)",
                c->scenario, i, nbd_get_error ());
#endif
      }
    }
  }
  else if (exp.outcome == OUT_FAIL) {
    HCHECK (!poll_failed, "%s: nbd_poll failed: %s", c->scenario, poll_msg);
    HCHECK (!nbd_aio_is_dead (h), "%s: handle died on a recoverable error",
            c->scenario);
    int rc = nbd_aio_command_completed (h, ck[0]);
    HCHECK (rc == -1, "%s: failing command completed with %d", c->scenario,
            rc);
    if (rc == -1)
      h_check_error ("nbd_aio_command_completed", &exp, c->scenario);
    for (int i = 1; i < 3; i++) {
      rc = nbd_aio_command_completed (h, ck[i]);
      HCHECK (rc == 1, "%s: read %d after the error completed with %d (%s)",
              c->scenario, i, rc, rc == -1 ? nbd_get_error () : "");
      if (rc == 1)
        check_read_data (rbuf[i], (i - 1) * 512, 512, c->scenario);
    }
  }
  nbd_close (h);
}

static void
run_case (const struct h_case *c, bool aio)
{
  struct h_expect exp = H_EXPECT (c);
  if (exp.outcome == OUT_SKIP) {
    fprintf (stderr, "  (skipped in this build: %s)\n", c->scenario);
    return;
  }
  struct h_srv s;
  if (h_srv_start (&s, c->scenario, NULL) == -1) {
    CU_FAIL ("could not start badserver.py");
    return;
  }
  g_sock = s.sock;
  char what[128];
  snprintf (what, sizeof what, "%s%s", c->scenario, aio ? " (aio)" : "");
  h_run_child (what, aio ? client_aio : client_sync, (void *) c,
               CHILD_TIMEOUT);
  h_srv_stop (&s);
}

void
h_run_case_sync (const struct h_case *c)
{
  run_case (c, false);
}

void
h_run_case_aio (const struct h_case *c)
{
  run_case (c, true);
}

const struct h_case *
h_find_case (const char *scenario)
{
  for (size_t i = 0; i < h_nr_cases; i++)
    if (strcmp (h_cases[i].scenario, scenario) == 0)
      return &h_cases[i];
  return NULL;
}

/* CUnit test functions take no arguments: the test's own name says which
 * case to run ("SCENARIO" or "SCENARIO (aio)"). */
static void
run_current (void)
{
  const char *name = CU_get_current_test ()->pName;
  char scen[128];
  snprintf (scen, sizeof scen, "%s", name);
  bool aio = false;
  char *sp = strchr (scen, ' ');
  if (sp) {
    *sp = '\0';
    aio = true;
  }
  const struct h_case *c = h_find_case (scen);
  CU_ASSERT_PTR_NOT_NULL_FATAL (c);
  run_case (c, aio);
}

int
h_register_phase (const char *suite_name, enum h_phase phase)
{
  CU_pSuite suite = CU_add_suite (suite_name, NULL, NULL);
  if (!suite)
    return -1;
  for (size_t i = 0; i < h_nr_cases; i++) {
    const struct h_case *c = &h_cases[i];
    if (c->phase != phase)
      continue;
    if (!CU_add_test (suite, c->scenario, run_current))
      return -1;
    struct h_expect exp = H_EXPECT (c);
    if (c->op != OP_CONNECT && !(c->setup & S_NO_AIO) &&
        exp.outcome != OUT_OK && exp.outcome != OUT_SKIP) {
      /* The name must stay valid: CUnit keeps the pointer. */
      char *name;
      if (asprintf (&name, "%s (aio)", c->scenario) == -1)
        return -1;
      if (!CU_add_test (suite, name, run_current))
        return -1;
    }
  }
  return 0;
}

int
h_main (void)
{
  CU_basic_set_mode (CU_BRM_VERBOSE);
  CU_basic_run_tests ();
  unsigned failed = CU_get_number_of_failures ();
  unsigned tests_failed = CU_get_number_of_tests_failed ();
  CU_cleanup_registry ();
  if (failed || tests_failed) {
    fprintf (stderr, "hostile: %u assertion(s) failed in %u test(s)\n",
             failed, tests_failed);
    return 1;
  }
  return 0;
}
