/* NBD URI parsing and construction (standalone: depends only on libc).
 *
 * Owner: drop-in/interop engineer.  Used by nbd_connect_uri,
 * nbd_aio_connect_uri and nbd_get_uri in the core.
 *
 * Accepted forms (see docs/notes-dropin.md for the full rules and the places
 * where we deliberately differ from libnbd 1.14):
 *   nbd[s]://[user@]host[:port][/export][?query]
 *   nbd[s]+unix://[user@]/[export]?socket=PATH[&query]
 *   nbd[s]+vsock://[user@]cid[:port][/export][?query]
 */
#ifndef NBD_INTERNAL_URI_H
#define NBD_INTERNAL_URI_H

#include <stddef.h>
#include <stdint.h>

struct nbd_uri {
  int tls;                  /* 1 for nbds* schemes, else 0 */
  int transport;            /* NBD_URI_TCP, NBD_URI_UNIX or NBD_URI_VSOCK */
  char *host;               /* TCP: host (IPv6 without brackets); else NULL */
  char *port;               /* TCP and VSOCK: port string (default "10809");
                               UNIX: NULL */
  uint32_t cid;             /* VSOCK: cid from the host part (default 2) */
  char *socket;             /* UNIX: socket path from ?socket=; else NULL */
  char *export_name;        /* decoded path after the leading '/', "" if none */
  char *tls_username;       /* from the user part or ?tls-username=, or NULL */
  char *tls_psk_file;       /* ?tls-psk-file= or NULL */
  char *tls_certificates;   /* ?tls-certificates= or NULL */
  char *tls_hostname;       /* ?tls-hostname= (libnbd 1.22) or NULL */
  int tls_verify_peer;      /* -1 unset, 0/1 from ?tls-verify-peer= */
};

/* Same bit values as LIBNBD_ALLOW_TRANSPORT_TCP/_UNIX/_VSOCK. */
enum { NBD_URI_TCP = 1, NBD_URI_UNIX = 2, NBD_URI_VSOCK = 4 };

/* Parse URI into *OUT.
 *
 * Returns 0 on success; every string in *OUT is malloc'd and owned by *OUT
 * (release with nbd_internal_free_uri).
 *
 * Returns -1 on error with errno set (EINVAL for a malformed or unsupported
 * URI, ENOMEM if allocation failed), a NUL-terminated message written into
 * ERRBUF (at most ERRBUF_LEN bytes, truncated if needed; the message does not
 * start with a function name, the caller prefixes it), and *OUT left zeroed
 * with nothing allocated (nbd_internal_free_uri on it is harmless).
 * ERRBUF may be NULL when ERRBUF_LEN is 0. */
__attribute__((visibility("hidden")))
int nbd_internal_parse_uri (const char *uri, struct nbd_uri *out,
                            char *errbuf, size_t errbuf_len);

/* Free every string owned by U and reset it to the zeroed state.  U may be
 * NULL.  Does not free U itself. */
__attribute__((visibility("hidden")))
void nbd_internal_free_uri (struct nbd_uri *u);

/* Build a URI string from the components in U (as nbd_get_uri needs).
 * Returns a malloc'd string the caller must free, or NULL with errno set
 * (EINVAL if U cannot be expressed as an NBD URI, e.g. UNIX without a socket
 * path or an unknown transport; ENOMEM).
 *
 * Output format (matches libnbd 1.14 for ordinary names):
 *   scheme "://" [user "@"] [host [":" port]] "/" export
 *   ["?socket=..."] ["&tls-certificates=..."] ["&tls-psk-file=..."]
 *   ["&tls-verify-peer=false"   only if tls_verify_peer == 0]
 * The export name is percent-encoded except for unreserved characters,
 * sub-delims, '@' and '/'; query values are percent-encoded except for
 * unreserved characters and "/:@!$'()*+,;". */
__attribute__((visibility("hidden")))
char *nbd_internal_build_uri (const struct nbd_uri *u);

#endif /* NBD_INTERNAL_URI_H */
