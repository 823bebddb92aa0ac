/* internal.h: the handle, the command record and every cross-file
 * prototype of the library.  Nothing here is visible outside libnbd.so
 * (the library is built with -fvisibility=hidden). */
#ifndef NBD_INTERNAL_H
#define NBD_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LIBNBD_NONNULL(...)
#include "libnbd.h"
#include "wire.h"
#include "uri.h"
#include "unlocked.h"

#define NBD_API __attribute__((visibility ("default")))
#define NBD_PRINTF(a, b) __attribute__((format (printf, a, b)))

/* Requests larger than this are refused before sending unless the server
 * advertised a larger maximum block size (the protocol's safe default). */
#define NBD_MAX_REQUEST       (64 * 1024 * 1024)
/* Receive buffer: large enough to hold any option reply we accept and to
 * pull many small replies out of the socket with one recv. */
#define NBD_RBUF_SIZE         (256 * 1024)
/* A partial reply this far into rbuf is moved back to its start. */
#define NBD_RBUF_COMPACT      (16 * 1024)
/* Upper bound on one block-status chunk payload we are willing to buffer:
 * 2^20 descriptors, the most the protocol says a server should send. */
#define NBD_MAX_BS_DESCRIPTORS (1U << 20)
#define NBD_MAX_BS_PAYLOAD    (4 + 8 * NBD_MAX_BS_DESCRIPTORS)
#define NBD_MAX_BS_EXT_PAYLOAD (NBD_BS_EXT_PREFIX + NBD_BS_EXT_DESCRIPTOR * NBD_MAX_BS_DESCRIPTORS)
/* Reads at least this large are received straight into the caller's buffer;
 * while any is outstanding, reply headers are read in small pieces so the
 * payload that follows is not copied through rbuf. */
#define NBD_BIG_READ          (64 * 1024)
/* Queue this many bytes before sending without waiting for the event loop. */
#define NBD_SEND_BATCH_BYTES  (256 * 1024)
/* nbd_poll batches: while at least NBD_BATCH_INFLIGHT replies are due and
 * fewer than NBD_BATCH_REQUESTS requests are queued, replies that have
 * already arrived are handled before the queue is sent.  Never across a
 * wait: when nothing has arrived the queue goes out first. */
#define NBD_BATCH_INFLIGHT    16
#define NBD_BATCH_REQUESTS    16
/* nbd_shutdown waits this long for the server to close after NBD_CMD_DISC
 * (as libnbd does, so that the server has finished with the connection
 * before the caller moves on), then closes the socket itself. */
#define NBD_DISC_GRACE_MS     2000
/* Hash buckets of the in-flight index (a power of two). */
#define NBD_INFLIGHT_BUCKETS  64

/* ---- states (see README.md beside this file) --------------------------- */
enum nbd_state {
  ST_CREATED,
  ST_CONNECTING,        /* non-blocking connect() in progress */
  ST_HS_MAGIC,          /* awaiting NBDMAGIC + second magic */
  ST_HS_OLDSTYLE,       /* awaiting the rest of an oldstyle greeting */
  ST_HS_GFLAGS,         /* awaiting newstyle handshake flags */
  ST_HS_OPT_REPLY,      /* option sent, awaiting (more) option replies */
  ST_HS_EXPORT_NAME,    /* NBD_OPT_EXPORT_NAME sent, awaiting its reply */
  ST_HS_TLS,            /* STARTTLS accepted: the TLS handshake is running */
  ST_NEGOTIATING,       /* opt mode: idle, waiting for an nbd_opt_* call */
  ST_TRANSMISSION,      /* connected: commands may be issued */
  ST_CLOSED,            /* orderly shutdown finished */
  ST_DEAD,              /* fatal error; see h->dead_errno */
};

/* ---- transport (transport.c) --------------------------------------------
 * The byte pipe under the protocol.  Each operation works on h->fd and
 * returns what the matching system call would (-1 with errno on error). */
struct iovec;
struct msghdr;
struct nbd_transport {
  const char *name;
  ssize_t (*recv) (struct nbd_handle *h, void *buf, size_t len);
  ssize_t (*readv) (struct nbd_handle *h, const struct iovec *iov, int iovcnt);
  ssize_t (*sendmsg) (struct nbd_handle *h, const struct msghdr *msg);  /* never SIGPIPE */
  int (*shutdown) (struct nbd_handle *h, int how);
  int (*close) (struct nbd_handle *h, int fd);
  /* True when bytes are buffered above the kernel (so poll() would not
   * report them); always false for the plain socket. */
  bool (*pending) (struct nbd_handle *h);
};

