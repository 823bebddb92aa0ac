/* nbd_connect_vsock / nbd_aio_connect_vsock through the LD_PRELOAD
 * interposer (testdata/vsock_preload.c): AF_VSOCK sockets become
 * AF_UNIX sockets connected to $NBD_VSOCK_DIR/vsock-<cid>-<port>, where
 * a private nbdkit listens.  No real vsock traffic ever happens.
 *
 * The program re-executes itself with LD_PRELOAD set when the
 * interposer is not loaded yet (path fixed at build time). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include <libnbd.h>
#include <CUnit/CUnit.h>

#include "harness.h"

#ifndef VSOCK_PRELOAD_PATH
#error "VSOCK_PRELOAD_PATH must be defined by the build"
#endif

/* A made-up guest CID: the interposer only uses it to build a path.
 * (Never 2: that is the host, and must never be contacted.) */
#define FAKE_CID 7
#define PORT 10809

static char vdir[256];

static bool
preload_active (void)
{
  return dlsym (RTLD_DEFAULT, "nbd_vsock_preload_active") != NULL;
}

static void
vsock_path (char *buf, size_t len, unsigned cid, unsigned port)
{
  snprintf (buf, len, "%s/vsock-%u-%u", vdir, cid, port);
}

static int
start_vsock_server (struct h_server *srv, unsigned cid, unsigned port)
{
  char path[300];
  vsock_path (path, sizeof path, cid, port);
  return h_start_unix_at (srv, path, "memory", "1M", NULL);
}

static void
test_interposer_safety (void)
{
  int fd;
  struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = FAKE_CID,
                             .svm_port = PORT };
  char *saved = strdup (getenv ("NBD_VSOCK_DIR"));

  /* With NBD_VSOCK_DIR unset, AF_VSOCK sockets cannot be created. */
  unsetenv ("NBD_VSOCK_DIR");
  errno = 0;
  fd = socket (AF_VSOCK, SOCK_STREAM, 0);
  CU_ASSERT_EQUAL (fd, -1);
  CU_ASSERT_EQUAL (errno, EAFNOSUPPORT);
  if (fd >= 0)
    close (fd);
  setenv ("NBD_VSOCK_DIR", saved, 1);
  free (saved);

  /* A vsock address on an ordinary socket is refused, not passed on. */
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CU_ASSERT_FATAL (fd >= 0);
  errno = 0;
  CU_ASSERT_EQUAL (connect (fd, (struct sockaddr *) &svm, sizeof svm), -1);
  CU_ASSERT_EQUAL (errno, EAFNOSUPPORT);
  close (fd);

  /* The fake socket is an AF_UNIX socket reporting AF_VSOCK. */
  fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CU_ASSERT_FATAL (fd >= 0);
  {
    int dom = 0;
    socklen_t len = sizeof dom;
    CU_ASSERT_EQUAL (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &dom, &len), 0);
    CU_ASSERT_EQUAL (dom, AF_VSOCK);
  }
  /* Nobody listening: ECONNREFUSED (ENOENT mapped). */
  errno = 0;
  CU_ASSERT_EQUAL (connect (fd, (struct sockaddr *) &svm, sizeof svm), -1);
  CU_ASSERT_EQUAL (errno, ECONNREFUSED);
  close (fd);
}

