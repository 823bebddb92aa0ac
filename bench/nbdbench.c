/* nbdbench: one client-side NBD workload, timed, written against the
 * public libnbd API only.  The same source is built twice (against our
 * library and against the system libnbd) and driven by bench/run.py.
 *
 * Usage: nbdbench WORKLOAD SOCKET [SECONDS]
 *
 * Workloads (all I/O stays inside the first SPAN bytes of the export,
 * which the "fill" workload writes once before the read workloads):
 *   fill          write SPAN bytes, 256 KiB requests, 16 in flight (untimed use)
 *   connect       nbd_create + nbd_connect_unix + nbd_shutdown + nbd_close
 *   read4k-sync   4 KiB random nbd_pread, one at a time
 *   read4k-qd64   4 KiB random nbd_aio_pread, 64 outstanding, nbd_poll
 *   seqread256k   256 KiB sequential nbd_aio_pread, 16 outstanding
 *   seqwrite256k  256 KiB sequential nbd_aio_pwrite, 16 outstanding
 *   read4k-mt8    8 threads share one handle, 4 KiB random nbd_pread each
 *
 * Output: exactly one line on stdout on success,
 *   RESULT workload=W ops=N bytes=B seconds=S cpu=C lib=PATH version=V
 * where seconds is wall time of the measured loop and cpu is this process's
 * user+system CPU time (getrusage RUSAGE_SELF, all threads) over the same
 * loop.  Any libnbd error prints a message on stderr and exits 1.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#define SPAN (64ULL * 1024 * 1024)   /* bytes of the export the workloads use */
#define MAX_QD 64
#define MT_THREADS 8

static const char *sockpath;
static double duration = 2.0;

