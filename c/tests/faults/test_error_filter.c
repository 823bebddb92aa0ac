/* test_error_filter.c: a server that fails 10% of requests with EIO.
 *
 *   nbdkit --filter=error memory 64M error-rate=10% error=EIO
 *
 * 1. Fill 16 MiB with a known pattern using sync 64 KiB writes; a write
 *    that fails must fail with EIO (and is retried until it succeeds).
 * 2. Read it back: 2000 sync 4 KiB reads at scattered offsets and 8 rounds
 *    of 32 concurrent aio 64 KiB reads.  Every failed read reports EIO and
 *    nothing else; every successful read returns exactly the pattern.
 * 3. The handle never dies, a flush either succeeds or fails with EIO, and
 *    both outcomes were actually seen (the filter is doing something).
 */
#include "faults.h"

#define AREA (16 * 1024 * 1024)
#define WCHUNK (64 * 1024)
#define NSYNC 2000
#define RCHUNK 4096
#define NAIO 32
#define ROUNDS 8

static uint8_t
pattern (uint64_t off)
{
  return (uint8_t) ((off * 2654435761u) >> 13) ^ (uint8_t) (off >> 16);
}

static void
fill (uint8_t *buf, uint64_t off, size_t len)
{
  size_t i;
  for (i = 0; i < len; i++) buf[i] = pattern (off + i);
}

static int
verify (const uint8_t *buf, uint64_t off, size_t len)
{
  size_t i;
  for (i = 0; i < len; i++)
    if (buf[i] != pattern (off + i)) return -1;
  return 0;
}

struct aio_rec { int done, error; };

static int
aio_done (void *ud, int *error)
{
  struct aio_rec *r = ud;
  r->done++;
  r->error = *error;
  return 1;                     /* retire at once */
}

int
main (void)
{
  static const char *const args[] = {
    "--filter=error", "memory", "64M", "error-rate=10%", "error=EIO", NULL
  };
  struct server srv;
  struct nbd_handle *h;
  uint8_t *buf = malloc (WCHUNK);
  uint8_t *abufs[NAIO];
  uint64_t off;
  int i, k, wfail = 0, rfail = 0, rok = 0, other = 0, aio_fail = 0, aio_ok = 0, retries;
  unsigned seed = 12345;

  fault_watchdog (300);
  REQUIRE (buf != NULL, "malloc");
  REQUIRE (server_start (&srv, args) == 0, "cannot start nbdkit");
  h = nbd_create ();
  REQUIRE (h != NULL, "%s", nbd_get_error ());
  REQUIRE (nbd_connect_unix (h, srv.sock) == 0, "%s", nbd_get_error ());

  for (off = 0; off < AREA; off += WCHUNK) {
    fill (buf, off, WCHUNK);
    for (retries = 0; retries < 100; retries++) {
      if (nbd_pwrite (h, buf, WCHUNK, off, 0) == 0) break;
      wfail++;
      CHECK (nbd_get_errno () == EIO, "write failed with errno %d: %s",
             nbd_get_errno (), nbd_get_error ());
      REQUIRE (!nbd_aio_is_dead (h), "handle died: %s", nbd_get_error ());
    }
    REQUIRE (retries < 100, "write at %llu never succeeded", (unsigned long long) off);
  }

  for (i = 0; i < NSYNC; i++) {
    off = (uint64_t) (rand_r (&seed) % (AREA / 512)) * 512;
    if (off + RCHUNK > AREA) off = AREA - RCHUNK;
    memset (buf, 0, RCHUNK);
    if (nbd_pread (h, buf, RCHUNK, off, 0) == 0) {
      rok++;
      CHECK (verify (buf, off, RCHUNK) == 0, "read at %llu returned wrong data",
             (unsigned long long) off);
    }
    else {
      rfail++;
      if (nbd_get_errno () != EIO) other++;
      CHECK (nbd_get_errno () == EIO, "read failed with errno %d: %s",
             nbd_get_errno (), nbd_get_error ());
    }
  }
  REQUIRE (!nbd_aio_is_dead (h), "handle died: %s", nbd_get_error ());

  for (k = 0; k < NAIO; k++) { abufs[k] = malloc (WCHUNK); REQUIRE (abufs[k], "malloc"); }
  for (i = 0; i < ROUNDS; i++) {
    struct aio_rec recs[NAIO];
    uint64_t offs[NAIO];
    memset (recs, 0, sizeof recs);
    for (k = 0; k < NAIO; k++) {
      nbd_completion_callback cb = { .callback = aio_done, .user_data = &recs[k] };
      offs[k] = (uint64_t) (rand_r (&seed) % (AREA / WCHUNK)) * WCHUNK;
      memset (abufs[k], 0, WCHUNK);
      CHECK (nbd_aio_pread (h, abufs[k], WCHUNK, offs[k], cb, 0) > 0, "%s", nbd_get_error ());
    }
    while (nbd_aio_in_flight (h) > 0)
      if (nbd_poll (h, 5000) == -1) {
        CHECK (0, "nbd_poll: %s", nbd_get_error ());
        break;
      }
    for (k = 0; k < NAIO; k++) {
      CHECK (recs[k].done == 1, "aio read %d: %d completions", k, recs[k].done);
      if (recs[k].error == 0) {
        aio_ok++;
        CHECK (verify (abufs[k], offs[k], WCHUNK) == 0, "aio read at %llu: wrong data",
               (unsigned long long) offs[k]);
      }
      else {
        aio_fail++;
        CHECK (recs[k].error == EIO, "aio read failed with %d", recs[k].error);
      }
    }
  }

  for (i = 0; i < 20; i++)
    if (nbd_flush (h, 0) == -1)
      CHECK (nbd_get_errno () == EIO, "flush failed with errno %d", nbd_get_errno ());
  CHECK (!nbd_aio_is_dead (h), "handle died: %s", nbd_get_error ());

  printf ("test_error_filter: writes %d failed (retried); sync reads %d ok / %d EIO; "
          "aio reads %d ok / %d EIO\n", wfail, rok, rfail, aio_ok, aio_fail);
  /* With 10% errors over ~2500 requests, seeing none (or only errors)
   * would mean the filter or the test is broken. */
  CHECK (rfail > 0 && rok > 0 && aio_fail > 0 && aio_ok > 0 && wfail > 0,
         "expected both outcomes");
  CHECK (other == 0, "%d reads failed with an errno other than EIO", other);
  CHECK (nbd_shutdown (h, 0) == 0 || nbd_get_errno () == EIO, "%s", nbd_get_error ());
  nbd_close (h);
  for (k = 0; k < NAIO; k++) free (abufs[k]);
  free (buf);
  server_stop (&srv);
  fault_finish ();
}