/* ---- commands ---------------------------------------------------------- */
struct covered_range { uint64_t start, end; };

struct command {
  struct command *next;
  uint64_t cookie;
  uint16_t type;            /* NBD_CMD_* */
  uint16_t wire_flags;      /* NBD_CMD_FLAG_* sent */
  uint64_t offset;
  uint64_t count;
  void *buf;                /* READ destination / WRITE source; caller's,
                               must live until the command retires */
  nbd_completion_callback completion;
  nbd_chunk_callback chunk;
  nbd_extent_callback extent;
  nbd_extent64_callback extent64;
  int error;                /* first errno seen; 0 = success so far */
  bool done;                /* final reply processed (or stranded) */
  bool sync;                /* owned by a waiting sync call, not the done list */
  bool callback_failed;     /* a user callback already returned -1 */
  uint32_t nr_data_chunks;  /* OFFSET_DATA + OFFSET_HOLE chunks seen */
  uint64_t covered;         /* READ bytes covered so far */
  struct covered_range *ranges;  /* sorted, disjoint; malloc'd */
  size_t nr_ranges, cap_ranges;
  uint32_t nr_bs_chunks;
  uint32_t bs_seen_mask;    /* which negotiated contexts replied (first 32) */
  struct command *iprev;     /* in-flight list: previous (next is ->next) */
  struct command *hnext;     /* in-flight index: next in the same bucket */
  /* A request payload other than a write's data (the block status
   * filter: effect length + context ids); owned, freed with the record. */
  uint8_t *payload;
  uint32_t payload_len;
  uint8_t hdr_len;          /* NBD_REQUEST_SIZE, or NBD_EXT_REQUEST_SIZE */
  uint8_t hdr[NBD_EXT_REQUEST_SIZE];
};

struct meta_context { uint32_t id; char *name; };

/* Reply parser phases. */
enum reply_phase {
  RP_HEADER,           /* collecting a reply/chunk header */
  RP_SIMPLE_DATA,      /* streaming simple-reply READ data into cmd->buf */
  RP_CHUNK_BUFFERED,   /* collecting a chunk payload into h->pbuf */
  RP_CHUNK_DATA,       /* streaming OFFSET_DATA bytes into cmd->buf */
};

struct nbd_handle {
  pthread_mutex_t lock;
  struct waiter *waiters_list; /* sync callers sleeping while another thread polls */

  /* settings */
  char *name;
  uintptr_t private_data;
  bool debug;
  nbd_debug_callback debug_cb;
  char *export_name;
  int tls;
  char *tls_certificates, *tls_username, *tls_psk_file, *tls_hostname;
  bool tls_verify_peer;
  struct nbd_tls *tls_state;  /* the TLS session (tls.c), or NULL */
  bool tls_negotiated;        /* the connection is encrypted */
  bool tls_tried;             /* the automatic STARTTLS was sent */
  bool request_sr;
  bool request_block_size;
  bool full_info;
  bool pread_initialize;
  bool opt_mode;
  uint32_t handshake_flags;
  uint32_t strict;
  uint32_t uri_allow_transports;
  int uri_allow_tls;
  bool uri_allow_local_file;
  bool uri_username_set;      /* the username came from a URI: nbd_get_uri shows it */
  bool request_meta;          /* send SET_META_CONTEXT automatically */
  bool request_eh;            /* nbd_set_request_extended_headers */
  char *sa_name;              /* LISTEN_FDNAMES for socket activation, or NULL */
  uint64_t bytes_sent, chunks_sent, bytes_received, chunks_received;
  char **req_meta;            /* contexts asked for with nbd_add_meta_context */
  size_t nr_req_meta;
  char **sent_meta;           /* the queries of the last (SET|LIST)_META_CONTEXT sent */
  size_t nr_sent_meta;
  char **opt_queries;         /* a *_queries call's list, during begin_user_option only */
  size_t nr_opt_queries;
  struct nbd_uri *uri_parts;  /* where we connected, for nbd_get_uri; owned */

