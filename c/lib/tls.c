/* tls.c: the TLS transport (GnuTLS).  After the server accepts
 * NBD_OPT_STARTTLS the socket layer starts a session here, drives its
 * handshake with nbd_internal_tls_handshake, and then swaps h->transport
 * to nbd_internal_tls_transport: the layers above keep calling recv,
 * readv and sendmsg and never learn that the bytes are encrypted.
 *
 * Like transport.c this file works on one connection's bytes only: it
 * never changes h->state.  A failure returns -1 with errno set and a
 * message in h->tls_state (nbd_internal_tls_error); the caller decides
 * what the failure means for the connection.
 *
 * Built without GnuTLS (no HAVE_GNUTLS, as the Go package is by default)
 * every entry point reports ENOTSUP and nbd_supports_tls is false. */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#ifdef HAVE_GNUTLS
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* Small pieces of a send (request headers, short writes) are gathered
 * into one record of at most this size rather than one record each. */
#define TLS_STAGE_SIZE 16384
/* A piece at least this long is sent from the caller's buffer directly. */
#define TLS_DIRECT_MIN 2048
/* Encrypted bytes are received this many at a time.  GnuTLS asks its
 * transport for each record's 5-byte header and then for its body, which
 * straight from the socket costs two recv calls per record (per reply at
 * 4 KiB); from this buffer one recv serves every record that has come. */
#define TLS_RECV_AHEAD 65536

struct nbd_tls {
  gnutls_session_t session;
  gnutls_certificate_credentials_t x509;
  gnutls_psk_client_credentials_t psk;
  bool handshake_done;
  /* gnutls_record_send returned GNUTLS_E_AGAIN for a record of this many
   * of the caller's bytes: GnuTLS holds it and must be asked to finish it
   * (with no new data) before anything else is sent. */
  size_t send_pending;
  int fd;
  size_t ahead_pos, ahead_end;  /* unread part of ahead[] */
  bool drained;                 /* the last recv left the socket empty */
  ssize_t stashed;              /* a GnuTLS error met after bytes were gathered */
  char err[512];
  uint8_t ahead[TLS_RECV_AHEAD];
  uint8_t stage[TLS_STAGE_SIZE];
};

bool
nbd_internal_tls_available (void)
{
  return true;
}

const char *
nbd_internal_tls_error (struct nbd_handle *h)
{
  return h->tls_state && h->tls_state->err[0] ? h->tls_state->err : "TLS failure";
}

static int
fail (struct nbd_tls *t, int errnum, const char *fmt, ...) NBD_PRINTF (3, 4);
static int
fail (struct nbd_tls *t, int errnum, const char *fmt, ...)
{
  va_list ap;

  size_t n;

  va_start (ap, fmt);
  vsnprintf (t->err, sizeof t->err, fmt, ap);
  va_end (ap);
  /* GnuTLS's texts may end in blanks: they would show in messages. */
  n = strlen (t->err);
  while (n > 0 && (t->err[n - 1] == ' ' || t->err[n - 1] == '\n'))
    t->err[--n] = '\0';
  errno = errnum;
  return -1;
}

/* ---- credentials ------------------------------------------------------- */

static bool
file_exists (const char *dir, const char *name, char *path, size_t len)
{
  snprintf (path, len, "%s/%s", dir, name);
  return access (path, R_OK) == 0;
}

