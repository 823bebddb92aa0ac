/* wire.h: NBD protocol constants and on-the-wire layouts (all big-endian).
 * Only facts from the NBD protocol document live here; no logic. */
#ifndef NBD_WIRE_H
#define NBD_WIRE_H

#include <stdint.h>

#define NBD_MAGIC                0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_IHAVEOPT             0x49484156454F5054ULL /* "IHAVEOPT" */
#define NBD_OLDSTYLE_MAGIC       0x00420281861253ULL
#define NBD_REP_MAGIC            0x3e889045565a9ULL
#define NBD_REQUEST_MAGIC        0x25609513U
#define NBD_SIMPLE_REPLY_MAGIC   0x67446698U
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efU
/* Extended headers (NBD_OPT_EXTENDED_HEADERS): 32-byte requests and
 * replies with 64-bit lengths, used in both directions once agreed. */
#define NBD_EXTENDED_REQUEST_MAGIC 0x21e41c71U
#define NBD_EXTENDED_REPLY_MAGIC 0x6e8a278cU

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE  (1U << 0)
#define NBD_FLAG_NO_ZEROES       (1U << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1U << 0)
#define NBD_FLAG_C_NO_ZEROES     (1U << 1)

/* Options. */
#define NBD_OPT_EXPORT_NAME      1
#define NBD_OPT_ABORT            2
#define NBD_OPT_LIST             3
#define NBD_OPT_STARTTLS         5
#define NBD_OPT_INFO             6
#define NBD_OPT_GO               7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_EXTENDED_HEADERS 11

/* Option reply types. */
#define NBD_REP_ACK              1
#define NBD_REP_SERVER           2
#define NBD_REP_INFO             3
#define NBD_REP_META_CONTEXT     4
#define NBD_REP_ERR_BIT          0x80000000U
#define NBD_REP_ERR_UNSUP        (NBD_REP_ERR_BIT | 1)
#define NBD_REP_ERR_POLICY       (NBD_REP_ERR_BIT | 2)
#define NBD_REP_ERR_INVALID      (NBD_REP_ERR_BIT | 3)
#define NBD_REP_ERR_PLATFORM     (NBD_REP_ERR_BIT | 4)
#define NBD_REP_ERR_TLS_REQD     (NBD_REP_ERR_BIT | 5)
#define NBD_REP_ERR_UNKNOWN      (NBD_REP_ERR_BIT | 6)
#define NBD_REP_ERR_SHUTDOWN     (NBD_REP_ERR_BIT | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_ERR_BIT | 8)
#define NBD_REP_ERR_TOO_BIG      (NBD_REP_ERR_BIT | 9)
#define NBD_REP_ERR_EXT_HEADER_REQD (NBD_REP_ERR_BIT | 10)

/* Info types inside NBD_REP_INFO. */
#define NBD_INFO_EXPORT          0
#define NBD_INFO_NAME            1
#define NBD_INFO_DESCRIPTION     2
#define NBD_INFO_BLOCK_SIZE      3

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS       (1U << 0)
#define NBD_FLAG_READ_ONLY       (1U << 1)
#define NBD_FLAG_SEND_FLUSH      (1U << 2)
#define NBD_FLAG_SEND_FUA        (1U << 3)
#define NBD_FLAG_ROTATIONAL      (1U << 4)
#define NBD_FLAG_SEND_TRIM       (1U << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1U << 6)
#define NBD_FLAG_SEND_DF         (1U << 7)
#define NBD_FLAG_CAN_MULTI_CONN  (1U << 8)
#define NBD_FLAG_SEND_CACHE      (1U << 10)
#define NBD_FLAG_SEND_FAST_ZERO  (1U << 11)
#define NBD_FLAG_BLOCK_STAT_PAYLOAD (1U << 12) /* block status takes a context filter */

/* Commands and command flags. */
#define NBD_CMD_READ             0
#define NBD_CMD_WRITE            1
#define NBD_CMD_DISC             2
#define NBD_CMD_FLUSH            3
#define NBD_CMD_TRIM             4
#define NBD_CMD_CACHE            5
#define NBD_CMD_WRITE_ZEROES     6
#define NBD_CMD_BLOCK_STATUS     7

#define NBD_CMD_FLAG_FUA         (1U << 0)
#define NBD_CMD_FLAG_NO_HOLE     (1U << 1)
#define NBD_CMD_FLAG_DF          (1U << 2)
#define NBD_CMD_FLAG_REQ_ONE     (1U << 3)
#define NBD_CMD_FLAG_FAST_ZERO   (1U << 4)
/* Extended headers only: the length field is a payload length (that many
 * bytes follow the header) instead of an effect length. */
#define NBD_CMD_FLAG_PAYLOAD_LEN (1U << 5)

/* Structured reply chunks. */
#define NBD_REPLY_FLAG_DONE      (1U << 0)
#define NBD_REPLY_TYPE_NONE      0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_OFFSET_HOLE 2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_BLOCK_STATUS_EXT 6  /* extended headers only */
#define NBD_REPLY_TYPE_ERROR     0x8001
#define NBD_REPLY_TYPE_ERROR_OFFSET 0x8002
#define NBD_REPLY_TYPE_ERR_BIT   0x8000

/* Protocol error numbers. */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

/* Fixed sizes. */
#define NBD_REQUEST_SIZE          28
#define NBD_SIMPLE_REPLY_SIZE     16
#define NBD_CHUNK_HEADER_SIZE     20
/* Extended request: magic, u16 flags, u16 type, u64 cookie, u64 offset,
 * u64 length.  Extended reply: magic, u16 flags, u16 type, u64 cookie,
 * u64 offset (echoes the request), u64 payload length. */
#define NBD_EXT_REQUEST_SIZE      32
#define NBD_EXT_REPLY_SIZE        32
/* BLOCK_STATUS_EXT payload: u32 context id, u32 descriptor count, then
 * per extent u64 length, u64 flags. */
#define NBD_BS_EXT_PREFIX         8
#define NBD_BS_EXT_DESCRIPTOR     16
/* Block status filter payload (NBD_CMD_FLAG_PAYLOAD_LEN): u64 effect
 * length, then u32 context ids. */
#define NBD_BS_FILTER_PREFIX      8
#define NBD_OPT_REPLY_HEADER_SIZE 20
#define NBD_OPT_HEADER_SIZE       16
#define NBD_OLDSTYLE_REST_SIZE    (8 + 4 + 124)
#define NBD_MAX_STRING            4096

/* Big-endian field access: byte-wise so unaligned buffers are fine. */
static inline uint16_t be16_get (const uint8_t *p)
{ return (uint16_t) ((p[0] << 8) | p[1]); }
static inline uint32_t be32_get (const uint8_t *p)
{ return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3]; }
static inline uint64_t be64_get (const uint8_t *p)
{ return ((uint64_t) be32_get (p) << 32) | be32_get (p + 4); }
static inline void be16_put (uint8_t *p, uint16_t v)
{ p[0] = v >> 8; p[1] = v; }
static inline void be32_put (uint8_t *p, uint32_t v)
{ p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static inline void be64_put (uint8_t *p, uint64_t v)
{ be32_put (p, v >> 32); be32_put (p + 4, (uint32_t) v); }

#endif /* NBD_WIRE_H */
