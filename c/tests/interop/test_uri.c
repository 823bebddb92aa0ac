/* Unit tests for the standalone NBD URI parser/builder (c/lib/uri.c).
 * Built directly from c/lib/uri.c with -Ic/lib; no libnbd needed.
 * Exit status 0 if every check passed, 1 otherwise. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

static int failures, checks;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    checks++;                                                   \
    if (!(cond)) {                                              \
      failures++;                                               \
      fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
      fprintf (stderr, __VA_ARGS__);                            \
      fprintf (stderr, "\n");                                   \
    }                                                           \
  } while (0)

static int
streq_null (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp (a, b) == 0;
}

#define S(x) ((x) ? (x) : "(null)")

struct good {
  const char *uri;
  int tls, transport;
  const char *host, *port;
  unsigned cid;
  const char *socket, *export_name, *user, *psk, *certs;
  int verify;
  const char *rebuilt;          /* expected nbd_internal_build_uri output */
};

static const struct good goods[] = {
  /* uri, tls, transport, host, port, cid, socket, export, user, psk, certs,
     verify, rebuilt */
  { "nbd://example.com", 0, NBD_URI_TCP, "example.com", "10809", 0, NULL, "",
    NULL, NULL, NULL, -1, "nbd://example.com:10809/" },
  { "nbd://example.com/", 0, NBD_URI_TCP, "example.com", "10809", 0, NULL, "",
    NULL, NULL, NULL, -1, "nbd://example.com:10809/" },
  { "nbd://example.com/disk", 0, NBD_URI_TCP, "example.com", "10809", 0, NULL,
    "disk", NULL, NULL, NULL, -1, "nbd://example.com:10809/disk" },
  { "nbd://example.com//disk", 0, NBD_URI_TCP, "example.com", "10809", 0, NULL,
    "/disk", NULL, NULL, NULL, -1, "nbd://example.com:10809//disk" },
  { "nbd://example.com/hello%20world", 0, NBD_URI_TCP, "example.com", "10809",
    0, NULL, "hello world", NULL, NULL, NULL, -1,
    "nbd://example.com:10809/hello%20world" },
  { "nbds://127.0.0.1:10999/x", 1, NBD_URI_TCP, "127.0.0.1", "10999", 0, NULL,
    "x", NULL, NULL, NULL, -1, "nbds://127.0.0.1:10999/x" },
  { "nbd://127.0.0.1:010999/", 0, NBD_URI_TCP, "127.0.0.1", "10999", 0, NULL,
    "", NULL, NULL, NULL, -1, "nbd://127.0.0.1:10999/" },
  { "nbd://[::1]:1234/e", 0, NBD_URI_TCP, "::1", "1234", 0, NULL, "e", NULL,
    NULL, NULL, -1, "nbd://[::1]:1234/e" },
  { "nbd://[fe80::1]/", 0, NBD_URI_TCP, "fe80::1", "10809", 0, NULL, "", NULL,
    NULL, NULL, -1, "nbd://[fe80::1]:10809/" },
  { "nbd://%6cocalhost:10999/", 0, NBD_URI_TCP, "localhost", "10999", 0, NULL,
    "", NULL, NULL, NULL, -1, "nbd://localhost:10999/" },
  { "nbd:///", 0, NBD_URI_TCP, "localhost", "10809", 0, NULL, "", NULL, NULL,
    NULL, -1, "nbd://localhost:10809/" },
  { "nbd://localhost:10999/a:b", 0, NBD_URI_TCP, "localhost", "10999", 0, NULL,
    "a:b", NULL, NULL, NULL, -1, "nbd://localhost:10999/a%3Ab" },
  { "nbd://localhost/%C3%A9", 0, NBD_URI_TCP, "localhost", "10809", 0, NULL,
    "\xc3\xa9", NULL, NULL, NULL, -1, "nbd://localhost:10809/%C3%A9" },
  { "nbd://localhost/a+b", 0, NBD_URI_TCP, "localhost", "10809", 0, NULL,
    "a+b", NULL, NULL, NULL, -1, "nbd://localhost:10809/a+b" },
  { "nbd://localhost/x#fragment", 0, NBD_URI_TCP, "localhost", "10809", 0,
    NULL, "x", NULL, NULL, NULL, -1, "nbd://localhost:10809/x" },
  { "nbd://localhost/x?foo=bar&z", 0, NBD_URI_TCP, "localhost", "10809", 0,
    NULL, "x", NULL, NULL, NULL, -1, "nbd://localhost:10809/x" },
  { "nbds://alice@host/e?tls-psk-file=/k&tls-certificates=/c", 1, NBD_URI_TCP,
    "host", "10809", 0, NULL, "e", "alice", "/k", "/c", -1,
    "nbds://alice@host:10809/e?tls-certificates=/c&tls-psk-file=/k" },
  { "nbds://u%20x:secret@host/", 1, NBD_URI_TCP, "host", "10809", 0, NULL, "",
    "u x", NULL, NULL, -1, "nbds://u%20x@host:10809/" },
  { "nbds://h/?tls-verify-peer=false", 1, NBD_URI_TCP, "h", "10809", 0, NULL,
    "", NULL, NULL, NULL, 0, "nbds://h:10809/?tls-verify-peer=false" },
  { "nbds://h/?tls-verify-peer=1", 1, NBD_URI_TCP, "h", "10809", 0, NULL,
    "", NULL, NULL, NULL, 1, "nbds://h:10809/" },
  { "nbd+unix:///?socket=/tmp/nbd.sock", 0, NBD_URI_UNIX, NULL, NULL, 0,
    "/tmp/nbd.sock", "", NULL, NULL, NULL, -1,
    "nbd+unix:///?socket=/tmp/nbd.sock" },
  { "nbd+unix:///foo?socket=/tmp/nbd.sock", 0, NBD_URI_UNIX, NULL, NULL, 0,
    "/tmp/nbd.sock", "foo", NULL, NULL, NULL, -1,
    "nbd+unix:///foo?socket=/tmp/nbd.sock" },
  { "nbd+unix:///a/b?socket=s&foo=bar", 0, NBD_URI_UNIX, NULL, NULL, 0,
    "s", "a/b", NULL, NULL, NULL, -1, "nbd+unix:///a/b?socket=s" },
  { "nbd+unix:///?socket=%2Ftmp%2Fa%20b", 0, NBD_URI_UNIX, NULL, NULL, 0,
    "/tmp/a b", "", NULL, NULL, NULL, -1, "nbd+unix:///?socket=/tmp/a%20b" },
  { "nbd+unix:///?socket=/first&socket=/second", 0, NBD_URI_UNIX, NULL, NULL,
    0, "/second", "", NULL, NULL, NULL, -1, "nbd+unix:///?socket=/second" },
  { "nbds+unix://alice@/?socket=/tmp/nbd.sock&tls-certificates=certs", 1,
    NBD_URI_UNIX, NULL, NULL, 0, "/tmp/nbd.sock", "", "alice", NULL, "certs",
    -1, "nbds+unix://alice@/?socket=/tmp/nbd.sock&tls-certificates=certs" },
  { "nbd+unix:///?&&socket=s&&", 0, NBD_URI_UNIX, NULL, NULL, 0, "s", "",
    NULL, NULL, NULL, -1, "nbd+unix:///?socket=s" },
  { "nbd+vsock:///", 0, NBD_URI_VSOCK, NULL, "10809", 2, NULL, "", NULL, NULL,
    NULL, -1, "nbd+vsock://2:10809/" },
  { "nbd+vsock://3:4000/exp", 0, NBD_URI_VSOCK, NULL, "4000", 3, NULL, "exp",
    NULL, NULL, NULL, -1, "nbd+vsock://3:4000/exp" },
  { "nbds+vsock://4294967295", 1, NBD_URI_VSOCK, NULL, "10809", 4294967295u,
    NULL, "", NULL, NULL, NULL, -1, "nbds+vsock://4294967295:10809/" },
};