  /* connection */
  enum nbd_state state;       /* written only by states.c (nbd_internal_set_state) */
  const struct nbd_transport *transport;
  int fd;                     /* owned; closed on DEAD/CLOSED or in nbd_close */
  int deferred_close_fd;      /* closed once the poller returns, or -1 */
  pid_t pid;                  /* subprocess of connect_command, or 0 */
  char *sa_tmpdir, *sa_sockpath; /* systemd socket activation scratch */
  struct addrinfo *ai_list, *ai_next;
  int connect_errno;
  int dead_errno;
  char *dead_msg;
  /* What a parser found that ends the connection.  The parsers only
   * record it (nbd_internal_parse_fail, or parse_closed after the server
   * acknowledged NBD_OPT_ABORT); whoever fed them makes the transition
   * (nbd_internal_apply_parse_result). */
  int parse_errno;
  char *parse_msg;
  bool parse_closed;

  /* negotiation results */
  const char *protocol;       /* static string */
  uint16_t gflags;
  bool sr_negotiated;         /* sticky: a later refusal does not clear it */
  bool eh_negotiated;         /* extended headers (implies sr_negotiated); sticky */
  bool have_info;
  uint64_t size;
  uint16_t eflags;
  uint32_t block_min, block_pref, block_max;
  char *canonical_name, *description;
  struct meta_context *meta;
  size_t nr_meta;
  bool meta_valid;            /* SET_META_CONTEXT reply processed */

  /* option in progress */
  uint32_t opt_current;       /* NBD_OPT_* awaiting replies, 0 if none */
  uint32_t opt_final;         /* what the current sequence ends with: GO, INFO, ... */
  bool opt_user;              /* started by an nbd_(aio_)opt_* call */
  int opt_err;                /* errno of the finished option, 0 = success */
  char *opt_err_msg;
  int opt_count;              /* items reported by LIST / LIST_META_CONTEXT */
  bool opt_done;              /* the user's option call has finished */
  bool opt_acked;             /* ... and the server acknowledged it (SR, EH) */
  nbd_completion_callback opt_completion;
  nbd_list_callback opt_list_cb;
  nbd_context_callback opt_ctx_cb;

  /* I/O buffers */
  uint8_t *rbuf;              /* NBD_RBUF_SIZE bytes */
  size_t rstart, rend;
  uint8_t *wbuf;              /* handshake output */
  size_t wlen, woff, wcap;

  /* reply parser */
  enum reply_phase rphase;
  uint8_t rhdr[NBD_EXT_REPLY_SIZE];
  size_t rhdr_len;
  struct command *rcmd;
  uint16_t rflags, rtype;
  uint32_t rlength;
  uint64_t rdata_offset;      /* OFFSET_DATA absolute offset */
  uint8_t *rdest;             /* RP_*_DATA destination */
  uint64_t rremaining;
  uint8_t *pbuf;              /* buffered chunk payload */
  size_t pbuf_len, pbuf_need, pbuf_cap;

  /* commands */
  uint64_t next_cookie;
  struct command *sendq_head, *sendq_tail;  /* issued, not fully sent */
  size_t send_off;            /* bytes of sendq_head already sent */
  size_t sendq_bytes;
  struct command *inflight_head, *inflight_tail; /* sent, awaiting reply */
  /* Replies may come in any order: the in-flight commands are also hashed
   * by cookie (cookies are sequential, so chains stay about one long). */
  struct command *inflight_index[NBD_INFLIGHT_BUCKETS];
  struct command *done_head, *done_tail;    /* completed, not retired */
  struct command *replied_head, *replied_tail; /* reported by reply.c, to complete */
  int nr_sendq, nr_inflight, nr_done;
  int nr_big_reads;           /* queued or in-flight reads >= NBD_BIG_READ */
  struct command *free_cmds;  /* recycled command records */
  int nr_free_cmds;
  bool disc_queued, disc_sent;
  bool defer_send;            /* nbd_poll is handling arrived replies first */
  bool send_held;             /* the last nbd_poll held the queue: the next sends it */
  bool draining;              /* reading the last words of a peer that hung up */

  /* threads */
  /* Threads blocked in poll() on h->fd: a sync caller's wait and an
   * nbd_poll may poll at once, so this is a count, not a flag. */
  int nr_pollers;
  int wake_fd;                /* eventfd to interrupt that poll(), or -1 */
};

/* A sync caller that sleeps while another thread polls.  It is woken
 * alone: when what it waits for has happened, or to take over polling. */
