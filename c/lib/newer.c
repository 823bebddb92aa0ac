/* newer.c: calls that libnbd added after 1.14 (version nodes LIBNBD_1.16
 * and LIBNBD_1.22), for programs built against a newer libnbd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
nbd_unlocked_supports_vsock (struct nbd_handle *h)
{
  return 1;
}

#define STAT_GETTER(name)                                               \
  uint64_t nbd_unlocked_stats_##name (struct nbd_handle *h) { return h->name; }

STAT_GETTER (bytes_sent)
STAT_GETTER (chunks_sent)
STAT_GETTER (bytes_received)
STAT_GETTER (chunks_received)

int
nbd_unlocked_set_socket_activation_name (struct nbd_handle *h, const char *name)
{
  char *copy;
  size_t i;

  /* systemd's rules for a file descriptor name: printable, no ':'. */
  for (i = 0; name[i]; i++)
    if (name[i] == ':' || name[i] < 0x21 || name[i] > 0x7e || i >= 255) {
      set_error (EINVAL, "socket_name: invalid character or too long");
      return -1;
    }
  copy = strdup (name);
  if (!copy) { set_error (ENOMEM, "out of memory"); return -1; }
  free (h->sa_name);
  h->sa_name = copy;
  return 0;
}

char *
nbd_unlocked_get_socket_activation_name (struct nbd_handle *h)
{
  char *r = strdup (h->sa_name ? h->sa_name : "");
  if (!r) set_error (ENOMEM, "out of memory");
  return r;
}

int
nbd_unlocked_poll2 (struct nbd_handle *h, int fd, int timeout)
{
  return nbd_internal_poll_call (h, timeout, fd);
}

int64_t
nbd_unlocked_get_subprocess_pid (struct nbd_handle *h)
{
  if (h->pid > 0)
    return h->pid;
  set_error (ESRCH, "the handle has no subprocess");
  return -1;
}

int
nbd_unlocked_is_uri (struct nbd_handle *h, const char *uri)
{
  struct nbd_uri u;
  char errbuf[128];
  int r;

  r = nbd_internal_parse_uri (uri, &u, errbuf, sizeof errbuf) == 0;
  nbd_internal_free_uri (&u);
  return r;
}

int
nbd_unlocked_get_extended_headers_negotiated (struct nbd_handle *h)
{
  return h->eh_negotiated;
}