struct bad {
  const char *uri;
  const char *msg;              /* substring expected in the message */
};

static const struct bad bads[] = {
  { "", "no scheme" },
  { "example.com", "no scheme" },
  { ":foo", "no scheme" },
  { "http://example.com/", "unknown NBD URI scheme: http" },
  { "NBD://example.com/", "unknown NBD URI scheme: NBD" },
  { "nbd+tcp://example.com/", "unknown NBD URI scheme" },
  { "nbd:example.com", "must begin with 'nbd://'" },
  { "nbd+unix:/foo?socket=s", "must begin with 'nbd+unix://'" },
  { "nbd://h:abc/", "invalid port" },
  { "nbd://h:/", "invalid port" },
  { "nbd://h:99999/", "invalid port" },
  { "nbd://h:-1/", "invalid port" },
  { "nbd://::1/", "enclosed in []" },
  { "nbd://[::1/", "unterminated" },
  { "nbd://[]/", "empty IPv6" },
  { "nbd://[::1]x/", "junk after" },
  { "nbd://[zz]/", "invalid IPv6" },
  { "nbd://h/%zz", "percent" },
  { "nbd://h/%4", "percent" },
  { "nbd://h/%", "percent" },
  { "nbd://h/a%00b", "percent" },
  { "nbd://h/?x=%g0", "percent" },
  { "nbd://%zz/", "percent" },
  { "nbd://h/?socket=/tmp/s", "incompatible" },
  { "nbds://h/?socket=/tmp/s", "nbds+unix" },
  { "nbd+vsock://2/?socket=/tmp/s", "incompatible" },
  { "nbd+unix:///", "socket parameter" },
  { "nbd+unix:///?socket=", "socket parameter" },
  { "nbd+unix:///?sockets=/x", "socket parameter" },
  { "nbd+unix://host/?socket=/tmp/s", "must not contain a host" },
  { "nbd+unix://:10809/?socket=/tmp/s", "must not contain a host" },
  { "nbd+vsock://abc/", "numeric vsock CID" },
  { "nbd+vsock://4294967296/", "numeric vsock CID" },
  { "nbd://h/\x01", "control character" },
  { "nbd://h/?tls-verify-peer=maybe", "tls-verify-peer" },
};