static bool
dir_exists (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* libnbd's documented defaults when nbd_set_tls_certificates was not
 * called: /etc/pki/libnbd for root, else $HOME/.pki/libnbd then
 * $HOME/.config/pki/libnbd; NULL (the system trust store) if none exists. */
static const char *
default_cert_dir (char *buf, size_t len)
{
  const char *home = getenv ("HOME");

  if (geteuid () == 0) {
    snprintf (buf, len, "/etc/pki/libnbd");
    return dir_exists (buf) ? buf : NULL;
  }
  if (home == NULL)
    return NULL;
  snprintf (buf, len, "%s/.pki/libnbd", home);
  if (dir_exists (buf))
    return buf;
  snprintf (buf, len, "%s/.config/pki/libnbd", home);
  return dir_exists (buf) ? buf : NULL;
}

static int
load_x509 (struct nbd_handle *h, struct nbd_tls *t)
{
  char dirbuf[4096], path[4200], key[4200];
  const char *dir = h->tls_certificates;
  int r;

  if ((r = gnutls_certificate_allocate_credentials (&t->x509)) < 0)
    return fail (t, ENOMEM, "gnutls_certificate_allocate_credentials: %s", gnutls_strerror (r));
  if (dir == NULL)
    dir = default_cert_dir (dirbuf, sizeof dirbuf);
  if (dir == NULL) {
    r = gnutls_certificate_set_x509_system_trust (t->x509);
    if (r < 0)
      return fail (t, EIO, "loading the system's trusted CA certificates: %s", gnutls_strerror (r));
    debug (h, "TLS: using the system's %d trusted CA certificate(s)", r);
    return 0;
  }
  if (!dir_exists (dir))
    return fail (t, ENOENT, "TLS certificates directory %s does not exist", dir);
  if (file_exists (dir, "ca-cert.pem", path, sizeof path)) {
    r = gnutls_certificate_set_x509_trust_file (t->x509, path, GNUTLS_X509_FMT_PEM);
    if (r < 0)
      return fail (t, EINVAL, "%s: %s", path, gnutls_strerror (r));
  }
  else if ((r = gnutls_certificate_set_x509_system_trust (t->x509)) < 0)
    return fail (t, EIO, "loading the system's trusted CA certificates: %s", gnutls_strerror (r));
  if (file_exists (dir, "ca-crl.pem", path, sizeof path)) {
    r = gnutls_certificate_set_x509_crl_file (t->x509, path, GNUTLS_X509_FMT_PEM);
    if (r < 0)
      return fail (t, EINVAL, "%s: %s", path, gnutls_strerror (r));
  }
  /* A client certificate is optional (servers that verify the peer
   * need one); when present, its key must be too. */
  if (file_exists (dir, "client-cert.pem", path, sizeof path)) {
    if (!file_exists (dir, "client-key.pem", key, sizeof key))
      return fail (t, ENOENT, "%s/client-cert.pem has no client-key.pem beside it", dir);
    r = gnutls_certificate_set_x509_key_file (t->x509, path, key, GNUTLS_X509_FMT_PEM);
    if (r < 0)
      /* The key file's contents never appear in messages. */
      return fail (t, EINVAL, "loading the client certificate %s and its key: %s",
                   path, gnutls_strerror (r));
  }
  debug (h, "TLS: X.509 credentials from %s", dir);
  return 0;
}

/* The user's line of a psktool file ("username:hexkey"); the key is
 * copied to KEY (NUL-terminated) and wiped by the caller. */
static int
find_psk (struct nbd_tls *t, const char *file, const char *user, char *key, size_t keylen)
{
  FILE *fp = fopen (file, "r");
  char *line = NULL;
  size_t cap = 0, ulen = strlen (user);
  ssize_t n;
  int found = 0;

  if (fp == NULL)
    return fail (t, errno, "%s: %s", file, strerror (errno));
  while (!found && (n = getline (&line, &cap, fp)) != -1) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if ((size_t) n > ulen && strncmp (line, user, ulen) == 0 && line[ulen] == ':') {
      if ((size_t) n - ulen - 1 >= keylen) {
        explicit_bzero (line, cap);
        free (line);
        fclose (fp);
        return fail (t, EINVAL, "%s: the key of user %s is too long", file, user);
      }
      strcpy (key, line + ulen + 1);
      found = 1;
    }
  }
  if (line) explicit_bzero (line, cap);
  free (line);
  fclose (fp);
  if (!found)
    return fail (t, ENOENT, "%s: no key for user %s", file, user);
  return 0;
}

static const char *
login_name (char *buf, size_t len)
{
  struct passwd pw, *res = NULL;
  char tmp[1024];

  if (getpwuid_r (geteuid (), &pw, tmp, sizeof tmp, &res) == 0 && res) {
    snprintf (buf, len, "%s", res->pw_name);
    return buf;
  }
  return getenv ("LOGNAME");
}

