/* NBD URI parsing and construction.
 *
 * Standalone: this file uses only libc so it can be unit tested and fuzzed on
 * its own (c/tests/interop/test_uri.c compiles it directly).
 *
 * Rules implemented (facts from the NBD URI document and nbd_connect_uri(3);
 * see docs/notes-dropin.md for the list of deliberate differences from
 * libnbd 1.14):
 *   - schemes are matched exactly (lower case): nbd, nbds, nbd+unix,
 *     nbds+unix, nbd+vsock, nbds+vsock; anything else is rejected;
 *   - the scheme must be followed by "//" (an authority, possibly empty);
 *   - authority = [userinfo "@"] host [":" port]; IPv6 hosts in brackets;
 *     the user name (before any ':' in userinfo) is the TLS user name;
 *   - the export name is the percent-decoded path without its first '/';
 *   - query parameters socket, tls-certificates, tls-psk-file,
 *     tls-verify-peer, tls-username and tls-hostname are understood, the
 *     last occurrence wins (tls-username over the user part too), all
 *     other parameters are ignored;
 *   - a fragment ("#...") is ignored;
 *   - a percent escape must be '%' and two hex digits and must not decode
 *     to NUL (C strings cannot carry it).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uri.h"

#define DEFAULT_PORT "10809"
/* libnbd's documented default for "nbd+vsock:///" (VMADDR_CID_HOST).  Only
 * the parser uses it: no test connects such a URI (test_uri.c parses it;
 * vsock connections in tests go through testdata/vsock_preload.c). */
#define VSOCK_DEFAULT_CID 2

/* ---- errors ------------------------------------------------------------ */

static void
set_error (char *errbuf, size_t errbuf_len, int err, const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));

static void
set_error (char *errbuf, size_t errbuf_len, int err, const char *fmt, ...)
{
  va_list ap;

  if (errbuf != NULL && errbuf_len > 0) {
    va_start (ap, fmt);
    vsnprintf (errbuf, errbuf_len, fmt, ap);
    va_end (ap);
  }
  errno = err;
}

/* ---- percent decoding -------------------------------------------------- */

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decode the N bytes at S.  Returns a malloc'd string, or NULL with *ERR set
 * to EINVAL (bad escape, or an escape decoding to NUL) or ENOMEM. */
static char *
decode (const char *s, size_t n, int *err)
{
  char *r, *p;
  size_t i;

  r = malloc (n + 1);
  if (r == NULL) {
    *err = ENOMEM;
    return NULL;
  }
  p = r;
  for (i = 0; i < n; ++i) {
    if (s[i] == '%') {
      int hi, lo;

      if (n - i < 3 ||
          (hi = hex_value (s[i+1])) < 0 || (lo = hex_value (s[i+2])) < 0 ||
          (hi == 0 && lo == 0)) {
        free (r);
        *err = EINVAL;
        return NULL;
      }
      *p++ = (char) (hi * 16 + lo);
      i += 2;
    }
    else
      *p++ = s[i];
  }
  *p = '\0';
  return r;
}

/* ---- parsing ----------------------------------------------------------- */

struct scheme {
  const char *name;
  int tls;
  int transport;
};

static const struct scheme schemes[] = {
  { "nbd",        0, NBD_URI_TCP },
  { "nbds",       1, NBD_URI_TCP },
  { "nbd+unix",   0, NBD_URI_UNIX },
  { "nbds+unix",  1, NBD_URI_UNIX },
  { "nbd+vsock",  0, NBD_URI_VSOCK },
  { "nbds+vsock", 1, NBD_URI_VSOCK },
};

