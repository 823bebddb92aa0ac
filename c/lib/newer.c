/* newer.c: calls that libnbd added after 1.14 (version nodes LIBNBD_1.16
 * and LIBNBD_1.22), for programs built against a newer libnbd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

NBD_API int
nbd_supports_vsock (struct nbd_handle *h)
{
  (void) h;
  return 1;
}

#define STAT_GETTER(fn, field)                          \
  NBD_API uint64_t fn (struct nbd_handle *h)            \
  {                                                     \
    uint64_t r;                                         \
    pthread_mutex_lock (&h->lock);                      \
    r = h->field;                                       \
    pthread_mutex_unlock (&h->lock);                    \
    return r;                                           \
  }

STAT_GETTER (nbd_stats_bytes_sent, bytes_sent)
STAT_GETTER (nbd_stats_chunks_sent, chunks_sent)
STAT_GETTER (nbd_stats_bytes_received, bytes_received)
STAT_GETTER (nbd_stats_chunks_received, chunks_received)

NBD_API int
nbd_set_socket_activation_name (struct nbd_handle *h, const char *name)
{
  char *copy;
  size_t i;

  API_ENTER (h, "nbd_set_socket_activation_name");
  CHECK_STATE (h, PERMIT_CREATED, -1);
  if (!name) { set_error (EFAULT, "socket_name cannot be NULL"); API_LEAVE (h); return -1; }
  /* systemd's rules for a file descriptor name: printable, no ':'. */
  for (i = 0; name[i]; i++)
    if (name[i] == ':' || name[i] < 0x21 || name[i] > 0x7e || i >= 255) {
      set_error (EINVAL, "socket_name: invalid character or too long");
      API_LEAVE (h);
      return -1;
    }
  copy = strdup (name);
  if (!copy) { set_error (ENOMEM, "out of memory"); API_LEAVE (h); return -1; }
  free (h->sa_name);
  h->sa_name = copy;
  API_LEAVE (h);
  return 0;
}

NBD_API char *
nbd_get_socket_activation_name (struct nbd_handle *h)
{
  char *r;
  API_ENTER (h, "nbd_get_socket_activation_name");
  r = strdup (h->sa_name ? h->sa_name : "");
  if (!r) set_error (ENOMEM, "out of memory");
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_poll2 (struct nbd_handle *h, int fd, int timeout)
{
  int r;
  API_ENTER (h, "nbd_poll2");
  r = nbd_internal_poll_call (h, timeout, fd);
  API_LEAVE (h);
  return r;
}

NBD_API int64_t
nbd_get_subprocess_pid (struct nbd_handle *h)
{
  int64_t r;
  API_ENTER (h, "nbd_get_subprocess_pid");
  if (h->pid > 0)
    r = h->pid;
  else {
    set_error (ESRCH, "the handle has no subprocess");
    r = -1;
  }
  API_LEAVE (h);
  return r;
}

NBD_API int
nbd_is_uri (struct nbd_handle *h, const char *uri)
{
  struct nbd_uri u;
  char errbuf[128];
  int r;

  API_ENTER (h, "nbd_is_uri");
  if (!uri) { set_error (EFAULT, "uri cannot be NULL"); API_LEAVE (h); return -1; }
  r = nbd_internal_parse_uri (uri, &u, errbuf, sizeof errbuf) == 0;
  nbd_internal_free_uri (&u);
  API_LEAVE (h);
  return r;
}
