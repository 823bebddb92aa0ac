/* test_tls.c: TLS against real servers that the tests start: nbdkit with
 * X.509 certificates (with and without client certificates) and with PSK,
 * qemu-nbd with tls-creds-x509 and tls-creds-psk, and the scripted
 * badserver.py for servers that break the TLS start, and nbd-server in
 * FORCEDTLS mode.  The certificates and keys are made for the run by
 * testdata/tls_certs.sh (certtool and psktool from gnutls-bin).
 *
 * Built against the system libnbd the same tests run, except those of
 * calls newer than 1.14 (nbd_opt_starttls, nbd_set_tls_hostname), and
 * failures are only required to carry some errno: libnbd's exact errno
 * for a TLS failure is not documented. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libnbd.h>

#include "harness.h"

static char certs[256];          /* tls_certs.sh's output directory */
static char client_dir[300];     /* CA + client certificate and key */
static char other_ca_dir[300];   /* a CA that signed nothing we use */
static char ca_only_dir[300];    /* the right CA, no client certificate */
static char psk_file[300], wrong_psk_file[300];
static char tls_certs_arg[300], tls_psk_arg[300];
static bool have_tools;

/* The failure a TLS problem must produce: our errno exactly; libnbd 1.14
 * only fails (it often leaves errno 0 for TLS failures). */
#define ASSERT_TLS_FAIL(expr, e) \
  do { \
    int r__ = (expr); \
    int e__ = nbd_get_errno (); \
    if (r__ != -1 || (!H_SYSTEM_LIBNBD && e__ != (e))) \
      fprintf (stderr, "\n  %s:%d: %s: want -1/errno %d, got %d/errno %d (%s)\n", \
               __FILE__, __LINE__, #expr, (e), r__, e__, \
               nbd_get_error () ? nbd_get_error () : "(no message)"); \
    CU_ASSERT_EQUAL (r__, -1); \
    if (!H_SYSTEM_LIBNBD) { CU_ASSERT_EQUAL (e__, (e)); } \
  } while (0)
/* Some failure, with an errno (ours) or without (libnbd 1.14). */
#define ASSERT_SOME_FAIL(expr) \
  do { \
    int r__ = (expr); \
    CU_ASSERT_EQUAL (r__, -1); \
    if (!H_SYSTEM_LIBNBD) { CU_ASSERT_NOT_EQUAL (nbd_get_errno (), 0); } \
  } while (0)

static bool
skip_without_tools (const char *test)
{
  if (!have_tools) {
    h_skip (test, "certtool/psktool (gnutls-bin) are not installed");
    return true;
  }
  return false;
}

/* A TLS handle for CERTDIR (X.509) with TLS required. */
static struct nbd_handle *
x509_handle (const char *certdir)
{
  struct nbd_handle *h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_tls (h, LIBNBD_TLS_REQUIRE));
  H_ASSERT_OK (nbd_set_tls_certificates (h, certdir));
  return h;
}

static struct nbd_handle *
psk_handle (const char *file, const char *user)
{
  struct nbd_handle *h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK (nbd_set_tls (h, LIBNBD_TLS_REQUIRE));
  H_ASSERT_OK (nbd_set_tls_psk_file (h, file));
  H_ASSERT_OK (nbd_set_tls_username (h, user));
  return h;
}

