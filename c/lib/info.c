/* info.c: what the server told us about the export. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Export details exist once GO/INFO/EXPORT_NAME (or oldstyle) supplied them. */
static int
need_info (struct nbd_handle *h)
{
  if (!h->have_info) {
    set_error (EINVAL, "the server has not sent export information yet "
               "(call nbd_opt_info or nbd_opt_go first)");
    return -1;
  }
  return 0;
}

#define FLAG_GETTER(fn, test)                           \
  NBD_API int fn (struct nbd_handle *h)                 \
  {                                                     \
    int r;                                              \
    API_ENTER (h, #fn);                                 \
    CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);        \
    r = need_info (h) == -1 ? -1 : ((test) ? 1 : 0);    \
    API_LEAVE (h);                                      \
    return r;                                           \
  }

FLAG_GETTER (nbd_is_read_only, h->eflags & NBD_FLAG_READ_ONLY)
FLAG_GETTER (nbd_can_flush, h->eflags & NBD_FLAG_SEND_FLUSH)
FLAG_GETTER (nbd_can_fua, h->eflags & NBD_FLAG_SEND_FUA)
FLAG_GETTER (nbd_is_rotational, h->eflags & NBD_FLAG_ROTATIONAL)
FLAG_GETTER (nbd_can_trim, h->eflags & NBD_FLAG_SEND_TRIM)
FLAG_GETTER (nbd_can_zero, h->eflags & NBD_FLAG_SEND_WRITE_ZEROES)
FLAG_GETTER (nbd_can_fast_zero, h->eflags & NBD_FLAG_SEND_FAST_ZERO)
FLAG_GETTER (nbd_can_df, (h->eflags & NBD_FLAG_SEND_DF) && h->sr_negotiated)
FLAG_GETTER (nbd_can_multi_conn, h->eflags & NBD_FLAG_CAN_MULTI_CONN)
FLAG_GETTER (nbd_can_cache, h->eflags & NBD_FLAG_SEND_CACHE)

NBD_API int
nbd_can_meta_context (struct nbd_handle *h, const char *name)
{
  int r = 0;
  size_t i;

  API_ENTER (h, "nbd_can_meta_context");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);
  if (!name) { set_error (EFAULT, "metacontext cannot be NULL"); API_LEAVE (h); return -1; }
  if (need_info (h) == -1) { API_LEAVE (h); return -1; }
  for (i = 0; i < h->nr_meta; i++)
    if (strcmp (h->meta[i].name, name) == 0) { r = 1; break; }
  API_LEAVE (h);
  return r;
}

NBD_API int64_t
nbd_get_size (struct nbd_handle *h)
{
  int64_t r;
  API_ENTER (h, "nbd_get_size");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);
  r = need_info (h) == -1 ? -1 : (int64_t) h->size;
  API_LEAVE (h);
  return r;
}

NBD_API int64_t
nbd_get_block_size (struct nbd_handle *h, int size_type)
{
  int64_t r;
  API_ENTER (h, "nbd_get_block_size");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);
  if (need_info (h) == -1) { API_LEAVE (h); return -1; }
  switch (size_type) {
  case LIBNBD_SIZE_MINIMUM: r = h->block_min; break;
  case LIBNBD_SIZE_PREFERRED: r = h->block_pref; break;
  case LIBNBD_SIZE_MAXIMUM: r = h->block_max; break;
  default:
    set_error (EINVAL, "size_type: unknown value %d", size_type);
    r = -1;
  }
  API_LEAVE (h);
  return r;
}

NBD_API const char *
nbd_get_protocol (struct nbd_handle *h)
{
  const char *r;
  API_ENTER (h, "nbd_get_protocol");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, NULL);
  r = h->protocol;
  if (!r) set_error (ENOTCONN, "the handshake has not determined the protocol yet");
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_get_structured_replies_negotiated (struct nbd_handle *h)
{
  int r;
  API_ENTER (h, "nbd_get_structured_replies_negotiated");
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, -1);
  r = h->sr_negotiated;
  API_LEAVE (h);
  return r;
}

static char *
info_string (struct nbd_handle *h, const char *call, bool canonical, const char *missing)
{
  char *r = NULL;
  const char *value;
  API_ENTER (h, call);
  CHECK_STATE (h, PERMIT_NEG_CONN_CLOSED, NULL);
  value = canonical ? h->canonical_name : h->description;
  if (need_info (h) == 0) {
    if (!value)
      set_error (ENOTSUP, "%s", missing);
    else if (!(r = strdup (value)))
      set_error (ENOMEM, "out of memory");
  }
  API_LEAVE (h);
  return r;
}

NBD_API char *
nbd_get_canonical_export_name (struct nbd_handle *h)
{
  return info_string (h, "nbd_get_canonical_export_name", true,
                      "the server did not send a canonical name (see nbd_set_full_info)");
}

NBD_API char *
nbd_get_export_description (struct nbd_handle *h)
{
  return info_string (h, "nbd_get_export_description", false,
                      "the server did not send a description");
}
