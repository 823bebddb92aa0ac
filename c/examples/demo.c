/* demo.c: the seed calls at work against a real NBD server.
 *
 *   demo SOCKET_PATH
 *
 * 1. connects a Unix socket itself and hands it over with nbd_connect_socket;
 * 2. makes a second connection with nbd_aio_connect_unix and drives it through
 *    its states with nbd_poll, printing each state it passes;
 * 3. writes a block, reads it back, and prints the export's size and flags.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libnbd.h>

static void
die (const char *what)
{
  fprintf (stderr, "demo: %s: %s (errno %d)\n", what, nbd_get_error (), nbd_get_errno ());
  exit (EXIT_FAILURE);
}

static const char *
public_state (struct nbd_handle *h)
{
  if (nbd_aio_is_created (h)) return "created";
  if (nbd_aio_is_connecting (h)) return "connecting";
  if (nbd_aio_is_negotiating (h)) return "negotiating";
  if (nbd_aio_is_ready (h)) return "ready";
  if (nbd_aio_is_processing (h)) return "processing";
  if (nbd_aio_is_closed (h)) return "closed";
  return "dead";
}

int
main (int argc, char **argv)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct nbd_handle *h1, *h2;
  char block[4096], back[4096];
  const char *last = NULL;
  int sock, i;

  if (argc != 2) {
    fprintf (stderr, "usage: demo SOCKET_PATH\n");
    return EXIT_FAILURE;
  }

  /* 1. Socket adoption: we connect, the library takes the fd over. */
  sock = socket (AF_UNIX, SOCK_STREAM, 0);
  strncpy (addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  if (sock == -1 || connect (sock, (struct sockaddr *) &addr, sizeof addr) == -1) {
    perror ("demo: connect");
    return EXIT_FAILURE;
  }
  h1 = nbd_create ();
  if (!h1) die ("nbd_create");
  if (nbd_connect_socket (h1, sock) == -1) die ("nbd_connect_socket");
  printf ("[socket] adopted fd %d: handshake done, state %s, protocol %s\n",
          sock, public_state (h1), nbd_get_protocol (h1));

  /* 2. Asynchronous connect, driven by polling. */
  h2 = nbd_create ();
  if (!h2) die ("nbd_create");
  printf ("[aio]    state %s\n", public_state (h2));
  if (nbd_aio_connect_unix (h2, argv[1]) == -1) die ("nbd_aio_connect_unix");
  while (!nbd_aio_is_ready (h2)) {
    const char *now = public_state (h2);
    if (now != last) {
      printf ("[aio]    state %s (%s)\n", now, nbd_connection_state (h2));
      last = now;
    }
    if (nbd_aio_is_dead (h2)) die ("connecting");
    if (nbd_poll (h2, 5000) == -1) die ("nbd_poll");
  }
  printf ("[aio]    state %s\n", public_state (h2));

  /* 3. I/O: write through one connection, read back through the other. */
  for (i = 0; i < (int) sizeof block; i++)
    block[i] = "NBD demo "[i % 9];
  if (nbd_pwrite (h1, block, sizeof block, 8192, 0) == -1) die ("nbd_pwrite");
  if (nbd_flush (h1, 0) == -1 && nbd_get_errno () != EINVAL) die ("nbd_flush");
  if (nbd_pread (h2, back, sizeof back, 8192, 0) == -1) die ("nbd_pread");
  printf ("[io]     wrote 4096 bytes at offset 8192 via the adopted socket, "
          "read them back via the aio connection: %s\n",
          memcmp (block, back, sizeof block) == 0 ? "identical" : "DIFFERENT");
  printf ("[info]   export size %lld bytes; read-only %d, flush %d, fua %d, trim %d, "
          "zero %d, fast-zero %d, cache %d, multi-conn %d, df %d, structured replies %d\n",
          (long long) nbd_get_size (h2), nbd_is_read_only (h2), nbd_can_flush (h2),
          nbd_can_fua (h2), nbd_can_trim (h2), nbd_can_zero (h2), nbd_can_fast_zero (h2),
          nbd_can_cache (h2), nbd_can_multi_conn (h2), nbd_can_df (h2),
          nbd_get_structured_replies_negotiated (h2));

  if (nbd_shutdown (h1, 0) == -1) die ("nbd_shutdown");
  if (nbd_shutdown (h2, 0) == -1) die ("nbd_shutdown");
  nbd_close (h1);                 /* also closes the adopted fd */
  nbd_close (h2);
  printf ("[done]   both connections shut down cleanly\n");
  return memcmp (block, back, sizeof block) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
