/* opt.c: option-negotiation mode (nbd_set_opt_mode) and the meta context
 * list the client asks for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool
user_option_done (const struct nbd_handle *h)
{
  return h->opt_done || h->state == ST_DEAD || h->state == ST_CLOSED;
}

/* Runs one user option to completion: 0 if the server accepted it, -1
 * with the error set (the server's refusal, or the connection's death). */
static int
run_option (struct nbd_handle *h, uint32_t opt)
{
  if (nbd_internal_begin_user_option (h, opt) == -1) {
    nbd_internal_apply_parse_result (h);
    return -1;
  }
  if (nbd_internal_flush (h) == -1)
    return -1;
  if (nbd_internal_wait_until (h, user_option_done) == -1)
    return -1;
  if (h->state == ST_DEAD) {
    set_error (h->dead_errno, "%s", h->dead_msg ? h->dead_msg : "connection failed");
    return -1;
  }
  if (h->opt_err) {
    set_error (h->opt_err, "%s", h->opt_err_msg ? h->opt_err_msg : strerror (h->opt_err));
    return -1;
  }
  return 0;
}

/* The handle keeps the option's closures until the option finishes. */
static void
take_opt_callbacks (struct nbd_handle *h, nbd_completion_callback *completion,
                    nbd_list_callback *list, nbd_context_callback *ctx)
{
  if (completion) TAKE_CALLBACK (h->opt_completion, completion);
  if (list) TAKE_CALLBACK (h->opt_list_cb, list);
  if (ctx) TAKE_CALLBACK (h->opt_ctx_cb, ctx);
}

/* The shared shape of every nbd_opt_* and nbd_aio_opt_* call; the wrapper
 * has checked the state (negotiating) and the arguments, and frees the
 * closures this does not keep. */
static int
opt_call (struct nbd_handle *h, uint32_t opt, bool sync,
          nbd_completion_callback *completion, nbd_list_callback *list,
          nbd_context_callback *ctx)
{
  int r;

  /* Only SET needs structured replies (the protocol lets a client list
   * contexts without them; libnbd 1.16 and later ask the server). */
  if (opt == NBD_OPT_SET_META_CONTEXT && !h->sr_negotiated) {
    set_error (ENOTSUP, "server does not support structured replies, "
               "so it cannot set meta contexts");
    return -1;
  }
  take_opt_callbacks (h, completion, list, ctx);
  if (sync) {
    r = run_option (h, opt);
    if (r == 0 && (opt == NBD_OPT_LIST || opt == NBD_OPT_LIST_META_CONTEXT ||
                   opt == NBD_OPT_SET_META_CONTEXT))
      r = h->opt_count;
  }
  else {
    r = nbd_internal_begin_user_option (h, opt);
    if (r == -1)
      nbd_internal_apply_parse_result (h);
    else
      nbd_internal_flush (h);
  }
  return r;
}

int
nbd_unlocked_opt_go (struct nbd_handle *h)
{
  return opt_call (h, NBD_OPT_GO, true, NULL, NULL, NULL);
}

int
nbd_unlocked_opt_info (struct nbd_handle *h)
{
  return opt_call (h, NBD_OPT_INFO, true, NULL, NULL, NULL);
}

int
nbd_unlocked_opt_abort (struct nbd_handle *h)
{
  return opt_call (h, NBD_OPT_ABORT, true, NULL, NULL, NULL);
}

int
nbd_unlocked_opt_list (struct nbd_handle *h, nbd_list_callback *list)
{
  return opt_call (h, NBD_OPT_LIST, true, NULL, list, NULL);
}

int
nbd_unlocked_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback *ctx)
{
  return opt_call (h, NBD_OPT_LIST_META_CONTEXT, true, NULL, NULL, ctx);
}

int
nbd_unlocked_aio_opt_go (struct nbd_handle *h, nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_GO, false, completion, NULL, NULL);
}

int
nbd_unlocked_aio_opt_info (struct nbd_handle *h, nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_INFO, false, completion, NULL, NULL);
}

int
nbd_unlocked_aio_opt_abort (struct nbd_handle *h)
{
  return opt_call (h, NBD_OPT_ABORT, false, NULL, NULL, NULL);
}

int
nbd_unlocked_aio_opt_list (struct nbd_handle *h, nbd_list_callback *list,
                           nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_LIST, false, completion, list, NULL);
}

int
nbd_unlocked_aio_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback *ctx,
                                        nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_LIST_META_CONTEXT, false, completion, NULL, ctx);
}

/* libnbd 1.16: the meta context calls with an explicit list of queries
 * (instead of the nbd_add_meta_context list), and SET_META_CONTEXT by hand
 * in option mode.  The list is only read while the option is queued. */
static int
with_queries (struct nbd_handle *h, char **queries, uint32_t opt, bool sync,
              nbd_completion_callback *completion, nbd_context_callback *ctx)
{
  size_t n = 0;
  int r;

  if (queries)
    while (queries[n]) n++;
  h->opt_queries = queries;
  h->nr_opt_queries = n;
  r = opt_call (h, opt, sync, completion, NULL, ctx);
  h->opt_queries = NULL;
  h->nr_opt_queries = 0;
  return r;
}

int
nbd_unlocked_opt_list_meta_context_queries (struct nbd_handle *h, char **queries,
                                            nbd_context_callback *ctx)
{
  return with_queries (h, queries, NBD_OPT_LIST_META_CONTEXT, true, NULL, ctx);
}

