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

#define FLAG_GETTER(name, test)                         \
  int nbd_unlocked_##name (struct nbd_handle *h)        \
  {                                                     \
    if (need_info (h) == -1) return -1;                 \
    return (test) ? 1 : 0;                              \
  }

FLAG_GETTER (is_read_only, h->eflags & NBD_FLAG_READ_ONLY)
FLAG_GETTER (can_flush, h->eflags & NBD_FLAG_SEND_FLUSH)
FLAG_GETTER (can_fua, h->eflags & NBD_FLAG_SEND_FUA)
FLAG_GETTER (is_rotational, h->eflags & NBD_FLAG_ROTATIONAL)
FLAG_GETTER (can_trim, h->eflags & NBD_FLAG_SEND_TRIM)
FLAG_GETTER (can_zero, h->eflags & NBD_FLAG_SEND_WRITE_ZEROES)
FLAG_GETTER (can_fast_zero, h->eflags & NBD_FLAG_SEND_FAST_ZERO)
FLAG_GETTER (can_df, (h->eflags & NBD_FLAG_SEND_DF) && h->sr_negotiated)
FLAG_GETTER (can_multi_conn, h->eflags & NBD_FLAG_CAN_MULTI_CONN)
FLAG_GETTER (can_cache, h->eflags & NBD_FLAG_SEND_CACHE)

/* libnbd 1.18: block status with a payload (a filter of contexts): the
 * server advertises it, and it needs extended headers. */
int
nbd_unlocked_can_block_status_payload (struct nbd_handle *h)
{
  if (need_info (h) == -1)
    return -1;
  return h->eh_negotiated && (h->eflags & NBD_FLAG_BLOCK_STAT_PAYLOAD);
}

int
nbd_unlocked_can_meta_context (struct nbd_handle *h, const char *name)
{
  size_t i;

  if (need_info (h) == -1)
    return -1;
  for (i = 0; i < h->nr_meta; i++)
    if (strcmp (h->meta[i].name, name) == 0)
      return 1;
  return 0;
}

int64_t
nbd_unlocked_get_size (struct nbd_handle *h)
{
  return need_info (h) == -1 ? -1 : (int64_t) h->size;
}

int64_t
nbd_unlocked_get_block_size (struct nbd_handle *h, int size_type)
{
  if (need_info (h) == -1)
    return -1;
  switch (size_type) {
  case LIBNBD_SIZE_MINIMUM: return h->block_min;
  case LIBNBD_SIZE_PREFERRED: return h->block_pref;
  case LIBNBD_SIZE_PAYLOAD: return nbd_internal_max_payload (h);
  default: return h->block_max;   /* LIBNBD_SIZE_MAXIMUM (checked by the wrapper) */
  }
}

const char *
nbd_unlocked_get_protocol (struct nbd_handle *h)
{
  if (!h->protocol)
    set_error (ENOTCONN, "the handshake has not determined the protocol yet");
  return h->protocol;
}

int
nbd_unlocked_get_structured_replies_negotiated (struct nbd_handle *h)
{
  return h->sr_negotiated;
}

static char *
info_string (struct nbd_handle *h, const char *value, const char *missing)
{
  char *r = NULL;

  if (need_info (h) == -1)
    return NULL;
  if (!value)
    set_error (ENOTSUP, "%s", missing);
  else if (!(r = strdup (value)))
    set_error (ENOMEM, "out of memory");
  return r;
}

char *
nbd_unlocked_get_canonical_export_name (struct nbd_handle *h)
{
  return info_string (h, h->canonical_name,
                      "the server did not send a canonical name (see nbd_set_full_info)");
}

char *
nbd_unlocked_get_export_description (struct nbd_handle *h)
{
  return info_string (h, h->description, "the server did not send a description");
}