/* Writes a pattern and reads it back: the bytes cross TLS both ways. */
static void
round_trip (struct nbd_handle *h, size_t len, uint64_t off, uint64_t seed)
{
  char *w = malloc (len), *r = malloc (len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (w);
  CU_ASSERT_PTR_NOT_NULL_FATAL (r);
  h_fill (w, len, seed);
  H_ASSERT_OK (nbd_pwrite (h, w, len, off, 0));
  memset (r, 0, len);
  H_ASSERT_OK (nbd_pread (h, r, len, off, 0));
  CU_ASSERT (memcmp (w, r, len) == 0);
  free (w);
  free (r);
}

static int
start_x509_unix (struct h_server *s, const char *extra)
{
  return h_start_unix (s, "--tls=require", tls_certs_arg,
                       extra ? extra : "--threads=4", "memory", "16M", NULL);
}

/* ---- X.509 ---------------------------------------------------------------- */

static void
test_x509_unix (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  h = x509_handle (client_dir);
  CU_ASSERT_EQUAL (nbd_supports_tls (h), 1);
  H_ASSERT_OK_FATAL (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_get_size (h), 16 << 20);
  round_trip (h, 4096, 0, 1);
  /* Larger than a TLS record many times over, at an odd offset. */
  round_trip (h, 5 * 1024 * 1024 + 512, 3 * 1024 * 1024 + 512, 2);
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_x509_tcp_names (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char port[16];

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&srv, "--tls=require", tls_certs_arg,
                                      "memory", "1M", NULL), 0);
  snprintf (port, sizeof port, "%d", srv.port);
  /* The certificate names localhost and 127.0.0.1: both verify. */
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_connect_tcp (h, "localhost", port));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  round_trip (h, 65536, 0, 3);
  nbd_close (h);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_connect_tcp (h, "127.0.0.1", port));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
#ifdef LIBNBD_HAVE_NBD_SET_TLS_HOSTNAME
  /* A name the certificate does not carry is refused. */
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_tls_hostname (h, "wrong.example"));
  ASSERT_TLS_FAIL (nbd_connect_tcp (h, "localhost", port), EACCES);
  CU_ASSERT_EQUAL (nbd_aio_is_dead (h), 1);
  CU_ASSERT_PTR_NOT_NULL (strstr (nbd_get_error () ? nbd_get_error () : "", "certificate"));
  nbd_close (h);
#endif
  h_stop (&srv);
}

static void
test_untrusted_ca (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  /* libnbd 1.14 accepts this server over a Unix socket (seen here, not
   * documented); we check the chain whenever verification is on. */
  if (!H_SYSTEM_LIBNBD) {
    h = x509_handle (other_ca_dir);
    ASSERT_TLS_FAIL (nbd_connect_unix (h, srv.sock), EACCES);
    CU_ASSERT_EQUAL (nbd_aio_is_dead (h), 1);
    CU_ASSERT_NOT_EQUAL (nbd_get_tls_negotiated (h), 1);  /* -1: not permitted when dead */
    nbd_close (h);
  }
  /* Without verification the same server is accepted. */
  h = x509_handle (other_ca_dir);
  H_ASSERT_OK (nbd_set_tls_verify_peer (h, false));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_client_certificate (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, "--tls-verify-peer"), 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  round_trip (h, 8192, 4096, 4);
  nbd_close (h);
  /* No client certificate: the server refuses us (the errno depends on
   * when the server gives up, so any is accepted). */
  h = x509_handle (ca_only_dir);
  ASSERT_SOME_FAIL (nbd_connect_unix (h, srv.sock));
  /* TLS 1.3 shows the client only a close: the message says what it
   * probably means. */
  if (!H_SYSTEM_LIBNBD)
    CU_ASSERT_PTR_NOT_NULL (strstr (nbd_get_error (), "may have refused our certificate or key"));
  CU_ASSERT_NOT_EQUAL (nbd_aio_is_ready (h), 1);
  nbd_close (h);
  h_stop (&srv);
}

/* ---- PSK ------------------------------------------------------------------ */

static void
test_psk (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--tls=require", tls_psk_arg,
                                      "memory", "1M", NULL), 0);
  h = psk_handle (psk_file, "alice");
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  round_trip (h, 300000, 0, 5);
  nbd_close (h);
  h = psk_handle (psk_file, "bob");
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  nbd_close (h);
  /* The wrong key for alice: the handshake fails. */
  h = psk_handle (wrong_psk_file, "alice");
  ASSERT_SOME_FAIL (nbd_connect_unix (h, srv.sock));
  if (!H_SYSTEM_LIBNBD)
    CU_ASSERT_PTR_NOT_NULL (strstr (nbd_get_error (), "may have refused our certificate or key"));
  CU_ASSERT_EQUAL (nbd_aio_is_dead (h), 1);
  nbd_close (h);
  /* A user the file does not have. */
  h = psk_handle (psk_file, "carol");
  ASSERT_TLS_FAIL (nbd_connect_unix (h, srv.sock), ENOENT);
  nbd_close (h);
  h_stop (&srv);
}

