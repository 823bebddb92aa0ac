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
  h->transport = &nbd_internal_plain_transport;
  h->fd = -1;
  h->deferred_close_fd = -1;
  h->wake_fd = -1;
  /* h->state is ST_CREATED (0) from calloc. */
  h->request_sr = true;
  h->request_block_size = true;
  h->request_meta = true;
  h->request_eh = true;
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
    free (c->payload);
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
  free_command_list (h, h->replied_head);
  free_command_list (h, h->free_cmds);
  FREE_CALLBACK (h->opt_completion);
  FREE_CALLBACK (h->opt_list_cb);
  FREE_CALLBACK (h->opt_ctx_cb);
  FREE_CALLBACK (h->debug_cb);

  if (h->fd >= 0)
    h->transport->close (h, h->fd);
  nbd_internal_tls_free (h);    /* a session whose handshake never finished */
  if (h->wake_fd >= 0)
    close (h->wake_fd);
  nbd_internal_reap_child (h);
  if (h->sa_sockpath) { unlink (h->sa_sockpath); free (h->sa_sockpath); }
  if (h->sa_tmpdir) { rmdir (h->sa_tmpdir); free (h->sa_tmpdir); }
  if (h->ai_list) freeaddrinfo (h->ai_list);

  for (i = 0; i < h->nr_req_meta; i++) free (h->req_meta[i]);
  free (h->req_meta);
  for (i = 0; i < h->nr_sent_meta; i++) free (h->sent_meta[i]);
  free (h->sent_meta);
  for (i = 0; i < h->nr_meta; i++) free (h->meta[i].name);
  free (h->meta);
  free (h->name); free (h->export_name);
  if (h->uri_parts) { nbd_internal_free_uri (h->uri_parts); free (h->uri_parts); }
  free (h->tls_certificates); free (h->tls_username); free (h->tls_psk_file);
  free (h->tls_hostname);
  free (h->dead_msg); free (h->opt_err_msg); free (h->sa_name);
  free (h->canonical_name); free (h->description);
  free (h->rbuf); free (h->wbuf); free (h->pbuf);
  pthread_mutex_destroy (&h->lock);
  free (h);
}

/* ---- settings ----------------------------------------------------------
 * The generated wrappers (api.c) have already checked the state and that
 * no pointer argument is NULL. */
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

int
nbd_unlocked_set_handle_name (struct nbd_handle *h, const char *name)
{
  return replace_string (&h->name, name);
}

char *
nbd_unlocked_get_handle_name (struct nbd_handle *h)
{
  return copy_string (h->name);
}

/* Private data is the caller's, read and written without the lock. */
uintptr_t
nbd_unlocked_set_private_data (struct nbd_handle *h, uintptr_t data)
{
  uintptr_t old = h->private_data;
  h->private_data = data;
  return old;
}

uintptr_t
nbd_unlocked_get_private_data (struct nbd_handle *h)
{
  return h->private_data;
}

int
nbd_unlocked_set_export_name (struct nbd_handle *h, const char *name)
{
  if (strlen (name) > NBD_MAX_STRING) {
    set_error (ENAMETOOLONG, "export name too long (maximum %d bytes)", NBD_MAX_STRING);
    return -1;
  }
  if (replace_string (&h->export_name, name) == -1)
    return -1;
  /* libnbd 1.16's rule: in option mode, what the server said about the
   * previous export (size, flags, meta contexts) no longer applies. */
  if (h->state == ST_NEGOTIATING)
    nbd_internal_forget_export (h);
  return 0;
}

char *
nbd_unlocked_get_export_name (struct nbd_handle *h)
{
  return copy_string (h->export_name);
}

/* ---- debug ------------------------------------------------------------ */
int
nbd_unlocked_set_debug (struct nbd_handle *h, bool debug)
{
  __atomic_store_n (&h->debug, debug, __ATOMIC_RELAXED);
  return 0;
}

int
nbd_unlocked_get_debug (struct nbd_handle *h)
{
  return h->debug;
}

int
nbd_unlocked_set_debug_callback (struct nbd_handle *h, nbd_debug_callback *cb)
{
  FREE_CALLBACK (h->debug_cb);
  TAKE_CALLBACK (h->debug_cb, cb);
  return 0;
}