static int
load_psk (struct nbd_handle *h, struct nbd_tls *t)
{
  char userbuf[256], key[1024];
  /* The same default as nbd_get_tls_username reports. */
  const char *user = h->tls_username ? h->tls_username
    : getenv ("USER") ? getenv ("USER") : login_name (userbuf, sizeof userbuf);
  gnutls_datum_t datum;
  int r;

  if (user == NULL)
    return fail (t, EINVAL, "TLS PSK: no user name (see nbd_set_tls_username)");
  if ((r = gnutls_psk_allocate_client_credentials (&t->psk)) < 0)
    return fail (t, ENOMEM, "gnutls_psk_allocate_client_credentials: %s", gnutls_strerror (r));
  if (find_psk (t, h->tls_psk_file, user, key, sizeof key) == -1)
    return -1;
  datum.data = (unsigned char *) key;
  datum.size = strlen (key);
  r = gnutls_psk_set_client_credentials (t->psk, user, &datum, GNUTLS_PSK_KEY_HEX);
  explicit_bzero (key, sizeof key);
  if (r < 0)
    return fail (t, EINVAL, "%s: the key of user %s: %s", h->tls_psk_file, user, gnutls_strerror (r));
  debug (h, "TLS: PSK credentials of user %s from %s", user, h->tls_psk_file);
  return 0;
}

/* ---- session ----------------------------------------------------------- */

static bool
is_ip_address (const char *host)
{
  unsigned char buf[sizeof (struct in6_addr)];
  return inet_pton (AF_INET, host, buf) == 1 || inet_pton (AF_INET6, host, buf) == 1;
}

/* GnuTLS's pull: serves what the last recv brought in before asking the
 * socket again.  Bytes waiting here are invisible to poll(), which is
 * why tls_pending counts them. */
static ssize_t
tls_pull (gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
  struct nbd_tls *t = ptr;
  size_t n;

  if (t->ahead_pos == t->ahead_end) {
    ssize_t r;
    /* A short recv emptied the socket: say so without asking again.
     * This ends the transport call under way (gather), which resets the
     * flag at its start: a call after the caller's next wait always asks
     * the socket. */
    if (t->drained) {
      t->drained = false;
      gnutls_transport_set_errno (t->session, EAGAIN);
      errno = EAGAIN;
      return -1;
    }
    r = recv (t->fd, t->ahead, sizeof t->ahead, 0);
    if (r <= 0) {
      if (r < 0)
        gnutls_transport_set_errno (t->session, errno);
      return r;
    }
    t->ahead_pos = 0;
    t->ahead_end = r;
    t->drained = (size_t) r < sizeof t->ahead;
  }
  n = t->ahead_end - t->ahead_pos;
  if (n > len) n = len;
  memcpy (buf, t->ahead + t->ahead_pos, n);
  t->ahead_pos += n;
  return n;
}

/* Only used by GnuTLS with blocking sockets or timeouts, neither of which
 * we set; given for completeness, as GnuTLS asks of a custom pull. */
