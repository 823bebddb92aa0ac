/* C side of the Go binding: small wrappers that call one libnbd function
 * and, when it fails, copy the thread-local message and errno into a
 * caller-provided struct inside the same C call (a goroutine may change
 * OS threads between two cgo calls, so the thread-local error must never
 * be read by a later call).
 *
 * Ownership: every struct here lives in C memory (calloc) owned by the
 * Go Handle that allocated it; none of them ever holds a Go pointer,
 * except gonbd_cmd.buf while the Go side keeps that buffer pinned.
 */
#ifndef GONBD_SHIM_H
#define GONBD_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <libnbd.h>

#define GONBD_MSG_MAX 256

struct gonbd_err {
  int errnum;
  char msg[GONBD_MSG_MAX];
};

/* Result flags of gonbd_disconnect (GONBD_HAVE_DONE also of a drive call). */
#define GONBD_NEED_WRITE   1   /* direction includes WRITE: wake the writer */
#define GONBD_HAVE_DONE    2   /* completed commands are waiting to be retired */

/* One submission's out-values; one per pooled Go command.  The cookie is
 * the submitting call's return value; flags are set by gonbd_disconnect
 * only. */
struct gonbd_sub {
  unsigned flags;
  struct gonbd_err err;
};

/* Extents gathered by the block-status callback (C memory, grown with
 * realloc).  Each record is (context index, offset, length, flags). */
#define GONBD_MAX_CTX 8
struct gonbd_extent {
  uint32_t ctx;
  uint32_t flags;
  uint64_t offset;
  uint64_t length;
};
struct gonbd_extents {
  char *ctx[GONBD_MAX_CTX];
  size_t nctx;
  struct gonbd_extent *ext;
  size_t n, cap;
  int oom;
};
void gonbd_extents_reset (struct gonbd_extents *e);

/* One retired command as reported by gonbd_drive. */
struct gonbd_done {
  int64_t cookie;
  int ok;               /* 1 success, 0 failure (err filled) */
  struct gonbd_err err;
};

#define GONBD_DRIVE_MAX 64
struct gonbd_drive {
  int fd;               /* descriptor to poll (our dup) */
  int write_only;       /* in: never read (the writer goroutine) */
  unsigned dir;         /* direction after the call */
  unsigned flags;       /* GONBD_HAVE_DONE: more completed commands to drain */
  int connecting, negotiating, ready, dead, closed;
  int failed;           /* a notify call failed: err filled */
  struct gonbd_err err;
  int n;
  struct gonbd_done done[GONBD_DRIVE_MAX];
};

/* Run the state machine as far as it goes without blocking, then retire
 * up to GONBD_DRIVE_MAX completed commands. */
void gonbd_drive (struct nbd_handle *h, struct gonbd_drive *d);

/* Connecting phase: poll the handle's own fd with a timeout (ms) and
 * notify; returns when the handle left the connecting state or the
 * timeout expired.  Fills d's state fields and err on failure. */
void gonbd_connect_step (struct nbd_handle *h, struct gonbd_drive *d, int timeout_ms);

/* Commands.  Return the cookie (>0) or -1 with s->err filled. */
int64_t gonbd_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t off, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t off, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_flush (struct nbd_handle *h, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_trim (struct nbd_handle *h, uint64_t count, uint64_t off, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_zero (struct nbd_handle *h, uint64_t count, uint64_t off, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_cache (struct nbd_handle *h, uint64_t count, uint64_t off, uint32_t flags, struct gonbd_sub *s);
int64_t gonbd_block_status (struct nbd_handle *h, uint64_t count, uint64_t off, uint32_t flags, struct gonbd_extents *e, struct gonbd_sub *s);
int64_t gonbd_disconnect (struct nbd_handle *h, uint32_t flags, struct gonbd_sub *s);

/* Fill e with errnum and msg (truncated), or with this thread's libnbd
 * error; gonbd_fail returns -1. */
int gonbd_fail (struct gonbd_err *e, int errnum, const char *msg);
void gonbd_capture (struct gonbd_err *e);

/* The typed shims of single calls (gonbd_<call>) are generated from the
 * table in api/: see api_gen.h. */
#include "api_gen.h"

struct nbd_handle *gonbd_create (struct gonbd_err *e);

/* nbd_aio_connect with a sockaddr built here: a Unix path (a leading '@'
 * names an abstract socket) or an IPv4/IPv6 address (ip is 4 or 16
 * bytes in network order). */
int gonbd_aio_connect_unix_addr (struct nbd_handle *h, const char *path, size_t len, struct gonbd_err *e);
int gonbd_aio_connect_inet (struct nbd_handle *h, const unsigned char *ip, int iplen, int port, uint32_t scope, struct gonbd_err *e);

/* Option negotiation (nbd_set_opt_mode): one user option in flight.
 * The completion callback and the list/context callbacks only write C
 * memory here; names (and descriptions) are strdup'd into arrays that the
 * Go side converts and frees with gonbd_opt_reset. */
struct gonbd_opt {
  int done;             /* the completion callback ran */
  int err;              /* its error value (0 = success) */
  char **names;         /* OptList: export names; OptListMetaContext: contexts */
  char **descs;         /* OptList: descriptions (never NULL entries) */
  size_t n, cap;
  int oom;
};
enum {
  GONBD_OPT_GO = 1,
  GONBD_OPT_INFO,
  GONBD_OPT_ABORT,
  GONBD_OPT_LIST,
  GONBD_OPT_LIST_META_CONTEXT,
  GONBD_OPT_STARTTLS,           /* needs libnbd 1.16's nbd_aio_opt_starttls */
};
void gonbd_opt_reset (struct gonbd_opt *o);
/* Starts the option with nbd_aio_opt_*; -1 with e filled on failure. */
int gonbd_aio_opt (struct nbd_handle *h, int which, struct gonbd_opt *o, struct gonbd_err *e);
/* Like gonbd_connect_step while an option is in flight: polls the handle's
 * fd up to timeout_ms and notifies; fills d's state fields. */
void gonbd_opt_step (struct nbd_handle *h, struct gonbd_drive *d, int timeout_ms);

#endif
