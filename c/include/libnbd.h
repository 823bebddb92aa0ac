/* libnbd.h: public interface of a clean-room NBD client library that is
 * source and binary compatible with the libnbd 1.14 client API.
 *
 * Conventions used by every call below:
 *  - A call that fails returns -1 (or NULL) and leaves a per-thread message
 *    (nbd_get_error, always starting with the call's name) and a per-thread,
 *    non-zero errno (nbd_get_errno).
 *  - "Ownership" notes say who frees or closes what.  Strings returned as
 *    `char *` are malloc'd copies the caller must free(); `const char *`
 *    results are owned by the library.
 *  - Callback structs are passed by value.  The library calls .free(user_data)
 *    exactly once when it no longer needs the callback (even if .callback was
 *    never called); a NULL .callback means "no callback".
 */
#ifndef LIBNBD_H
#define LIBNBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nbd_handle;

/* The library itself defines this empty so that it can still check for
 * NULL arguments at run time (EFAULT) instead of trusting the annotation. */
#ifndef LIBNBD_NONNULL
#if defined(__GNUC__)
#define LIBNBD_NONNULL(...) __attribute__((__nonnull__(__VA_ARGS__)))
#else
#define LIBNBD_NONNULL(...)
#endif
#endif

/* ---- constants (values fixed by the libnbd ABI) ------------------------ */
#define LIBNBD_TLS_DISABLE                   0
#define LIBNBD_TLS_ALLOW                     1
#define LIBNBD_TLS_REQUIRE                   2

#define LIBNBD_SIZE_MINIMUM                  0
#define LIBNBD_SIZE_PREFERRED                1
#define LIBNBD_SIZE_MAXIMUM                  2

#define LIBNBD_CMD_FLAG_FUA                  0x01U
#define LIBNBD_CMD_FLAG_NO_HOLE              0x02U
#define LIBNBD_CMD_FLAG_DF                   0x04U
#define LIBNBD_CMD_FLAG_REQ_ONE              0x08U
#define LIBNBD_CMD_FLAG_FAST_ZERO            0x10U
#define LIBNBD_CMD_FLAG_MASK                 0x1fU

#define LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE 0x01U
#define LIBNBD_HANDSHAKE_FLAG_NO_ZEROES      0x02U
#define LIBNBD_HANDSHAKE_FLAG_MASK           0x03U

#define LIBNBD_STRICT_COMMANDS               0x01U
#define LIBNBD_STRICT_FLAGS                  0x02U
#define LIBNBD_STRICT_BOUNDS                 0x04U
#define LIBNBD_STRICT_ZERO_SIZE              0x08U
#define LIBNBD_STRICT_ALIGN                  0x10U
#define LIBNBD_STRICT_MASK                   0x1fU

#define LIBNBD_ALLOW_TRANSPORT_TCP           0x01U
#define LIBNBD_ALLOW_TRANSPORT_UNIX          0x02U
#define LIBNBD_ALLOW_TRANSPORT_VSOCK         0x04U
#define LIBNBD_ALLOW_TRANSPORT_MASK          0x07U

#define LIBNBD_SHUTDOWN_ABANDON_PENDING      0x10000U
#define LIBNBD_SHUTDOWN_MASK                 0x10000U

#define LIBNBD_AIO_DIRECTION_READ            1
#define LIBNBD_AIO_DIRECTION_WRITE           2
#define LIBNBD_AIO_DIRECTION_BOTH            3

#define LIBNBD_READ_DATA                     1
#define LIBNBD_READ_HOLE                     2
#define LIBNBD_READ_ERROR                    3

#define LIBNBD_NAMESPACE_BASE                "base:"
#define LIBNBD_CONTEXT_BASE_ALLOCATION       "base:allocation"
#define LIBNBD_STATE_HOLE                    1
#define LIBNBD_STATE_ZERO                    2

