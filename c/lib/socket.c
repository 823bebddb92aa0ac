/* socket.c: moving bytes between the socket and the parsers.  Reads pull
 * as much as the kernel has into h->rbuf (or straight into the caller's
 * read buffer for large payloads); writes gather queued requests and their
 * payloads into one sendmsg. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define MAX_SEND_IOV 64
/* When at least this much of a payload is still in the kernel, it goes
 * straight to the caller's buffer (with what follows into rbuf, one readv). */
#define DIRECT_RECV_MIN 1024
/* Header read size while big reads are outstanding: a chunk header plus
 * the OFFSET_DATA offset (the header is wider with extended headers). */
#define SMALL_RECV(h) (((h)->eh_negotiated ? NBD_EXT_REPLY_SIZE : NBD_CHUNK_HEADER_SIZE) + 8)

/* Hands bytes to whichever parser the state calls for. */
ssize_t
nbd_internal_feed (struct nbd_handle *h, const uint8_t *p, size_t n)
{
  size_t used = 0;

  while (used < n) {
    ssize_t r;
    if (nbd_internal_is_handshaking (h))
      r = nbd_internal_handshake_consume (h, p + used, n - used);
    else if (h->state == ST_TRANSMISSION)
      r = nbd_internal_reply_consume (h, p + used, n - used);
    else if (h->state == ST_NEGOTIATING) {
      set_dead (h, EPROTO, "protocol violation: server sent data while no option was pending");
      return -1;
    }
    else
      return -1;
    /* The parsers only report: complete the commands whose replies came
     * in, then act on what ends the connection. */
    nbd_internal_complete_replied (h);
    if (r < 0 || h->parse_errno || h->parse_closed) {
      if (nbd_internal_apply_parse_result (h) == -1 || r < 0)
        return -1;
      return used + r;
    }
    if (r == 0) break;
    used += r;
  }
  return used;
}

/* With TLS 1.3 a server refuses our certificate or key after the client
 * has finished its handshake: all the client sees is the connection
 * closing while it negotiates.  Said so, since nothing else will. */
static const char *
tls_close_hint (const struct nbd_handle *h)
{
  return h->tls_negotiated && nbd_internal_is_handshaking (h)
    ? " (while negotiating over TLS: the server may have refused our certificate or key)"
    : "";
}

/* Why the transport failed: GnuTLS's reason for a TLS connection (the
 * errno alone would hide it), else the system's. */
static void
transport_failed (struct nbd_handle *h, int err, const char *what)
{
  const char *why = h->tls_state && err != EPIPE ? nbd_internal_tls_error (h) : strerror (err);

  set_dead (h, err, "%s: %s%s", what, why, tls_close_hint (h));
}

/* The name the server's certificate must carry: nbd_set_tls_hostname's,
 * else the host we connected to over TCP; none for Unix sockets, vsock
 * and adopted sockets (then only the certificate chain is checked). */
static const char *
tls_hostname (const struct nbd_handle *h)
{
  if (h->tls_hostname)
    return h->tls_hostname;
  if (h->uri_parts && h->uri_parts->transport == NBD_URI_TCP)
    return h->uri_parts->host;
  return NULL;
}

/* STARTTLS was accepted: runs the TLS handshake as far as the socket
 * allows.  Once it completes, the connection's bytes go through the TLS
 * transport and negotiation goes on with the next option. */
static int
tls_progress (struct nbd_handle *h)
{
  int r;

  if (h->tls_state == NULL) {
    /* Nothing the server sent after its acknowledgement can be trusted:
     * it must wait for our ClientHello. */
    if (h->rstart != h->rend) {
      set_dead (h, EPROTO, "server sent %zu unencrypted bytes after accepting NBD_OPT_STARTTLS",
                h->rend - h->rstart);
      return -1;
    }
    if (nbd_internal_tls_start (h, tls_hostname (h)) == -1) {
      set_dead (h, errno, "%s", nbd_internal_tls_error (h));
      return -1;
    }
  }
  r = nbd_internal_tls_handshake (h);
  if (r == -1) {
    set_dead (h, errno, "%s", nbd_internal_tls_error (h));
    return -1;
  }
  if (r == 0)
    return 0;
  h->transport = &nbd_internal_tls_transport;
  nbd_internal_handshake_tls_done (h);
  if (h->parse_errno && nbd_internal_apply_parse_result (h) == -1)
    return -1;
  return nbd_internal_flush (h);
}

/* A send failed because the peer is gone.  Whatever the server sent before
 * closing explains the failure better than EPIPE does (a partial reply, an
 * orderly close), so read it first; EPIPE only if that leaves us alive. */