/* The key never appears in debug output. */
static int
collect_debug (void *user_data, const char *context, const char *msg)
{
  char *key = user_data;
  if (strstr (msg, key))
    key[0] = '!';               /* seen */
  return 0;
}

static void
test_psk_key_not_in_debug (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char line[512], key[200] = "";
  FILE *fp;

  if (skip_without_tools (__func__)) return;
  fp = fopen (psk_file, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL (fp);
  while (fgets (line, sizeof line, fp))
    if (strncmp (line, "alice:", 6) == 0)
      snprintf (key, sizeof key, "%.*s", (int) strcspn (line + 6, "\n"), line + 6);
  fclose (fp);
  CU_ASSERT_FATAL (strlen (key) >= 32);
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--tls=require", tls_psk_arg,
                                      "memory", "1M", NULL), 0);
  h = psk_handle (psk_file, "alice");
  H_ASSERT_OK (nbd_set_debug_callback (h, (nbd_debug_callback) { .callback = collect_debug,
                                                                .user_data = key }));
  H_ASSERT_OK (nbd_set_debug (h, true));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  round_trip (h, 4096, 0, 6);
  nbd_close (h);
  CU_ASSERT_NOT_EQUAL (key[0], '!');
  h_stop (&srv);
}

/* ---- policy: REQUIRE, ALLOW, DISABLE ---------------------------------------- */

static void
test_require_plain_server (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
  /* The server has no TLS: REQUIRE must not fall back to plaintext. */
  h = x509_handle (client_dir);
  ASSERT_TLS_FAIL (nbd_connect_unix (h, srv.sock), ENOTSUP);
  if (!H_SYSTEM_LIBNBD)
    CU_ASSERT_PTR_NOT_NULL (strstr (nbd_get_error (), "TLS is required, but the server refused to start it"));
  CU_ASSERT_NOT_EQUAL (nbd_aio_is_ready (h), 1);
  nbd_close (h);
  /* ALLOW does. */
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
  round_trip (h, 4096, 0, 7);
  nbd_close (h);
  h_stop (&srv);
}

static void
test_allow_and_disable_tls_server (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_tls (h, LIBNBD_TLS_ALLOW));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
  /* Without TLS a server that requires it refuses the export. */
  h = nbd_create ();
  ASSERT_SOME_FAIL (nbd_connect_unix (h, srv.sock));
  nbd_close (h);
  h_stop (&srv);
}

/* ---- URIs ------------------------------------------------------------------ */

static void
test_uri (void)
{
  struct h_server srv, tcp, psk;
  struct nbd_handle *h;
  char uri[1024];
  char *got;

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  snprintf (uri, sizeof uri, "nbds+unix:///?socket=%s&tls-certificates=%s", srv.sock, client_dir);
  /* A local file named by a URI needs the caller's permission. */
  h = nbd_create ();
  H_ASSERT_ERR (nbd_connect_uri (h, uri), EPERM);
  nbd_close (h);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_uri_allow_local_file (h, true));
  H_ASSERT_OK (nbd_connect_uri (h, uri));
  CU_ASSERT_EQUAL (nbd_get_tls (h), LIBNBD_TLS_REQUIRE);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  got = nbd_get_uri (h);
  CU_ASSERT_PTR_NOT_NULL (got);
  if (got) { CU_ASSERT (h_has_prefix (got, "nbds+unix://")); }
  free (got);
  round_trip (h, 4096, 0, 8);
  nbd_close (h);
  h_stop (&srv);

  CU_ASSERT_EQUAL_FATAL (h_start_tcp (&tcp, "--tls=require", tls_certs_arg,
                                      "memory", "1M", NULL), 0);
  snprintf (uri, sizeof uri, "nbds://localhost:%d/?tls-certificates=%s", tcp.port, client_dir);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_uri_allow_local_file (h, true));
  H_ASSERT_OK (nbd_connect_uri (h, uri));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
