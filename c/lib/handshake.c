/* handshake.c: the handshake parser.  It consumes whole server messages
 * from a byte buffer and queues the client's answers in h->wbuf, so it
 * never touches the socket (and can be fed bytes directly by a fuzzer). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Queues client handshake bytes; socket.c sends them. */
int
nbd_internal_wbuf_append (struct nbd_handle *h, const void *p, size_t n)
{
  if (h->woff == h->wlen)
    h->woff = h->wlen = 0;
  if (h->wlen + n > h->wcap) {
    size_t ncap = (h->wlen + n) * 2;
    uint8_t *w = realloc (h->wbuf, ncap);
    if (!w) {
      set_error (ENOMEM, "out of memory");
      return -1;
    }
    h->wbuf = w;
    h->wcap = ncap;
  }
  memcpy (h->wbuf + h->wlen, p, n);
  h->wlen += n;
  return 0;
}


static void next_auto_option (struct nbd_handle *h);
static void option_finished (struct nbd_handle *h, int err, const char *msg);

static const char *
option_name (uint32_t opt)
{
  switch (opt) {
  case NBD_OPT_EXPORT_NAME: return "NBD_OPT_EXPORT_NAME";
  case NBD_OPT_ABORT: return "NBD_OPT_ABORT";
  case NBD_OPT_LIST: return "NBD_OPT_LIST";
  case NBD_OPT_STARTTLS: return "NBD_OPT_STARTTLS";
  case NBD_OPT_INFO: return "NBD_OPT_INFO";
  case NBD_OPT_GO: return "NBD_OPT_GO";
  case NBD_OPT_STRUCTURED_REPLY: return "NBD_OPT_STRUCTURED_REPLY";
  case NBD_OPT_LIST_META_CONTEXT: return "NBD_OPT_LIST_META_CONTEXT";
  case NBD_OPT_SET_META_CONTEXT: return "NBD_OPT_SET_META_CONTEXT";
  case NBD_OPT_EXTENDED_HEADERS: return "NBD_OPT_EXTENDED_HEADERS";
  default: return "unknown option";
  }
}

void
nbd_internal_reset_info (struct nbd_handle *h)
{
  h->have_info = false;
  h->size = 0;
  h->eflags = 0;
  h->block_min = h->block_pref = h->block_max = 0;
  free (h->canonical_name); h->canonical_name = NULL;
  free (h->description); h->description = NULL;
}

static void
reset_meta (struct nbd_handle *h)
{
  size_t i;
  for (i = 0; i < h->nr_meta; i++) free (h->meta[i].name);
  free (h->meta);
  h->meta = NULL;
  h->nr_meta = 0;
  h->meta_valid = false;
}

void
nbd_internal_forget_export (struct nbd_handle *h)
{
  nbd_internal_reset_info (h);
  reset_meta (h);
}

void
nbd_internal_start_handshake (struct nbd_handle *h)
{
  nbd_internal_set_state (h, ST_HS_MAGIC);
  h->rstart = h->rend = 0;
  h->wlen = h->woff = 0;
  h->rphase = RP_HEADER;
  h->rhdr_len = 0;
  debug (h, "connected, starting the handshake");
}

/* Queues one option request: IHAVEOPT, option, length, data. */
int
nbd_internal_queue_option (struct nbd_handle *h, uint32_t opt, const void *data, size_t len)
{
  uint8_t hdr[NBD_OPT_HEADER_SIZE];

  be64_put (hdr, NBD_IHAVEOPT);
  be32_put (hdr + 8, opt);
  be32_put (hdr + 12, (uint32_t) len);
  if (nbd_internal_wbuf_append (h, hdr, sizeof hdr) == -1 ||
      (len && nbd_internal_wbuf_append (h, data, len) == -1))
    return -1;
  h->opt_current = opt;
  h->chunks_sent++;
  nbd_internal_set_state (h, opt == NBD_OPT_EXPORT_NAME ? ST_HS_EXPORT_NAME : ST_HS_OPT_REPLY);
  debug (h, "sending %s", option_name (opt));
  return 0;
}