int
nbd_unlocked_clear_debug_callback (struct nbd_handle *h)
{
  FREE_CALLBACK (h->debug_cb);
  return 0;
}

/* ---- boolean and flag settings ------------------------------------------- */
#define BOOL_SETTING(name, field)                                            \
  int nbd_unlocked_set_##name (struct nbd_handle *h, bool v) { h->field = v; return 0; } \
  int nbd_unlocked_get_##name (struct nbd_handle *h) { return h->field; }

BOOL_SETTING (request_structured_replies, request_sr)
BOOL_SETTING (request_block_size, request_block_size)
BOOL_SETTING (full_info, full_info)
BOOL_SETTING (request_meta_context, request_meta)   /* libnbd 1.16 */
BOOL_SETTING (pread_initialize, pread_initialize)
BOOL_SETTING (opt_mode, opt_mode)
BOOL_SETTING (tls_verify_peer, tls_verify_peer)
/* libnbd 1.18: ask for extended headers before structured replies
 * (handshake.c); meaningless without structured replies. */
BOOL_SETTING (request_extended_headers, request_eh)

int
nbd_unlocked_set_uri_allow_local_file (struct nbd_handle *h, bool allow)
{
  h->uri_allow_local_file = allow;
  return 0;
}

int
nbd_unlocked_set_handshake_flags (struct nbd_handle *h, uint32_t flags)
{
  h->handshake_flags = flags;
  return 0;
}

uint32_t
nbd_unlocked_get_handshake_flags (struct nbd_handle *h)
{
  return h->handshake_flags;
}

int
nbd_unlocked_set_strict_mode (struct nbd_handle *h, uint32_t flags)
{
  h->strict = flags;
  return 0;
}

uint32_t
nbd_unlocked_get_strict_mode (struct nbd_handle *h)
{
  return h->strict;
}

/* ---- TLS settings (tls.c uses them when STARTTLS succeeds) ----------------- */
int
nbd_unlocked_set_tls (struct nbd_handle *h, int tls)
{
  h->tls = tls;
  return 0;
}

int
nbd_unlocked_get_tls (struct nbd_handle *h)
{
  return h->tls;
}

int
nbd_unlocked_get_tls_negotiated (struct nbd_handle *h)
{
  return h->tls_negotiated;
}

int
nbd_unlocked_set_tls_certificates (struct nbd_handle *h, const char *dir)
{
  return replace_string (&h->tls_certificates, dir);
}

int
nbd_unlocked_set_tls_username (struct nbd_handle *h, const char *username)
{
  return replace_string (&h->tls_username, username);
}

/* libnbd 1.22: the name the server's certificate is checked against. */
int
nbd_unlocked_set_tls_hostname (struct nbd_handle *h, const char *hostname)
{
  return replace_string (&h->tls_hostname, hostname);
}

char *
nbd_unlocked_get_tls_hostname (struct nbd_handle *h)
{
  return copy_string (h->tls_hostname);
}

int
nbd_unlocked_set_tls_psk_file (struct nbd_handle *h, const char *filename)
{
  return replace_string (&h->tls_psk_file, filename);
}

/* Until set, the user name is the one the process runs as ($USER). */
char *
nbd_unlocked_get_tls_username (struct nbd_handle *h)
{
  const char *user = getenv ("USER");
  return copy_string (h->tls_username ? h->tls_username : user);
}

int
nbd_unlocked_supports_tls (struct nbd_handle *h)
{
  return nbd_internal_tls_available ();
}

int
nbd_unlocked_supports_uri (struct nbd_handle *h)
{
  return 1;
}

/* ---- URI policy ------------------------------------------------------------ */
int
nbd_unlocked_set_uri_allow_transports (struct nbd_handle *h, uint32_t mask)
{
  h->uri_allow_transports = mask;
  return 0;
}

int
nbd_unlocked_set_uri_allow_tls (struct nbd_handle *h, int tls)
{
  h->uri_allow_tls = tls;
  return 0;
}

/* ---- version ---------------------------------------------------------- */
const char *
nbd_unlocked_get_package_name (struct nbd_handle *h)
{
  return "libnbd";
}

const char *
nbd_unlocked_get_version (struct nbd_handle *h)
{
  return "1.14.2";
}
