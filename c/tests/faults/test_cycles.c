/* test_cycles.c: 10,000 create / connect / close cycles against one nbdkit
 * (Unix socket) must not leak file descriptors or memory.
 *
 * After 1,000 cycles (warm-up: malloc arenas, lazily loaded libraries) the
 * open fd count (/proc/self/fd) and VmRSS (/proc/self/status) are taken as
 * the baseline; after 10,000 cycles the fd count must be identical and
 * VmRSS may have grown by at most RSS_SLACK_KB.  A leak of even 100 bytes
 * per cycle would add ~880 KiB over the 9,000 measured cycles; the slack is
 * below that.  Every 100th cycle also does a 4 KiB read and verifies it,
 * so the connections are real.  CYCLES=N in the environment overrides the
 * count (the 1,000 checkpoint is then N/10); CYCLES_SKIP_RSS=1 skips the
 * VmRSS comparison (under valgrind RSS measures valgrind, and memcheck's
 * leak check does that job instead).
 */
#include <dirent.h>

#include "faults.h"

#define RSS_SLACK_KB 512

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir (d);
  return n - 1;                 /* the DIR's own fd */
}

static long
rss_kb (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "VmRSS:", 6) == 0) { kb = strtol (line + 6, NULL, 10); break; }
  fclose (f);
  return kb;
}

int
main (void)
{
  static const char *const args[] = { "memory", "1M", NULL };
  struct server srv;
  const char *env = getenv ("CYCLES");
  long cycles = env ? atol (env) : 10000, checkpoint = cycles / 10, i;
  int fds0 = -1, fds1;
  long rss0 = -1, rss1;
  char buf[4096], want[4096];
  double t0;

  fault_watchdog (900);
  REQUIRE (server_start (&srv, args) == 0, "cannot start nbdkit");
  memset (want, 0x5a, sizeof want);
  {
    struct nbd_handle *h = nbd_create ();
    REQUIRE (h && nbd_connect_unix (h, srv.sock) == 0, "%s", nbd_get_error ());
    REQUIRE (nbd_pwrite (h, want, sizeof want, 0, 0) == 0, "%s", nbd_get_error ());
    nbd_close (h);
  }

  t0 = now_s ();
  for (i = 1; i <= cycles; i++) {
    struct nbd_handle *h = nbd_create ();
    REQUIRE (h != NULL, "cycle %ld: nbd_create: %s", i, nbd_get_error ());
    if (nbd_connect_unix (h, srv.sock) == -1) {
      CHECK (0, "cycle %ld: connect: %s", i, nbd_get_error ());
      nbd_close (h);
      break;
    }
    if (i % 100 == 0) {
      CHECK (nbd_pread (h, buf, sizeof buf, 0, 0) == 0, "cycle %ld: %s", i, nbd_get_error ());
      CHECK (memcmp (buf, want, sizeof buf) == 0, "cycle %ld: wrong data", i);
    }
    if (i % 2 == 0)
      nbd_shutdown (h, 0);      /* half with an orderly NBD_CMD_DISC, half abrupt */
    nbd_close (h);
    if (i == checkpoint) { fds0 = count_fds (); rss0 = rss_kb (); }
  }
  fds1 = count_fds ();
  rss1 = rss_kb ();
  printf ("test_cycles: %ld cycles in %.1f s; after %ld: %d fds, VmRSS %ld kB; "
          "after %ld: %d fds, VmRSS %ld kB (growth %ld kB, slack %d kB)\n",
          cycles, now_s () - t0, checkpoint, fds0, rss0, cycles, fds1, rss1,
          rss1 - rss0, RSS_SLACK_KB);
  CHECK (fds0 > 0 && fds1 == fds0, "fd count grew from %d to %d", fds0, fds1);
  if (!getenv ("CYCLES_SKIP_RSS"))
    CHECK (rss0 > 0 && rss1 - rss0 <= RSS_SLACK_KB, "VmRSS grew by %ld kB", rss1 - rss0);
  server_stop (&srv);
  fault_finish ();
}