#ifdef LIBNBD_HAVE_NBD_SET_TLS_HOSTNAME
  snprintf (uri, sizeof uri, "nbds://localhost:%d/?tls-certificates=%s&tls-hostname=wrong.example",
            tcp.port, client_dir);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_uri_allow_local_file (h, true));
  ASSERT_TLS_FAIL (nbd_connect_uri (h, uri), EACCES);
  nbd_close (h);
#endif
  h_stop (&tcp);

  CU_ASSERT_EQUAL_FATAL (h_start_unix (&psk, "--tls=require", tls_psk_arg,
                                      "memory", "1M", NULL), 0);
  snprintf (uri, sizeof uri, "nbds+unix://alice@/?socket=%s&tls-psk-file=%s", psk.sock, psk_file);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_uri_allow_local_file (h, true));
  H_ASSERT_OK (nbd_connect_uri (h, uri));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  nbd_close (h);
  h_stop (&psk);
}

/* ---- option mode ------------------------------------------------------------ */

static void
test_opt_mode (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  if (skip_without_tools (__func__)) return;
  /* TLS required in option mode: done before the handle negotiates. */
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "--tls=on", tls_certs_arg,
                                      "memory", "1M", NULL), 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_aio_is_negotiating (h), 1);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  H_ASSERT_OK (nbd_opt_go (h));
  round_trip (h, 4096, 0, 9);
  nbd_close (h);

#ifdef LIBNBD_HAVE_NBD_OPT_STARTTLS
  /* By hand: plaintext first, then nbd_opt_starttls. */
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_tls_certificates (h, client_dir));
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
  CU_ASSERT_EQUAL (nbd_opt_starttls (h), 1);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  CU_ASSERT_EQUAL (nbd_aio_is_negotiating (h), 1);
  /* A second STARTTLS is refused by the server: false, still encrypted. */
  CU_ASSERT_EQUAL (nbd_opt_starttls (h), 0);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT_EQUAL (nbd_aio_is_ready (h), 1);
  round_trip (h, 70000, 0, 10);
  nbd_close (h);

  /* A server without TLS answers false, and negotiation goes on. */
  struct h_server plain;
  CU_ASSERT_EQUAL_FATAL (h_start_unix (&plain, "memory", "1M", NULL), 0);
  h = nbd_create ();
  H_ASSERT_OK (nbd_set_opt_mode (h, true));
  H_ASSERT_OK (nbd_connect_unix (h, plain.sock));
  CU_ASSERT_EQUAL (nbd_opt_starttls (h), 0);
  CU_ASSERT_EQUAL (nbd_aio_is_negotiating (h), 1);
  H_ASSERT_OK (nbd_opt_go (h));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
  nbd_close (h);
  h_stop (&plain);
#endif
  h_stop (&srv);
}

/* ---- an application's own event loop ------------------------------------------ */

struct done { int n; };

static int
count_done (void *user_data, int *error)
{
  struct done *d = user_data;
  CU_ASSERT_EQUAL (*error, 0);
  d->n++;
  return 1;
}

/* Drives h with poll() on nbd_aio_get_fd and the direction libnbd asks
 * for, as a program with its own main loop would, until pred holds. */