struct waiter {
  struct waiter *next;
  pthread_cond_t cond;
  bool (*done) (struct nbd_handle *, void *);
  void *arg;
};

/* Prototypes by file, in layer order: a file calls only files of the
 * layers above it in this list (check-layers enforces this from the
 * objects' symbols; api.c, generated, is the top):
 *   0 errors.c, uri.c        messages, tracing; the URI parser
 *   1 transport.c, tls.c,    the byte pipe (plain and TLS); command
 *     cmds.c                 records and queues
 *   2 states.c               the one writer of h->state
 *   3 handshake.c, reply.c   parsers: consume bytes, record fatal errors
 *   4 dial.c                 connecting sockets
 *   5 socket.c               moving bytes between transport and parsers
 *   6 aio.c                  the event loop, waiting, waking waiters
 *   7 commands.c, opt.c, connect.c, uri_connect.c, info.c, handle.c,
 *     newer.c                the calls (nbd_unlocked_*)
 */

/* ---- errors.c ----------------------------------------------------------- */
extern void nbd_internal_set_call (const char *name);
extern const char *nbd_internal_get_call (void);
extern void nbd_internal_set_error (int errnum, const char *fmt, ...) NBD_PRINTF (2, 3);
extern void nbd_internal_set_error_raw (int errnum, const char *msg);
/* Records a fatal error found by a parser (the first one wins); returns -1. */
extern int nbd_internal_parse_fail (struct nbd_handle *h, int errnum, const char *fmt, ...) NBD_PRINTF (3, 4);
extern void nbd_internal_debug (struct nbd_handle *h, const char *fmt, ...) NBD_PRINTF (2, 3);
#define set_error nbd_internal_set_error
#define debug(h, ...) do { if (nbd_internal_debugging (h)) nbd_internal_debug ((h), __VA_ARGS__); } while (0)
/* Call tracing by the generated wrappers (api.c). */
extern void nbd_internal_debug_enter (struct nbd_handle *h, const char *fmt, ...) NBD_PRINTF (2, 3);
extern void nbd_internal_debug_leave_int (struct nbd_handle *h, bool failed, const char *fmt, ...) NBD_PRINTF (3, 4);
extern void nbd_internal_debug_leave_str (struct nbd_handle *h, const char *ret);
/* Quoted and escaped for a trace line; valid until a few more calls on
 * this thread. */
extern const char *nbd_internal_printable_string (const char *s);
extern const char *nbd_internal_printable_list (char **list);

/* ---- transport.c -------------------------------------------------------- */
extern const struct nbd_transport nbd_internal_plain_transport;
/* One buffer through h->transport's sendmsg. */
extern ssize_t nbd_internal_send (struct nbd_handle *h, const void *buf, size_t len);

/* ---- tls.c (the same layer as transport.c) ------------------------------
 * On failure these return -1 with errno set and leave a message for
 * nbd_internal_tls_error; they never change the handle's state. */
extern const struct nbd_transport nbd_internal_tls_transport;
/* Why TLS cannot be used in a build without GnuTLS (the C library's
 * Makefile always has it; the Go package has it with a build tag). */
#define NBD_NO_TLS_MSG "this build of libnbd has no TLS support (it was compiled " \
  "without GnuTLS; Go programs need the gnutls build tag: go build -tags gnutls)"
extern bool nbd_internal_tls_available (void);
/* Loads the credentials the settings name and creates a client session
 * on h->fd; HOSTNAME (or NULL) is sent as SNI and checked against the
 * server's certificate. */
extern int nbd_internal_tls_start (struct nbd_handle *h, const char *hostname);
/* Runs the handshake as far as the socket allows: 1 done, 0 call again
 * when nbd_internal_tls_direction is ready, -1 failed. */
extern int nbd_internal_tls_handshake (struct nbd_handle *h);
extern unsigned nbd_internal_tls_direction (struct nbd_handle *h);
extern const char *nbd_internal_tls_error (struct nbd_handle *h);
extern void nbd_internal_tls_free (struct nbd_handle *h);