static int
tls_pull_timeout (gnutls_transport_ptr_t ptr, unsigned ms)
{
  struct nbd_tls *t = ptr;
  struct pollfd p = { .fd = t->fd, .events = POLLIN };

  if (t->ahead_pos < t->ahead_end)
    return 1;
  return poll (&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
}

void
nbd_internal_tls_free (struct nbd_handle *h)
{
  struct nbd_tls *t = h->tls_state;

  if (t == NULL)
    return;
  if (t->session) gnutls_deinit (t->session);
  if (t->x509) gnutls_certificate_free_credentials (t->x509);
  if (t->psk) gnutls_psk_free_client_credentials (t->psk);
  free (t);
  h->tls_state = NULL;
}

int
nbd_internal_tls_start (struct nbd_handle *h, const char *hostname)
{
  struct nbd_tls *t;
  const char *prio;
  int r;

  nbd_internal_tls_free (h);
  t = calloc (1, sizeof *t);
  if (t == NULL) {
    errno = ENOMEM;
    return -1;
  }
  h->tls_state = t;

  if (h->tls_psk_file ? load_psk (h, t) == -1 : load_x509 (h, t) == -1)
    return -1;
  if ((r = gnutls_init (&t->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL)) < 0)
    return fail (t, ENOMEM, "gnutls_init: %s", gnutls_strerror (r));
  /* The system's default priorities, plus the PSK key exchanges (not in
   * the defaults) when a PSK file is used. */
  prio = t->psk ? "@SYSTEM:+ECDHE-PSK:+DHE-PSK:+PSK" : "@SYSTEM";
  if (gnutls_priority_set_direct (t->session, prio, NULL) < 0) {
    prio = t->psk ? "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK" : "NORMAL";
    if ((r = gnutls_priority_set_direct (t->session, prio, NULL)) < 0)
      return fail (t, EINVAL, "gnutls_priority_set_direct: %s", gnutls_strerror (r));
  }
  if (t->psk)
    r = gnutls_credentials_set (t->session, GNUTLS_CRD_PSK, t->psk);
  else
    r = gnutls_credentials_set (t->session, GNUTLS_CRD_CERTIFICATE, t->x509);
  if (r < 0)
    return fail (t, EINVAL, "gnutls_credentials_set: %s", gnutls_strerror (r));
  if (hostname && !is_ip_address (hostname) &&
      (r = gnutls_server_name_set (t->session, GNUTLS_NAME_DNS, hostname, strlen (hostname))) < 0)
    return fail (t, EINVAL, "gnutls_server_name_set: %s", gnutls_strerror (r));
  /* The server's certificate chain is checked against the trusted CAs
   * during the handshake, and its name against HOSTNAME when we know
   * one (a Unix socket has none unless nbd_set_tls_hostname gave it). */
  if (!t->psk && h->tls_verify_peer)
    gnutls_session_set_verify_cert (t->session, hostname, 0);
  /* Sends go straight to the socket (GnuTLS's own push on the fd);
   * receives through tls_pull's buffer. */
  t->fd = h->fd;
  gnutls_transport_set_ptr2 (t->session, t, (gnutls_transport_ptr_t) (intptr_t) h->fd);
  gnutls_transport_set_pull_function (t->session, tls_pull);
  gnutls_transport_set_pull_timeout_function (t->session, tls_pull_timeout);
  debug (h, "TLS: starting the handshake (%s%s%s)",
                      t->psk ? "PSK" : "X.509",
                      hostname ? ", server name " : "", hostname ? hostname : "");
  return 0;
}

/* The handshake's reason for failing, in words (the certificate's
 * problems spelled out when verification failed). */
static int
handshake_failed (struct nbd_handle *h, struct nbd_tls *t, int r)
{
  if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR ||
      r == GNUTLS_E_CERTIFICATE_ERROR) {
    unsigned status = gnutls_session_get_verify_cert_status (t->session);
    gnutls_datum_t out = { NULL, 0 };
    if (status &&
        gnutls_certificate_verification_status_print (status, gnutls_certificate_type_get (t->session),
                                                      &out, 0) == 0) {
      fail (t, EACCES, "TLS handshake: the server's certificate was rejected: %s", out.data);
      gnutls_free (out.data);
      return -1;
    }
    return fail (t, EACCES, "TLS handshake: %s", gnutls_strerror (r));
  }
  if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
      r == GNUTLS_E_PULL_ERROR)
    return fail (t, ECONNRESET, "TLS handshake: the server closed the connection (it may "
                 "have refused our certificate or key): %s", gnutls_strerror (r));
  if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
    return fail (t, EACCES, "TLS handshake: the server sent the alert \"%s\"",
                 gnutls_alert_get_name (gnutls_alert_get (t->session)));
  if (r == GNUTLS_E_DECRYPTION_FAILED || r == GNUTLS_E_KEYFILE_ERROR)
    return fail (t, EACCES, "TLS handshake: %s (wrong key?)", gnutls_strerror (r));
  return fail (t, EPROTO, "TLS handshake: %s", gnutls_strerror (r));
}