static void
test_aio_connect_vsock (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char w[65536], r[65536];

  CU_ASSERT_EQUAL_FATAL (start_vsock_server (&srv, FAKE_CID, PORT), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_aio_connect_vsock (h, FAKE_CID, PORT));
  CU_ASSERT (!nbd_aio_is_created (h));
  CU_ASSERT (nbd_aio_is_connecting (h));
  CU_ASSERT (!nbd_aio_is_ready (h));
  while (!nbd_aio_is_ready (h)) {
    CU_ASSERT_FATAL (!nbd_aio_is_dead (h));
    CU_ASSERT_NOT_EQUAL_FATAL (nbd_poll (h, 5000), -1);
  }
  CU_ASSERT (nbd_aio_is_ready (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  h_fill (w, sizeof w, 61);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 4096, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 4096, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  H_ASSERT_OK (nbd_shutdown (h, 0));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_connect_vsock (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char w[512], r[512];

  CU_ASSERT_EQUAL_FATAL (start_vsock_server (&srv, FAKE_CID, PORT + 1), 0);
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_vsock (h, FAKE_CID, PORT + 1));
  CU_ASSERT (nbd_aio_is_ready (h));
  h_fill (w, sizeof w, 62);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);

  /* A different port is a different endpoint: nobody there. */
  h = nbd_create ();
  H_ASSERT_ERR (nbd_connect_vsock (h, FAKE_CID, PORT + 2), ECONNREFUSED);
  CU_ASSERT (h_has_prefix (nbd_get_error (), "nbd_connect_vsock: "));
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

static void
test_aio_connect_vsock_refused (void)
{
  struct nbd_handle *h = nbd_create ();
  int r;

  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  /* Either the call fails at once, or polling reaches DEAD. */
  r = nbd_aio_connect_vsock (h, FAKE_CID, 4000);
  if (r == 0) {
    while (!nbd_aio_is_dead (h) && !nbd_aio_is_ready (h))
      if (nbd_poll (h, 5000) == -1)
        break;
  }
  CU_ASSERT (nbd_aio_is_dead (h));
  CU_ASSERT_EQUAL (nbd_get_errno (), ECONNREFUSED);
  CU_ASSERT (!nbd_aio_is_ready (h));
  nbd_close (h);
}

static void
test_vsock_not_new (void)
{
  struct h_server srv;
  struct nbd_handle *h;

  CU_ASSERT_EQUAL_FATAL (start_vsock_server (&srv, FAKE_CID, PORT + 3), 0);
  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_connect_vsock (h, FAKE_CID, PORT + 3));
  H_ASSERT_ERR (nbd_connect_vsock (h, FAKE_CID, PORT + 3), EINVAL);
  CU_ASSERT (h_has_prefix (nbd_get_error (),
                           "nbd_connect_vsock: invalid state: "));
  H_ASSERT_ERR (nbd_aio_connect_vsock (h, FAKE_CID, PORT + 3), EINVAL);
  CU_ASSERT (nbd_aio_is_ready (h));
  nbd_close (h);
  h_stop (&srv);
}

int
main (int argc, char **argv)
{
  CU_pSuite s;
  int ret;

  if (!preload_active ()) {
    const char *old = getenv ("LD_PRELOAD");
    char *val;

    if (getenv ("CTESTS_VSOCK_REEXEC")) {
      fprintf (stderr, "test_vsock: interposer %s did not load\n",
               VSOCK_PRELOAD_PATH);
      return 2;
    }
    if (access (VSOCK_PRELOAD_PATH, R_OK) != 0) {
      fprintf (stderr, "test_vsock: %s missing (build it: make %s)\n",
               VSOCK_PRELOAD_PATH, "build/testdata/vsock_preload.so");
      return 2;
    }
    if (asprintf (&val, "%s%s%s", VSOCK_PRELOAD_PATH, old ? ":" : "",
                  old ? old : "") == -1)
      return 2;
    setenv ("LD_PRELOAD", val, 1);
    setenv ("CTESTS_VSOCK_REEXEC", "1", 1);
    {
      /* readlink, not exec of /proc/self/exe: under valgrind the link
       * names the test program while the file is valgrind's tool. */
      char self[4096];
      ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
      if (n <= 0)
        return 2;
      self[n] = '\0';
      execv (self, argv);
    }
    perror ("test_vsock: re-exec");
    return 2;
  }
  (void) argc;
  /* Children (nbdkit) do not need the interposer. */
  unsetenv ("LD_PRELOAD");
  unsetenv ("CTESTS_VSOCK_REEXEC");

  if (h_mkdtemp (vdir, sizeof vdir) == -1)
    return 2;
  setenv ("NBD_VSOCK_DIR", vdir, 1);

  if (h_init ("test_vsock") == -1)
    return 2;
  s = h_add_suite ("vsock-interposed");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_interposer_safety);
  H_ADD_TEST (s, test_aio_connect_vsock);
  H_ADD_TEST (s, test_connect_vsock);
  H_ADD_TEST (s, test_aio_connect_vsock_refused);
  H_ADD_TEST (s, test_vsock_not_new);
  ret = h_run_all ();
  h_rmdir (vdir);
  return ret;
}
