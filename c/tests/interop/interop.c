/* Interop matrix client: exercises the libnbd API against one real server.
 *
 * Usage: interop [-n LABEL] [-e EXPORT]... URI
 *        interop -T     (print nbd_supports_tls(); exit 0 iff it is true)
 *
 *   -n LABEL    name printed in messages (e.g. "nbdkit", "qemu-nbd")
 *   -e EXPORT   an export name that NBD_OPT_LIST must report (repeatable)
 *   URI         NBD URI of a WRITABLE scratch export (contents destroyed)
 *
 * Steps: option mode + nbd_opt_list, nbd_opt_info, nbd_opt_go; then
 * pwrite/pread with verification, FUA write, flush, zero (+NO_HOLE,
 * +FAST_ZERO), trim, cache, block status on base:allocation (cross-checked
 * against the data), concurrent aio_pwrite/aio_pread driven by nbd_poll and
 * nbd_aio_command_completed, shutdown.  Every command whose transmission
 * flag the server does not advertise is skipped with a "skip:" line.
 *
 * Exit status: 0 all checks passed, 1 a check failed, 77 cannot run.
 * An alarm bounds the whole run so a hang is reported as a failure.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>

#define TIMEOUT_SECONDS 120
#define AREA (1024 * 1024)      /* bytes of the export the test uses */
#define MAX_EXPECT 16

static const char *label = "server";
static int failures;

#define FAIL(...)                                                     \
  do {                                                                \
    fprintf (stderr, "interop[%s]: FAIL line %d: ", label, __LINE__); \
    fprintf (stderr, __VA_ARGS__);                                    \
    fprintf (stderr, "\n");                                           \
    failures++;                                                       \
  } while (0)

/* For calls that must succeed; on failure print libnbd's error and stop
 * (later steps would only cascade). */
#define MUST(call)                                                      \
  do {                                                                  \
    if ((call) == -1) {                                                 \
      fprintf (stderr, "interop[%s]: FAIL line %d: %s: %s (errno %d)\n", \
               label, __LINE__, #call, nbd_get_error (), nbd_get_errno ()); \
      exit (EXIT_FAILURE);                                              \
    }                                                                   \
  } while (0)

static void
ok (const char *what)
{
  printf ("interop[%s]: ok: %s\n", label, what);
}

static void
skip (const char *what)
{
  printf ("interop[%s]: skip: %s (not advertised by server)\n", label, what);
}

static void
on_alarm (int sig)
{
  (void) sig;
  static const char msg[] = "interop: FAIL: timed out\n";
  if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0) { /* ignore */ }
  _exit (EXIT_FAILURE);
}

/* ---- export listing ----------------------------------------------------- */

struct list_data {
  char *names[64];
  size_t n;
  int frees;
};

static int
list_cb (void *opaque, const char *name, const char *description)
{
  struct list_data *d = opaque;

  if (name == NULL || description == NULL)
    FAIL ("list callback got a NULL string");
  else if (d->n < sizeof d->names / sizeof d->names[0])
    d->names[d->n++] = strdup (name);
  return 0;
}

static void
list_free (void *opaque)
{
  struct list_data *d = opaque;
  d->frees++;
}

/* ---- block status ------------------------------------------------------- */

struct extent {
  uint64_t offset, length;
  uint32_t flags;
};

struct bs_data {
  uint64_t start;
  struct extent e[4096];
  size_t n;
  int calls;
  bool bad;
};

static int
extent_cb (void *opaque, const char *metacontext, uint64_t offset,
           uint32_t *entries, size_t nr_entries, int *error)
{
  struct bs_data *d = opaque;
  uint64_t pos = offset;
  size_t i;

  d->calls++;
  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0) {
    FAIL ("extent callback for unexpected context %s", metacontext);
    d->bad = true;
    return 0;
  }
  if (*error != 0)
    FAIL ("extent callback with error %d", *error);
  if (offset != d->start) {
    FAIL ("extent callback offset %" PRIu64 ", expected %" PRIu64,
          offset, d->start);
    d->bad = true;
  }
  if (nr_entries == 0 || nr_entries % 2 != 0) {
    FAIL ("extent callback with %zu entries (must be even, > 0)", nr_entries);
    d->bad = true;
    return 0;
  }
  for (i = 0; i < nr_entries; i += 2) {
    if (entries[i] == 0) {
      FAIL ("zero-length extent at index %zu", i / 2);
      d->bad = true;
    }
    if (entries[i+1] & ~(uint32_t) (LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO))
      printf ("interop[%s]: note: extent flags 0x%" PRIx32 " has bits "
              "beyond HOLE|ZERO\n", label, entries[i+1]);
    if (d->n < sizeof d->e / sizeof d->e[0]) {
      d->e[d->n].offset = pos;
      d->e[d->n].length = entries[i];
      d->e[d->n].flags = entries[i+1];
      d->n++;
    }
    pos += entries[i];
  }
  return 0;
}