static bool
all_digits (const char *s, size_t n)
{
  size_t i;

  if (n == 0)
    return false;
  for (i = 0; i < n; ++i)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

/* Parse N decimal digits at S (already checked with all_digits) into *V,
 * failing if the value exceeds MAX. */
static bool
parse_decimal (const char *s, size_t n, uint64_t max, uint64_t *v)
{
  uint64_t r = 0;
  size_t i;

  for (i = 0; i < n; ++i) {
    r = r * 10 + (uint64_t) (s[i] - '0');
    if (r > max)
      return false;
  }
  *v = r;
  return true;
}

/* Boolean spellings accepted for tls-verify-peer. */
static int
parse_bool (const char *s)
{
  static const char *const yes[] = { "1", "true", "yes", "on" };
  static const char *const no[] = { "0", "false", "no", "off" };
  size_t i;

  for (i = 0; i < sizeof yes / sizeof yes[0]; ++i)
    if (strcasecmp (s, yes[i]) == 0)
      return 1;
  for (i = 0; i < sizeof no / sizeof no[0]; ++i)
    if (strcasecmp (s, no[i]) == 0)
      return 0;
  return -1;
}

/* Replace *SLOT with V (taking ownership of V). */
static void
replace (char **slot, char *v)
{
  free (*slot);
  *slot = v;
}

void
nbd_internal_free_uri (struct nbd_uri *u)
{
  if (u == NULL)
    return;
  free (u->host);
  free (u->port);
  free (u->socket);
  free (u->export_name);
  free (u->tls_username);
  free (u->tls_psk_file);
  free (u->tls_certificates);
  free (u->tls_hostname);
  memset (u, 0, sizeof *u);
  u->tls_verify_peer = -1;
}

int
nbd_internal_parse_uri (const char *uri, struct nbd_uri *out,
                        char *errbuf, size_t errbuf_len)
{
  const struct scheme *sch = NULL;
  const char *p, *colon, *auth, *auth_end, *path, *path_end;
  const char *query, *query_end, *at, *hostp, *host_end, *portp;
  size_t i, host_len, port_len = 0;
  bool have_port = false;
  int err = EINVAL;
  char *s;

  if (out == NULL) {
    set_error (errbuf, errbuf_len, EFAULT, "output pointer is NULL");
    return -1;
  }
  memset (out, 0, sizeof *out);
  out->tls_verify_peer = -1;

  if (uri == NULL) {
    set_error (errbuf, errbuf_len, EFAULT, "URI is NULL");
    return -1;
  }

  /* Control characters are never valid in a URI (RFC 3986 section 2). */
  for (p = uri; *p; ++p) {
    if ((unsigned char) *p < 0x20 || *p == 0x7f) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "URI contains a control character at offset %zu",
                 (size_t) (p - uri));
      return -1;
    }
  }

  /* Scheme. */
  colon = strchr (uri, ':');
  if (colon == NULL || colon == uri) {
    set_error (errbuf, errbuf_len, EINVAL,
               "unable to parse URI: %s: no scheme", uri);
    return -1;
  }
  for (i = 0; i < sizeof schemes / sizeof schemes[0]; ++i) {
    if (strlen (schemes[i].name) == (size_t) (colon - uri) &&
        strncmp (schemes[i].name, uri, colon - uri) == 0) {
      sch = &schemes[i];
      break;
    }
  }
  if (sch == NULL) {
    set_error (errbuf, errbuf_len, EINVAL, "unknown NBD URI scheme: %.*s",
               (int) (colon - uri), uri);
    return -1;
  }
  if (strncmp (colon, "://", 3) != 0) {
    set_error (errbuf, errbuf_len, EINVAL, "URI must begin with '%s://'",
               sch->name);
    return -1;
  }
  out->tls = sch->tls;
  out->transport = sch->transport;

  /* Split into authority, path, query; drop the fragment. */
  auth = colon + 3;
  auth_end = auth + strcspn (auth, "/?#");
  path = auth_end;
  path_end = path + strcspn (path, "?#");
  if (*path_end == '?') {
    query = path_end + 1;
    query_end = query + strcspn (query, "#");
  }
  else
    query = query_end = NULL;

  /* Authority: [userinfo@]host[:port].  Use the last '@' so that a '@' in
   * the user info must be percent-encoded but one in the host cannot occur. */
  at = NULL;
  for (p = auth; p < auth_end; ++p)
    if (*p == '@')
      at = p;
  if (at != NULL) {
    const char *user_end = memchr (auth, ':', at - auth);

    if (user_end == NULL)
      user_end = at;
    if (user_end > auth) {
      s = decode (auth, user_end - auth, &err);
      if (s == NULL)
        goto bad_escape;
      out->tls_username = s;
    }
    hostp = at + 1;
  }
  else
    hostp = auth;

  if (hostp < auth_end && *hostp == '[') {
    const char *rb = memchr (hostp, ']', auth_end - hostp);

    if (rb == NULL) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "unable to parse URI: %s: unterminated '[' in host", uri);
      goto fail;
    }
    for (p = hostp + 1; p < rb; ++p) {
      if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
            (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
        set_error (errbuf, errbuf_len, EINVAL,
                   "unable to parse URI: %s: invalid IPv6 address", uri);
        goto fail;
      }
    }
    if (rb == hostp + 1) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "unable to parse URI: %s: empty IPv6 address", uri);
      goto fail;
    }
    host_end = rb + 1;
    if (host_end < auth_end && *host_end != ':') {
      set_error (errbuf, errbuf_len, EINVAL,
                 "unable to parse URI: %s: junk after ']'", uri);
      goto fail;
    }
    portp = host_end < auth_end ? host_end + 1 : NULL;
    hostp++;                    /* strip the brackets */
    host_len = (size_t) (rb - hostp);
  }
  else {
    const char *c = memchr (hostp, ':', auth_end - hostp);

    if (c != NULL && memchr (c + 1, ':', auth_end - (c + 1)) != NULL) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "unable to parse URI: %s: IPv6 addresses must be "
                 "enclosed in []", uri);
      goto fail;
    }
    host_end = c ? c : auth_end;
    host_len = (size_t) (host_end - hostp);
    portp = c ? c + 1 : NULL;
  }
  if (portp != NULL) {
    uint64_t v;

    have_port = true;
    port_len = (size_t) (auth_end - portp);
    if (!all_digits (portp, port_len) || !parse_decimal (portp, port_len,
                                                         65535, &v)) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "unable to parse URI: %s: invalid port number", uri);
      goto fail;
    }
    out->port = malloc (8);
    if (out->port == NULL)
      goto nomem;
    snprintf (out->port, 8, "%u", (unsigned) v);
  }

  switch (out->transport) {
  case NBD_URI_TCP:
    if (host_len == 0)
      out->host = strdup ("localhost");
    else
      out->host = decode (hostp, host_len, &err);
    if (out->host == NULL) {
      if (host_len == 0)
        goto nomem;
      goto bad_escape;
    }
    if (out->port == NULL && (out->port = strdup (DEFAULT_PORT)) == NULL)
      goto nomem;
    break;

  case NBD_URI_UNIX:
    if (host_len != 0 || have_port) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "%s: URIs must not contain a host name or port "
                 "(use %s:///export?socket=PATH)", sch->name, sch->name);
      goto fail;
    }
    break;

  case NBD_URI_VSOCK: {
    uint64_t cid = VSOCK_DEFAULT_CID;

    if (host_len != 0 &&
        (!all_digits (hostp, host_len) ||
         !parse_decimal (hostp, host_len, UINT32_MAX, &cid))) {
      set_error (errbuf, errbuf_len, EINVAL,
                 "%s: the host part must be a numeric vsock CID", sch->name);
      goto fail;
    }
    out->cid = (uint32_t) cid;
    if (out->port == NULL && (out->port = strdup (DEFAULT_PORT)) == NULL)
      goto nomem;
    break;
  }
  }

  /* Export name: the path without its leading '/'. */
  if (path_end > path)
    out->export_name = decode (path + 1, path_end - path - 1, &err);
  else
    out->export_name = strdup ("");
  if (out->export_name == NULL) {
    if (path_end == path)
      goto nomem;
    goto bad_escape;
  }

  /* Query parameters, separated by '&'. */
  p = query;
  while (p != NULL && p < query_end) {
    const char *seg_end = memchr (p, '&', query_end - p);
    const char *eq;
    char *key, *value;

    if (seg_end == NULL)
      seg_end = query_end;
    if (seg_end == p) {          /* empty segment, e.g. "a=1&&b=2" */
      p = seg_end + 1;
      continue;
    }
    eq = memchr (p, '=', seg_end - p);
    key = decode (p, (eq ? eq : seg_end) - p, &err);
    if (key == NULL)
      goto bad_escape;
    value = eq ? decode (eq + 1, seg_end - eq - 1, &err) : strdup ("");
    if (value == NULL) {
      free (key);
      if (eq == NULL)
        goto nomem;
      goto bad_escape;
    }

    if (strcmp (key, "socket") == 0) {
      if (out->transport != NBD_URI_UNIX) {
        set_error (errbuf, errbuf_len, EINVAL,
                   "socket parameter is incompatible with \"%s:\" "
                   "(did you mean to use \"%s+unix:///?socket=...\"?)",
                   sch->name, out->tls ? "nbds" : "nbd");
        free (key);
        free (value);
        goto fail;
      }
      replace (&out->socket, value);
    }
    else if (strcmp (key, "tls-certificates") == 0)
      replace (&out->tls_certificates, value);
    else if (strcmp (key, "tls-psk-file") == 0)
      replace (&out->tls_psk_file, value);
    else if (strcmp (key, "tls-username") == 0)
      replace (&out->tls_username, value);
    else if (strcmp (key, "tls-hostname") == 0)
      replace (&out->tls_hostname, value);
    else if (strcmp (key, "tls-verify-peer") == 0) {
      int b = parse_bool (value);

      if (b == -1) {
        set_error (errbuf, errbuf_len, EINVAL,
                   "tls-verify-peer: expecting a boolean, got \"%s\"", value);
        free (key);
        free (value);
        goto fail;
      }
      out->tls_verify_peer = b;
      free (value);
    }
    else
      free (value);             /* unknown parameters are ignored */
    free (key);
    p = seg_end + 1;
  }

  if (out->transport == NBD_URI_UNIX &&
      (out->socket == NULL || out->socket[0] == '\0')) {
    set_error (errbuf, errbuf_len, EINVAL,
               "cannot parse socket parameter from NBD URI "
               "(did you mean to use \"%s:///?socket=...\"?)", sch->name);
    goto fail;
  }

  return 0;

 bad_escape:
  if (err == ENOMEM)
    goto nomem;
  set_error (errbuf, errbuf_len, EINVAL,
             "unable to parse URI: %s: invalid percent-encoding "
             "(bad escape or %%00)", uri);
  goto fail;
 nomem:
  set_error (errbuf, errbuf_len, ENOMEM, "out of memory");
 fail:
  err = errno;
  nbd_internal_free_uri (out);
  errno = err;
  return -1;
}