/* Builds the payload shared by GO and INFO: name, then the info requests. */
static int
send_go_or_info (struct nbd_handle *h, uint32_t opt)
{
  size_t nlen = strlen (h->export_name);
  uint8_t buf[4 + NBD_MAX_STRING + 2 + 3 * 2];
  size_t p = 0;
  uint16_t nreq = 0;
  uint8_t *nreq_at;

  be32_put (buf, (uint32_t) nlen); p += 4;
  memcpy (buf + p, h->export_name, nlen); p += nlen;
  nreq_at = buf + p; p += 2;
  if (h->full_info) {
    be16_put (buf + p, NBD_INFO_NAME); p += 2; nreq++;
    be16_put (buf + p, NBD_INFO_DESCRIPTION); p += 2; nreq++;
  }
  if (h->request_block_size) {
    be16_put (buf + p, NBD_INFO_BLOCK_SIZE); p += 2; nreq++;
  }
  be16_put (nreq_at, nreq);
  nbd_internal_reset_info (h);
  return nbd_internal_queue_option (h, opt, buf, p);
}

/* Remembers the queries sent, to check the server's replies against. */
static int
remember_queries (struct nbd_handle *h, char **list, size_t n)
{
  char **copy = calloc (n ? n : 1, sizeof *copy);
  size_t i;

  if (!copy)
    return -1;
  for (i = 0; i < n; i++)
    if (!(copy[i] = strdup (list[i]))) {
      while (i > 0) free (copy[--i]);
      free (copy);
      return -1;
    }
  for (i = 0; i < h->nr_sent_meta; i++) free (h->sent_meta[i]);
  free (h->sent_meta);
  h->sent_meta = copy;
  h->nr_sent_meta = n;
  return 0;
}

/* SET_META_CONTEXT / LIST_META_CONTEXT payload: export name + queries
 * (the list of a *_queries call, else the nbd_add_meta_context list). */
static int
send_meta_context (struct nbd_handle *h, uint32_t opt)
{
  char **list = h->opt_queries ? h->opt_queries : h->req_meta;
  size_t n = h->opt_queries ? h->nr_opt_queries : h->nr_req_meta;
  size_t nlen = strlen (h->export_name), total, i, p = 0;
  uint8_t *buf;
  int r;

  total = 4 + nlen + 4;
  for (i = 0; i < n; i++)
    total += 4 + strlen (list[i]);
  buf = malloc (total);
  if (!buf || remember_queries (h, list, n) == -1) {
    free (buf);
    nbd_internal_parse_fail (h, ENOMEM, "out of memory");
    return -1;
  }
  be32_put (buf, (uint32_t) nlen); p += 4;
  memcpy (buf + p, h->export_name, nlen); p += nlen;
  be32_put (buf + p, (uint32_t) n); p += 4;
  for (i = 0; i < n; i++) {
    size_t l = strlen (list[i]);
    be32_put (buf + p, (uint32_t) l); p += 4;
    memcpy (buf + p, list[i], l); p += l;
  }
  if (opt == NBD_OPT_SET_META_CONTEXT)
    reset_meta (h);
  r = nbd_internal_queue_option (h, opt, buf, p);
  free (buf);
  return r;
}

static void
send_export_name (struct nbd_handle *h)
{
  nbd_internal_reset_info (h);
  nbd_internal_queue_option (h, NBD_OPT_EXPORT_NAME, h->export_name, strlen (h->export_name));
}

/* Starts the SET_META_CONTEXT (if wanted) + GO/INFO sequence. */
static void
start_export_sequence (struct nbd_handle *h, uint32_t final)
{
  h->opt_final = final;
  if (h->sr_negotiated && h->nr_req_meta > 0 && h->request_meta)
    send_meta_context (h, NBD_OPT_SET_META_CONTEXT);
  else {
    /* With nbd_set_request_meta_context off, the contexts an explicit
     * nbd_opt_set_meta_context(_queries) agreed stay in use. */
    if (!(h->sr_negotiated && !h->request_meta && h->meta_valid))
      reset_meta (h);
    send_go_or_info (h, final);
  }
}

