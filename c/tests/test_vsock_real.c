/* nbd_connect_vsock against a real "nbdkit --vsock" on the local CID
 * (VMADDR_CID_LOCAL = 1, vsock loopback).  Runs only if a probe bind()
 * of an AF_VSOCK socket to CID 1 succeeds; otherwise prints SKIP.
 * Only CID 1 is ever used here; CID 2 (the host) is never contacted. */
#define _GNU_SOURCE
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

#define LOCAL_CID 1             /* VMADDR_CID_LOCAL */

/* Probe: bind an AF_VSOCK socket to CID 1 with any port.  Returns the
 * port the kernel picked (> 0), or 0 if vsock loopback is unusable. */
static unsigned
probe_local_vsock (const char **why)
{
  struct sockaddr_vm svm;
  socklen_t len = sizeof svm;
  int fd;
  unsigned port = 0;

  fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    *why = strerror (errno);
    return 0;
  }
  memset (&svm, 0, sizeof svm);
  svm.svm_family = AF_VSOCK;
  svm.svm_cid = LOCAL_CID;
  svm.svm_port = VMADDR_PORT_ANY;
  if (bind (fd, (struct sockaddr *) &svm, sizeof svm) == -1) {
    *why = strerror (errno);
    close (fd);
    return 0;
  }
  if (getsockname (fd, (struct sockaddr *) &svm, &len) == 0)
    port = svm.svm_port;
  close (fd);
  if (port == 0 || port == VMADDR_PORT_ANY)
    port = 20000 + (getpid () % 20000);
  return port;
}

static unsigned port;

static void
test_vsock_local (void)
{
  struct h_server srv;
  struct nbd_handle *h;
  char portarg[32], w[4096], r[4096];

  snprintf (portarg, sizeof portarg, "--port=%u", port);
  if (h_start_custom (&srv, "--vsock", portarg, "memory", "1M", NULL) == -1) {
    h_skip ("test_vsock_local", "nbdkit --vsock did not start");
    return;
  }
  h = nbd_create ();
  CU_ASSERT_PTR_NOT_NULL_FATAL (h);
  H_ASSERT_OK_FATAL (nbd_connect_vsock (h, LOCAL_CID, port));
  CU_ASSERT (nbd_aio_is_ready (h));
  CU_ASSERT_EQUAL (nbd_get_size (h), 1024 * 1024);
  h_fill (w, sizeof w, 71);
  H_ASSERT_OK (nbd_pwrite (h, w, sizeof w, 0, 0));
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);

  h = nbd_create ();
  H_ASSERT_OK_FATAL (nbd_aio_connect_vsock (h, LOCAL_CID, port));
  CU_ASSERT_EQUAL (h_poll_until_ready (h), 0);
  H_ASSERT_OK (nbd_pread (h, r, sizeof r, 0, 0));
  CU_ASSERT (memcmp (w, r, sizeof w) == 0);
  nbd_close (h);
  h_stop (&srv);
}

int
main (void)
{
  CU_pSuite s;
  const char *why = "unknown";

  if (getenv ("LD_PRELOAD") && strstr (getenv ("LD_PRELOAD"), "vsock_preload")) {
    printf ("SKIP: test_vsock_real: must not run under the vsock interposer\n");
    return 0;
  }
  port = probe_local_vsock (&why);
  if (port == 0) {
    printf ("SKIP: test_vsock_real: AF_VSOCK bind to CID 1 (VMADDR_CID_LOCAL) "
            "failed (%s); vsock loopback unavailable here\n", why);
    return 0;
  }
  if (h_init ("test_vsock_real") == -1)
    return 2;
  s = h_add_suite ("vsock-local");
  if (s == NULL)
    return h_cunit_fail ();
  H_ADD_TEST (s, test_vsock_local);
  return h_run_all ();
}