static void
test_good (const struct good *g)
{
  struct nbd_uri u;
  char err[256] = "";
  char *r;

  if (nbd_internal_parse_uri (g->uri, &u, err, sizeof err) == -1) {
    CHECK (0, "%s: unexpected failure: %s", g->uri, err);
    return;
  }
  CHECK (u.tls == g->tls, "%s: tls %d", g->uri, u.tls);
  CHECK (u.transport == g->transport, "%s: transport %d", g->uri,
         u.transport);
  CHECK (streq_null (u.host, g->host), "%s: host %s", g->uri, S (u.host));
  CHECK (streq_null (u.port, g->port), "%s: port %s", g->uri, S (u.port));
  if (g->transport == NBD_URI_VSOCK)
    CHECK (u.cid == g->cid, "%s: cid %u", g->uri, (unsigned) u.cid);
  CHECK (streq_null (u.socket, g->socket), "%s: socket %s", g->uri,
         S (u.socket));
  CHECK (streq_null (u.export_name, g->export_name), "%s: export %s", g->uri,
         S (u.export_name));
  CHECK (streq_null (u.tls_username, g->user), "%s: user %s", g->uri,
         S (u.tls_username));
  CHECK (streq_null (u.tls_psk_file, g->psk), "%s: psk %s", g->uri,
         S (u.tls_psk_file));
  CHECK (streq_null (u.tls_certificates, g->certs), "%s: certs %s", g->uri,
         S (u.tls_certificates));
  CHECK (u.tls_verify_peer == g->verify, "%s: verify %d", g->uri,
         u.tls_verify_peer);

  r = nbd_internal_build_uri (&u);
  CHECK (r != NULL && strcmp (r, g->rebuilt) == 0,
         "%s: rebuilt as %s, expected %s", g->uri, S (r), g->rebuilt);

  /* Round trip: parsing the rebuilt URI gives the same components. */
  if (r != NULL) {
    struct nbd_uri u2;

    if (nbd_internal_parse_uri (r, &u2, err, sizeof err) == -1)
      CHECK (0, "%s: reparse of %s failed: %s", g->uri, r, err);
    else {
      CHECK (u2.tls == u.tls && u2.transport == u.transport &&
             streq_null (u2.host, u.host) && streq_null (u2.port, u.port) &&
             u2.cid == u.cid && streq_null (u2.socket, u.socket) &&
             streq_null (u2.export_name, u.export_name) &&
             streq_null (u2.tls_username, u.tls_username) &&
             streq_null (u2.tls_psk_file, u.tls_psk_file) &&
             streq_null (u2.tls_certificates, u.tls_certificates) &&
             (u.tls_verify_peer == 0) == (u2.tls_verify_peer == 0),
             "%s: round trip through %s changed components", g->uri, r);
      nbd_internal_free_uri (&u2);
    }
  }
  free (r);
  nbd_internal_free_uri (&u);
  /* free is idempotent on a freed struct */
  nbd_internal_free_uri (&u);
  CHECK (u.host == NULL && u.export_name == NULL, "free resets fields");
}

