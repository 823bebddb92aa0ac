/* opt.c: option-negotiation mode (nbd_set_opt_mode) and the meta context
 * list the client asks for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool
user_option_done (struct nbd_handle *h)
{
  return h->opt_done || h->state == ST_DEAD || h->state == ST_CLOSED;
}

/* Runs one user option to completion; returns its errno-style result. */
static int
run_option (struct nbd_handle *h, uint32_t opt)
{
  if (nbd_internal_begin_user_option (h, opt) == -1)
    return -1;
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

static void
set_opt_callbacks (struct nbd_handle *h, nbd_completion_callback *completion,
                   nbd_list_callback *list, nbd_context_callback *ctx)
{
  if (completion) h->opt_completion = *completion;
  if (list) h->opt_list_cb = *list;
  if (ctx) h->opt_ctx_cb = *ctx;
}

static void
free_opt_args (nbd_completion_callback *completion, nbd_list_callback *list,
               nbd_context_callback *ctx)
{
  if (completion) FREE_CALLBACK (*completion);
  if (list) FREE_CALLBACK (*list);
  if (ctx) FREE_CALLBACK (*ctx);
}

/* The shared shape of every nbd_opt_* and nbd_aio_opt_* call. */
static int
opt_call (struct nbd_handle *h, const char *name, uint32_t opt, bool sync,
          nbd_completion_callback *completion, nbd_list_callback *list,
          nbd_context_callback *ctx)
{
  int r;

  API_ENTER (h, name);
  if (!nbd_internal_permits (h, PERMIT_NEGOTIATING)) {
    nbd_internal_state_error (h, PERMIT_NEGOTIATING);
    free_opt_args (completion, list, ctx);
    API_LEAVE (h);
    return -1;
  }
  if ((list && !list->callback) || (ctx && !ctx->callback)) {
    set_error (EFAULT, "%s cannot be NULL", list ? "list_callback" : "context_callback");
    free_opt_args (completion, list, ctx);
    API_LEAVE (h);
    return -1;
  }
  if (opt == NBD_OPT_LIST_META_CONTEXT && !h->sr_negotiated) {
    set_error (ENOTSUP, "server does not support structured replies, "
               "so it cannot list meta contexts");
    free_opt_args (completion, list, ctx);
    API_LEAVE (h);
    return -1;
  }
  set_opt_callbacks (h, completion, list, ctx);
  if (sync) {
    r = run_option (h, opt);
    if (r == 0 && (opt == NBD_OPT_LIST || opt == NBD_OPT_LIST_META_CONTEXT))
      r = h->opt_count;
  }
  else {
    r = nbd_internal_begin_user_option (h, opt);
    if (r == 0) nbd_internal_flush (h);
  }
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_opt_go (struct nbd_handle *h)
{
  return opt_call (h, "nbd_opt_go", NBD_OPT_GO, true, NULL, NULL, NULL);
}

NBD_API int
nbd_opt_info (struct nbd_handle *h)
{
  return opt_call (h, "nbd_opt_info", NBD_OPT_INFO, true, NULL, NULL, NULL);
}

NBD_API int
nbd_opt_abort (struct nbd_handle *h)
{
  return opt_call (h, "nbd_opt_abort", NBD_OPT_ABORT, true, NULL, NULL, NULL);
}

NBD_API int
nbd_opt_list (struct nbd_handle *h, nbd_list_callback list)
{
  return opt_call (h, "nbd_opt_list", NBD_OPT_LIST, true, NULL, &list, NULL);
}

NBD_API int
nbd_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback ctx)
{
  return opt_call (h, "nbd_opt_list_meta_context", NBD_OPT_LIST_META_CONTEXT, true,
                   NULL, NULL, &ctx);
}

NBD_API int
nbd_aio_opt_go (struct nbd_handle *h, nbd_completion_callback completion)
{
  return opt_call (h, "nbd_aio_opt_go", NBD_OPT_GO, false, &completion, NULL, NULL);
}

NBD_API int
nbd_aio_opt_info (struct nbd_handle *h, nbd_completion_callback completion)
{
  return opt_call (h, "nbd_aio_opt_info", NBD_OPT_INFO, false, &completion, NULL, NULL);
}

NBD_API int
nbd_aio_opt_abort (struct nbd_handle *h)
{
  return opt_call (h, "nbd_aio_opt_abort", NBD_OPT_ABORT, false, NULL, NULL, NULL);
}

NBD_API int
nbd_aio_opt_list (struct nbd_handle *h, nbd_list_callback list,
                  nbd_completion_callback completion)
{
  return opt_call (h, "nbd_aio_opt_list", NBD_OPT_LIST, false, &completion, &list, NULL);
}

NBD_API int
nbd_aio_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback ctx,
                               nbd_completion_callback completion)
{
  return opt_call (h, "nbd_aio_opt_list_meta_context", NBD_OPT_LIST_META_CONTEXT, false,
                   &completion, NULL, &ctx);
}

/* ---- requested meta contexts ------------------------------------------- */
NBD_API int
nbd_add_meta_context (struct nbd_handle *h, const char *name)
{
  char **v, *copy;

  API_ENTER (h, "nbd_add_meta_context");
  CHECK_STATE (h, PERMIT_CREATED_NEGOTIATING, -1);
  if (!name) { set_error (EFAULT, "name cannot be NULL"); API_LEAVE (h); return -1; }
  if (strlen (name) > NBD_MAX_STRING || name[0] == 0) {
    set_error (strlen (name) ? ENAMETOOLONG : EINVAL,
               "meta context name must be 1 to %d bytes", NBD_MAX_STRING);
    API_LEAVE (h);
    return -1;
  }
  copy = strdup (name);
  v = realloc (h->req_meta, (h->nr_req_meta + 1) * sizeof *v);
  if (!copy || !v) {
    free (copy);
    if (v) h->req_meta = v;
    set_error (ENOMEM, "out of memory");
    API_LEAVE (h);
    return -1;
  }
  h->req_meta = v;
  v[h->nr_req_meta++] = copy;
  API_LEAVE (h);
  return 0;
}

NBD_API ssize_t
nbd_get_nr_meta_contexts (struct nbd_handle *h)
{
  ssize_t r;
  API_ENTER (h, "nbd_get_nr_meta_contexts");
  r = (ssize_t) h->nr_req_meta;
  API_LEAVE (h);
  return r;
}

NBD_API char *
nbd_get_meta_context (struct nbd_handle *h, size_t i)
{
  char *r = NULL;
  API_ENTER (h, "nbd_get_meta_context");
  if (i >= h->nr_req_meta)
    set_error (EINVAL, "meta context request out of range");
  else if (!(r = strdup (h->req_meta[i])))
    set_error (ENOMEM, "out of memory");
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_clear_meta_contexts (struct nbd_handle *h)
{
  size_t i;
  API_ENTER (h, "nbd_clear_meta_contexts");
  CHECK_STATE (h, PERMIT_CREATED_NEGOTIATING, -1);
  for (i = 0; i < h->nr_req_meta; i++) free (h->req_meta[i]);
  free (h->req_meta);
  h->req_meta = NULL;
  h->nr_req_meta = 0;
  API_LEAVE (h);
  return 0;
}