static double
now_wall (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The system part of the last measured interval, for the report. */
static double sys_mark, sys_total;

/* Process CPU time (all threads), user + system.  Also records the system
 * time since the previous call in sys_total. */
static double
now_cpu (void)
{
  struct rusage ru;
  double sys;

  getrusage (RUSAGE_SELF, &ru);
  sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  sys_total = sys - sys_mark;
  sys_mark = sys;
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + sys;
}

static void
die_nbd (const char *what)
{
  fprintf (stderr, "nbdbench: %s: %s (errno %d)\n", what,
           nbd_get_error () ? nbd_get_error () : "(no message)",
           nbd_get_errno ());
  exit (1);
}

/* xorshift64*: cheap per-thread random block numbers. */
static uint64_t
rnd (uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t
random_4k_offset (uint64_t *s)
{
  return (rnd (s) % (SPAN / 4096)) * 4096;
}

/* TLS for the bench/tls.py workloads: NBDBENCH_TLS_CERTS names an X.509
 * certificates directory; TLS is then required. */
static void
apply_tls (struct nbd_handle *h)
{
  const char *certs = getenv ("NBDBENCH_TLS_CERTS");

  if (certs == NULL || *certs == '\0')
    return;
  if (nbd_set_tls (h, LIBNBD_TLS_REQUIRE) == -1 ||
      nbd_set_tls_certificates (h, certs) == -1)
    die_nbd ("nbd_set_tls");
}

/* NBDBENCH_NO_EXTENDED=1: do not ask for extended headers (libraries that
 * have the call), to measure what that option's round trip costs against
 * servers that refuse it. */
static void
apply_no_extended (struct nbd_handle *h)
{
#ifdef LIBNBD_HAVE_NBD_SET_REQUEST_EXTENDED_HEADERS
  const char *v = getenv ("NBDBENCH_NO_EXTENDED");

  if (v && strcmp (v, "1") == 0 && nbd_set_request_extended_headers (h, false) == -1)
    die_nbd ("nbd_set_request_extended_headers");
#else
  (void) h;
#endif
}

static struct nbd_handle *
open_handle (void)
{
  struct nbd_handle *h = nbd_create ();
  if (h == NULL)
    die_nbd ("nbd_create");
  apply_tls (h);
  apply_no_extended (h);
  if (nbd_connect_unix (h, sockpath) == -1)
    die_nbd ("nbd_connect_unix");
  return h;
}

static void
close_handle (struct nbd_handle *h)
{
  if (nbd_shutdown (h, 0) == -1)
    die_nbd ("nbd_shutdown");
  nbd_close (h);
}

struct result {
  uint64_t ops;
  uint64_t bytes;
  double seconds;
  double cpu;
};

/* ---- connect ---------------------------------------------------------- */

static void
run_connect (struct result *r)
{
  double t0 = now_wall (), c0 = now_cpu (), t;
  do {
    close_handle (open_handle ());
    r->ops++;
    t = now_wall ();
  } while (t - t0 < duration);
  r->seconds = t - t0;
  r->cpu = now_cpu () - c0;
}

/* ---- synchronous 4 KiB random reads ----------------------------------- */

static void
run_read4k_sync (struct result *r)
{
  struct nbd_handle *h = open_handle ();
  static char buf[4096];
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  double t0 = now_wall (), c0 = now_cpu (), t;

  do {
    if (nbd_pread (h, buf, sizeof buf, random_4k_offset (&seed), 0) == -1)
      die_nbd ("nbd_pread");
    r->ops++;
    t = now_wall ();
  } while (t - t0 < duration);
  r->seconds = t - t0;
  r->cpu = now_cpu () - c0;
  r->bytes = r->ops * sizeof buf;
  close_handle (h);
}

/* ---- asynchronous loops: keep QD commands outstanding ----------------- */

struct aio_ctx;
struct slot {
  struct aio_ctx *ctx;
  char *buf;
};

struct aio_ctx {
  struct slot slots[MAX_QD];
  struct slot *free_list[MAX_QD];
  unsigned nfree;
  unsigned in_flight;
  uint64_t completed;
  uint64_t errors;
};

/* Completion callback: runs inside nbd_poll, so it must not call back into
 * the handle; it only returns the slot to the free list.  Returning 1 lets
 * the library retire the command itself. */
static int
aio_done (void *user_data, int *error)
{
  struct slot *s = user_data;
  struct aio_ctx *ctx = s->ctx;
  if (*error)
    ctx->errors++;
  ctx->completed++;
  ctx->in_flight--;
  ctx->free_list[ctx->nfree++] = s;
  return 1;
}

/* Runs for `duration` seconds, or until `limit` bytes have been issued
 * when limit != 0.  Sequential mode walks the span and wraps. */
static void
aio_loop (struct nbd_handle *h, size_t size, unsigned qd, int is_write,
          int sequential, uint64_t limit, struct result *r)
{
  struct aio_ctx ctx;
  uint64_t seed = 0x2545f4914f6cdd1dULL, next_off = 0, issued = 0;
  unsigned i;
  int stopping = 0;
  double t0, c0, t;

  memset (&ctx, 0, sizeof ctx);
  for (i = 0; i < qd; i++) {
    ctx.slots[i].ctx = &ctx;
    ctx.slots[i].buf = malloc (size);
    if (ctx.slots[i].buf == NULL) {
      perror ("malloc");
      exit (1);
    }
    memset (ctx.slots[i].buf, 0x55 + i, size);
    ctx.free_list[ctx.nfree++] = &ctx.slots[i];
  }

  t0 = now_wall ();
  c0 = now_cpu ();
  for (;;) {
    while (!stopping && ctx.nfree > 0) {
      struct slot *s = ctx.free_list[--ctx.nfree];
      nbd_completion_callback cb = { .callback = aio_done, .user_data = s };
      uint64_t off;
      int64_t cookie;

      if (sequential) {
        off = next_off;
        next_off = (next_off + size) % SPAN;
      }
      else
        off = random_4k_offset (&seed) / size * size;
      if (is_write)
        cookie = nbd_aio_pwrite (h, s->buf, size, off, cb, 0);
      else
        cookie = nbd_aio_pread (h, s->buf, size, off, cb, 0);
      if (cookie == -1)
        die_nbd (is_write ? "nbd_aio_pwrite" : "nbd_aio_pread");
      ctx.in_flight++;
      issued += size;
      if (limit && issued >= limit)
        stopping = 1;
    }
    if (ctx.in_flight == 0)
      break;
    if (nbd_poll (h, -1) == -1)
      die_nbd ("nbd_poll");
    if (!stopping && !limit && now_wall () - t0 >= duration)
      stopping = 1;
  }
  t = now_wall ();
  r->seconds = t - t0;
  r->cpu = now_cpu () - c0;
  r->ops = ctx.completed;
  r->bytes = ctx.completed * size;
  if (ctx.errors) {
    fprintf (stderr, "nbdbench: %" PRIu64 " commands completed with an error\n",
             ctx.errors);
    exit (1);
  }
  for (i = 0; i < qd; i++)
    free (ctx.slots[i].buf);
}

static void
run_aio (struct result *r, size_t size, unsigned qd, int is_write,
         int sequential, uint64_t limit)
{
  struct nbd_handle *h = open_handle ();
  aio_loop (h, size, qd, is_write, sequential, limit, r);
  close_handle (h);
}

/* ---- 8 threads, one handle, synchronous reads ------------------------- */

struct mt_arg {
  struct nbd_handle *h;
  uint64_t ops;
  uint64_t seed;
};

static atomic_int mt_stop;

static void *
mt_worker (void *p)
{
  struct mt_arg *a = p;
  char *buf = malloc (4096);
  if (buf == NULL)
    abort ();
  while (!atomic_load_explicit (&mt_stop, memory_order_relaxed)) {
    if (nbd_pread (a->h, buf, 4096, random_4k_offset (&a->seed), 0) == -1)
      die_nbd ("nbd_pread (thread)");
    a->ops++;
  }
  free (buf);
  return NULL;
}

static void
run_mt (struct result *r)
{
  struct nbd_handle *h = open_handle ();
  pthread_t th[MT_THREADS];
  struct mt_arg args[MT_THREADS];
  struct timespec ts;
  double t0, c0;
  int i, e;

  atomic_store (&mt_stop, 0);
  t0 = now_wall ();
  c0 = now_cpu ();
  for (i = 0; i < MT_THREADS; i++) {
    args[i].h = h;
    args[i].ops = 0;
    args[i].seed = 0x9e3779b97f4a7c15ULL * (i + 1);
    if ((e = pthread_create (&th[i], NULL, mt_worker, &args[i])) != 0) {
      errno = e;
      perror ("pthread_create");
      exit (1);
    }
  }
  ts.tv_sec = (time_t) duration;
  ts.tv_nsec = (long) ((duration - ts.tv_sec) * 1e9);
  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
  atomic_store (&mt_stop, 1);
  for (i = 0; i < MT_THREADS; i++) {
    pthread_join (th[i], NULL);
    r->ops += args[i].ops;
  }
  r->seconds = now_wall () - t0;
  r->cpu = now_cpu () - c0;
  r->bytes = r->ops * 4096;
  close_handle (h);
}

/* ---- latency of a read issued behind 16 slow ones (issue 14) --------------
 * A private nbdkit (32 threads, every read delayed 1 s) answers 16 reads;
 * 0.1 s later a 17th is issued and the loop polls until it completes.  A
 * client that sends it at once sees about 1 s; one that holds it until
 * replies come back sees about 2 s.  ops = 1, seconds = that latency. */
static void
run_late17 (struct result *r)
{
  char *argv[] = { "nbdkit", "-s", "--exit-with-parent", "--threads=32",
                   "--filter=delay", "memory", "1M", "delay-read=1", NULL };
  struct nbd_handle *h = nbd_create ();
  static char buf[17][4096];
  double t0, c0;
  int64_t ck;
  int i;

  if (h == NULL || nbd_connect_command (h, argv) == -1)
    die_nbd ("nbd_connect_command");
  for (i = 0; i < 16; i++)
    if (nbd_aio_pread (h, buf[i], 4096, (uint64_t) i * 4096, NBD_NULL_COMPLETION, 0) == -1)
      die_nbd ("nbd_aio_pread");
  t0 = now_wall ();
  while (now_wall () - t0 < 0.1)
    if (nbd_poll (h, 10) == -1)
      die_nbd ("nbd_poll");
  t0 = now_wall ();
  c0 = now_cpu ();
  ck = nbd_aio_pread (h, buf[16], 4096, 16 * 4096, NBD_NULL_COMPLETION, 0);
  if (ck == -1)
    die_nbd ("nbd_aio_pread");
  while (nbd_aio_command_completed (h, (uint64_t) ck) == 0)
    if (nbd_poll (h, -1) == -1)
      die_nbd ("nbd_poll");
  r->seconds = now_wall () - t0;
  r->cpu = now_cpu () - c0;
  r->ops = 1;
  r->bytes = 4096;
  while (nbd_aio_in_flight (h) > 0)
    if (nbd_poll (h, -1) == -1)
      die_nbd ("nbd_poll");
  nbd_close (h);
}

/* ---- main ------------------------------------------------------------- */

static const char *
library_path (void)
{
  Dl_info info;
  if (dladdr ((void *) nbd_create, &info) && info.dli_fname)
    return info.dli_fname;
  return "unknown";
}

int
main (int argc, char *argv[])
{
  struct result r = { 0 };
  const char *w;

  if (argc < 3 || argc > 4) {
    fprintf (stderr, "usage: %s WORKLOAD SOCKET [SECONDS]\n", argv[0]);
    return 2;
  }
  w = argv[1];
  sockpath = argv[2];
  if (argc == 4) {
    duration = strtod (argv[3], NULL);
    if (!(duration > 0)) {
      fprintf (stderr, "nbdbench: bad SECONDS: %s\n", argv[3]);
      return 2;
    }
  }

  if (strcmp (w, "fill") == 0)
    run_aio (&r, 256 * 1024, 16, 1, 1, SPAN);
  else if (strcmp (w, "connect") == 0)
    run_connect (&r);
  else if (strcmp (w, "read4k-sync") == 0)
    run_read4k_sync (&r);
  else if (strcmp (w, "read4k-qd64") == 0)
    run_aio (&r, 4096, 64, 0, 0, 0);
  else if (strcmp (w, "seqread256k") == 0)
    run_aio (&r, 256 * 1024, 16, 0, 1, 0);
  else if (strcmp (w, "seqwrite256k") == 0)
    run_aio (&r, 256 * 1024, 16, 1, 1, 0);
  else if (strcmp (w, "read4k-mt8") == 0)
    run_mt (&r);
  else if (strcmp (w, "late17") == 0)
    run_late17 (&r);
  else {
    fprintf (stderr, "nbdbench: unknown workload: %s\n", w);
    return 2;
  }

  {
    struct nbd_handle *vh = nbd_create ();
    const char *v = vh ? nbd_get_version (vh) : NULL;

    printf ("RESULT workload=%s ops=%" PRIu64 " bytes=%" PRIu64
            " seconds=%.6f cpu=%.6f sys=%.6f lib=%s version=%s\n",
            w, r.ops, r.bytes, r.seconds, r.cpu, sys_total, library_path (),
            v ? v : "unknown");
    if (vh)
      nbd_close (vh);
  }
  return 0;
}