int
nbd_internal_tls_handshake (struct nbd_handle *h)
{
  struct nbd_tls *t = h->tls_state;
  int r;

  if (t == NULL || t->session == NULL) {
    errno = EINVAL;
    return -1;
  }
  t->drained = false;           /* as in gather: a new call asks the socket */
  for (;;) {
    r = gnutls_handshake (t->session);
    if (r == GNUTLS_E_SUCCESS)
      break;
    if (r == GNUTLS_E_AGAIN)
      return 0;
    if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal (r))
      continue;
    return handshake_failed (h, t, r);
  }
  t->handshake_done = true;
  {
    char *desc = gnutls_session_get_desc (t->session);
    debug (h, "TLS: handshake complete: %s", desc ? desc : "");
    gnutls_free (desc);
  }
  return 1;
}

unsigned
nbd_internal_tls_direction (struct nbd_handle *h)
{
  struct nbd_tls *t = h->tls_state;

  if (t == NULL || t->session == NULL)
    return LIBNBD_AIO_DIRECTION_READ;
  return gnutls_record_get_direction (t->session) ? LIBNBD_AIO_DIRECTION_WRITE
                                                   : LIBNBD_AIO_DIRECTION_READ;
}

/* ---- the transport ------------------------------------------------------ */

/* A GnuTLS record-layer error as errno (and a message for the caller). */
static ssize_t
record_error (struct nbd_tls *t, ssize_t r)
{
  switch (r) {
  case GNUTLS_E_AGAIN: errno = EAGAIN; return -1;
  case GNUTLS_E_INTERRUPTED: errno = EINTR; return -1;
  case GNUTLS_E_PUSH_ERROR: return fail (t, EPIPE, "TLS: %s", gnutls_strerror ((int) r));
  case GNUTLS_E_PULL_ERROR: return fail (t, ECONNRESET, "TLS: %s", gnutls_strerror ((int) r));
  default: return fail (t, EPROTO, "TLS: %s", gnutls_strerror ((int) r));
  }
}

/* Decrypts records into buf until it is full or the socket has no more
 * (GnuTLS returns one record per call).  A short count therefore means
 * what it means on a plain socket: the kernel was empty.  An error met
 * after some bytes is kept for the next call. */
static ssize_t
gather (struct nbd_tls *t, uint8_t *buf, size_t len)
{
  size_t got = 0;

  while (got < len) {
    ssize_t r = t->stashed ? t->stashed : gnutls_record_recv (t->session, buf + got, len - got);
    t->stashed = 0;
    if (r > 0) {
      got += r;
      continue;
    }
    /* A close without close_notify is an end of stream like any other:
     * the NBD framing above tells whether anything was cut short. */
    if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION)
      break;
    /* Renegotiation requests and other warnings are not ours to act on. */
    if (r == GNUTLS_E_REHANDSHAKE || r == GNUTLS_E_WARNING_ALERT_RECEIVED)
      continue;
    if (got > 0) {
      if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
        t->stashed = r;
      break;
    }
    return record_error (t, r);
  }
  return got;
}

static ssize_t
tls_recv (struct nbd_handle *h, void *buf, size_t len)
{
  struct nbd_tls *t = h->tls_state;

  t->drained = false;           /* every call starts by asking the socket */
  return gather (t, buf, len);
}

/* Fills the pieces in order, straight into the caller's buffers; stops
 * at the first piece left short (the socket had no more). */
static ssize_t
tls_readv (struct nbd_handle *h, const struct iovec *iov, int iovcnt)
{
  struct nbd_tls *t = h->tls_state;
  size_t total = 0;
  int i;

  t->drained = false;
  for (i = 0; i < iovcnt; i++) {
    ssize_t r = gather (t, iov[i].iov_base, iov[i].iov_len);
    if (r < 0)
      return total > 0 && (errno == EAGAIN || errno == EINTR) ? (ssize_t) total : -1;
    total += r;
    if ((size_t) r < iov[i].iov_len)
      break;
  }
  return total;
}