static void
send_failed (struct nbd_handle *h, int err)
{
  if ((err == EPIPE || err == ECONNRESET) && !h->draining) {
    h->draining = true;
    nbd_internal_on_readable (h);
    h->draining = false;
  }
  if (h->state != ST_DEAD && h->state != ST_CLOSED)
    transport_failed (h, err, "send");
}

static void
on_eof (struct nbd_handle *h)
{
  if (h->state == ST_TRANSMISSION && h->disc_sent && nbd_internal_between_replies (h))
    nbd_internal_set_closed (h);
  else if (h->state == ST_HS_OPT_REPLY && h->opt_current == NBD_OPT_ABORT)
    nbd_internal_set_closed (h);
  else if (h->state == ST_HS_EXPORT_NAME && h->rstart == h->rend)
    set_dead (h, ENOENT, "server closed the connection after NBD_OPT_EXPORT_NAME "
              "(the export name was probably rejected)");
  else if (h->state == ST_TRANSMISSION && nbd_internal_between_replies (h) &&
           h->nr_inflight == 0 && h->sendq_head == NULL)
    /* After the last reply, with nothing asked: an orderly close (as
     * libnbd sees it), not a failure. */
    nbd_internal_set_closed (h);
  else if (h->state == ST_TRANSMISSION && nbd_internal_between_replies (h))
    /* Between replies: the connection is simply gone. */
    set_dead (h, ENOTCONN, "server closed the connection with %d command(s) in flight",
              h->nr_inflight + h->nr_sendq);
  else
    set_dead (h, ECONNRESET, "server closed the connection in the middle of a message (state %s)%s",
              nbd_internal_state_name (h->state), tls_close_hint (h));
}

int
nbd_internal_on_readable (struct nbd_handle *h)
{
  for (;;) {
    uint8_t *dest;
    size_t dlen, want;
    ssize_t n;

    if (!nbd_internal_is_handshaking (h) && h->state != ST_TRANSMISSION &&
        h->state != ST_NEGOTIATING)
      return 0;
    if (h->state == ST_HS_TLS)
      return tls_progress (h);

    if (h->rstart == h->rend)
      h->rstart = h->rend = 0;

    if (h->rstart == h->rend && nbd_internal_reply_direct (h, &dest, &dlen) &&
        dlen >= DIRECT_RECV_MIN) {
      /* Large payload: receive into the caller's buffer, and whatever
       * follows it into rbuf, with one call. */
      size_t tail = h->nr_big_reads > 0 ? SMALL_RECV (h) : NBD_RBUF_SIZE;
      struct iovec iov[2] = { { dest, dlen }, { h->rbuf, tail } };
      want = dlen + tail;
      n = h->transport->readv (h, iov, 2);
      if (n > 0) {
        size_t d = (size_t) n < dlen ? (size_t) n : dlen;
        ssize_t dr = nbd_internal_reply_direct_done (h, d);
        nbd_internal_complete_replied (h);
        if (dr == -1) {
          nbd_internal_apply_parse_result (h);
          return -1;
        }
        h->rend = n - d;
      }
    }
    else {
      /* Move a partial reply back to the front early rather than when the
       * buffer is full: receiving into the same few cache-hot kilobytes
       * is measurably cheaper than walking through the whole buffer. */
      if (h->rstart >= NBD_RBUF_COMPACT ||
          (h->rstart > 0 && h->rend == NBD_RBUF_SIZE)) {
        memmove (h->rbuf, h->rbuf + h->rstart, h->rend - h->rstart);
        h->rend -= h->rstart;
        h->rstart = 0;
      }
      want = NBD_RBUF_SIZE - h->rend;
      if (h->nr_big_reads > 0 && h->state == ST_TRANSMISSION &&
          h->rphase == RP_HEADER && want > SMALL_RECV (h))
        want = SMALL_RECV (h);
      n = h->transport->recv (h, h->rbuf + h->rend, want);
      if (n > 0) h->rend += n;
    }

    if (n == 0) {
      on_eof (h);
      return h->state == ST_CLOSED ? 0 : -1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      /* After NBD_CMD_DISC with no reply due, a reset is how some servers
       * end (qemu-nbd closing with our TLS close_notify unread): the
       * same orderly end as EOF. */
      if (errno == ECONNRESET && h->state == ST_TRANSMISSION && h->disc_sent &&
          h->nr_inflight == 0 && nbd_internal_between_replies (h)) {
        on_eof (h);
        return h->state == ST_CLOSED ? 0 : -1;
      }
      transport_failed (h, errno, "recv");
      return -1;
    }
    h->bytes_received += n;
    if (h->rend > h->rstart) {
      ssize_t used = nbd_internal_feed (h, h->rbuf + h->rstart, h->rend - h->rstart);
      if (used < 0) return -1;
      h->rstart += used;
      if (h->state == ST_HS_TLS)
        return tls_progress (h);
      /* The handshake may have queued an answer: send it without waiting
       * for another trip through the event loop. */
      if (h->woff < h->wlen && !h->draining && nbd_internal_flush (h) == -1) return -1;
    }
    if ((size_t) n < want && !h->draining)
      break;                  /* the kernel had no more for us */
  }
  /* Requests deferred while replies were due go out now (unless nbd_poll
   * is batching: it sends them before it sleeps). */
  if (h->state == ST_TRANSMISSION && h->sendq_head && h->send_off == 0 &&
      !h->draining && !h->defer_send)
    return nbd_internal_flush (h);
  return 0;
}

