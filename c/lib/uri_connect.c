/* uri_connect.c: nbd_connect_uri and nbd_get_uri, on top of the standalone
 * parser in uri.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int
aio_connect_uri_locked (struct nbd_handle *h, const char *uri)
{
  struct nbd_uri u;
  char errbuf[256];
  int r = -1;

  if (nbd_internal_parse_uri (uri, &u, errbuf, sizeof errbuf) == -1) {
    set_error (errno ? errno : EINVAL, "%s: %s", uri, errbuf);
    return -1;
  }
  /* A URI from an untrusted source must not make us read local files
   * unless the caller allowed it (nbd_set_uri_allow_local_file). */
  if ((u.tls_psk_file || u.tls_certificates) && !h->uri_allow_local_file) {
    set_error (EPERM, "%s: local file access (%s) is not allowed "
               "(see nbd_set_uri_allow_local_file)", uri,
               u.tls_psk_file ? "tls-psk-file" : "tls-certificates");
    goto out;
  }
  if (!(h->uri_allow_transports & (uint32_t) u.transport)) {
    set_error (EPERM, "%s: this transport is not permitted by nbd_set_uri_allow_transports", uri);
    goto out;
  }
  if (u.tls && h->uri_allow_tls == LIBNBD_TLS_DISABLE) {
    set_error (EPERM, "%s: TLS URIs are not permitted by nbd_set_uri_allow_tls", uri);
    goto out;
  }
  if (!u.tls && h->uri_allow_tls == LIBNBD_TLS_REQUIRE) {
    set_error (EPERM, "%s: the URI must use TLS (nbd_set_uri_allow_tls)", uri);
    goto out;
  }
  if (u.tls && !nbd_internal_tls_available ()) {
    set_error (ENOTSUP, "%s: the URI requires TLS, but %s", uri, NBD_NO_TLS_MSG);
    goto out;
  }
  if (strlen (u.export_name) > NBD_MAX_STRING) {
    set_error (ENAMETOOLONG, "%s: export name too long", uri);
    goto out;
  }
  free (h->export_name);
  h->export_name = strdup (u.export_name);
  if (!h->export_name) { set_error (ENOMEM, "out of memory"); goto out; }
  /* An nbds URI requires TLS (never a fallback to plaintext); an nbd
   * URI leaves the nbd_set_tls setting alone. */
  if (u.tls)
    h->tls = LIBNBD_TLS_REQUIRE;
  if (u.tls_hostname) { free (h->tls_hostname); h->tls_hostname = u.tls_hostname; u.tls_hostname = NULL; }
  if (u.tls_username) {
    free (h->tls_username); h->tls_username = u.tls_username; u.tls_username = NULL;
    h->uri_username_set = true;
  }
  if (u.tls_psk_file) { free (h->tls_psk_file); h->tls_psk_file = u.tls_psk_file; u.tls_psk_file = NULL; }
  if (u.tls_certificates) {
    free (h->tls_certificates); h->tls_certificates = u.tls_certificates; u.tls_certificates = NULL;
  }
  if (u.tls_verify_peer >= 0) h->tls_verify_peer = u.tls_verify_peer;

  switch (u.transport) {
  case NBD_URI_UNIX:
    r = nbd_internal_connect_unix (h, u.socket);
    break;
  case NBD_URI_VSOCK: {
    char *end;
    unsigned long port = strtoul (u.port, &end, 10);
    if (*end || port > UINT32_MAX) {
      set_error (EINVAL, "%s: invalid vsock port", uri);
      goto out;
    }
    r = nbd_internal_connect_vsock (h, u.cid, (uint32_t) port);
    break;
  }
  default:
    r = nbd_internal_connect_tcp (h, u.host, u.port);
    break;
  }
 out:
  nbd_internal_free_uri (&u);
  return r;
}

int
nbd_unlocked_aio_connect_uri (struct nbd_handle *h, const char *uri)
{
  return aio_connect_uri_locked (h, uri);
}

int
nbd_unlocked_connect_uri (struct nbd_handle *h, const char *uri)
{
  if (aio_connect_uri_locked (h, uri) == -1)
    return -1;
  return nbd_internal_wait_connected (h);
}

char *
nbd_unlocked_get_uri (struct nbd_handle *h)
{
  char *r;
  struct nbd_uri u;

  if (!h->uri_parts) {
    /* libnbd's errno for a connection that has no URI form. */
    set_error (EINVAL, "cannot construct a URI for this connection (it was not made "
               "over TCP, a Unix socket or vsock)");
    return NULL;
  }
  u = *h->uri_parts;
  u.export_name = h->export_name;
  u.tls = h->tls == LIBNBD_TLS_REQUIRE;
  u.tls_username = h->uri_username_set ? h->tls_username : NULL;
  u.tls_psk_file = h->tls_psk_file;
  u.tls_certificates = h->tls_certificates;
  u.tls_verify_peer = h->tls_verify_peer ? -1 : 0;
  r = nbd_internal_build_uri (&u);
  if (!r) set_error (errno ? errno : ENOMEM, "cannot construct a URI");
  return r;
}