/* ---- aio ---------------------------------------------------------------- */

struct aio_data {
  int completed;
  int freed;
  int errors;
};

static int
completion_cb (void *opaque, int *error)
{
  struct aio_data *d = opaque;

  d->completed++;
  if (*error != 0)
    d->errors++;
  return 1;                     /* auto-retire the command */
}

static void
completion_free (void *opaque)
{
  struct aio_data *d = opaque;
  d->freed++;
}

/* ---- helpers ------------------------------------------------------------ */

static void
fill_pattern (unsigned char *buf, size_t len, uint64_t offset, unsigned seed)
{
  size_t i;
  for (i = 0; i < len; ++i) {
    uint64_t x = (offset + i) * 2654435761u + seed;
    buf[i] = (unsigned char) (x >> 13) | 1; /* never zero */
  }
}

static bool
is_zero (const unsigned char *buf, size_t len)
{
  size_t i;
  for (i = 0; i < len; ++i)
    if (buf[i])
      return false;
  return true;
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: interop [-n LABEL] [-e EXPORT]... URI\n");
  exit (77);
}

int
main (int argc, char *argv[])
{
  const char *expect[MAX_EXPECT];
  size_t nexpect = 0, i;
  const char *uri;
  struct nbd_handle *h;
  struct list_data list = { .n = 0 };
  int64_t size, minblk, r;
  unsigned char *wbuf, *rbuf;
  int c;
  uint64_t off;
  char *s;

  while ((c = getopt (argc, argv, "n:e:T")) != -1) {
    switch (c) {
    case 'T': {                 /* report nbd_supports_tls() and exit */
      struct nbd_handle *t = nbd_create ();
      int tls = t ? nbd_supports_tls (t) : -1;
      if (t) nbd_close (t);
      printf ("%d\n", tls);
      return tls == 1 ? 0 : 1;
    }
    case 'n': label = optarg; break;
    case 'e':
      if (nexpect == MAX_EXPECT) usage ();
      expect[nexpect++] = optarg;
      break;
    default: usage ();
    }
  }
  if (optind != argc - 1)
    usage ();
  uri = argv[optind];

  signal (SIGALRM, on_alarm);
  alarm (TIMEOUT_SECONDS);

  h = nbd_create ();
  if (h == NULL) {
    fprintf (stderr, "nbd_create: %s\n", nbd_get_error ());
    return EXIT_FAILURE;
  }
  printf ("interop[%s]: library %s %s\n", label,
          nbd_get_package_name (h), nbd_get_version (h));
  MUST (nbd_set_handle_name (h, "interop"));

  /* --- Negotiation in option mode ---------------------------------------- */
  MUST (nbd_set_opt_mode (h, true));
  if (nbd_get_opt_mode (h) != 1)
    FAIL ("nbd_get_opt_mode did not return 1 after set_opt_mode(true)");
  MUST (nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION));
  MUST (nbd_connect_uri (h, uri));
  if (!nbd_aio_is_negotiating (h))
    FAIL ("not negotiating after connect in opt mode (state %s)",
          nbd_connection_state (h));
  s = nbd_get_uri (h);
  if (s == NULL)
    FAIL ("nbd_get_uri: %s", nbd_get_error ());
  else
    printf ("interop[%s]: get_uri: %s\n", label, s);
  free (s);

  /* NBD_OPT_LIST */
  r = nbd_opt_list (h, (nbd_list_callback) { .callback = list_cb,
                                             .user_data = &list,
                                             .free = list_free });
  if (r == -1) {
    if (nexpect > 0)
      FAIL ("nbd_opt_list: %s", nbd_get_error ());
    else
      printf ("interop[%s]: note: nbd_opt_list failed: %s\n", label,
              nbd_get_error ());
  }
  else {
    if (r != (int64_t) list.n)
      FAIL ("nbd_opt_list returned %" PRIi64 " but callback ran %zu times",
            r, list.n);
    for (i = 0; i < nexpect; ++i) {
      size_t j;
      bool found = false;
      for (j = 0; j < list.n; ++j)
        if (strcmp (list.names[j], expect[i]) == 0)
          found = true;
      if (!found)
        FAIL ("export \"%s\" not in NBD_OPT_LIST reply (%zu names)",
              expect[i], list.n);
    }
    printf ("interop[%s]: ok: opt_list (%zu export(s):", label, list.n);
    for (i = 0; i < list.n; ++i)
      printf (" \"%s\"", list.names[i]);
    printf (")\n");
  }
  if (list.frees != 1)
    FAIL ("list callback .free ran %d times, expected 1", list.frees);
  for (i = 0; i < list.n; ++i)
    free (list.names[i]);

  /* NBD_OPT_INFO then NBD_OPT_GO on the export named in the URI */
  MUST (nbd_opt_info (h));
  size = nbd_get_size (h);
  if (size == -1)
    FAIL ("nbd_get_size after opt_info: %s", nbd_get_error ());
  else
    ok ("opt_info");
  MUST (nbd_opt_go (h));
  if (!nbd_aio_is_ready (h))
    FAIL ("not ready after opt_go (state %s)", nbd_connection_state (h));
  r = nbd_get_size (h);
  if (r != size) {
    /* nbd-server 3.24 answers NBD_OPT_INFO with size 0; only GO counts. */
    printf ("interop[%s]: note: size %" PRIi64 " after opt_info, %" PRIi64
            " after opt_go\n", label, size, r);
    size = r;
  }
  if (size < AREA) {
    FAIL ("export too small: %" PRIi64, size);
    return EXIT_FAILURE;
  }
  printf ("interop[%s]: protocol %s, size %" PRIi64 ", structured replies %d\n",
          label, nbd_get_protocol (h), size,
          nbd_get_structured_replies_negotiated (h));
  if (nbd_is_read_only (h) != 0)
    FAIL ("export is read-only (or error: %s)", nbd_get_error ());
  minblk = nbd_get_block_size (h, LIBNBD_SIZE_MINIMUM);
  if (minblk == -1)
    FAIL ("nbd_get_block_size: %s", nbd_get_error ());
  if (minblk > 4096)
    FAIL ("minimum block size %" PRIi64 " > 4096", minblk);

  wbuf = malloc (AREA);
  rbuf = malloc (AREA);
  if (!wbuf || !rbuf) {
    perror ("malloc");
    return EXIT_FAILURE;
  }

  /* --- pwrite / pread ---------------------------------------------------- */
  fill_pattern (wbuf, AREA, 0, 1);
  for (off = 0; off < AREA; off += 65536)
    MUST (nbd_pwrite (h, wbuf + off, 65536, off, 0));
  memset (rbuf, 0, AREA);
  MUST (nbd_pread (h, rbuf, AREA, 0, 0));
  if (memcmp (wbuf, rbuf, AREA) != 0)
    FAIL ("data read back differs from data written");
  else
    ok ("pwrite 16 x 64K + pread 1M, verified");

  /* small, block-aligned I/O in the middle */
  fill_pattern (wbuf, 4096, 12288, 2);
  MUST (nbd_pwrite (h, wbuf, 4096, 12288, 0));
  MUST (nbd_pread (h, rbuf, 4096, 12288, 0));
  if (memcmp (wbuf, rbuf, 4096) != 0)
    FAIL ("4K write/read at 12288 differs");
  else
    ok ("pwrite/pread 4K at offset 12288");
  /* restore the 1M pattern for later checks */
  fill_pattern (wbuf, AREA, 0, 1);
  MUST (nbd_pwrite (h, wbuf + 12288, 4096, 12288, 0));

  /* --- FUA ------------------------------------------------------------- */
  if (nbd_can_fua (h) == 1) {
    MUST (nbd_pwrite (h, wbuf, 4096, 0, LIBNBD_CMD_FLAG_FUA));
    ok ("pwrite with FUA");
  }
  else
    skip ("FUA");

  /* --- flush ------------------------------------------------------------ */
  if (nbd_can_flush (h) == 1) {
    MUST (nbd_flush (h, 0));
    ok ("flush");
  }
  else
    skip ("flush");

  /* --- zero ------------------------------------------------------------- */
  if (nbd_can_zero (h) == 1) {
    MUST (nbd_zero (h, 65536, 131072, 0));
    MUST (nbd_pread (h, rbuf, AREA, 0, 0));
    if (!is_zero (rbuf + 131072, 65536))
      FAIL ("zeroed range [128K,192K) does not read back as zeroes");
    else if (memcmp (rbuf, wbuf, 131072) != 0 ||
             memcmp (rbuf + 196608, wbuf + 196608, AREA - 196608) != 0)
      FAIL ("zero changed data outside its range");
    else
      ok ("zero 64K, verified (and neighbours intact)");
    memset (wbuf + 131072, 0, 65536);

    MUST (nbd_zero (h, 65536, 262144, LIBNBD_CMD_FLAG_NO_HOLE));
    MUST (nbd_pread (h, rbuf, 65536, 262144, 0));
    if (!is_zero (rbuf, 65536))
      FAIL ("zero with NO_HOLE does not read back as zeroes");
    else
      ok ("zero with NO_HOLE");
    memset (wbuf + 262144, 0, 65536);

    if (nbd_can_fast_zero (h) == 1) {
      /* A fast zero may legitimately fail with ENOTSUP. */
      if (nbd_zero (h, 65536, 327680, LIBNBD_CMD_FLAG_FAST_ZERO) == -1) {
        if (nbd_get_errno () != ENOTSUP)
          FAIL ("fast zero failed with errno %d: %s", nbd_get_errno (),
                nbd_get_error ());
        else
          ok ("fast zero refused with ENOTSUP (allowed)");
      }
      else {
        MUST (nbd_pread (h, rbuf, 65536, 327680, 0));
        if (!is_zero (rbuf, 65536))
          FAIL ("fast zero does not read back as zeroes");
        else
          ok ("fast zero");
        memset (wbuf + 327680, 0, 65536);
      }
    }
    else
      skip ("fast zero");
  }
  else
    skip ("write zeroes");

  /* --- trim ------------------------------------------------------------- */
  if (nbd_can_trim (h) == 1) {
    /* Contents after trim are unspecified; only the call must succeed and
     * data outside the range must be untouched. */
    MUST (nbd_trim (h, 65536, 458752, 0));
    MUST (nbd_pread (h, rbuf, AREA, 0, 0));
    if (memcmp (rbuf, wbuf, 458752) != 0 ||
        memcmp (rbuf + 524288, wbuf + 524288, AREA - 524288) != 0)
      FAIL ("trim changed data outside its range");
    else
      ok ("trim 64K (neighbours intact)");
    /* remember what the trimmed range reads as now */
    memcpy (wbuf + 458752, rbuf + 458752, 65536);
  }
  else
    skip ("trim");

  /* --- cache ------------------------------------------------------------ */
  if (nbd_can_cache (h) == 1) {
    MUST (nbd_cache (h, 65536, 0, 0));
    ok ("cache");
  }
  else
    skip ("cache");

  /* --- block status ------------------------------------------------------ */
  if (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1) {
    static struct bs_data bs;
    uint64_t covered = 0, start = 0;

    /* Walk the first AREA bytes; a server may return less than asked. */
    while (start < AREA) {
      size_t before;

      memset (&bs, 0, sizeof bs);
      bs.start = start;
      MUST (nbd_block_status (h, AREA - start, start,
                              (nbd_extent_callback) { .callback = extent_cb,
                                                      .user_data = &bs }, 0));
      if (bs.calls != 1) {
        FAIL ("extent callback ran %d times for one context", bs.calls);
        break;
      }
      if (bs.bad || bs.n == 0)
        break;
      before = covered;
      /* Cross-check: any extent reported as reading zero must read zero. */
      for (i = 0; i < bs.n; ++i) {
        uint64_t a = bs.e[i].offset;
        uint64_t b = a + bs.e[i].length;
        if (b > AREA) b = AREA;
        if (a >= b) continue;
        if ((bs.e[i].flags & LIBNBD_STATE_ZERO) && !is_zero (wbuf + a, b - a))
          FAIL ("extent [%" PRIu64 ",%" PRIu64 ") reported ZERO but holds "
                "data", a, b);
        covered += b - a;
      }
      if (covered == before)
        break;
      start += covered - before;
    }
    if (covered != AREA)
      FAIL ("block status covered %" PRIu64 " of %d bytes", covered, AREA);
    else
      ok ("block status base:allocation (extents consistent with data)");

    /* REQ_ONE: exactly one extent back */
    memset (&bs, 0, sizeof bs);
    bs.start = 0;
    MUST (nbd_block_status (h, AREA, 0,
                            (nbd_extent_callback) { .callback = extent_cb,
                                                    .user_data = &bs },
                            LIBNBD_CMD_FLAG_REQ_ONE));
    if (bs.n != 1)
      FAIL ("block status with REQ_ONE returned %zu extents", bs.n);
    else
      ok ("block status with REQ_ONE");
  }
  else
    skip ("base:allocation meta context");

  /* --- aio: concurrent writes and reads --------------------------------- */
  {
    enum { N = 16, CHUNK = 65536 };
    struct aio_data wd = { 0 };
    unsigned char *rb = malloc (N * CHUNK);
    int64_t cookies[N];
    int k, done;

    if (rb == NULL) {
      perror ("malloc");
      return EXIT_FAILURE;
    }
    fill_pattern (wbuf, N * CHUNK, 0, 3);
    for (k = 0; k < N; ++k) {
      r = nbd_aio_pwrite (h, wbuf + k * CHUNK, CHUNK, (uint64_t) k * CHUNK,
                          (nbd_completion_callback) {
                            .callback = completion_cb, .user_data = &wd,
                            .free = completion_free }, 0);
      MUST (r);
    }
    while (nbd_aio_in_flight (h) > 0)
      MUST (nbd_poll (h, -1));
    if (wd.completed != N || wd.errors != 0 || wd.freed != N)
      FAIL ("aio_pwrite: %d completed, %d errors, %d freed (expected %d)",
            wd.completed, wd.errors, wd.freed, N);

    /* reads retired by nbd_aio_command_completed instead of a callback */
    memset (rb, 0, N * CHUNK);
    for (k = 0; k < N; ++k) {
      cookies[k] = nbd_aio_pread (h, rb + k * CHUNK, CHUNK,
                                  (uint64_t) k * CHUNK,
                                  NBD_NULL_COMPLETION, 0);
      MUST (cookies[k]);
    }
    done = 0;
    while (done < N) {
      MUST (nbd_poll (h, -1));
      for (k = 0; k < N; ++k) {
        if (cookies[k] == 0)
          continue;
        r = nbd_aio_command_completed (h, cookies[k]);
        if (r == -1) {
          FAIL ("aio_pread cookie %" PRIi64 ": %s", cookies[k],
                nbd_get_error ());
          cookies[k] = 0;
          done++;
        }
        else if (r == 1) {
          cookies[k] = 0;
          done++;
        }
      }
    }
    if (memcmp (rb, wbuf, N * CHUNK) != 0)
      FAIL ("aio read-back differs");
    else
      ok ("16 concurrent aio_pwrite + aio_pread, verified");
    free (rb);
  }

  /* --- aio: 64 in flight, refilled after every poll ---------------------
   * Keeps enough replies due that our library holds new requests and sends
   * them in batches; every read is checked against what was written. */
  {
    enum { N = 16, CHUNK = 65536, DEPTH = 64, TOTAL = 2048, SZ = 4096 };
    struct aio_data d = { 0 };
    unsigned char *rb = malloc ((size_t) DEPTH * SZ);
    int64_t cookie[DEPTH];
    uint64_t off[DEPTH];
    int issued = 0, slot, polls = 0;

    if (rb == NULL) {
      perror ("malloc");
      return EXIT_FAILURE;
    }
    for (slot = 0; slot < DEPTH; ++slot)
      cookie[slot] = 0;
    while (d.completed < TOTAL && polls < 100000) {
      for (slot = 0; slot < DEPTH; ++slot) {
        if (cookie[slot] != 0) {
          r = nbd_aio_command_completed (h, cookie[slot]);
          if (r == 0)
            continue;
          d.completed++;
          if (r == -1 ||
              memcmp (rb + slot * SZ, wbuf + off[slot], SZ) != 0)
            d.errors++;
          cookie[slot] = 0;
        }
        if (issued < TOTAL) {
          off[slot] = (uint64_t) ((issued * 7919) % (N * CHUNK / SZ)) * SZ;
          cookie[slot] = nbd_aio_pread (h, rb + slot * SZ, SZ, off[slot],
                                        NBD_NULL_COMPLETION, 0);
          MUST (cookie[slot]);
          issued++;
        }
      }
      if (d.completed < TOTAL) {
        MUST (nbd_poll (h, -1));
        polls++;
      }
    }
    if (d.completed != TOTAL || d.errors != 0 || nbd_aio_in_flight (h) != 0)
      FAIL ("64 in flight: %d of %d completed, %d errors or mismatches",
            d.completed, TOTAL, d.errors);
    else
      ok ("2048 aio_pread kept 64 in flight, each verified");
    free (rb);
  }

  /* --- disconnect ------------------------------------------------------- */
  MUST (nbd_shutdown (h, 0));
  if (!nbd_aio_is_closed (h) && !nbd_aio_is_dead (h))
    FAIL ("after shutdown, state is %s", nbd_connection_state (h));
  nbd_close (h);
  free (wbuf);
  free (rbuf);

  if (failures) {
    printf ("interop[%s]: FAILED (%d)\n", label, failures);
    return EXIT_FAILURE;
  }
  printf ("interop[%s]: PASS\n", label);
  return EXIT_SUCCESS;
}
