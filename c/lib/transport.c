/* transport.c: how bytes cross the connection.  Everything above talks to
 * the socket through h->transport, so that a second implementation (TLS)
 * can take the plain socket's place after STARTTLS without the layers
 * above knowing.  The plain implementation is a thin layer over the
 * system calls; every one returns what the system call returns, with
 * errno set. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

static ssize_t
plain_recv (struct nbd_handle *h, void *buf, size_t len)
{
  return recv (h->fd, buf, len, 0);
}

static ssize_t
plain_readv (struct nbd_handle *h, const struct iovec *iov, int iovcnt)
{
  return readv (h->fd, iov, iovcnt);
}

static ssize_t
plain_sendmsg (struct nbd_handle *h, const struct msghdr *msg)
{
  return sendmsg (h->fd, msg, MSG_NOSIGNAL);
}

static int
plain_shutdown (struct nbd_handle *h, int how)
{
  return shutdown (h->fd, how);
}

static int
plain_close (struct nbd_handle *h, int fd)
{
  return close (fd);
}

static bool
plain_pending (struct nbd_handle *h)
{
  return false;                 /* the kernel holds everything unread */
}

const struct nbd_transport nbd_internal_plain_transport = {
  .name = "plain",
  .recv = plain_recv,
  .readv = plain_readv,
  .sendmsg = plain_sendmsg,
  .shutdown = plain_shutdown,
  .close = plain_close,
  .pending = plain_pending,
};

ssize_t
nbd_internal_send (struct nbd_handle *h, const void *buf, size_t len)
{
  struct iovec iov = { (void *) buf, len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  return h->transport->sendmsg (h, &msg);
}