static int
flush_wbuf (struct nbd_handle *h)
{
  while (h->woff < h->wlen) {
    ssize_t n = nbd_internal_send (h, h->wbuf + h->woff, h->wlen - h->woff);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      send_failed (h, errno);
      return -1;
    }
    h->woff += n;
    h->bytes_sent += n;
  }
  h->woff = h->wlen = 0;
  return 0;
}

/* A request is fully on the wire: it now awaits its reply (or, for
 * NBD_CMD_DISC, nothing more will be sent). */
static void
request_sent (struct nbd_handle *h, struct command *c)
{
  h->sendq_head = c->next;
  if (!h->sendq_head) {
    h->sendq_tail = NULL;
  }
  h->nr_sendq--;
  h->chunks_sent++;
  h->sendq_bytes -= nbd_internal_wire_size (c);
  c->next = NULL;
  if (c->type == NBD_CMD_DISC) {
    h->disc_sent = true;
    nbd_internal_cmd_free (h, c);
    /* The server answers with EOF once it has wound the connection down. */
    h->transport->shutdown (h, SHUT_WR);
    return;
  }
  nbd_internal_add_inflight (h, c);
}

static int
flush_commands (struct nbd_handle *h)
{
  while (h->sendq_head && h->state == ST_TRANSMISSION) {
    struct iovec iov[MAX_SEND_IOV];
    struct msghdr msg = { 0 };
    int niov = 0;
    size_t skip = h->send_off, total = 0;
    struct command *c;
    ssize_t n;

    for (c = h->sendq_head; c && niov < MAX_SEND_IOV - 1; c = c->next) {
      const uint8_t *body = c->type == NBD_CMD_WRITE ? c->buf : c->payload;
      size_t body_len = c->type == NBD_CMD_WRITE ? c->count : c->payload_len;
      if (skip < c->hdr_len) {
        iov[niov].iov_base = c->hdr + skip;
        iov[niov].iov_len = c->hdr_len - skip;
        total += iov[niov++].iov_len;
        skip = 0;
      }
      else
        skip -= c->hdr_len;
      if (body_len > skip) {
        iov[niov].iov_base = (uint8_t *) body + skip;
        iov[niov].iov_len = body_len - skip;
        total += iov[niov++].iov_len;
      }
      skip = 0;
      if (total >= 4 * 1024 * 1024) break;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = niov;
    n = h->transport->sendmsg (h, &msg);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      send_failed (h, errno);
      return -1;
    }
    h->bytes_sent += n;
    /* Retire what went out completely; remember how far into the next. */
    {
      size_t done = (size_t) n + h->send_off;
      while (h->sendq_head && done >= nbd_internal_wire_size (h->sendq_head)) {
        done -= nbd_internal_wire_size (h->sendq_head);
        request_sent (h, h->sendq_head);
      }
      h->send_off = done;
    }
    if ((size_t) n < total)
      return 0;               /* socket buffer full */
  }
  return 0;
}

/* Sends whatever is queued (unless it is being held for a batch), as far
 * as the socket takes it now. */
int
nbd_internal_flush (struct nbd_handle *h)
{
  int r = 0;

  if (h->fd < 0)
    return 0;
  if (h->woff < h->wlen)
    r = flush_wbuf (h);
  else if (h->state == ST_TRANSMISSION && h->sendq_head)
    r = flush_commands (h);
  /* A thread blocked in poll() for reading must learn that we now need
   * to write too. */
  if (r == 0 && (h->sendq_head || h->woff < h->wlen))
    nbd_internal_wake_pollers (h);
  return r;
}

int
nbd_internal_on_writable (struct nbd_handle *h)
{
  if (h->state == ST_CONNECTING) {
    return nbd_internal_connect_progress (h);
  }
  if (h->state == ST_HS_TLS)
    return tls_progress (h);
  return nbd_internal_flush (h);
}
