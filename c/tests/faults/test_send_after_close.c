/* test_send_after_close.c: the error reported when the server truncates a
 * reply and closes while the client still has requests waiting to be sent.
 *
 * Scenario (testdata/badserver.py, one of close-mid-reply-header,
 * close-mid-read-payload, truncated-payload): the server answers the first
 * READ with part of a reply and closes.  The client has three aio reads
 * issued; the 2nd and 3rd are deferred in the send queue because a reply is
 * due.  The client only looks at the socket after the server has closed
 * (a 500 ms pause here; valgrind's slowdown or a busy machine does the same
 * in the hostile suite).  A truncated message is ECONNRESET (the errno
 * policy of docs/notes-robustness.md): the report must be about the
 * truncation the server caused, not "send: Broken pipe" from flushing the
 * deferred requests into the dead socket.
 *
 * Asserts, per scenario: nbd_poll fails with ECONNRESET; the handle is
 * dead; all three commands completed with an error.
 * Needs python3 (badserver.py).  Pending a core fix, see docs/notes-fuzz.md
 * "Core bugs found" #1; run by `make check-faults-pending`.
 */
#include "faults.h"

#ifndef BADSERVER_PY
#define BADSERVER_PY "testdata/badserver.py"
#endif

static void
run_scenario (const char *scenario)
{
  char dir[] = "/tmp/nbdsacXXXXXX", sock[128];
  pid_t pid;
  struct nbd_handle *h;
  char *bufs[3];
  int64_t cookies[3];
  int i, r, err, failures_before = fault_failures;
  struct stat st;

  REQUIRE (mkdtemp (dir) != NULL, "mkdtemp");
  snprintf (sock, sizeof sock, "%s/sock", dir);
  pid = fork ();
  REQUIRE (pid >= 0, "fork");
  if (pid == 0) {
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    execlp ("python3", "python3", BADSERVER_PY, "--scenario", scenario,
            "--unix", sock, "--timeout", "60", (char *) NULL);
    _exit (127);
  }
  for (i = 0; i < 3000 && stat (sock, &st) == -1; i++) usleep (10000);

  h = nbd_create ();
  REQUIRE (h != NULL, "%s", nbd_get_error ());
  CHECK (nbd_connect_unix (h, sock) == 0, "%s: connect: %s", scenario, nbd_get_error ());
  for (i = 0; i < 3; i++) {
    bufs[i] = malloc (4096);
    cookies[i] = nbd_aio_pread (h, bufs[i], 4096, 8192, NBD_NULL_COMPLETION, 0);
    CHECK (cookies[i] > 0, "%s: aio_pread %d: %s", scenario, i, nbd_get_error ());
  }
  usleep (500 * 1000);            /* the server has answered and closed */

  r = 0;
  for (i = 0; i < 10 && nbd_aio_in_flight (h) > 0 && r != -1; i++)
    r = nbd_poll (h, 1000);
  err = nbd_get_errno ();
  CHECK (r == -1, "%s: nbd_poll did not report the failure", scenario);
  CHECK (err == ECONNRESET, "%s: errno %d (%s), want ECONNRESET", scenario, err,
         r == -1 ? nbd_get_error () : "-");
  CHECK (nbd_aio_is_dead (h), "%s: handle not dead", scenario);
  for (i = 0; i < 3; i++)
    if (cookies[i] > 0)
      CHECK (nbd_aio_command_completed (h, cookies[i]) == -1, "%s: command %d", scenario, i);
  nbd_close (h);
  for (i = 0; i < 3; i++) free (bufs[i]);
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  unlink (sock);
  rmdir (dir);
  printf ("%s: %s\n", scenario, fault_failures == failures_before ? "ok" : "FAILED");
}

int
main (void)
{
  fault_watchdog (120);
  run_scenario ("truncated-payload");
  run_scenario ("close-mid-reply-header");
  run_scenario ("close-mid-read-payload");
  fault_finish ();
}