/* ---- construction ------------------------------------------------------ */

struct strbuf {
  char *s;
  size_t len, cap;
  bool failed;
};

static void
sb_addn (struct strbuf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    char *ns;

    while (cap < b->len + n + 1)
      cap *= 2;
    ns = realloc (b->s, cap);
    if (ns == NULL) {
      b->failed = true;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy (b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void
sb_add (struct strbuf *b, const char *s)
{
  sb_addn (b, s, strlen (s));
}

static bool
is_unreserved (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Append S, percent-encoding every byte that is neither unreserved nor in
 * the KEEP set. */
static void
sb_add_encoded (struct strbuf *b, const char *s, const char *keep)
{
  static const char hex[] = "0123456789ABCDEF";

  for (; *s; ++s) {
    unsigned char c = (unsigned char) *s;

    if (is_unreserved (c) || strchr (keep, c) != NULL)
      sb_addn (b, (const char *) &c, 1);
    else {
      char e[3] = { '%', hex[c >> 4], hex[c & 15] };
      sb_addn (b, e, 3);
    }
  }
}

#define SUB_DELIMS "!$&'()*+,;="
#define PATH_KEEP  SUB_DELIMS "@/"
#define QUERY_KEEP "/:@!$'()*+,;"

char *
nbd_internal_build_uri (const struct nbd_uri *u)
{
  struct strbuf b = { NULL, 0, 0, false };
  bool first_query = true;

  if (u == NULL) {
    errno = EINVAL;
    return NULL;
  }

  switch (u->transport) {
  case NBD_URI_TCP:
    if (u->host == NULL || u->host[0] == '\0') {
      errno = EINVAL;
      return NULL;
    }
    sb_add (&b, u->tls ? "nbds://" : "nbd://");
    break;
  case NBD_URI_UNIX:
    if (u->socket == NULL || u->socket[0] == '\0') {
      errno = EINVAL;
      return NULL;
    }
    sb_add (&b, u->tls ? "nbds+unix://" : "nbd+unix://");
    break;
  case NBD_URI_VSOCK:
    sb_add (&b, u->tls ? "nbds+vsock://" : "nbd+vsock://");
    break;
  default:
    errno = EINVAL;
    return NULL;
  }

  if (u->tls_username != NULL && u->tls_username[0] != '\0') {
    sb_add_encoded (&b, u->tls_username, SUB_DELIMS);
    sb_add (&b, "@");
  }

  if (u->transport == NBD_URI_TCP) {
    if (strchr (u->host, ':') != NULL) {        /* IPv6 literal */
      sb_add (&b, "[");
      sb_add_encoded (&b, u->host, ":");
      sb_add (&b, "]");
    }
    else
      sb_add_encoded (&b, u->host, SUB_DELIMS);
  }
  else if (u->transport == NBD_URI_VSOCK) {
    char cid[16];

    snprintf (cid, sizeof cid, "%" PRIu32, u->cid);
    sb_add (&b, cid);
  }
  if (u->transport != NBD_URI_UNIX && u->port != NULL && u->port[0] != '\0') {
    sb_add (&b, ":");
    sb_add_encoded (&b, u->port, "");
  }

  sb_add (&b, "/");
  if (u->export_name != NULL)
    sb_add_encoded (&b, u->export_name, PATH_KEEP);

#define QUERY(key, value)                        \
  do {                                           \
    sb_add (&b, first_query ? "?" : "&");        \
    first_query = false;                         \
    sb_add (&b, key "=");                        \
    sb_add_encoded (&b, (value), QUERY_KEEP);    \
  } while (0)

  if (u->transport == NBD_URI_UNIX)
    QUERY ("socket", u->socket);
  if (u->tls_certificates != NULL)
    QUERY ("tls-certificates", u->tls_certificates);
  if (u->tls_psk_file != NULL)
    QUERY ("tls-psk-file", u->tls_psk_file);
  if (u->tls_verify_peer == 0)
    QUERY ("tls-verify-peer", "false");
#undef QUERY

  if (b.failed) {
    free (b.s);
    errno = ENOMEM;
    return NULL;
  }
  return b.s;
}