static void
test_bad (const struct bad *b)
{
  struct nbd_uri u;
  char err[256] = "";
  int r;

  errno = 0;
  r = nbd_internal_parse_uri (b->uri, &u, err, sizeof err);
  CHECK (r == -1, "%s: expected failure, got success", b->uri);
  if (r == 0) {
    nbd_internal_free_uri (&u);
    return;
  }
  CHECK (errno == EINVAL, "%s: errno %d, expected EINVAL", b->uri, errno);
  CHECK (strstr (err, b->msg) != NULL, "%s: message \"%s\" lacks \"%s\"",
         b->uri, err, b->msg);
  /* out is left with nothing allocated */
  CHECK (u.host == NULL && u.port == NULL && u.socket == NULL &&
         u.export_name == NULL && u.tls_username == NULL &&
         u.tls_psk_file == NULL && u.tls_certificates == NULL,
         "%s: fields left allocated after failure", b->uri);
}

static void
test_misc (void)
{
  struct nbd_uri u;
  char small[8];
  char *r;

  /* NULL arguments */
  errno = 0;
  CHECK (nbd_internal_parse_uri (NULL, &u, NULL, 0) == -1 && errno == EFAULT,
         "NULL uri");
  CHECK (nbd_internal_parse_uri ("nbd://h/", NULL, NULL, 0) == -1,
         "NULL out");

  /* Truncated error buffer is still NUL-terminated */
  memset (small, 'x', sizeof small);
  CHECK (nbd_internal_parse_uri ("http://x/", &u, small, sizeof small) == -1,
         "http fails");
  CHECK (memchr (small, '\0', sizeof small) != NULL, "errbuf terminated");

  /* Builder: special characters in export names and sockets are encoded
   * exactly like libnbd 1.14's nbd_get_uri for the export name. */
  memset (&u, 0, sizeof u);
  u.transport = NBD_URI_UNIX;
  u.socket = (char *) "/tmp/s";
  u.export_name =
    (char *) "a b/c?d#e&f=g%h:i@j!k$l'm(n)o*p,q;r[s]t~u+v\"w<x>y\\z^{|}`";
  u.tls_verify_peer = -1;
  r = nbd_internal_build_uri (&u);
  CHECK (r != NULL &&
         strcmp (r, "nbd+unix:///a%20b/c%3Fd%23e&f=g%25h%3Ai@j!k$l'm(n)o*p,q;"
                 "r%5Bs%5Dt~u+v%22w%3Cx%3Ey%5Cz%5E%7B%7C%7D%60"
                 "?socket=/tmp/s") == 0, "export encoding: %s", S (r));
  free (r);

  u.socket = (char *) "/tmp/we ird&=?#%.sock";
  u.export_name = (char *) "";
  r = nbd_internal_build_uri (&u);
  CHECK (r != NULL &&
         strcmp (r, "nbd+unix:///?socket=/tmp/we%20ird%26%3D%3F%23%25.sock")
         == 0, "socket encoding: %s", S (r));
  free (r);

  /* TCP with a service name as port (nbd_connect_tcp allows it) */
  memset (&u, 0, sizeof u);
  u.transport = NBD_URI_TCP;
  u.host = (char *) "127.0.0.1";
  u.port = (char *) "nbd";
  u.export_name = (char *) "e";
  u.tls_verify_peer = -1;
  r = nbd_internal_build_uri (&u);
  CHECK (r != NULL && strcmp (r, "nbd://127.0.0.1:nbd/e") == 0,
         "service port: %s", S (r));
  free (r);

  /* Builder errors */
  u.host = NULL;
  errno = 0;
  CHECK (nbd_internal_build_uri (&u) == NULL && errno == EINVAL,
         "TCP without host");
  u.transport = NBD_URI_UNIX;
  u.socket = NULL;
  errno = 0;
  CHECK (nbd_internal_build_uri (&u) == NULL && errno == EINVAL,
         "UNIX without socket");
  u.transport = 3;
  errno = 0;
  CHECK (nbd_internal_build_uri (&u) == NULL && errno == EINVAL,
         "bad transport");
  CHECK (nbd_internal_build_uri (NULL) == NULL, "NULL");

  nbd_internal_free_uri (NULL);
}

int
main (void)
{
  size_t i;

  for (i = 0; i < sizeof goods / sizeof goods[0]; ++i)
    test_good (&goods[i]);
  for (i = 0; i < sizeof bads / sizeof bads[0]; ++i)
    test_bad (&bads[i]);
  test_misc ();

  if (failures) {
    printf ("FAIL: test_uri: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf ("PASS: test_uri: %d checks\n", checks);
  return 0;
}