/* ---- cmds.c ------------------------------------------------------------- */
extern struct command *nbd_internal_cmd_alloc (struct nbd_handle *h);
extern void nbd_internal_cmd_free (struct nbd_handle *h, struct command *cmd);
extern void nbd_internal_free_callbacks (struct command *cmd);
/* Runs the completion callback, or queues the command for retirement. */
extern void nbd_internal_cmd_complete (struct nbd_handle *h, struct command *cmd);
/* Completes the commands the reply parser reported finished. */
extern void nbd_internal_complete_replied (struct nbd_handle *h);
extern void nbd_internal_fail_all_commands (struct nbd_handle *h, int errnum);
extern void nbd_internal_add_inflight (struct nbd_handle *h, struct command *c);
extern struct command *nbd_internal_find_inflight (struct nbd_handle *h, uint64_t cookie, bool unlink);

/* ---- states.c ----------------------------------------------------------- */
extern const char *nbd_internal_state_name (enum nbd_state st);
/* The public state (one NBD_STATE_* bit of unlocked.h). */
extern unsigned nbd_internal_public_state (const struct nbd_handle *h);
/* False, with libnbd's error (ENOTCONN before connecting, else EINVAL),
 * unless the public state is in mask; must_be words the mask. */
extern bool nbd_internal_check_state (struct nbd_handle *h, unsigned mask, const char *must_be);
/* The only writer of h->state: a transition the state diagram (README.md)
 * does not allow is an internal error and kills the handle. */
extern void nbd_internal_set_state (struct nbd_handle *h, enum nbd_state next);
/* Turns what the parsers recorded into DEAD (returns -1) or CLOSED. */
extern int nbd_internal_apply_parse_result (struct nbd_handle *h);
extern bool nbd_internal_disc_idle (const struct nbd_handle *h);
extern bool nbd_internal_is_shut_down (const struct nbd_handle *h);
extern void nbd_internal_set_dead (struct nbd_handle *h, int errnum, const char *fmt, ...) NBD_PRINTF (3, 4);
extern void nbd_internal_set_closed (struct nbd_handle *h);
extern void nbd_internal_close_socket (struct nbd_handle *h);
extern void nbd_internal_close_wake_fd (struct nbd_handle *h);
extern bool nbd_internal_is_handshaking (const struct nbd_handle *h);
extern unsigned nbd_internal_direction (struct nbd_handle *h);
#define set_dead nbd_internal_set_dead


/* ---- handshake.c -------------------------------------------------------- */
extern void nbd_internal_start_handshake (struct nbd_handle *h);
/* Consumes whole handshake messages from p; returns bytes used, 0 when a
 * message is incomplete, -1 after a fatal error (recorded with
 * nbd_internal_parse_fail; the caller applies it). */
extern ssize_t nbd_internal_handshake_consume (struct nbd_handle *h, const uint8_t *p, size_t n);
extern int nbd_internal_queue_option (struct nbd_handle *h, uint32_t opt,
                                      const void *data, size_t len);
extern int nbd_internal_begin_user_option (struct nbd_handle *h, uint32_t opt);
/* The TLS handshake after STARTTLS finished: forget what plaintext
 * negotiation learned and go on with the next option. */
extern void nbd_internal_handshake_tls_done (struct nbd_handle *h);
extern void nbd_internal_reset_info (struct nbd_handle *h);
/* Forgets the export's details and its meta contexts (the export name
 * changed in option mode). */
extern void nbd_internal_forget_export (struct nbd_handle *h);

/* Queues client handshake bytes (sent by socket.c). */
extern int nbd_internal_wbuf_append (struct nbd_handle *h, const void *p, size_t n);

/* ---- reply.c ------------------------------------------------------------ */
/* Consumes reply bytes; returns bytes used or -1 after a fatal error
 * (recorded with nbd_internal_parse_fail; the caller applies it). */
extern ssize_t nbd_internal_reply_consume (struct nbd_handle *h, const uint8_t *p, size_t n);
/* If the parser is streaming payload into a caller buffer, returns where
 * and how much, so the socket layer can receive straight into it. */
extern bool nbd_internal_reply_direct (struct nbd_handle *h, uint8_t **dest, size_t *len);
extern ssize_t nbd_internal_reply_direct_done (struct nbd_handle *h, size_t n);
extern int nbd_internal_nbd_errno (uint32_t err);

/* ---- dial.c -------------------------------------------------------------- */
/* fd becomes owned by h on success; on failure the caller keeps it. */
extern int nbd_internal_adopt_socket (struct nbd_handle *h, int fd);
extern int nbd_internal_start_connect (struct nbd_handle *h, int family,
                                       const struct sockaddr *sa, socklen_t len);