/* ---- callbacks ---------------------------------------------------------- */
/* Read chunk: subbuf points inside the caller's read buffer; status is one
 * of LIBNBD_READ_*.  Returning -1 fails the command with *error. */
typedef struct {
  int (*callback) (void *user_data, const void *subbuf, size_t count,
                   uint64_t offset, unsigned status, int *error);
  void *user_data;
  void (*free) (void *user_data);
} nbd_chunk_callback;
#define LIBNBD_HAVE_NBD_CHUNK_CALLBACK 1

/* Command completion: *error holds the command's errno (0 on success).
 * Returning 1 retires the command automatically (it then cannot be seen by
 * nbd_aio_command_completed). */
typedef struct {
  int (*callback) (void *user_data, int *error);
  void *user_data;
  void (*free) (void *user_data);
} nbd_completion_callback;
#define LIBNBD_HAVE_NBD_COMPLETION_CALLBACK 1

typedef struct {
  int (*callback) (void *user_data, const char *context, const char *msg);
  void *user_data;
  void (*free) (void *user_data);
} nbd_debug_callback;
#define LIBNBD_HAVE_NBD_DEBUG_CALLBACK 1

/* Block status: entries holds nr_entries/2 (length, flags) pairs; the array
 * is only valid during the call. */
typedef struct {
  int (*callback) (void *user_data, const char *metacontext,
                   uint64_t offset, uint32_t *entries, size_t nr_entries,
                   int *error);
  void *user_data;
  void (*free) (void *user_data);
} nbd_extent_callback;
#define LIBNBD_HAVE_NBD_EXTENT_CALLBACK 1

typedef struct {
  int (*callback) (void *user_data, const char *name, const char *description);
  void *user_data;
  void (*free) (void *user_data);
} nbd_list_callback;
#define LIBNBD_HAVE_NBD_LIST_CALLBACK 1

typedef struct {
  int (*callback) (void *user_data, const char *name);
  void *user_data;
  void (*free) (void *user_data);
} nbd_context_callback;
#define LIBNBD_HAVE_NBD_CONTEXT_CALLBACK 1

#define NBD_NULL_COMPLETION ((nbd_completion_callback) { .callback = NULL })

/* ---- handle lifecycle and errors ------------------------------------------ */
/* Returns a new handle in the created state, or NULL. */
extern struct nbd_handle *nbd_create (void);
#define LIBNBD_HAVE_NBD_CREATE 1
/* Closes the socket the handle owns, reaps its subprocess, runs every pending
 * free callback once, and frees h.  NULL is harmless. */
extern void nbd_close (struct nbd_handle *h);
#define LIBNBD_HAVE_NBD_CLOSE 1
/* Last error of the calling thread; owned by the library (valid until the
 * thread's next failing call). */
extern const char *nbd_get_error (void);
#define LIBNBD_HAVE_NBD_GET_ERROR 1
extern int nbd_get_errno (void);
#define LIBNBD_HAVE_NBD_GET_ERRNO 1

