/* Test harness for the libnbd C API tests.
 *
 * Every helper here starts real server processes (nbdkit) on private
 * endpoints: a Unix socket inside a mkdtemp() directory, a free loopback
 * TCP port, or one end of a socketpair().  Every process started is
 * registered and killed + reaped by h_kill_all() (called from the
 * per-test teardown), and nbdkit is always run with --exit-with-parent.
 *
 * Each test is bounded by an alarm() watchdog (h_watchdog()), armed by
 * the per-test setup installed through H_ADD_SUITE.  If it fires the
 * whole test program exits non-zero with a message naming the test.
 */
#ifndef CTESTS_HARNESS_H
#define CTESTS_HARNESS_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>

/* Default watchdog for one test, in seconds. */
#define H_TEST_TIMEOUT 60

struct h_server {
  pid_t pid;               /* nbdkit pid (from fork), 0 when not running */
  char dir[256];           /* private temp dir (mkdtemp) */
  char sock[300];          /* Unix socket path (unix servers) */
  char pidfile[300];       /* nbdkit -P file */
  int port;                /* TCP port (tcp servers), else 0 */
};

/* Start "nbdkit -f --exit-with-parent -U <dir>/sock -P <dir>/pid ARGS..."
 * where ARGS is a NULL-terminated list (options, plugin, parameters).
 * Waits until the pidfile is written (nbdkit is then accepting).
 * Returns 0 on success, -1 on failure (message printed to stderr). */
int h_start_unix (struct h_server *s, ...);

/* Same, but listening on 127.0.0.1:<free port> ("-p PORT -i 127.0.0.1"). */
int h_start_tcp (struct h_server *s, ...);

/* Same, but listening on the Unix path SOCKPATH chosen by the caller.
 * (dir is still a private temp dir holding the pidfile.) */
int h_start_unix_at (struct h_server *s, const char *sockpath, ...);

/* "nbdkit -f --exit-with-parent -P <dir>/pid ARGS..." with no listening
 * options added: ARGS say where to listen (e.g. --vsock --port=N). */
int h_start_custom (struct h_server *s, ...);

/* Start "nbdkit -s --exit-with-parent ARGS..." with stdin/stdout on one
 * end of a socketpair; returns the other end (the caller owns it) or -1.
 * *pid receives the child's pid (registered for h_kill_all). */
int h_start_socketpair (pid_t *pid, ...);

/* Start "qemu-nbd -f FORMAT -t -k <dir>/sock --pid-file <dir>/pid FILE"
 * (qemu-nbd lacks --exit-with-parent: the child gets PR_SET_PDEATHSIG
 * instead).  Ready when the socket accepts.  -1 if qemu-nbd is missing. */
int h_start_qemu_nbd (struct h_server *s, const char *format,
                      const char *file);
/* The same with EXTRA (a NULL-terminated list, or NULL) added before
 * FILE, e.g. --object and --tls-creds. */
int h_start_qemu_nbd_args (struct h_server *s, const char *const *extra,
                           const char *format, const char *file);
/* The same with the qemu-nbd binary BIN (a path, or a name looked up in
 * PATH) and up to 16 EXTRA options (NULL-terminated; NULL for none). */
int h_start_qemu_nbd_bin (struct h_server *s, const char *bin,
                          const char *const *extra, const char *format,
                          const char *file);

/* A byte-counting relay between a client fd (returned) and SERVER_FD
 * (taken over), run by a thread.  Used to prove that a refused call
 * sent nothing.  h_relay_sent() = bytes client->server so far; call it
 * only after the client is idle (it waits briefly for the relay to drain
 * what the client already wrote).  h_relay_stop joins the thread (close
 * the client side first: nbd_close). */
struct h_relay;
struct h_relay *h_relay_start (int server_fd, int *client_fd);
uint64_t h_relay_sent (struct h_relay *r);
void h_relay_stop (struct h_relay *r);

/* Kill (SIGTERM, then SIGKILL after a grace period) and reap; remove the
 * temp dir.  Safe to call twice. */
void h_stop (struct h_server *s);

/* Kill and reap a single pid started by the harness (idempotent). */
void h_kill_pid (pid_t pid, int sig);

/* Kill and reap everything the harness started and not yet reaped. */
void h_kill_all (void);

/* Make a fresh private temp directory (mkdtemp); path copied to BUF. */
int h_mkdtemp (char *buf, size_t len);
/* rm -rf a temp dir made by h_mkdtemp (only files, one level deep). */
void h_rmdir (const char *dir);

