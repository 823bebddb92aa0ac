/* test_tsan_threads.c: 8 threads share one handle and do synchronous
 * pread/pwrite with verified data against nbdkit (memory 64M).  Built with
 * -fsanitize=thread against a TSan build of the library by `make check-tsan`
 * (it also runs fine as a plain test).  Each thread owns a 1 MiB region:
 * it writes a pattern derived from (thread, round, offset) in blocks of
 * 4-64 KiB, reads every block back and compares, and also reads a block of
 * another thread's region from a finished round only after a barrier, so
 * reads and writes of different threads really overlap in time on the one
 * connection.  Exit status non-zero on any failed call or wrong byte. */
#include <pthread.h>

#include "faults.h"

#define NTHREADS 8
#define REGION (1024 * 1024)
#define ROUNDS 6

static struct nbd_handle *h;
static pthread_barrier_t barrier;
static int errors[NTHREADS];

static uint8_t
pat (int t, int round, uint64_t off)
{
  return (uint8_t) (t * 37 + round * 11 + (off * 7) + (off >> 9));
}

static void *
worker (void *arg)
{
  int t = (int) (intptr_t) arg, round;
  uint8_t *buf = malloc (65536), *rd = malloc (65536);
  unsigned seed = t + 1;

  for (round = 0; round < ROUNDS; round++) {
    uint64_t base = (uint64_t) t * REGION, off;
    size_t len;
    for (off = 0; off < REGION; off += len) {
      size_t i;
      len = 4096 << (rand_r (&seed) % 5);          /* 4..64 KiB */
      if (off + len > REGION) len = REGION - off;
      for (i = 0; i < len; i++) buf[i] = pat (t, round, base + off + i);
      if (nbd_pwrite (h, buf, len, base + off, 0) == -1) {
        fprintf (stderr, "thread %d: pwrite: %s\n", t, nbd_get_error ());
        errors[t]++;
        goto out;
      }
      if (nbd_pread (h, rd, len, base + off, 0) == -1) {
        fprintf (stderr, "thread %d: pread: %s\n", t, nbd_get_error ());
        errors[t]++;
        goto out;
      }
      if (memcmp (rd, buf, len) != 0) {
        fprintf (stderr, "thread %d: wrong data at %llu\n", t, (unsigned long long) (base + off));
        errors[t]++;
      }
    }
    /* Everyone finished this round: check a neighbour's region too. */
    pthread_barrier_wait (&barrier);
    {
      int other = (t + 1 + round) % NTHREADS;
      uint64_t ob = (uint64_t) other * REGION + (uint64_t) (rand_r (&seed) % 16) * 65536;
      size_t i;
      if (nbd_pread (h, rd, 65536, ob, 0) == -1) {
        fprintf (stderr, "thread %d: pread: %s\n", t, nbd_get_error ());
        errors[t]++;
      }
      else
        for (i = 0; i < 65536; i++)
          if (rd[i] != pat (other, round, ob + i)) { errors[t]++; break; }
    }
    pthread_barrier_wait (&barrier);
  }
 out:
  free (buf);
  free (rd);
  return NULL;
}

int
main (void)
{
  static const char *const args[] = { "memory", "64M", NULL };
  struct server srv;
  pthread_t th[NTHREADS];
  int i, total = 0;

  fault_watchdog (600);
  REQUIRE (server_start (&srv, args) == 0, "cannot start nbdkit");
  h = nbd_create ();
  REQUIRE (h != NULL, "%s", nbd_get_error ());
  REQUIRE (nbd_connect_unix (h, srv.sock) == 0, "%s", nbd_get_error ());
  pthread_barrier_init (&barrier, NULL, NTHREADS);
  for (i = 0; i < NTHREADS; i++)
    REQUIRE (pthread_create (&th[i], NULL, worker, (void *) (intptr_t) i) == 0, "pthread_create");
  for (i = 0; i < NTHREADS; i++) {
    pthread_join (th[i], NULL);
    total += errors[i];
  }
  CHECK (total == 0, "%d errors in the worker threads", total);
  CHECK (nbd_aio_in_flight (h) == 0, "in flight after join: %d", nbd_aio_in_flight (h));
  CHECK (nbd_shutdown (h, 0) == 0, "%s", nbd_get_error ());
  nbd_close (h);
  pthread_barrier_destroy (&barrier);
  printf ("test_tsan_threads: %d threads x %d rounds x 1 MiB written and verified\n",
          NTHREADS, ROUNDS);
  server_stop (&srv);
  fault_finish ();
}