static void
own_loop (struct nbd_handle *h, int (*pred) (struct nbd_handle *), struct done *d, int want)
{
  for (int i = 0; i < 100000; i++) {
    struct pollfd pfd;
    unsigned dir;
    if (pred ? pred (h) == 1 : d->n >= want) return;
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h)) break;
    dir = nbd_aio_get_direction (h);
    pfd.fd = nbd_aio_get_fd (h);
    pfd.events = ((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
                 ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0);
    pfd.revents = 0;
    if (poll (&pfd, 1, 10000) <= 0) {
      CU_FAIL ("own loop: poll timed out or failed");
      return;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
      nbd_aio_notify_read (h);
    else if (pfd.revents & POLLOUT)
      nbd_aio_notify_write (h);
  }
  fprintf (stderr, "\n  own loop gave up: %s\n", nbd_get_error () ? nbd_get_error () : "");
  CU_FAIL ("own loop did not finish");
}

static void
test_aio_own_loop (void)
{
  enum { N = 16, LEN = 256 * 1024 };
  struct h_server srv;
  struct nbd_handle *h;
  static char wbuf[N][LEN], rbuf[N][LEN];
  struct done d = { 0 };

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK_FATAL (nbd_aio_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_aio_is_connecting (h), 1);
  own_loop (h, nbd_aio_is_ready, NULL, 0);
  CU_ASSERT_EQUAL_FATAL (nbd_aio_is_ready (h), 1);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  for (int i = 0; i < N; i++) {
    h_fill (wbuf[i], LEN, 100 + i);
    CU_ASSERT_NOT_EQUAL (nbd_aio_pwrite (h, wbuf[i], LEN, (uint64_t) i * LEN,
                                         (nbd_completion_callback) { .callback = count_done,
                                                                     .user_data = &d }, 0), -1);
  }
  own_loop (h, NULL, &d, N);
  CU_ASSERT_EQUAL (d.n, N);
  d.n = 0;
  for (int i = 0; i < N; i++)
    CU_ASSERT_NOT_EQUAL (nbd_aio_pread (h, rbuf[i], LEN, (uint64_t) i * LEN,
                                        (nbd_completion_callback) { .callback = count_done,
                                                                    .user_data = &d }, 0), -1);
  own_loop (h, NULL, &d, N);
  CU_ASSERT_EQUAL (d.n, N);
  for (int i = 0; i < N; i++)
    CU_ASSERT (h_check (rbuf[i], LEN, 100 + i));
  nbd_close (h);
  h_stop (&srv);
}

#ifndef AGAINST_SYSTEM_LIBNBD
/* Drives h as an edge-triggered loop does (epoll with EPOLLET, as Go's
 * poller): the library is told only about new events, so each
 * nbd_aio_notify_read must take everything that has arrived, including
 * the records the TLS transport has read ahead (our library's promise,
 * not libnbd's).  A hang shows as a timeout. */
static void
edge_loop (struct nbd_handle *h, int (*pred) (struct nbd_handle *), struct done *d, int want)
{
  int ep = epoll_create1 (EPOLL_CLOEXEC);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };

  CU_ASSERT_NOT_EQUAL_FATAL (ep, -1);
  ev.data.fd = nbd_aio_get_fd (h);
  CU_ASSERT_EQUAL_FATAL (epoll_ctl (ep, EPOLL_CTL_ADD, ev.data.fd, &ev), 0);
  for (int i = 0; i < 100000 && (pred ? pred (h) != 1 : d->n < want); i++) {
    unsigned dir = nbd_aio_get_direction (h);   /* also sends what is queued */
    if (nbd_aio_is_dead (h) || nbd_aio_is_closed (h)) break;
    if (epoll_wait (ep, &ev, 1, 10000) != 1) {
      CU_FAIL ("edge loop: no event within 10 s (data left unread?)");
      break;
    }
    if ((ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (dir & LIBNBD_AIO_DIRECTION_READ))
      nbd_aio_notify_read (h);
    if ((ev.events & EPOLLOUT) && (dir & LIBNBD_AIO_DIRECTION_WRITE))
      nbd_aio_notify_write (h);
  }
  if (pred) {
    CU_ASSERT_EQUAL (pred (h), 1);
  }
  else {
    CU_ASSERT_EQUAL (d->n, want);
  }
  close (ep);
}