static ssize_t
tls_sendmsg (struct nbd_handle *h, const struct msghdr *msg)
{
  struct nbd_tls *t = h->tls_state;
  const struct iovec *iov = msg->msg_iov;
  size_t niov = msg->msg_iovlen, i = 0, off = 0, total = 0;

  while (i < niov) {
    ssize_t r;
    size_t len;

    if (off == iov[i].iov_len) { i++; off = 0; continue; }
    if (t->send_pending) {
      /* Finish the record GnuTLS kept after EAGAIN: it stands for the
       * caller's next send_pending bytes, which the caller gives again. */
      len = t->send_pending;
      r = gnutls_record_send (t->session, NULL, 0);
    }
    else if (iov[i].iov_len - off >= TLS_DIRECT_MIN) {
      len = iov[i].iov_len - off;
      if (len > TLS_STAGE_SIZE) len = TLS_STAGE_SIZE;
      r = gnutls_record_send (t->session, (uint8_t *) iov[i].iov_base + off, len);
    }
    else {
      /* Gather small pieces (up to the next large one) into one record. */
      size_t j = i, o = off;
      len = 0;
      while (j < niov && len < TLS_STAGE_SIZE) {
        size_t n = iov[j].iov_len - o;
        if (n >= TLS_DIRECT_MIN && len > 0) break;
        if (n > TLS_STAGE_SIZE - len) n = TLS_STAGE_SIZE - len;
        memcpy (t->stage + len, (uint8_t *) iov[j].iov_base + o, n);
        len += n;
        o += n;
        if (o == iov[j].iov_len) { j++; o = 0; }
      }
      r = gnutls_record_send (t->session, t->stage, len);
    }
    if (r < 0) {
      if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        t->send_pending = len;
      if (total > 0 && (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED))
        return total;
      return record_error (t, r);
    }
    t->send_pending = 0;
    /* Advance over the r bytes the record carried. */
    total += r;
    {
      size_t adv = (size_t) r;
      while (adv > 0) {
        size_t n = iov[i].iov_len - off;
        if (n > adv) n = adv;
        off += n;
        adv -= n;
        if (off == iov[i].iov_len) { i++; off = 0; }
      }
    }
  }
  return total;
}

static int
tls_shutdown (struct nbd_handle *h, int how)
{
  struct nbd_tls *t = h->tls_state;

  /* An orderly end of our side: close_notify, then the socket's write
   * side.  If close_notify cannot go out now, the socket is left alone:
   * cutting it would truncate the alert. */
  if (how == SHUT_WR && t && t->handshake_done) {
    if (gnutls_bye (t->session, GNUTLS_SHUT_WR) != GNUTLS_E_SUCCESS)
      return 0;
  }
  return shutdown (h->fd, how);
}

static int
tls_close (struct nbd_handle *h, int fd)
{
  nbd_internal_tls_free (h);
  return close (fd);
}

static bool
tls_pending (struct nbd_handle *h)
{
  struct nbd_tls *t = h->tls_state;
  return t && (t->ahead_pos < t->ahead_end || gnutls_record_check_pending (t->session) > 0);
}

const struct nbd_transport nbd_internal_tls_transport = {
  .name = "tls",
  .recv = tls_recv,
  .readv = tls_readv,
  .sendmsg = tls_sendmsg,
  .shutdown = tls_shutdown,
  .close = tls_close,
  .pending = tls_pending,
};

#else /* !HAVE_GNUTLS */

bool
nbd_internal_tls_available (void)
{
  return false;
}

const char *
nbd_internal_tls_error (struct nbd_handle *h)
{
  return NBD_NO_TLS_MSG;
}

int
nbd_internal_tls_start (struct nbd_handle *h, const char *hostname)
{
  errno = ENOTSUP;
  return -1;
}

int
nbd_internal_tls_handshake (struct nbd_handle *h)
{
  errno = ENOTSUP;
  return -1;
}

unsigned
nbd_internal_tls_direction (struct nbd_handle *h)
{
  return LIBNBD_AIO_DIRECTION_READ;
}

void
nbd_internal_tls_free (struct nbd_handle *h)
{
}

/* Never installed: STARTTLS is not sent without TLS support. */
const struct nbd_transport nbd_internal_tls_transport = {
  .name = "tls (not built)",
};

#endif /* !HAVE_GNUTLS */
