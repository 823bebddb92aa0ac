/* Hostile-server tests: shared declarations.
 *
 * Every case runs testdata/badserver.py with one scenario on a private
 * Unix socket (inside a mkdtemp() directory) and drives the library
 * against it.  The client side of a case runs in a forked child process
 * with its own alarm(), so a hang or a crash inside the library on
 * hostile input becomes one failed test, never a stuck or dead run.  The
 * child reports failed checks through a pipe; the parent turns each into a
 * CUnit failure.
 *
 * Expectations: the default build asserts the strict behaviour that
 * shared/reference/nbd-protocol.md requires (see docs/notes-robustness.md
 * for the table).  With -DAGAINST_SYSTEM_LIBNBD the "sys" column is used
 * instead: the system libnbd 1.14 is laxer in places and reports protocol
 * errors with errno 0.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libnbd.h>

/* What the triggering operation is. */
enum h_op {
  OP_CONNECT,          /* nbd_connect_unix itself */
  OP_PREAD,            /* nbd_pread 4096 bytes at READ_OFF */
  OP_PREAD_DF,         /* nbd_pread_structured with LIBNBD_CMD_FLAG_DF */
  OP_PWRITE,           /* nbd_pwrite 4096 bytes at READ_OFF */
  OP_FLUSH,            /* nbd_flush */
  OP_BLOCK_STATUS,     /* nbd_block_status 64 KiB at 0 */
  OP_BLOCK_STATUS_ONE, /* the same with LIBNBD_CMD_FLAG_REQ_ONE */
};

/* What must happen. */
enum h_outcome {
  OUT_OK,     /* the operation succeeds (control scenarios, allowed variants) */
  OUT_FATAL,  /* the call fails with err, the handle is dead, later calls fail */
  OUT_GONE,   /* the call fails with err, the handle is dead or closed */
  OUT_FAIL,   /* the command fails with err, the handle stays usable */
  OUT_REFUSED,/* connect fails with err (server refused), handle not ready */
  OUT_SKIP,   /* not run in this build (documented in the notes) */
};

struct h_expect {
  enum h_outcome outcome;
  int err;            /* expected nbd_get_errno(); -1: any non-zero */
  int err_alt;        /* a second accepted value (0: none), see notes */
  int err_alt2;       /* a third one (0: none) */
};

/* Setup flags. */
#define S_NO_META   0x01  /* do not add base:allocation before connecting */
#define S_RLIMIT    0x02  /* cap the address space (catches huge mallocs) */
#define S_NO_AIO    0x04  /* no aio in-flight variant for this case */
#define S_EXT       0x08  /* on success, extended headers must be in use */
#define S_BS_CLIP   0x10  /* on success, the 32-bit extents total 4 GiB - 512
                             (a 64-bit extent cut as libnbd documents) */

enum h_phase { PH_HANDSHAKE, PH_TRANSMISSION, PH_CONTROL };

struct h_case {
  const char *scenario;     /* badserver.py --scenario NAME */
  enum h_phase phase;
  enum h_op op;
  unsigned setup;
  struct h_expect strict;   /* what our library must do */
  struct h_expect sys;      /* what the system libnbd 1.14 does */
};

extern const struct h_case h_cases[];
extern const size_t h_nr_cases;

#ifdef AGAINST_SYSTEM_LIBNBD
#define H_EXPECT(c) ((c)->sys)
#else
#define H_EXPECT(c) ((c)->strict)
#endif

/* Geometry shared with badserver.py: 1 MiB export, first half a pattern
 * (byte i is (i % 251) + 1), second half zero. */
#define EXPORT_SIZE (1024 * 1024)
#define READ_OFF 8192
#define READ_LEN 4096
uint8_t h_expected_byte (uint64_t offset);

/* ---- server side (runs in the parent) ---- */
struct h_srv {
  pid_t pid;
  char dir[256];
  char sock[320];
};
/* Start badserver.py --scenario NAME --unix <tmpdir>/sock [EXTRA...].
 * Returns 0 once the socket exists; -1 (message on stderr) on failure. */
int h_srv_start (struct h_srv *s, const char *scenario, const char *extra);
void h_srv_stop (struct h_srv *s);
const char *h_badserver_path (void);
const char *h_python (void);

/* ---- client side (runs in the forked child) ---- */
/* Record a failed check; the child exits 1 at the end. */
void h_fail (const char *file, int line, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));
#define HCHECK(cond, ...) \
  do { if (!(cond)) h_fail (__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* Run FN(ARG) in a child with a CHILD_TIMEOUT alarm; translate its
 * reported failures, a crash or a timeout into CUnit failures. */
typedef void (*h_client_fn) (void *arg);
void h_run_child (const char *what, h_client_fn fn, void *arg,
                  unsigned timeout_secs);

/* Check that the last libnbd call failed as expected: message prefix
 * "CALL: " and errno per EXP. */
void h_check_error (const char *call, const struct h_expect *exp,
                    const char *ctx);
bool h_errno_matches (int got, const struct h_expect *exp);

/* Poll H until PRED(H) holds or TIMEOUT_MS passes; returns PRED's value. */
bool h_poll_until (struct nbd_handle *h, int (*pred) (struct nbd_handle *),
                   int timeout_ms);

/* Run the case in c (sync call variant / aio in-flight variant). */
void h_run_case_sync (const struct h_case *c);
void h_run_case_aio (const struct h_case *c);

/* Register cases of PHASE (sync + aio variants) into a new suite. */
int h_register_phase (const char *suite, enum h_phase phase);
const struct h_case *h_find_case (const char *scenario);

/* Standard main: run the registered suites, exit non-zero on failure. */
int h_main (void);

#endif /* HOSTILE_H */