/* The handshake, then many 4 KiB replies per recv (the read-ahead serves
 * several records from one buffer, and records split across recv calls),
 * all driven by the edge-triggered loop. */
static void
test_many_small_reads_edge_loop (void)
{
  enum { N = 64, LEN = 4096, ROUNDS = 20 };
  struct h_server srv;
  struct nbd_handle *h;
  static char wbuf[N * LEN], rbuf[N][LEN];
  struct done d = { 0 };

  if (skip_without_tools (__func__)) return;
  CU_ASSERT_EQUAL_FATAL (start_x509_unix (&srv, NULL), 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK_FATAL (nbd_aio_connect_unix (h, srv.sock));
  edge_loop (h, nbd_aio_is_ready, NULL, 0);
  CU_ASSERT_EQUAL_FATAL (nbd_aio_is_ready (h), 1);
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  h_fill (wbuf, sizeof wbuf, 7);
  H_ASSERT_OK (nbd_pwrite (h, wbuf, sizeof wbuf, 0, 0));
  for (int r = 0; r < ROUNDS; r++) {
    d.n = 0;
    memset (rbuf, 0, sizeof rbuf);
    for (int i = 0; i < N; i++) {
      uint64_t blk = (uint64_t) (i * 17 + r) % N;
      CU_ASSERT_NOT_EQUAL (nbd_aio_pread (h, rbuf[i], LEN, blk * LEN,
                                          (nbd_completion_callback) { .callback = count_done,
                                                                      .user_data = &d }, 0), -1);
    }
    edge_loop (h, NULL, &d, N);
    for (int i = 0; i < N; i++) {
      uint64_t blk = (uint64_t) (i * 17 + r) % N;
      CU_ASSERT (memcmp (rbuf[i], wbuf + blk * LEN, LEN) == 0);
    }
  }
  nbd_close (h);
  h_stop (&srv);
}
#endif

/* ---- servers that break the TLS start ------------------------------------------ */

static pid_t
start_badserver (const char *scenario, char *sock, size_t len, char *dir, size_t dlen)
{
  pid_t pid;

  if (h_mkdtemp (dir, dlen) == -1) return -1;
  snprintf (sock, len, "%s/sock", dir);
  pid = fork ();
  if (pid == 0) {
    execlp ("python3", "python3", BADSERVER_PY, "--scenario", scenario, "--unix", sock,
            (char *) NULL);
    _exit (127);
  }
  for (int i = 0; i < 500 && access (sock, F_OK) != 0; i++)
    usleep (10000);
  return pid;
}

static void
hostile_case (const char *scenario, int tls, int want_errno)
{
  char dir[256], sock[300];
  pid_t pid = start_badserver (scenario, sock, sizeof sock, dir, sizeof dir);
  struct nbd_handle *h;

  CU_ASSERT_FATAL (pid > 0);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_tls (h, tls));
  if (want_errno == 0) {
    char buf[512];
    H_ASSERT_OK (nbd_connect_unix (h, sock));
    CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 0);
    H_ASSERT_OK (nbd_pread (h, buf, sizeof buf, 0, 0));
  }
  else {
    fprintf (stderr, "[%s] ", scenario);
    ASSERT_TLS_FAIL (nbd_connect_unix (h, sock), want_errno);
    CU_ASSERT_NOT_EQUAL (nbd_aio_is_ready (h), 1);
  }
  nbd_close (h);
  h_kill_pid (pid, SIGTERM);
  h_rmdir (dir);
}

static void
test_hostile (void)
{
  if (skip_without_tools (__func__)) return;
  hostile_case ("starttls-ack-then-close", LIBNBD_TLS_REQUIRE, ECONNRESET);
  hostile_case ("starttls-ack-plaintext", LIBNBD_TLS_REQUIRE, EPROTO);
  hostile_case ("starttls-ack-garbage", LIBNBD_TLS_REQUIRE, EPROTO);
  hostile_case ("starttls-close-mid-handshake", LIBNBD_TLS_REQUIRE, ECONNRESET);
  hostile_case ("starttls-refused", LIBNBD_TLS_REQUIRE, ENOTSUP);
  hostile_case ("starttls-refused", LIBNBD_TLS_ALLOW, 0);
}

