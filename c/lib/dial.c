/* dial.c: getting a connected socket: the non-blocking connect (every
 * address of a TCP name in turn), adopting a socket the caller made, and
 * moving on to the handshake once the socket is connected.  Below the
 * event loop: socket.c calls nbd_internal_connect_progress when a
 * connecting socket becomes writable. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "internal.h"

static int
set_nonblock_cloexec (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  if (fl == -1 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) == -1)
    return -1;
  fl = fcntl (fd, F_GETFD);
  if (fl == -1 || fcntl (fd, F_SETFD, fl | FD_CLOEXEC) == -1)
    return -1;
  return 0;
}

/* A build without GnuTLS refuses up front rather than talk in clear
 * text when TLS is required. */
int
nbd_internal_refuse_tls_required (struct nbd_handle *h)
{
  if (h->tls == LIBNBD_TLS_REQUIRE && !nbd_internal_tls_available ()) {
    set_error (ENOTSUP, "TLS is required, but " NBD_NO_TLS_MSG);
    return -1;
  }
  return 0;
}

int
nbd_internal_adopt_socket (struct nbd_handle *h, int fd)
{
  if (set_nonblock_cloexec (fd) == -1) {
    set_error (errno, "socket %d: %s", fd, strerror (errno));
    return -1;
  }
  h->fd = fd;
  nbd_internal_start_handshake (h);
  return 0;
}

/* Creates a non-blocking socket and connects it to sa.  Returns 1 if the
 * connect is under way (state CONNECTING), 0 if it completed (handshake
 * started), -1 with errno set if it failed (no socket kept). */
static int
open_and_connect (struct nbd_handle *h, int family, int protocol,
                  const struct sockaddr *sa, socklen_t len)
{
  int fd, e;

  fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd == -1)
    return -1;
  if (family == AF_INET || family == AF_INET6) {
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect (fd, sa, len) == 0) {
    h->fd = fd;
    nbd_internal_start_handshake (h);
    return 0;
  }
  if (errno == EINPROGRESS) {
    h->fd = fd;
    nbd_internal_set_state (h, ST_CONNECTING);
    return 1;
  }
  e = errno;
  close (fd);
  errno = e;
  return -1;
}

/* Tries the remaining addresses of a TCP connect in turn.  When all have
 * failed the handle is new again (as libnbd does for TCP) and -1 is
 * returned with the last connect error. */
int
nbd_internal_connect_tcp_addresses (struct nbd_handle *h)
{
  int err;

  while (h->ai_next) {
    struct addrinfo *ai = h->ai_next;
    h->ai_next = ai->ai_next;
    if (open_and_connect (h, ai->ai_family, ai->ai_protocol, ai->ai_addr, ai->ai_addrlen) >= 0)
      return 0;
    h->connect_errno = errno;
  }
  err = h->connect_errno ? h->connect_errno : ECONNREFUSED;
  freeaddrinfo (h->ai_list);
  h->ai_list = h->ai_next = NULL;
  nbd_internal_set_state (h, ST_CREATED);
  h->connect_errno = err;
  if (h->uri_parts && h->uri_parts->host)
    set_error (err, "connect: %s:%s: %s", h->uri_parts->host, h->uri_parts->port, strerror (err));
  else
    set_error (err, "connect: %s", strerror (err));
  return -1;
}

/* Starts a non-blocking connect of a new socket; -1 (handle dead) if the
 * connect failed at once. */
int
nbd_internal_start_connect (struct nbd_handle *h, int family,
                            const struct sockaddr *sa, socklen_t len)
{
  if (nbd_internal_refuse_tls_required (h) == -1)
    return -1;
  if (open_and_connect (h, family, 0, sa, len) >= 0)
    return 0;
  h->connect_errno = errno;
  set_dead (h, errno, "connect: %s", strerror (errno));
  return -1;
}

/* Called when a connecting socket becomes writable.  Returns -1 if the
 * connect failed (handle dead, or for TCP back to created). */
int
nbd_internal_connect_progress (struct nbd_handle *h)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt (h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
    err = errno;
  if (err == 0) {
    nbd_internal_start_handshake (h);
    return 0;
  }
  if (err == EINPROGRESS || err == EAGAIN)
    return 0;
  h->connect_errno = err;
  h->transport->close (h, h->fd);
  h->fd = -1;
  if (h->ai_list)               /* TCP: try the next address, if any */
    return nbd_internal_connect_tcp_addresses (h);
  set_dead (h, err, "connect: %s", strerror (err));
  return -1;
}

