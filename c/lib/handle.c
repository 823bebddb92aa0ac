/* handle.c: handle creation and destruction, and the simple settings. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>

#include "internal.h"

static atomic_uint handle_counter;

NBD_API struct nbd_handle *
nbd_create (void)
{
  struct nbd_handle *h;
  const char *env;
  char namebuf[32];

  nbd_internal_set_call ("nbd_create");
  h = calloc (1, sizeof *h);
  if (!h) {
    set_error (errno, "calloc: %s", strerror (errno));
    return NULL;
  }
  snprintf (namebuf, sizeof namebuf, "nbd%u", atomic_fetch_add (&handle_counter, 1) + 1);
  h->name = strdup (namebuf);
  h->export_name = strdup ("");
  h->rbuf = malloc (NBD_RBUF_SIZE);
  if (!h->name || !h->export_name || !h->rbuf) {
    set_error (ENOMEM, "out of memory");
    free (h->name); free (h->export_name); free (h->rbuf); free (h);
    return NULL;
  }
  pthread_mutex_init (&h->lock, NULL);
  h->fd = -1;
  h->deferred_close_fd = -1;
  h->wake_fd = -1;
  h->state = ST_CREATED;
  h->request_sr = true;
  h->request_block_size = true;
  h->request_meta = true;
  h->pread_initialize = true;
  h->tls_verify_peer = true;
  h->handshake_flags = LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE | LIBNBD_HANDSHAKE_FLAG_NO_ZEROES;
  h->strict = LIBNBD_STRICT_MASK;
  h->uri_allow_transports = LIBNBD_ALLOW_TRANSPORT_MASK;
  h->uri_allow_tls = LIBNBD_TLS_ALLOW;
  h->next_cookie = 1;
  h->rphase = RP_HEADER;

  env = getenv ("LIBNBD_DEBUG");
  if (env && strcmp (env, "1") == 0)
    h->debug = true;
  debug (h, "opening handle");
  return h;
}

static void
free_command_list (struct nbd_handle *h, struct command *c)
{
  while (c) {
    struct command *next = c->next;
    nbd_internal_free_callbacks (c);
    free (c->ranges);
    free (c);
    c = next;
  }
  (void) h;
}

NBD_API void
nbd_close (struct nbd_handle *h)
{
  size_t i;

  if (h == NULL)
    return;
  nbd_internal_set_call ("nbd_close");
  debug (h, "closing handle");

  /* Commands never retired: their free callbacks run exactly once here. */
  free_command_list (h, h->sendq_head);
  free_command_list (h, h->inflight_head);
  free_command_list (h, h->done_head);
  free_command_list (h, h->free_cmds);
  FREE_CALLBACK (h->opt_completion);
  FREE_CALLBACK (h->opt_list_cb);
  FREE_CALLBACK (h->opt_ctx_cb);
  FREE_CALLBACK (h->debug_cb);

  if (h->fd >= 0)
    close (h->fd);
  if (h->wake_fd >= 0)
    close (h->wake_fd);
  nbd_internal_reap_child (h);
  if (h->sa_sockpath) { unlink (h->sa_sockpath); free (h->sa_sockpath); }
  if (h->sa_tmpdir) { rmdir (h->sa_tmpdir); free (h->sa_tmpdir); }
  if (h->ai_list) freeaddrinfo (h->ai_list);

  for (i = 0; i < h->nr_req_meta; i++) free (h->req_meta[i]);
  free (h->req_meta);
  for (i = 0; i < h->nr_meta; i++) free (h->meta[i].name);
  free (h->meta);
  free (h->name); free (h->export_name);
  if (h->uri_parts) { nbd_internal_free_uri (h->uri_parts); free (h->uri_parts); }
  free (h->tls_certificates); free (h->tls_username); free (h->tls_psk_file);
  free (h->dead_msg); free (h->opt_err_msg); free (h->sa_name);
  free (h->canonical_name); free (h->description);
  free (h->rbuf); free (h->wbuf); free (h->pbuf);
  pthread_mutex_destroy (&h->lock);
  free (h);
}

/* ---- string settings ----------------------------------------------------- */
static int
replace_string (char **slot, const char *value)
{
  char *copy = strdup (value);
  if (!copy) {
    set_error (ENOMEM, "strdup: %s", strerror (ENOMEM));
    return -1;
  }
  free (*slot);
  *slot = copy;
  return 0;
}

static char *
copy_string (const char *value)
{
  char *copy = strdup (value ? value : "");
  if (!copy) set_error (ENOMEM, "strdup: %s", strerror (ENOMEM));
  return copy;
}

NBD_API int
nbd_set_handle_name (struct nbd_handle *h, const char *name)
{
  int r;
  API_ENTER (h, "nbd_set_handle_name");
  if (!name) { set_error (EFAULT, "handle_name cannot be NULL"); API_LEAVE (h); return -1; }
  r = replace_string (&h->name, name);
  API_LEAVE (h);
  return r;
}