/* Arm (secs > 0) or disarm (0) the per-test watchdog. */
void h_watchdog (unsigned secs);

/* Number of fds currently open in this process (via /proc/self/fd). */
int h_count_fds (void);
/* true iff fd is open (fcntl F_GETFD succeeds). */
bool h_fd_is_open (int fd);

/* A free TCP port on 127.0.0.1 (bind to port 0, read it back, close). */
int h_free_port (void);

/* Whether nbdkit has the named filter/plugin installed. */
bool h_nbdkit_has_filter (const char *name);
bool h_nbdkit_has_plugin (const char *name);

/* Fill/verify deterministic patterns. */
void h_fill (void *buf, size_t len, uint64_t seed);
bool h_check (const void *buf, size_t len, uint64_t seed);

/* Print a clear SKIP line (and count it) for a test that cannot run here. */
void h_skip (const char *test, const char *why);
extern unsigned h_skipped;

/* Per-test setup/teardown: arm watchdog, remember the test name /
 * disarm watchdog, kill leftover servers. */
void h_test_setup (void);
void h_test_teardown (void);

/* Create a suite whose tests each run with h_test_setup/teardown. */
CU_pSuite h_add_suite (const char *name);
#define H_ADD_TEST(suite, fn) \
  do { if (CU_add_test ((suite), #fn, (fn)) == NULL) return h_cunit_fail (); } while (0)

/* Run all registered tests with the basic runner (verbose), print the
 * summary and return the process exit status (0 iff nothing failed). */
int h_run_all (void);
int h_cunit_fail (void);
/* Initialise the CUnit registry (call first in main). */
int h_init (const char *progname);

/* True when built with -DAGAINST_SYSTEM_LIBNBD. */
#ifdef AGAINST_SYSTEM_LIBNBD
#define H_SYSTEM_LIBNBD 1
#else
#define H_SYSTEM_LIBNBD 0
#endif

/* Assertion helpers that print the libnbd error on failure. */
#define H_ASSERT_OK(expr) \
  do { \
    int h__r = (expr); \
    if (h__r == -1) \
      fprintf (stderr, "\n  %s:%d: %s failed: %s (errno %d)\n", \
               __FILE__, __LINE__, #expr, nbd_get_error (), nbd_get_errno ()); \
    CU_ASSERT_NOT_EQUAL (h__r, -1); \
  } while (0)
#define H_ASSERT_OK_FATAL(expr) \
  do { \
    int h__r = (expr); \
    if (h__r == -1) \
      fprintf (stderr, "\n  %s:%d: %s failed: %s (errno %d)\n", \
               __FILE__, __LINE__, #expr, nbd_get_error (), nbd_get_errno ()); \
    CU_ASSERT_NOT_EQUAL_FATAL (h__r, -1); \
  } while (0)

/* Assert that a libnbd call failed with errno E; prints what we got. */
#define H_ASSERT_ERR(expr, e) \
  do { \
    int h__r = (expr); \
    int h__e = nbd_get_errno (); \
    if (h__r != -1 || h__e != (e)) \
      fprintf (stderr, "\n  %s:%d: %s: want -1/errno %d, got %d/errno %d (%s)\n", \
               __FILE__, __LINE__, #expr, (e), h__r, h__e, \
               nbd_get_error () ? nbd_get_error () : "(no message)"); \
    CU_ASSERT_EQUAL (h__r, -1); \
    CU_ASSERT_EQUAL (h__e, (e)); \
  } while (0)

/* Connect a fresh handle to a Unix-socket server; NULL on failure. */
struct nbd_handle;
struct nbd_handle *h_connect_unix (const struct h_server *s);

/* Drive h with nbd_poll until it is ready (or dead/closed), bounded by
 * the watchdog; returns 0 if ready. */
int h_poll_until_ready (struct nbd_handle *h);

/* A NULL the compiler cannot see (the header marks parameters nonnull). */
extern void *volatile h_null;
#define H_NULL ((void *) h_null)

/* Fill a struct sockaddr_un (passed as void *) for PATH; -1 if too long. */
int h_sockaddr_un (void *sun, const char *path);

/* Starts with prefix / ends with suffix. */
bool h_has_prefix (const char *s, const char *prefix);
bool h_has_suffix (const char *s, const char *suffix);

#endif /* CTESTS_HARNESS_H */
