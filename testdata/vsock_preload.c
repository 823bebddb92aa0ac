/* vsock_preload.so: an LD_PRELOAD interposer that turns AF_VSOCK client
 * sockets into AF_UNIX stream sockets, so that vsock code paths can be
 * tested without a hypervisor and without ever touching a real vsock
 * peer.
 *
 *   socket(AF_VSOCK, SOCK_STREAM[|flags], p)
 *       -> socket(AF_UNIX, SOCK_STREAM[|flags], 0), fd remembered as fake.
 *          Fails with EAFNOSUPPORT if NBD_VSOCK_DIR is not set.
 *   connect(fake fd, struct sockaddr_vm {cid, port})
 *       -> connect(fd, "$NBD_VSOCK_DIR/vsock-<cid>-<port>")
 *          keeping non-blocking semantics (EINPROGRESS/EAGAIN/success);
 *          ENOENT (nobody ever listened) is reported as ECONNREFUSED.
 *   connect(any other fd, AF_VSOCK address) -> EAFNOSUPPORT, and a fake
 *          fd is re-checked to be AF_UNIX before redirecting: a real
 *          AF_VSOCK connect can never happen while this is loaded.
 *   getsockname/getpeername on a fake fd report an AF_VSOCK address
 *          (local cid VMADDR_CID_LOCAL, the peer the caller asked for).
 *   getsockopt(SO_DOMAIN) on a fake fd reports AF_VSOCK.
 *   close/dup2/dup3 forget/propagate fake status as fds are recycled.
 *
 * Every redirected connect is logged to stderr when NBD_VSOCK_DEBUG=1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#define MAX_FDS 65536

/* Tests look this symbol up (dlsym) to know the interposer is loaded. */
__attribute__((visibility ("default")))
int nbd_vsock_preload_active = 1;

struct fake {
  atomic_int is_fake;
  atomic_uint cid;
  atomic_uint port;
};

static struct fake fakes[MAX_FDS];

static int (*real_socket) (int, int, int);
static int (*real_connect) (int, const struct sockaddr *, socklen_t);
static int (*real_close) (int);
static int (*real_dup2) (int, int);
static int (*real_dup3) (int, int, int);
static int (*real_getsockname) (int, struct sockaddr *, socklen_t *);
static int (*real_getpeername) (int, struct sockaddr *, socklen_t *);
static int (*real_getsockopt) (int, int, int, void *, socklen_t *);

static void *
next_sym (const char *name)
{
  void *p = dlsym (RTLD_NEXT, name);
  if (p == NULL) {
    fprintf (stderr, "vsock_preload: dlsym %s: %s\n", name, dlerror ());
    abort ();
  }
  return p;
}

__attribute__((constructor))
static void
init (void)
{
  real_socket = next_sym ("socket");
  real_connect = next_sym ("connect");
  real_close = next_sym ("close");
  real_dup2 = next_sym ("dup2");
  real_dup3 = next_sym ("dup3");
  real_getsockname = next_sym ("getsockname");
  real_getpeername = next_sym ("getpeername");
  real_getsockopt = next_sym ("getsockopt");
}

static int
fd_ok (int fd)
{
  return fd >= 0 && fd < MAX_FDS;
}

static int
is_fake (int fd)
{
  return fd_ok (fd) && atomic_load (&fakes[fd].is_fake);
}

static void
forget (int fd)
{
  if (fd_ok (fd))
    atomic_store (&fakes[fd].is_fake, 0);
}

static void
debug (const char *fmt, ...)
{
  const char *e = getenv ("NBD_VSOCK_DEBUG");
  va_list ap;

  if (e == NULL || strcmp (e, "1") != 0)
    return;
  va_start (ap, fmt);
  fprintf (stderr, "vsock_preload: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
}

int
socket (int domain, int type, int protocol)
{
  int fd;

  if (real_socket == NULL)
    init ();
  if (domain != AF_VSOCK) {
    fd = real_socket (domain, type, protocol);
    forget (fd);                /* in case libc closed it behind our back */
    return fd;
  }

  if (getenv ("NBD_VSOCK_DIR") == NULL) {
    debug ("socket(AF_VSOCK) refused: NBD_VSOCK_DIR not set");
    errno = EAFNOSUPPORT;
    return -1;
  }
  /* Only stream sockets are emulated. */
  if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM) {
    errno = EPROTONOSUPPORT;
    return -1;
  }
  fd = real_socket (AF_UNIX, type, 0);
  if (fd == -1)
    return -1;
  if (!fd_ok (fd)) {
    real_close (fd);
    errno = EMFILE;
    return -1;
  }
  atomic_store (&fakes[fd].cid, VMADDR_CID_ANY);
  atomic_store (&fakes[fd].port, VMADDR_PORT_ANY);
  atomic_store (&fakes[fd].is_fake, 1);
  debug ("socket(AF_VSOCK) -> fake fd %d", fd);
  return fd;
}