/* ---- qemu-nbd ------------------------------------------------------------------ */

static void
qemu_case (const char *bin, const char *object, struct nbd_handle *h)
{
  struct h_server srv;
  char img[300], dir[256];
  const char *extra[] = { "--object", object, "--tls-creds", "tls0", NULL };
  int fd;

  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (img, sizeof img, "%s/disk.img", dir);
  fd = open (img, O_CREAT | O_RDWR, 0600);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_EQUAL (ftruncate (fd, 4 << 20), 0);
  close (fd);
  if (h_start_qemu_nbd_bin (&srv, bin, extra, "raw", img) == -1) {
    h_skip ("qemu-nbd TLS", "qemu-nbd did not start");
    nbd_close (h);
    h_rmdir (dir);
    return;
  }
  H_ASSERT_OK (nbd_connect_unix (h, srv.sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
#ifdef LIBNBD_HAVE_NBD_GET_EXTENDED_HEADERS_NEGOTIATED
  /* qemu 10 speaks extended headers: negotiated inside TLS. */
  if (strcmp (bin, "qemu-nbd") != 0)
    CU_ASSERT_EQUAL (nbd_get_extended_headers_negotiated (h), 1);
#endif
  round_trip (h, 1 << 20, 65536, 11);
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  h_stop (&srv);
  h_rmdir (dir);
}

static void
test_qemu_nbd (void)
{
  char obj[600];

  if (skip_without_tools (__func__)) return;
  snprintf (obj, sizeof obj, "tls-creds-x509,id=tls0,dir=%s,endpoint=server,verify-peer=off", certs);
  qemu_case ("qemu-nbd", obj, x509_handle (client_dir));
  /* qemu reads keys.psk from the directory it is given. */
  snprintf (obj, sizeof obj, "tls-creds-psk,id=tls0,dir=%s,endpoint=server", certs);
  qemu_case ("qemu-nbd", obj, psk_handle (psk_file, "alice"));
}

/* qemu-nbd 10 (make qemu-nbd-ext): TLS and extended headers together. */
static void
test_qemu_nbd_10 (void)
{
  const char *bin = getenv ("NBD_TEST_QEMU_NBD_EXT") ? getenv ("NBD_TEST_QEMU_NBD_EXT") : QEMU_NBD_EXT;
  char obj[600];

  if (skip_without_tools (__func__)) return;
  if (access (bin, X_OK) != 0) {
    h_skip (__func__, "no qemu-nbd 10 (run `make qemu-nbd-ext`)");
    return;
  }
  snprintf (obj, sizeof obj, "tls-creds-x509,id=tls0,dir=%s,endpoint=server,verify-peer=off", certs);
  qemu_case (bin, obj, x509_handle (client_dir));
}

/* ---- nbd-server ----------------------------------------------------------------- */

static void
test_nbd_server (void)
{
  char dir[256], conf[300], sock[300], img[300], cmd[1200];
  struct nbd_handle *h;
  pid_t pid;
  FILE *fp;
  int fd;

  if (skip_without_tools (__func__)) return;
  if (system ("command -v nbd-server >/dev/null") != 0) {
    h_skip (__func__, "nbd-server is not installed");
    return;
  }
  CU_ASSERT_EQUAL_FATAL (h_mkdtemp (dir, sizeof dir), 0);
  snprintf (conf, sizeof conf, "%s/conf", dir);
  snprintf (sock, sizeof sock, "%s/sock", dir);
  snprintf (img, sizeof img, "%s/disk", dir);
  fd = open (img, O_CREAT | O_RDWR, 0600);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_EQUAL (ftruncate (fd, 4 << 20), 0);
  close (fd);
  fp = fopen (conf, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL (fp);
  /* FORCEDTLS: nothing but STARTTLS before TLS. */
  fprintf (fp, "[generic]\nunixsock = %s\nallowlist = true\nforce_tls = true\n"
           "certfile = %s/server-cert.pem\nkeyfile = %s/server-key.pem\n"
           "cacertfile = %s/ca-cert.pem\n[disk]\nexportname = %s\n",
           sock, certs, certs, certs, img);
  fclose (fp);
  /* -d: in the foreground, one connection, then exit. */
  pid = fork ();
  if (pid == 0) {
    execlp ("nbd-server", "nbd-server", "-C", conf, "-d", (char *) NULL);
    _exit (127);
  }
  CU_ASSERT_FATAL (pid > 0);
  for (int i = 0; i < 500 && access (sock, F_OK) != 0; i++)
    usleep (10000);
  h = x509_handle (client_dir);
  H_ASSERT_OK (nbd_set_export_name (h, "disk"));
  H_ASSERT_OK (nbd_connect_unix (h, sock));
  CU_ASSERT_EQUAL (nbd_get_tls_negotiated (h), 1);
  round_trip (h, 1 << 20, 8192, 12);
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  h_kill_pid (pid, SIGTERM);
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  CU_ASSERT_EQUAL (system (cmd), 0);
}

int
main (int argc, char *argv[])
{
  CU_pSuite s;
  char cmd[600];

  if (h_init (argv[0]) != 0)
    return 1;
  have_tools = system ("command -v certtool >/dev/null && command -v psktool >/dev/null") == 0;
  if (have_tools) {
    if (h_mkdtemp (certs, sizeof certs) == -1)
      return 1;
    snprintf (cmd, sizeof cmd, "sh %s %s", TLS_CERTS_SH, certs);
    if (system (cmd) != 0) {
      fprintf (stderr, "test_tls: %s failed\n", cmd);
      return 1;
    }
    snprintf (client_dir, sizeof client_dir, "%s/client", certs);
    snprintf (other_ca_dir, sizeof other_ca_dir, "%s/other-ca", certs);
    snprintf (ca_only_dir, sizeof ca_only_dir, "%s/ca-only", certs);
    snprintf (cmd, sizeof cmd, "mkdir -p %s && cp %s/ca-cert.pem %s/", ca_only_dir, certs, ca_only_dir);
    if (system (cmd) != 0) return 1;
    snprintf (psk_file, sizeof psk_file, "%s/keys.psk", certs);
    snprintf (wrong_psk_file, sizeof wrong_psk_file, "%s/wrong.psk", certs);
    snprintf (tls_certs_arg, sizeof tls_certs_arg, "--tls-certificates=%s", certs);
    snprintf (tls_psk_arg, sizeof tls_psk_arg, "--tls-psk=%s", psk_file);
  }

  s = h_add_suite ("tls");
  H_ADD_TEST (s, test_x509_unix);
  H_ADD_TEST (s, test_x509_tcp_names);
  H_ADD_TEST (s, test_untrusted_ca);
  H_ADD_TEST (s, test_client_certificate);
  H_ADD_TEST (s, test_psk);
  H_ADD_TEST (s, test_psk_key_not_in_debug);
  H_ADD_TEST (s, test_require_plain_server);
  H_ADD_TEST (s, test_allow_and_disable_tls_server);
  H_ADD_TEST (s, test_uri);
  H_ADD_TEST (s, test_opt_mode);
  H_ADD_TEST (s, test_aio_own_loop);
#ifndef AGAINST_SYSTEM_LIBNBD
  H_ADD_TEST (s, test_many_small_reads_edge_loop);
#endif
  H_ADD_TEST (s, test_hostile);
  H_ADD_TEST (s, test_qemu_nbd);
  H_ADD_TEST (s, test_qemu_nbd_10);
  H_ADD_TEST (s, test_nbd_server);
  {
    int r = h_run_all ();
    if (have_tools) {
      snprintf (cmd, sizeof cmd, "rm -rf %s", certs);
      if (system (cmd) != 0) r = 1;
    }
    return r;
  }
}