NBD_API char *
nbd_get_handle_name (struct nbd_handle *h)
{
  char *r;
  API_ENTER (h, "nbd_get_handle_name");
  r = copy_string (h->name);
  API_LEAVE (h);
  return r;
}

NBD_API uintptr_t
nbd_set_private_data (struct nbd_handle *h, uintptr_t data)
{
  uintptr_t old = h->private_data;
  h->private_data = data;
  return old;
}

NBD_API uintptr_t
nbd_get_private_data (struct nbd_handle *h)
{
  return h->private_data;
}

NBD_API int
nbd_set_export_name (struct nbd_handle *h, const char *name)
{
  int r;
  API_ENTER (h, "nbd_set_export_name");
  CHECK_STATE (h, PERMIT_CREATED_NEGOTIATING, -1);
  if (!name) { set_error (EFAULT, "export_name cannot be NULL"); API_LEAVE (h); return -1; }
  if (strlen (name) > NBD_MAX_STRING) {
    set_error (ENAMETOOLONG, "export name too long (maximum %d bytes)", NBD_MAX_STRING);
    API_LEAVE (h);
    return -1;
  }
  r = replace_string (&h->export_name, name);
  API_LEAVE (h);
  return r;
}

NBD_API char *
nbd_get_export_name (struct nbd_handle *h)
{
  char *r;
  API_ENTER (h, "nbd_get_export_name");
  r = copy_string (h->export_name);
  API_LEAVE (h);
  return r;
}

/* ---- debug ------------------------------------------------------------ */
NBD_API int
nbd_set_debug (struct nbd_handle *h, bool debug)
{
  API_ENTER (h, "nbd_set_debug");
  h->debug = debug;
  API_LEAVE (h);
  return 0;
}