/* After the greeting: what the library negotiates on its own. */
static void
next_auto_option (struct nbd_handle *h)
{
  /* TLS first, so that nothing else is negotiated in plaintext. */
  if (h->tls != LIBNBD_TLS_DISABLE && !h->tls_tried && nbd_internal_tls_available ()) {
    h->tls_tried = true;
    nbd_internal_queue_option (h, NBD_OPT_STARTTLS, NULL, 0);
    return;
  }
  /* Extended headers imply structured replies, so they are asked for
   * first; a refusal falls back to NBD_OPT_STRUCTURED_REPLY
   * (option_finished).  request_eh means nothing without request_sr. */
  if (h->request_sr && h->request_eh) {
    nbd_internal_queue_option (h, NBD_OPT_EXTENDED_HEADERS, NULL, 0);
    return;
  }
  if (h->request_sr) {
    nbd_internal_queue_option (h, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    return;
  }
  if (h->opt_mode) {
    nbd_internal_set_state (h, ST_NEGOTIATING);
    h->opt_current = 0;
    return;
  }
  start_export_sequence (h, NBD_OPT_GO);
}

static void
enter_transmission (struct nbd_handle *h)
{
  nbd_internal_set_state (h, ST_TRANSMISSION);
  h->opt_current = 0;
  h->rphase = RP_HEADER;
  h->rhdr_len = 0;
  debug (h, "negotiation finished: size %llu, flags 0x%x, %s replies",
         (unsigned long long) h->size, h->eflags,
         h->eh_negotiated ? "extended" : h->sr_negotiated ? "structured" : "simple");
}

/* Ends the user's option call (opt mode), reporting err to its callback. */
static void
finish_user_option (struct nbd_handle *h, int err, const char *msg)
{
  int e = err;

  h->opt_err = err;
  free (h->opt_err_msg);
  h->opt_err_msg = msg ? strdup (msg) : NULL;
  h->opt_done = true;
  h->opt_user = false;
  if (h->opt_completion.callback)
    h->opt_completion.callback (h->opt_completion.user_data, &e);
  FREE_CALLBACK (h->opt_completion);
  FREE_CALLBACK (h->opt_list_cb);
  FREE_CALLBACK (h->opt_ctx_cb);
}

static void
option_finished (struct nbd_handle *h, int err, const char *msg)
{
  uint32_t opt = h->opt_current;

  h->opt_current = 0;
  switch (opt) {
  case NBD_OPT_STARTTLS:
    if (err == 0) {
      if (h->tls_negotiated) {
        nbd_internal_parse_fail (h, EPROTO, "server accepted NBD_OPT_STARTTLS on a "
                                 "connection that is already encrypted");
        return;
      }
      /* The socket layer runs the TLS handshake, then calls
       * nbd_internal_handshake_tls_done. */
      nbd_internal_set_state (h, ST_HS_TLS);
      return;
    }
    if (h->opt_user) {
      /* nbd_opt_starttls: a refusal is the answer false. */
      nbd_internal_set_state (h, ST_NEGOTIATING);
      finish_user_option (h, err, msg);
      return;
    }
    if (h->tls == LIBNBD_TLS_REQUIRE) {
      /* Never a silent downgrade.  msg reads "server replied with error
       * to NBD_OPT_STARTTLS: <reason>"; only the reason is worth repeating. */
      const char *why = msg ? strstr (msg, "NBD_OPT_STARTTLS: ") : NULL;
      nbd_internal_parse_fail (h, ENOTSUP, "TLS is required, but the server refused to "
                               "start it (the server's reply: %s)",
                               why ? why + 18 : msg ? msg : "no reason given");
      return;
    }
    debug (h, "server refused TLS; going on without it (LIBNBD_TLS_ALLOW)");
    next_auto_option (h);
    return;

  case NBD_OPT_EXTENDED_HEADERS:
  case NBD_OPT_STRUCTURED_REPLY:
    /* Sticky, as libnbd: a server may refuse a repeated request (or
     * structured replies once extended headers are on) as redundant. */
    if (err == 0) {
      h->sr_negotiated = true;
      if (opt == NBD_OPT_EXTENDED_HEADERS)
        h->eh_negotiated = true;
    }
    if (h->opt_user) {
      /* nbd_opt_structured_reply / nbd_opt_extended_headers: a refusal
       * is an answer (false), not an error. */
      nbd_internal_set_state (h, ST_NEGOTIATING);
      h->opt_acked = err == 0;
      finish_user_option (h, 0, NULL);
      return;
    }
    if (opt == NBD_OPT_EXTENDED_HEADERS && err) {
      nbd_internal_queue_option (h, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
      return;
    }
    if (h->opt_mode) {
      nbd_internal_set_state (h, ST_NEGOTIATING);
      return;
    }
    start_export_sequence (h, NBD_OPT_GO);
    return;

  case NBD_OPT_SET_META_CONTEXT:
    h->meta_valid = err == 0;
    if (h->opt_final == NBD_OPT_SET_META_CONTEXT) {
      /* nbd_opt_set_meta_context(_queries): the user's own option. */
      nbd_internal_set_state (h, ST_NEGOTIATING);
      finish_user_option (h, err, msg);
      return;
    }
    /* A server without meta context support is not fatal: block status
     * simply stays unavailable. */
    send_go_or_info (h, h->opt_final);
    return;

  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    if (err == 0) {
      if (opt == NBD_OPT_GO) {
        enter_transmission (h);
        if (h->opt_user) finish_user_option (h, 0, NULL);
      }
      else {
        nbd_internal_set_state (h, ST_NEGOTIATING);
        finish_user_option (h, 0, NULL);
      }
      return;
    }
    nbd_internal_reset_info (h);
    if (h->opt_user) {
      nbd_internal_set_state (h, ST_NEGOTIATING);
      finish_user_option (h, err, msg);
      return;
    }
    nbd_internal_parse_fail (h, err, "%s", msg);
    return;

  case NBD_OPT_LIST:
    /* As libnbd: a server that will not list its exports (whatever error
     * it gave) means listing is not supported. */
    nbd_internal_set_state (h, ST_NEGOTIATING);
    finish_user_option (h, err ? ENOTSUP : 0, msg);
    return;
  case NBD_OPT_LIST_META_CONTEXT:
    nbd_internal_set_state (h, ST_NEGOTIATING);
    finish_user_option (h, err, msg);
    return;

  case NBD_OPT_ABORT:
    h->parse_closed = true;   /* the feeder closes (apply_parse_result) */
    if (h->opt_user) finish_user_option (h, 0, NULL);
    return;
  }
}

static int
rep_errno (uint32_t type)
{
  switch (type) {
  case NBD_REP_ERR_UNSUP: return ENOTSUP;
  case NBD_REP_ERR_POLICY: return EPERM;
  case NBD_REP_ERR_INVALID: return EINVAL;
  case NBD_REP_ERR_PLATFORM: return EOPNOTSUPP;
  case NBD_REP_ERR_TLS_REQD: return ENOTSUP;
  case NBD_REP_ERR_UNKNOWN: return ENOENT;
  case NBD_REP_ERR_SHUTDOWN: return ESHUTDOWN;
  case NBD_REP_ERR_BLOCK_SIZE_REQD: return EINVAL;
  case NBD_REP_ERR_TOO_BIG: return ERANGE;
  case NBD_REP_ERR_EXT_HEADER_REQD: return ENOTSUP;
  default: return EINVAL;
  }
}

/* Largest payload we accept for each option reply type (protocol strings
 * are at most 4096 bytes); checked before waiting for the payload. */
static int64_t
reply_limit (uint32_t type)
{
  switch (type) {
  case NBD_REP_ACK: return 0;
  case NBD_REP_SERVER: return 4 + 2 * NBD_MAX_STRING;
  case NBD_REP_INFO: return 2 + NBD_MAX_STRING;
  case NBD_REP_META_CONTEXT: return 4 + NBD_MAX_STRING;
  default:
    if (type & NBD_REP_ERR_BIT) return NBD_MAX_STRING;
    return -1;
  }
}

static bool
valid_block_sizes (uint32_t min, uint32_t pref, uint32_t max)
{
  if (min == 0 || min > 65536 || (min & (min - 1))) return false;
  if (pref < 512 || pref < min || (pref & (pref - 1))) return false;
  if (max < pref && max != 0xffffffff) return false;
  if (max != 0xffffffff && max % min) return false;
  return true;
}

static bool
meta_name_requested (struct nbd_handle *h, const char *name)
{
  size_t i;
  for (i = 0; i < h->nr_sent_meta; i++) {
    const char *q = h->sent_meta[i];
    size_t ql = strlen (q);
    if (strcmp (q, name) == 0) return true;
    /* A query ending in ':' asks for a whole namespace. */
    if (ql > 0 && q[ql - 1] == ':' && strncmp (q, name, ql) == 0) return true;
  }
  return false;
}

/* One complete option reply.  Returns 0, or -1 when the handle died. */
static int
process_option_reply (struct nbd_handle *h, uint32_t type, const uint8_t *data, uint32_t len)
{
  uint32_t opt = h->opt_current;
  const char *oname = option_name (opt);

  if (type & NBD_REP_ERR_BIT) {
    char msg[NBD_MAX_STRING + 128];
    int err = rep_errno (type);
    int n = type == NBD_REP_ERR_TLS_REQD
      ? snprintf (msg, sizeof msg, "handshake: server requires TLS encryption first")
      : snprintf (msg, sizeof msg, "server replied with error to %s: %s", oname, strerror (err));
    if (len > 0)
      snprintf (msg + n, sizeof msg - n, ": %.*s", (int) len, (const char *) data);
    debug (h, "%s", msg);
    if (opt == NBD_OPT_ABORT) { option_finished (h, 0, NULL); return 0; }
    if (opt == NBD_OPT_GO && type == NBD_REP_ERR_UNSUP && h->eh_negotiated) {
      /* NBD_OPT_EXPORT_NAME is forbidden once extended headers are on,
       * and the protocol forbids this answer then. */
      nbd_internal_parse_fail (h, EPROTO, "server refused NBD_OPT_GO as unsupported "
                               "after agreeing to extended headers");
      return -1;
    }
    if (opt == NBD_OPT_GO && type == NBD_REP_ERR_UNSUP) {
      /* Old server: fall back to NBD_OPT_EXPORT_NAME. */
      debug (h, "server lacks NBD_OPT_GO, falling back to NBD_OPT_EXPORT_NAME");
      send_export_name (h);
      return 0;
    }
    option_finished (h, err, msg);
    return h->parse_errno ? -1 : 0;
  }

  switch (type) {
  case NBD_REP_ACK:
    if ((opt == NBD_OPT_GO || opt == NBD_OPT_INFO) && !h->have_info) {
      nbd_internal_parse_fail (h, EPROTO, "server acknowledged %s without sending NBD_INFO_EXPORT", oname);
      return -1;
    }
    option_finished (h, 0, NULL);
    return 0;

  case NBD_REP_SERVER: {
    uint32_t nlen;
    char name[NBD_MAX_STRING + 1], desc[NBD_MAX_STRING + 1];
    if (opt != NBD_OPT_LIST) break;
    if (len < 4) goto bad_length;
    nlen = be32_get (data);
    if (nlen > len - 4 || nlen > NBD_MAX_STRING || len - 4 - nlen > NBD_MAX_STRING)
      goto bad_length;
    memcpy (name, data + 4, nlen); name[nlen] = 0;
    memcpy (desc, data + 4 + nlen, len - 4 - nlen); desc[len - 4 - nlen] = 0;
    h->opt_count++;
    if (h->opt_list_cb.callback)
      h->opt_list_cb.callback (h->opt_list_cb.user_data, name, desc);
    return 0;
  }

  case NBD_REP_INFO: {
    uint16_t itype;
    if (opt != NBD_OPT_GO && opt != NBD_OPT_INFO) break;
    if (len < 2) goto bad_length;
    itype = be16_get (data);
    switch (itype) {
    case NBD_INFO_EXPORT:
      if (len != 12) goto bad_length;
      h->size = be64_get (data + 2);
      h->eflags = be16_get (data + 10);
      if (!(h->eflags & NBD_FLAG_HAS_FLAGS)) {
        nbd_internal_parse_fail (h, EPROTO, "server export flags 0x%x lack NBD_FLAG_HAS_FLAGS", h->eflags);
        return -1;
      }
      if (h->size > INT64_MAX) {
        nbd_internal_parse_fail (h, EPROTO, "server export size %llu is too large", (unsigned long long) h->size);
        return -1;
      }
      h->have_info = true;
      return 0;
    case NBD_INFO_NAME:
    case NBD_INFO_DESCRIPTION: {
      char **slot = itype == NBD_INFO_NAME ? &h->canonical_name : &h->description;
      char *s = malloc (len - 2 + 1);
      if (!s) { nbd_internal_parse_fail (h, ENOMEM, "out of memory"); return -1; }
      memcpy (s, data + 2, len - 2); s[len - 2] = 0;
      free (*slot);
      *slot = s;
      return 0;
    }
    case NBD_INFO_BLOCK_SIZE: {
      uint32_t mn, pf, mx;
      if (len != 14) goto bad_length;
      mn = be32_get (data + 2); pf = be32_get (data + 6); mx = be32_get (data + 10);
      if (!valid_block_sizes (mn, pf, mx)) {
        nbd_internal_parse_fail (h, EPROTO, "server sent invalid block sizes: minimum %u, preferred %u, maximum %u",
                  mn, pf, mx);
        return -1;
      }
      h->block_min = mn; h->block_pref = pf; h->block_max = mx;
      return 0;
    }
    default:
      debug (h, "ignoring unknown NBD_INFO type %u", itype);
      return 0;
    }
  }

  case NBD_REP_META_CONTEXT: {
    char name[NBD_MAX_STRING + 1];
    uint32_t id;
    if (opt != NBD_OPT_SET_META_CONTEXT && opt != NBD_OPT_LIST_META_CONTEXT) break;
    if (len < 5) goto bad_length;
    id = be32_get (data);
    memcpy (name, data + 4, len - 4); name[len - 4] = 0;
    if (strlen (name) != len - 4) {
      nbd_internal_parse_fail (h, EPROTO, "server sent a meta context name containing a NUL byte");
      return -1;
    }
    if (opt == NBD_OPT_LIST_META_CONTEXT) {
      h->opt_count++;
      if (h->opt_ctx_cb.callback)
        h->opt_ctx_cb.callback (h->opt_ctx_cb.user_data, name);
      return 0;
    }
    if (!meta_name_requested (h, name)) {
      nbd_internal_parse_fail (h, EPROTO, "server replied with meta context '%s' that was not requested", name);
      return -1;
    }
    {
      size_t i;
      struct meta_context *m;
      for (i = 0; i < h->nr_meta; i++)
        if (h->meta[i].id == id || strcmp (h->meta[i].name, name) == 0) {
          nbd_internal_parse_fail (h, EPROTO, "server sent meta context '%s' (id %u) twice", name, id);
          return -1;
        }
      m = realloc (h->meta, (h->nr_meta + 1) * sizeof *m);
      if (!m) { nbd_internal_parse_fail (h, ENOMEM, "out of memory"); return -1; }
      h->meta = m;
      m[h->nr_meta].id = id;
      m[h->nr_meta].name = strdup (name);
      if (!m[h->nr_meta].name) { nbd_internal_parse_fail (h, ENOMEM, "out of memory"); return -1; }
      h->nr_meta++;
      debug (h, "negotiated meta context %s with id %u", name, id);
      if (h->opt_user && h->opt_final == NBD_OPT_SET_META_CONTEXT) {
        h->opt_count++;
        if (h->opt_ctx_cb.callback)
          h->opt_ctx_cb.callback (h->opt_ctx_cb.user_data, name);
      }
    }
    return 0;
  }
  }

  nbd_internal_parse_fail (h, EPROTO, "server sent unexpected reply type %u to %s", type, oname);
  return -1;

 bad_length:
  nbd_internal_parse_fail (h, EPROTO, "server sent reply type %u to %s with invalid length %u", type, oname, len);
  return -1;
}

ssize_t
nbd_internal_handshake_consume (struct nbd_handle *h, const uint8_t *p, size_t n)
{
  switch (h->state) {
  case ST_HS_MAGIC: {
    uint64_t m2;
    if (n < 16) return 0;
    if (be64_get (p) != NBD_MAGIC) {
      nbd_internal_parse_fail (h, EPROTO, "handshake: server did not send NBDMAGIC (not an NBD server?)");
      return -1;
    }
    m2 = be64_get (p + 8);
    if (m2 == NBD_IHAVEOPT)
      nbd_internal_set_state (h, ST_HS_GFLAGS);
    else if (m2 == NBD_OLDSTYLE_MAGIC)
      nbd_internal_set_state (h, ST_HS_OLDSTYLE);
    else {
      nbd_internal_parse_fail (h, EPROTO, "handshake: unknown second magic 0x%llx", (unsigned long long) m2);
      return -1;
    }
    return 16;
  }

  case ST_HS_OLDSTYLE: {
    uint32_t flags;
    if (n < NBD_OLDSTYLE_REST_SIZE) return 0;
    if (h->tls == LIBNBD_TLS_REQUIRE) {
      nbd_internal_parse_fail (h, ENOTSUP, "TLS is required, but the server speaks the "
                               "oldstyle protocol (which has no TLS)");
      return -1;
    }
    h->protocol = "oldstyle";
    h->size = be64_get (p);
    flags = be32_get (p + 8);
    h->gflags = flags >> 16;
    h->eflags = flags & 0xffff;
    if (!(h->eflags & NBD_FLAG_HAS_FLAGS)) {
      nbd_internal_parse_fail (h, EPROTO, "oldstyle server export flags 0x%x lack NBD_FLAG_HAS_FLAGS", h->eflags);
      return -1;
    }
    if (h->size > INT64_MAX) {
      nbd_internal_parse_fail (h, EPROTO, "server export size is too large");
      return -1;
    }
    h->have_info = true;
    enter_transmission (h);
    return NBD_OLDSTYLE_REST_SIZE;
  }

  case ST_HS_GFLAGS: {
    uint32_t cflags = 0;
    uint8_t buf[4];
    if (n < 2) return 0;
    h->gflags = be16_get (p);
    if ((h->gflags & NBD_FLAG_FIXED_NEWSTYLE) &&
        (h->handshake_flags & LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE))
      cflags |= NBD_FLAG_C_FIXED_NEWSTYLE;
    if ((h->gflags & NBD_FLAG_NO_ZEROES) &&
        (h->handshake_flags & LIBNBD_HANDSHAKE_FLAG_NO_ZEROES))
      cflags |= NBD_FLAG_C_NO_ZEROES;
    h->gflags = (h->gflags & ~(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)) | cflags;
    be32_put (buf, cflags);
    if (nbd_internal_wbuf_append (h, buf, 4) == -1) return -1;
    if (cflags & NBD_FLAG_C_FIXED_NEWSTYLE) {
      h->protocol = "newstyle-fixed";
      next_auto_option (h);
    }
    else if (h->tls == LIBNBD_TLS_REQUIRE) {
      nbd_internal_parse_fail (h, ENOTSUP, "TLS is required, but the server does not "
                               "speak fixed newstyle negotiation (so it cannot start TLS)");
      return -1;
    }
    else {
      /* Plain newstyle only knows NBD_OPT_EXPORT_NAME. */
      h->protocol = "newstyle";
      send_export_name (h);
    }
    return h->parse_errno ? -1 : 2;
  }

  case ST_HS_OPT_REPLY: {
    uint32_t opt, type, len;
    int64_t limit;
    if (n < NBD_OPT_REPLY_HEADER_SIZE) return 0;
    if (be64_get (p) != NBD_REP_MAGIC) {
      nbd_internal_parse_fail (h, EPROTO, "handshake: option reply has a bad magic");
      return -1;
    }
    opt = be32_get (p + 8);
    type = be32_get (p + 12);
    len = be32_get (p + 16);
    if (opt != h->opt_current) {
      nbd_internal_parse_fail (h, EPROTO, "handshake: server replied to option %u, but %s was sent",
                opt, option_name (h->opt_current));
      return -1;
    }
    limit = reply_limit (type);
    if (limit < 0) {
      nbd_internal_parse_fail (h, EPROTO, "handshake: unknown reply type %u to %s", type, option_name (opt));
      return -1;
    }
    if (len > limit) {
      nbd_internal_parse_fail (h, EPROTO, "handshake: reply type %u to %s has length %u (at most %lld allowed)",
                type, option_name (opt), len, (long long) limit);
      return -1;
    }
    if (n < NBD_OPT_REPLY_HEADER_SIZE + (size_t) len) return 0;
    h->chunks_received++;
    if (process_option_reply (h, type, p + NBD_OPT_REPLY_HEADER_SIZE, len) == -1)
      return -1;
    return NBD_OPT_REPLY_HEADER_SIZE + len;
  }

  case ST_HS_EXPORT_NAME: {
    size_t need = 10 + ((h->gflags & NBD_FLAG_NO_ZEROES) ? 0 : 124);
    if (n < need) return 0;
    h->size = be64_get (p);
    h->eflags = be16_get (p + 8);
    if (!(h->eflags & NBD_FLAG_HAS_FLAGS)) {
      nbd_internal_parse_fail (h, EPROTO, "server export flags 0x%x lack NBD_FLAG_HAS_FLAGS", h->eflags);
      return -1;
    }
    if (h->size > INT64_MAX) {
      nbd_internal_parse_fail (h, EPROTO, "server export size is too large");
      return -1;
    }
    h->have_info = true;
    enter_transmission (h);
    if (h->opt_user) finish_user_option (h, 0, NULL);
    return need;
  }

  default:
    return 0;
  }
}

void
nbd_internal_handshake_tls_done (struct nbd_handle *h)
{
  h->tls_negotiated = true;
  /* Nothing agreed or learned in plaintext is trusted once encrypted
   * (the NBD protocol's STARTTLS rule): it is negotiated again. */
  h->sr_negotiated = false;
  h->eh_negotiated = false;
  nbd_internal_forget_export (h);
  if (h->opt_user) {
    nbd_internal_set_state (h, ST_NEGOTIATING);
    finish_user_option (h, 0, NULL);
    return;
  }
  next_auto_option (h);
}

/* ---- user option calls (opt mode) ------------------------------------------ */
int
nbd_internal_begin_user_option (struct nbd_handle *h, uint32_t opt)
{
  h->opt_user = true;
  h->opt_done = false;
  h->opt_acked = false;
  h->opt_err = 0;
  h->opt_count = 0;
  free (h->opt_err_msg);
  h->opt_err_msg = NULL;
  switch (opt) {
  case NBD_OPT_GO:
  case NBD_OPT_INFO:
    start_export_sequence (h, opt);
    break;
  case NBD_OPT_LIST:
    nbd_internal_queue_option (h, NBD_OPT_LIST, NULL, 0);
    break;
  case NBD_OPT_LIST_META_CONTEXT:
    send_meta_context (h, NBD_OPT_LIST_META_CONTEXT);
    break;
  case NBD_OPT_SET_META_CONTEXT:
    h->opt_final = NBD_OPT_SET_META_CONTEXT;
    send_meta_context (h, NBD_OPT_SET_META_CONTEXT);
    break;
  case NBD_OPT_ABORT:
  case NBD_OPT_STRUCTURED_REPLY:
  case NBD_OPT_STARTTLS:
  case NBD_OPT_EXTENDED_HEADERS:
    nbd_internal_queue_option (h, opt, NULL, 0);
    break;
  }
  return h->parse_errno ? -1 : 0;
}
