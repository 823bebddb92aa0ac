/* test_kill.c: the server dies (SIGKILL) with 64 aio commands in flight.
 *
 * nbdkit memory 64M behind the delay filter (reads and writes take 10 s),
 * so nothing is answered before the kill: 44 reads of 64 KiB, 16 writes of
 * 64 KiB and 4 writes of 4 MiB (these cannot all fit in the socket
 * buffers, so some requests are still being sent: "mid-transfer").
 * After SIGKILL (and reaping nbdkit, so the kernel has closed its end):
 *   - a single nbd_poll (timeout 1 s) reports the failure;
 *   - every one of the 64 completion callbacks ran, with a non-zero error;
 *   - nbd_aio_in_flight == 0, the handle is dead, nbd_aio_command_completed
 *     gives -1 for each cookie, and a following nbd_pread fails at once;
 *   - after nbd_close every callback's .free ran exactly once
 *     (check-valgrind also runs this program under memcheck).
 */
#include "faults.h"

#define NCMDS 64
#define SMALL (64 * 1024)
#define BIG (4 * 1024 * 1024)

struct rec { int completions, frees, error; int64_t cookie; };
static struct rec recs[NCMDS];

static int
done_cb (void *ud, int *error)
{
  struct rec *r = ud;
  r->completions++;
  r->error = *error;
  return 0;                     /* retired below with nbd_aio_command_completed */
}

static void
free_cb (void *ud)
{
  struct rec *r = ud;
  r->frees++;
}

int
main (void)
{
  static const char *const args[] = {
    "--filter=delay", "memory", "64M", "rdelay=10", "delay-write=10", NULL
  };
  struct server srv;
  struct nbd_handle *h;
  char *bufs[NCMDS];
  int i, polls = 0, r;
  double t0, elapsed;
  char one[512];

  fault_watchdog (120);
  REQUIRE (server_start (&srv, args) == 0, "cannot start nbdkit");
  h = nbd_create ();
  REQUIRE (h != NULL, "%s", nbd_get_error ());
  REQUIRE (nbd_connect_unix (h, srv.sock) == 0, "%s", nbd_get_error ());

  for (i = 0; i < NCMDS; i++) {
    nbd_completion_callback cb = { .callback = done_cb, .user_data = &recs[i], .free = free_cb };
    size_t len = i < 60 ? SMALL : BIG;
    uint64_t off = i < 60 ? (uint64_t) i * SMALL : 32 * 1024 * 1024 + (uint64_t) (i - 60) * BIG;
    bufs[i] = malloc (len);
    REQUIRE (bufs[i] != NULL, "malloc");
    memset (bufs[i], i, len);
    if (i < 44)
      recs[i].cookie = nbd_aio_pread (h, bufs[i], len, off, cb, 0);
    else
      recs[i].cookie = nbd_aio_pwrite (h, bufs[i], len, off, cb, 0);
    CHECK (recs[i].cookie > 0, "command %d: %s", i, nbd_get_error ());
  }
  CHECK (nbd_aio_in_flight (h) == NCMDS, "in flight %d", nbd_aio_in_flight (h));

  /* Push requests out until the socket is full (or everything is sent). */
  for (i = 0; i < 10 && (nbd_aio_get_direction (h) & LIBNBD_AIO_DIRECTION_WRITE); i++)
    if (nbd_poll (h, 100) == -1) break;
  usleep (300 * 1000);          /* let nbdkit pick requests up */
  CHECK (!nbd_aio_is_dead (h), "handle died before the kill: %s", nbd_get_error ());
  for (i = 0; i < NCMDS; i++)
    CHECK (recs[i].completions == 0, "command %d completed before the kill", i);

  kill (srv.pid, SIGKILL);
  waitpid (srv.pid, NULL, 0);
  srv.pid = 0;

  t0 = now_s ();
  while (nbd_aio_in_flight (h) > 0 && polls < 5) {
    polls++;
    r = nbd_poll (h, 1000);
    if (r == -1) {
      CHECK (strncmp (nbd_get_error (), "nbd_poll: ", 10) == 0, "error lacks prefix: %s",
             nbd_get_error ());
      CHECK (nbd_get_errno () != 0, "nbd_poll failed with errno 0");
      break;
    }
  }
  elapsed = now_s () - t0;
  printf ("test_kill: %d commands failed after %d nbd_poll call(s), %.3f s after the kill\n",
          NCMDS, polls, elapsed);
  CHECK (polls == 1, "needed %d nbd_poll calls (each waits at most 1 s)", polls);
  CHECK (nbd_aio_in_flight (h) == 0, "still in flight: %d", nbd_aio_in_flight (h));
  CHECK (nbd_aio_is_dead (h) == 1, "handle not dead");

  for (i = 0; i < NCMDS; i++) {
    CHECK (recs[i].completions == 1, "command %d: %d completions", i, recs[i].completions);
    CHECK (recs[i].error != 0, "command %d completed without an error", i);
    if (recs[i].cookie > 0) {
      r = nbd_aio_command_completed (h, recs[i].cookie);
      CHECK (r == -1, "command %d: command_completed returned %d", i, r);
      CHECK (nbd_get_errno () != 0, "command %d: errno 0", i);
    }
  }
  r = nbd_pread (h, one, sizeof one, 0, 0);
  CHECK (r == -1, "pread on a dead handle succeeded");
  CHECK (strncmp (nbd_get_error (), "nbd_pread: ", 11) == 0, "bad message: %s", nbd_get_error ());

  nbd_close (h);
  for (i = 0; i < NCMDS; i++) {
    CHECK (recs[i].frees == 1, "command %d: .free ran %d times", i, recs[i].frees);
    free (bufs[i]);
  }
  server_stop (&srv);
  fault_finish ();
}