/* ---- settings --------------------------------------------------------- */
extern int nbd_set_debug (struct nbd_handle *h, bool debug) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_DEBUG 1
extern int nbd_get_debug (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_DEBUG 1
/* The library keeps the callback until replaced, cleared or nbd_close. */
extern int nbd_set_debug_callback (struct nbd_handle *h, nbd_debug_callback debug_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_DEBUG_CALLBACK 1
extern int nbd_clear_debug_callback (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CLEAR_DEBUG_CALLBACK 1
/* The name is copied. */
extern int nbd_set_handle_name (struct nbd_handle *h, const char *handle_name) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_HANDLE_NAME 1
/* Caller frees the result. */
extern char *nbd_get_handle_name (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_HANDLE_NAME 1
/* Returns the previous value. */
extern uintptr_t nbd_set_private_data (struct nbd_handle *h, uintptr_t private_data) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_PRIVATE_DATA 1
extern uintptr_t nbd_get_private_data (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_PRIVATE_DATA 1
extern int nbd_set_export_name (struct nbd_handle *h, const char *export_name) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_EXPORT_NAME 1
extern char *nbd_get_export_name (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_EXPORT_NAME 1
extern int nbd_set_request_block_size (struct nbd_handle *h, bool request) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_REQUEST_BLOCK_SIZE 1
extern int nbd_get_request_block_size (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_REQUEST_BLOCK_SIZE 1
extern int nbd_set_full_info (struct nbd_handle *h, bool request) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_FULL_INFO 1
extern int nbd_get_full_info (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_FULL_INFO 1
extern char *nbd_get_canonical_export_name (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_CANONICAL_EXPORT_NAME 1
extern char *nbd_get_export_description (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_EXPORT_DESCRIPTION 1
/* TLS is not supported yet: LIBNBD_TLS_REQUIRE makes every connect fail
 * with ENOTSUP; the other TLS settings are stored and reported back. */
extern int nbd_set_tls (struct nbd_handle *h, int tls) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_TLS 1
extern int nbd_get_tls (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_TLS 1
extern int nbd_get_tls_negotiated (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_TLS_NEGOTIATED 1
extern int nbd_set_tls_certificates (struct nbd_handle *h, const char *dir) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_TLS_CERTIFICATES 1
extern int nbd_set_tls_verify_peer (struct nbd_handle *h, bool verify) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_TLS_VERIFY_PEER 1
extern int nbd_get_tls_verify_peer (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_TLS_VERIFY_PEER 1
extern int nbd_set_tls_username (struct nbd_handle *h, const char *username) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_TLS_USERNAME 1
extern char *nbd_get_tls_username (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_TLS_USERNAME 1
extern int nbd_set_tls_psk_file (struct nbd_handle *h, const char *filename) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_TLS_PSK_FILE 1
extern int nbd_set_request_structured_replies (struct nbd_handle *h, bool request) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_REQUEST_STRUCTURED_REPLIES 1
extern int nbd_get_request_structured_replies (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_REQUEST_STRUCTURED_REPLIES 1
extern int nbd_get_structured_replies_negotiated (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_STRUCTURED_REPLIES_NEGOTIATED 1
extern int nbd_set_handshake_flags (struct nbd_handle *h, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_HANDSHAKE_FLAGS 1
extern uint32_t nbd_get_handshake_flags (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_HANDSHAKE_FLAGS 1
extern int nbd_set_pread_initialize (struct nbd_handle *h, bool request) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_PREAD_INITIALIZE 1
extern int nbd_get_pread_initialize (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_PREAD_INITIALIZE 1
extern int nbd_set_strict_mode (struct nbd_handle *h, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_STRICT_MODE 1
extern uint32_t nbd_get_strict_mode (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_STRICT_MODE 1

/* ---- option negotiation mode ------------------------------------------- */
extern int nbd_set_opt_mode (struct nbd_handle *h, bool enable) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_OPT_MODE 1
extern int nbd_get_opt_mode (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_OPT_MODE 1
extern int nbd_opt_go (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_OPT_GO 1
extern int nbd_opt_abort (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_OPT_ABORT 1
/* Returns the number of exports listed. */
extern int nbd_opt_list (struct nbd_handle *h, nbd_list_callback list_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_OPT_LIST 1
extern int nbd_opt_info (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_OPT_INFO 1
/* Returns the number of contexts the server replied with. */
extern int nbd_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback context_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_OPT_LIST_META_CONTEXT 1
/* The name is copied. */
extern int nbd_add_meta_context (struct nbd_handle *h, const char *name) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_ADD_META_CONTEXT 1
extern ssize_t nbd_get_nr_meta_contexts (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_NR_META_CONTEXTS 1
extern char *nbd_get_meta_context (struct nbd_handle *h, size_t i) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_META_CONTEXT 1
extern int nbd_clear_meta_contexts (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CLEAR_META_CONTEXTS 1

/* ---- URIs ------------------------------------------------------------- */
extern int nbd_set_uri_allow_transports (struct nbd_handle *h, uint32_t mask) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_URI_ALLOW_TRANSPORTS 1
extern int nbd_set_uri_allow_tls (struct nbd_handle *h, int tls) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_URI_ALLOW_TLS 1
extern int nbd_set_uri_allow_local_file (struct nbd_handle *h, bool allow) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_URI_ALLOW_LOCAL_FILE 1
extern int nbd_connect_uri (struct nbd_handle *h, const char *uri) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CONNECT_URI 1
extern int nbd_aio_connect_uri (struct nbd_handle *h, const char *uri) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_URI 1
extern int nbd_supports_uri (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SUPPORTS_URI 1
/* Caller frees the result. */
extern char *nbd_get_uri (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_URI 1

/* ---- connecting ------------------------------------------------------- */
/* Every connect call needs a newly created handle (else -1, EINVAL).  The
 * sync forms return once the handshake is done (or the handle is negotiating
 * in opt mode); the aio forms return at once and the caller drives progress
 * with nbd_poll or nbd_aio_get_fd/get_direction/notify_*. */
extern int nbd_connect_unix (struct nbd_handle *h, const char *unixsocket) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CONNECT_UNIX 1
extern int nbd_aio_connect_unix (struct nbd_handle *h, const char *unixsocket) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_UNIX 1
/* Non-blocking AF_VSOCK connect to cid:port. */
extern int nbd_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CONNECT_VSOCK 1
extern int nbd_aio_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_VSOCK 1
/* Tries every address getaddrinfo returns, in order. */
extern int nbd_connect_tcp (struct nbd_handle *h, const char *hostname, const char *port) LIBNBD_NONNULL(1, 2, 3);
#define LIBNBD_HAVE_NBD_CONNECT_TCP 1
extern int nbd_aio_connect_tcp (struct nbd_handle *h, const char *hostname, const char *port) LIBNBD_NONNULL(1, 2, 3);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_TCP 1
/* Ownership of sock: once adopted the library owns it (makes it non-blocking
 * and close-on-exec, and closes it in nbd_close, or earlier if the
 * connection dies or is shut down).  If the call fails its state or argument
 * checks, the caller still owns it.  A handshake that fails after adoption
 * leaves the socket with the (now dead) handle. */
extern int nbd_connect_socket (struct nbd_handle *h, int sock) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CONNECT_SOCKET 1
extern int nbd_aio_connect_socket (struct nbd_handle *h, int sock) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_SOCKET 1
/* argv is copied; the child runs argv[0] (PATH searched) with its stdin and
 * stdout on a socketpair.  nbd_close kills (SIGTERM) and reaps it. */
extern int nbd_connect_command (struct nbd_handle *h, char **argv) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CONNECT_COMMAND 1
extern int nbd_aio_connect_command (struct nbd_handle *h, char **argv) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_COMMAND 1
/* Like connect_command, but the child gets a listening Unix socket as fd 3
 * with LISTEN_PID/LISTEN_FDS set (systemd socket activation). */
extern int nbd_connect_systemd_socket_activation (struct nbd_handle *h, char **argv) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CONNECT_SYSTEMD_SOCKET_ACTIVATION 1
extern int nbd_aio_connect_systemd_socket_activation (struct nbd_handle *h, char **argv) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_CONNECT_SYSTEMD_SOCKET_ACTIVATION 1
/* addr is copied. */
extern int nbd_aio_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t addrlen) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_CONNECT 1
/* Extension (not in libnbd): the blocking form of nbd_aio_connect.  It is
 * exported under its own version node, so programs that use it need this
 * library. */
extern int nbd_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t addrlen) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CONNECT 1
extern int nbd_kill_subprocess (struct nbd_handle *h, int signum) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_KILL_SUBPROCESS 1

/* ---- export information ------------------------------------------------ */
extern int nbd_is_read_only (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_IS_READ_ONLY 1
extern int nbd_can_flush (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_FLUSH 1
extern int nbd_can_fua (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_FUA 1
extern int nbd_is_rotational (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_IS_ROTATIONAL 1
extern int nbd_can_trim (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_TRIM 1
extern int nbd_can_zero (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_ZERO 1
extern int nbd_can_fast_zero (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_FAST_ZERO 1
extern int nbd_can_df (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_DF 1
extern int nbd_can_multi_conn (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_MULTI_CONN 1
extern int nbd_can_cache (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CAN_CACHE 1
extern int nbd_can_meta_context (struct nbd_handle *h, const char *metacontext) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_CAN_META_CONTEXT 1
/* "oldstyle", "newstyle" or "newstyle-fixed"; owned by the library. */
extern const char *nbd_get_protocol (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_PROTOCOL 1
extern int64_t nbd_get_size (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_SIZE 1
/* size_type is LIBNBD_SIZE_*; 0 means the server did not say. */
extern int64_t nbd_get_block_size (struct nbd_handle *h, int size_type) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_BLOCK_SIZE 1

/* ---- synchronous commands (each is its aio form plus a wait) ------------- */
/* buf must stay valid for the call. */
extern int nbd_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_PREAD 1
extern int nbd_pread_structured (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_chunk_callback chunk_callback, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_PREAD_STRUCTURED 1
extern int nbd_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_PWRITE 1
/* Sends NBD_CMD_DISC once queued commands are sent, then waits for the
 * server to close.  LIBNBD_SHUTDOWN_ABANDON_PENDING drops unsent commands. */
extern int nbd_shutdown (struct nbd_handle *h, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SHUTDOWN 1
extern int nbd_flush (struct nbd_handle *h, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_FLUSH 1
extern int nbd_trim (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_TRIM 1
extern int nbd_cache (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CACHE 1
extern int nbd_zero (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_ZERO 1
extern int nbd_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent_callback extent_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_BLOCK_STATUS 1

/* ---- event loop --------------------------------------------------------- */
/* Waits up to timeout ms (-1: forever) for the handle's fd and makes
 * progress.  Returns 1 if progress was made, 0 on timeout, -1 on error. */
extern int nbd_poll (struct nbd_handle *h, int timeout) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_POLL 1
/* The fd stays owned by the library: never close it.  The library closes
 * it when the connection dies or is shut down; drop it from your event
 * loop then (nbd_aio_get_fd fails from that point on). */
extern int nbd_aio_get_fd (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_GET_FD 1
extern unsigned nbd_aio_get_direction (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_GET_DIRECTION 1
extern int nbd_aio_notify_read (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_NOTIFY_READ 1
extern int nbd_aio_notify_write (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_NOTIFY_WRITE 1

/* ---- asynchronous negotiation -------------------------------------------- */
extern int nbd_aio_opt_go (struct nbd_handle *h, nbd_completion_callback completion_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_OPT_GO 1
extern int nbd_aio_opt_abort (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_OPT_ABORT 1
extern int nbd_aio_opt_list (struct nbd_handle *h, nbd_list_callback list_callback, nbd_completion_callback completion_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_OPT_LIST 1
extern int nbd_aio_opt_info (struct nbd_handle *h, nbd_completion_callback completion_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_OPT_INFO 1
extern int nbd_aio_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback context_callback, nbd_completion_callback completion_callback) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_OPT_LIST_META_CONTEXT 1

/* ---- asynchronous commands ---------------------------------------------- */
/* Each returns a cookie (>= 1) or -1.  Buffers must stay valid until the
 * command has completed (its completion callback ran, or
 * nbd_aio_command_completed returned non-zero for it). */
extern int64_t nbd_aio_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_PREAD 1
extern int64_t nbd_aio_pread_structured (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_chunk_callback chunk_callback, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_PREAD_STRUCTURED 1
extern int64_t nbd_aio_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_AIO_PWRITE 1
extern int nbd_aio_disconnect (struct nbd_handle *h, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_DISCONNECT 1
extern int64_t nbd_aio_flush (struct nbd_handle *h, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_FLUSH 1
extern int64_t nbd_aio_trim (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_TRIM 1
extern int64_t nbd_aio_cache (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_CACHE 1
extern int64_t nbd_aio_zero (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_ZERO 1
extern int64_t nbd_aio_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent_callback extent_callback, nbd_completion_callback completion_callback, uint32_t flags) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_BLOCK_STATUS 1
/* 1: completed OK and retired; 0: still in flight; -1: failed (retired). */
extern int nbd_aio_command_completed (struct nbd_handle *h, uint64_t cookie) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_COMMAND_COMPLETED 1
/* Cookie of a completed, not yet retired command; 0 if none is pending but
 * some are in flight; -1 (EINVAL) if nothing is in flight. */
extern int64_t nbd_aio_peek_command_completed (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_PEEK_COMMAND_COMPLETED 1
extern int nbd_aio_in_flight (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IN_FLIGHT 1

/* ---- state queries ----------------------------------------------------- */
extern int nbd_aio_is_created (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_CREATED 1
extern int nbd_aio_is_connecting (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_CONNECTING 1
extern int nbd_aio_is_negotiating (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_NEGOTIATING 1
extern int nbd_aio_is_ready (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_READY 1
extern int nbd_aio_is_processing (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_PROCESSING 1
extern int nbd_aio_is_dead (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_DEAD 1
extern int nbd_aio_is_closed (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_AIO_IS_CLOSED 1
/* Owned by the library. */
extern const char *nbd_connection_state (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_CONNECTION_STATE 1
extern const char *nbd_get_package_name (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_PACKAGE_NAME 1
extern const char *nbd_get_version (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_VERSION 1
extern int nbd_supports_tls (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SUPPORTS_TLS 1

/* ---- calls from later libnbd releases (1.16, 1.22) ---------------------- */
extern int nbd_supports_vsock (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SUPPORTS_VSOCK 1
/* Plaintext protocol bytes and messages (requests, options, reply chunks,
 * option replies) exchanged so far on this handle. */
extern uint64_t nbd_stats_bytes_sent (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_STATS_BYTES_SENT 1
extern uint64_t nbd_stats_chunks_sent (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_STATS_CHUNKS_SENT 1
extern uint64_t nbd_stats_bytes_received (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_STATS_BYTES_RECEIVED 1
extern uint64_t nbd_stats_chunks_received (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_STATS_CHUNKS_RECEIVED 1
/* LISTEN_FDNAMES for socket activation ("" = not set); the name is copied. */
extern int nbd_set_socket_activation_name (struct nbd_handle *h, const char *socket_name) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_SET_SOCKET_ACTIVATION_NAME 1
extern char *nbd_get_socket_activation_name (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_SOCKET_ACTIVATION_NAME 1
/* Whether connecting, nbd_opt_go and nbd_opt_info send SET_META_CONTEXT for
 * the contexts added with nbd_add_meta_context (default true). */
extern int nbd_set_request_meta_context (struct nbd_handle *h, bool request) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_SET_REQUEST_META_CONTEXT 1
extern int nbd_get_request_meta_context (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_REQUEST_META_CONTEXT 1
/* nbd_poll, also returning (1) when fd becomes readable; fd stays yours. */
extern int nbd_poll2 (struct nbd_handle *h, int fd, int timeout) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_POLL2 1
extern int64_t nbd_get_subprocess_pid (struct nbd_handle *h) LIBNBD_NONNULL(1);
#define LIBNBD_HAVE_NBD_GET_SUBPROCESS_PID 1
/* 1 if uri parses as an NBD URI this library understands, else 0. */
extern int nbd_is_uri (struct nbd_handle *h, const char *uri) LIBNBD_NONNULL(1, 2);
#define LIBNBD_HAVE_NBD_IS_URI 1

#ifdef __cplusplus
}
#endif

#endif /* LIBNBD_H */