int
nbd_unlocked_aio_opt_list_meta_context_queries (struct nbd_handle *h, char **queries,
                                                nbd_context_callback *ctx,
                                                nbd_completion_callback *completion)
{
  return with_queries (h, queries, NBD_OPT_LIST_META_CONTEXT, false, completion, ctx);
}

int
nbd_unlocked_opt_set_meta_context (struct nbd_handle *h, nbd_context_callback *ctx)
{
  return with_queries (h, NULL, NBD_OPT_SET_META_CONTEXT, true, NULL, ctx);
}

int
nbd_unlocked_aio_opt_set_meta_context (struct nbd_handle *h, nbd_context_callback *ctx,
                                       nbd_completion_callback *completion)
{
  return with_queries (h, NULL, NBD_OPT_SET_META_CONTEXT, false, completion, ctx);
}

int
nbd_unlocked_opt_set_meta_context_queries (struct nbd_handle *h, char **queries,
                                           nbd_context_callback *ctx)
{
  return with_queries (h, queries, NBD_OPT_SET_META_CONTEXT, true, NULL, ctx);
}

int
nbd_unlocked_aio_opt_set_meta_context_queries (struct nbd_handle *h, char **queries,
                                               nbd_context_callback *ctx,
                                               nbd_completion_callback *completion)
{
  return with_queries (h, queries, NBD_OPT_SET_META_CONTEXT, false, completion, ctx);
}

/* libnbd 1.16: structured replies asked for by hand in option mode.  The
 * result is whether the server agreed (a refusal is not an error). */
int
nbd_unlocked_opt_structured_reply (struct nbd_handle *h)
{
  if (opt_call (h, NBD_OPT_STRUCTURED_REPLY, true, NULL, NULL, NULL) == -1)
    return -1;
  return h->opt_acked;
}

int
nbd_unlocked_aio_opt_structured_reply (struct nbd_handle *h, nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_STRUCTURED_REPLY, false, completion, NULL, NULL);
}

/* libnbd 1.16: STARTTLS by hand in option mode.  The result is whether
 * the server agreed and the TLS handshake succeeded; a refusal is the
 * answer false (the completion callback of the aio form sees the
 * server's error); a failed TLS handshake kills the connection. */
static int
refuse_without_tls (void)
{
  set_error (ENOTSUP, "%s", NBD_NO_TLS_MSG);
  return -1;
}

int
nbd_unlocked_opt_starttls (struct nbd_handle *h)
{
  if (!nbd_internal_tls_available ())
    return refuse_without_tls ();
  if (opt_call (h, NBD_OPT_STARTTLS, true, NULL, NULL, NULL) == 0)
    return 1;
  return h->state == ST_NEGOTIATING && h->opt_err ? 0 : -1;
}

int
nbd_unlocked_aio_opt_starttls (struct nbd_handle *h, nbd_completion_callback *completion)
{
  if (!nbd_internal_tls_available ())
    return refuse_without_tls ();
  return opt_call (h, NBD_OPT_STARTTLS, false, completion, NULL, NULL);
}

/* libnbd 1.18: extended headers asked for by hand.  True if the server
 * agreed, false if it refused; once agreed, extended headers (and
 * structured replies) stay negotiated even if a later request is
 * refused as redundant. */
int
nbd_unlocked_opt_extended_headers (struct nbd_handle *h)
{
  if (opt_call (h, NBD_OPT_EXTENDED_HEADERS, true, NULL, NULL, NULL) == -1)
    return -1;
  return h->opt_acked;
}

int
nbd_unlocked_aio_opt_extended_headers (struct nbd_handle *h, nbd_completion_callback *completion)
{
  return opt_call (h, NBD_OPT_EXTENDED_HEADERS, false, completion, NULL, NULL);
}

/* ---- requested meta contexts ------------------------------------------- */
int
nbd_unlocked_add_meta_context (struct nbd_handle *h, const char *name)
{
  char **v, *copy;

  if (strlen (name) > NBD_MAX_STRING || name[0] == 0) {
    set_error (strlen (name) ? ENAMETOOLONG : EINVAL,
               "meta context name must be 1 to %d bytes", NBD_MAX_STRING);
    return -1;
  }
  copy = strdup (name);
  v = realloc (h->req_meta, (h->nr_req_meta + 1) * sizeof *v);
  if (!copy || !v) {
    free (copy);
    if (v) h->req_meta = v;
    set_error (ENOMEM, "out of memory");
    return -1;
  }
  h->req_meta = v;
  v[h->nr_req_meta++] = copy;
  return 0;
}

ssize_t
nbd_unlocked_get_nr_meta_contexts (struct nbd_handle *h)
{
  return (ssize_t) h->nr_req_meta;
}

char *
nbd_unlocked_get_meta_context (struct nbd_handle *h, size_t i)
{
  char *r = NULL;

  if (i >= h->nr_req_meta)
    set_error (EINVAL, "meta context request out of range");
  else if (!(r = strdup (h->req_meta[i])))
    set_error (ENOMEM, "out of memory");
  return r;
}

int
nbd_unlocked_clear_meta_contexts (struct nbd_handle *h)
{
  size_t i;

  for (i = 0; i < h->nr_req_meta; i++) free (h->req_meta[i]);
  free (h->req_meta);
  h->req_meta = NULL;
  h->nr_req_meta = 0;
  return 0;
}