NBD_API int
nbd_get_debug (struct nbd_handle *h)
{
  int r;
  API_ENTER (h, "nbd_get_debug");
  r = h->debug;
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_set_debug_callback (struct nbd_handle *h, nbd_debug_callback cb)
{
  API_ENTER (h, "nbd_set_debug_callback");
  FREE_CALLBACK (h->debug_cb);
  h->debug_cb = cb;
  API_LEAVE (h);
  return 0;
}

NBD_API int
nbd_clear_debug_callback (struct nbd_handle *h)
{
  API_ENTER (h, "nbd_clear_debug_callback");
  FREE_CALLBACK (h->debug_cb);
  API_LEAVE (h);
  return 0;
}

/* ---- boolean and flag settings ------------------------------------------- */
#define BOOL_SETTING(setter, getter, field, permit)                   \
  NBD_API int setter (struct nbd_handle *h, bool v)                   \
  {                                                                   \
    API_ENTER (h, #setter);                                           \
    CHECK_STATE (h, permit, -1);                                      \
    h->field = v;                                                     \
    API_LEAVE (h);                                                    \
    return 0;                                                         \
  }                                                                   \
  NBD_API int getter (struct nbd_handle *h)                           \
  {                                                                   \
    int r;                                                            \
    API_ENTER (h, #getter);                                           \
    r = h->field;                                                     \
    API_LEAVE (h);                                                    \
    return r;                                                         \
  }

BOOL_SETTING (nbd_set_request_structured_replies, nbd_get_request_structured_replies,
              request_sr, PERMIT_CREATED)
BOOL_SETTING (nbd_set_request_block_size, nbd_get_request_block_size,
              request_block_size, PERMIT_CREATED_NEGOTIATING)
BOOL_SETTING (nbd_set_full_info, nbd_get_full_info, full_info, PERMIT_CREATED_NEGOTIATING)
/* (libnbd 1.16) */
BOOL_SETTING (nbd_set_request_meta_context, nbd_get_request_meta_context,
              request_meta, PERMIT_CREATED_NEGOTIATING)
BOOL_SETTING (nbd_set_pread_initialize, nbd_get_pread_initialize, pread_initialize, PERMIT_ANY)
BOOL_SETTING (nbd_set_opt_mode, nbd_get_opt_mode, opt_mode, PERMIT_CREATED)
BOOL_SETTING (nbd_set_tls_verify_peer, nbd_get_tls_verify_peer, tls_verify_peer, PERMIT_CREATED)

NBD_API int
nbd_set_uri_allow_local_file (struct nbd_handle *h, bool allow)
{
  API_ENTER (h, "nbd_set_uri_allow_local_file");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  h->uri_allow_local_file = allow;
  API_LEAVE (h);
  return 0;
}

NBD_API int
nbd_set_handshake_flags (struct nbd_handle *h, uint32_t flags)
{
  API_ENTER (h, "nbd_set_handshake_flags");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  if (flags & ~LIBNBD_HANDSHAKE_FLAG_MASK) {
    set_error (EINVAL, "flags: unknown handshake flags 0x%x", flags & ~LIBNBD_HANDSHAKE_FLAG_MASK);
    API_LEAVE (h);
    return -1;
  }
  h->handshake_flags = flags;
  API_LEAVE (h);
  return 0;
}

NBD_API uint32_t
nbd_get_handshake_flags (struct nbd_handle *h)
{
  uint32_t r;
  API_ENTER (h, "nbd_get_handshake_flags");
  r = h->handshake_flags;
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_set_strict_mode (struct nbd_handle *h, uint32_t flags)
{
  API_ENTER (h, "nbd_set_strict_mode");
  if (flags & ~LIBNBD_STRICT_MASK) {
    set_error (EINVAL, "flags: unknown strict flags 0x%x", flags & ~LIBNBD_STRICT_MASK);
    API_LEAVE (h);
    return -1;
  }
  h->strict = flags;
  API_LEAVE (h);
  return 0;
}

NBD_API uint32_t
nbd_get_strict_mode (struct nbd_handle *h)
{
  uint32_t r;
  API_ENTER (h, "nbd_get_strict_mode");
  r = h->strict;
  API_LEAVE (h);
  return r;
}

/* ---- TLS settings (TLS itself is not implemented yet) ---------------------- */
NBD_API int
nbd_set_tls (struct nbd_handle *h, int tls)
{
  API_ENTER (h, "nbd_set_tls");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  if (tls < LIBNBD_TLS_DISABLE || tls > LIBNBD_TLS_REQUIRE) {
    set_error (EINVAL, "tls: invalid value %d", tls);
    API_LEAVE (h);
    return -1;
  }
  h->tls = tls;
  API_LEAVE (h);
  return 0;
}

NBD_API int
nbd_get_tls (struct nbd_handle *h)
{
  int r;
  API_ENTER (h, "nbd_get_tls");
  r = h->tls;
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_get_tls_negotiated (struct nbd_handle *h)
{
  API_ENTER (h, "nbd_get_tls_negotiated");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);
  API_LEAVE (h);
  return 0;
}

#define STRING_SETTING(setter, field, what)                           \
  NBD_API int setter (struct nbd_handle *h, const char *v)            \
  {                                                                   \
    int r;                                                            \
    API_ENTER (h, #setter);                                           \
    CHECK_STATE (h, PERMIT_CREATED, -1);                              \
    if (!v) { set_error (EFAULT, what " cannot be NULL"); API_LEAVE (h); return -1; } \
    r = replace_string (&h->field, v);                                \
    API_LEAVE (h);                                                    \
    return r;                                                         \
  }

STRING_SETTING (nbd_set_tls_certificates, tls_certificates, "dir")
STRING_SETTING (nbd_set_tls_username, tls_username, "username")
STRING_SETTING (nbd_set_tls_psk_file, tls_psk_file, "filename")

NBD_API char *
nbd_get_tls_username (struct nbd_handle *h)
{
  char *r = NULL;
  API_ENTER (h, "nbd_get_tls_username");
  if (h->tls_username)
    r = copy_string (h->tls_username);
  else {
    const char *user = getenv ("USER");
    r = copy_string (user ? user : "");
  }
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_supports_tls (struct nbd_handle *h)
{
  (void) h;
  return 0;
}

NBD_API int
nbd_supports_uri (struct nbd_handle *h)
{
  (void) h;
  return 1;
}

/* ---- URI policy ------------------------------------------------------------ */
NBD_API int
nbd_set_uri_allow_transports (struct nbd_handle *h, uint32_t mask)
{
  API_ENTER (h, "nbd_set_uri_allow_transports");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  if (mask & ~LIBNBD_ALLOW_TRANSPORT_MASK) {
    set_error (EINVAL, "mask: unknown transports 0x%x", mask & ~LIBNBD_ALLOW_TRANSPORT_MASK);
    API_LEAVE (h);
    return -1;
  }
  h->uri_allow_transports = mask;
  API_LEAVE (h);
  return 0;
}

NBD_API int
nbd_set_uri_allow_tls (struct nbd_handle *h, int tls)
{
  API_ENTER (h, "nbd_set_uri_allow_tls");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  if (tls < LIBNBD_TLS_DISABLE || tls > LIBNBD_TLS_REQUIRE) {
    set_error (EINVAL, "tls: invalid value %d", tls);
    API_LEAVE (h);
    return -1;
  }
  h->uri_allow_tls = tls;
  API_LEAVE (h);
  return 0;
}

/* ---- version ---------------------------------------------------------- */
NBD_API const char *
nbd_get_package_name (struct nbd_handle *h)
{
  (void) h;
  return "libnbd";
}

NBD_API const char *
nbd_get_version (struct nbd_handle *h)
{
  (void) h;
  return "1.14.2";
}