int
connect (int fd, const struct sockaddr *addr, socklen_t len)
{
  const struct sockaddr_vm *svm;
  const char *dir;
  struct sockaddr_un sun;
  int r, e;

  if (real_connect == NULL)
    init ();
  if (addr == NULL || len < sizeof (sa_family_t) ||
      addr->sa_family != AF_VSOCK) {
    /* Not a vsock address: nothing to emulate (a fake fd is an
     * AF_UNIX socket underneath, so this cannot reach vsock). */
    return real_connect (fd, addr, len);
  }

  /* AF_VSOCK address: never reaches the kernel's vsock layer. */
  if (!is_fake (fd)) {
    debug ("connect(fd %d, AF_VSOCK) on a non-fake fd refused", fd);
    errno = EAFNOSUPPORT;
    return -1;
  }
  /* Belt and braces: the fd must really be an AF_UNIX socket. */
  {
    int dom = -1;
    socklen_t dl = sizeof dom;
    if (real_getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) == -1 ||
        dom != AF_UNIX) {
      forget (fd);
      errno = EAFNOSUPPORT;
      return -1;
    }
  }
  if (len < sizeof (struct sockaddr_vm)) {
    errno = EINVAL;
    return -1;
  }
  dir = getenv ("NBD_VSOCK_DIR");
  if (dir == NULL) {
    errno = EAFNOSUPPORT;
    return -1;
  }
  svm = (const struct sockaddr_vm *) addr;
  memset (&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if ((size_t) snprintf (sun.sun_path, sizeof sun.sun_path,
                         "%s/vsock-%u-%u", dir, svm->svm_cid,
                         svm->svm_port) >= sizeof sun.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  atomic_store (&fakes[fd].cid, svm->svm_cid);
  atomic_store (&fakes[fd].port, svm->svm_port);
  r = real_connect (fd, (struct sockaddr *) &sun, sizeof sun);
  e = errno;
  debug ("connect(fd %d, cid %u port %u) -> %s: %d (%s)", fd,
         svm->svm_cid, svm->svm_port, sun.sun_path, r,
         r == -1 ? strerror (e) : "ok");
  if (r == -1 && e == ENOENT)
    e = ECONNREFUSED;
  errno = e;
  return r;
}

int
close (int fd)
{
  if (real_close == NULL)
    init ();
  forget (fd);
  return real_close (fd);
}

static void
copy_fake (int oldfd, int newfd)
{
  if (!fd_ok (newfd))
    return;
  if (is_fake (oldfd)) {
    atomic_store (&fakes[newfd].cid, atomic_load (&fakes[oldfd].cid));
    atomic_store (&fakes[newfd].port, atomic_load (&fakes[oldfd].port));
    atomic_store (&fakes[newfd].is_fake, 1);
  }
  else
    forget (newfd);
}

int
dup2 (int oldfd, int newfd)
{
  int r;
  if (real_dup2 == NULL)
    init ();
  r = real_dup2 (oldfd, newfd);
  if (r >= 0 && oldfd != newfd)
    copy_fake (oldfd, r);
  return r;
}

int
dup3 (int oldfd, int newfd, int flags)
{
  int r;
  if (real_dup3 == NULL)
    init ();
  r = real_dup3 (oldfd, newfd, flags);
  if (r >= 0)
    copy_fake (oldfd, r);
  return r;
}

static int
report_vm (int fd, struct sockaddr *addr, socklen_t *len, int peer)
{
  struct sockaddr_vm svm;
  socklen_t n;

  if (addr == NULL || len == NULL) {
    errno = EFAULT;
    return -1;
  }
  memset (&svm, 0, sizeof svm);
  svm.svm_family = AF_VSOCK;
  svm.svm_cid = peer ? atomic_load (&fakes[fd].cid) : VMADDR_CID_LOCAL;
  svm.svm_port = peer ? atomic_load (&fakes[fd].port) : VMADDR_PORT_ANY;
  n = *len < sizeof svm ? *len : sizeof svm;
  memcpy (addr, &svm, n);
  *len = sizeof svm;
  return 0;
}

int
getsockname (int fd, struct sockaddr *addr, socklen_t *len)
{
  if (real_getsockname == NULL)
    init ();
  if (is_fake (fd))
    return report_vm (fd, addr, len, 0);
  return real_getsockname (fd, addr, len);
}

int
getpeername (int fd, struct sockaddr *addr, socklen_t *len)
{
  struct sockaddr_un sun;
  socklen_t sl = sizeof sun;

  if (real_getpeername == NULL)
    init ();
  if (is_fake (fd)) {
    /* Fail like the real thing when not connected. */
    if (real_getpeername (fd, (struct sockaddr *) &sun, &sl) == -1)
      return -1;
    return report_vm (fd, addr, len, 1);
  }
  return real_getpeername (fd, addr, len);
}

int
getsockopt (int fd, int level, int name, void *val, socklen_t *len)
{
  if (real_getsockopt == NULL)
    init ();
  if (is_fake (fd) && level == SOL_SOCKET && name == SO_DOMAIN &&
      val != NULL && len != NULL && *len >= sizeof (int)) {
    *(int *) val = AF_VSOCK;
    *len = sizeof (int);
    return 0;
  }
  return real_getsockopt (fd, level, name, val, len);
}