extern int nbd_internal_connect_tcp_addresses (struct nbd_handle *h);
extern int nbd_internal_connect_progress (struct nbd_handle *h);
extern int nbd_internal_refuse_tls_required (struct nbd_handle *h);

/* ---- socket.c ----------------------------------------------------------- */
extern ssize_t nbd_internal_feed (struct nbd_handle *h, const uint8_t *p, size_t n);
extern int nbd_internal_on_readable (struct nbd_handle *h);
extern int nbd_internal_on_writable (struct nbd_handle *h);
extern int nbd_internal_flush (struct nbd_handle *h);

/* ---- aio.c -------------------------------------------------------------- */
extern int nbd_internal_wait_command (struct nbd_handle *h, struct command *cmd);
extern int nbd_internal_wait_eof (struct nbd_handle *h, int timeout_ms);
extern int nbd_internal_wait_until (struct nbd_handle *h, bool (*done) (const struct nbd_handle *));
extern int nbd_internal_poll_once (struct nbd_handle *h, int timeout, int extra_fd);
/* Which sleeping sync callers to wake after events were processed. */
enum wake_mode {
  WAKE_DONE,                  /* those whose wait is over */
  WAKE_DONE_HANDOVER,         /* those, and one more to take over polling */
  WAKE_ALL,                   /* everyone: the connection ended */
};
extern void nbd_internal_wake_waiters (struct nbd_handle *h, enum wake_mode mode);
extern int nbd_internal_poll_call (struct nbd_handle *h, int timeout, int extra_fd);

/* ---- connect.c / uri_connect.c -------------------------------------------- */
extern int nbd_internal_connect_tcp (struct nbd_handle *h, const char *host, const char *port);
extern int nbd_internal_connect_unix (struct nbd_handle *h, const char *path);
extern int nbd_internal_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port);
extern int nbd_internal_wait_connected (struct nbd_handle *h);
extern void nbd_internal_reap_child (struct nbd_handle *h);
/* Where the handle connected, in URI form, for nbd_get_uri. */
extern int nbd_internal_remember_endpoint (struct nbd_handle *h, int transport,
                                           const char *host, const char *port,
                                           uint32_t cid, const char *socket);

/* ---- small helpers ------------------------------------------------------ */
/* Bytes a request occupies on the wire: header, then a write's data or
 * the request's own payload. */
static inline size_t
nbd_internal_wire_size (const struct command *c)
{
  return c->hdr_len + (c->type == NBD_CMD_WRITE ? c->count : c->payload_len);
}

static inline bool
nbd_internal_is_big_read (const struct command *c)
{
  return c->type == NBD_CMD_READ && c->count >= NBD_BIG_READ;
}

/* The largest read or write payload we send on this connection: the
 * server's maximum block size when it is below our own cap. */
static inline uint64_t
nbd_internal_max_payload (const struct nbd_handle *h)
{
  uint64_t max = NBD_MAX_REQUEST;
  if (h->block_max && h->block_max != 0xffffffff && h->block_max < max)
    max = h->block_max;
  return max;
}

/* Threads blocked in poll() on this handle look again (at the socket's
 * direction, or at a reply another thread took for them). */
static inline void
nbd_internal_wake_pollers (struct nbd_handle *h)
{
  if (h->nr_pollers > 0 && h->wake_fd >= 0)
    eventfd_write (h->wake_fd, 1);
}

/* No reply is partly received: the parser waits for a fresh header. */
static inline bool
nbd_internal_between_replies (const struct nbd_handle *h)
{
  return h->rphase == RP_HEADER && h->rhdr_len == 0;
}

/* Read racily by calls that take no lock (as libnbd does); written under
 * the lock. */
static inline bool
nbd_internal_debugging (struct nbd_handle *h)
{
  return __atomic_load_n (&h->debug, __ATOMIC_RELAXED);
}

/* An nbd_unlocked_* call keeps a closure the wrapper passed by pointer:
 * the wrapper then no longer frees it. */
#define TAKE_CALLBACK(dst, src) \
  do { (dst) = *(src); (src)->callback = NULL; (src)->free = NULL; } while (0)

#define FREE_CALLBACK(cb) \
  do { if ((cb).free) { void (*f_) (void *) = (cb).free; (cb).free = NULL; f_ ((cb).user_data); } \
       (cb).callback = NULL; (cb).user_data = NULL; } while (0)

#endif /* NBD_INTERNAL_H */
