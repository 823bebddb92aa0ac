/* errors.c: per-thread error state and debug output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Per-thread storage: a fixed buffer avoids any allocation (and any leak at
 * thread exit).  Server-supplied strings are at most 4096 bytes, so a
 * message always fits with the call name in front. */
#define ERRBUF_SIZE 8192
static __thread const char *current_call;
static __thread char last_error[ERRBUF_SIZE];
static __thread int last_errno;

void
nbd_internal_set_call (const char *name)
{
  current_call = name;
}

const char *
nbd_internal_get_call (void)
{
  return current_call ? current_call : "libnbd";
}

void
nbd_internal_set_error_raw (int errnum, const char *msg)
{
  snprintf (last_error, sizeof last_error, "%s: %s", nbd_internal_get_call (), msg);
  /* Failure must never be reported with errno 0. */
  last_errno = errnum != 0 ? errnum : EIO;
}

void
nbd_internal_set_error (int errnum, const char *fmt, ...)
{
  char msg[ERRBUF_SIZE];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  nbd_internal_set_error_raw (errnum, msg);
}

int
nbd_internal_parse_fail (struct nbd_handle *h, int errnum, const char *fmt, ...)
{
  va_list ap;

  if (h->parse_errno)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&h->parse_msg, fmt, ap) == -1)
    h->parse_msg = NULL;
  va_end (ap);
  h->parse_errno = errnum ? errnum : EIO;
  return -1;
}

NBD_API const char *
nbd_get_error (void)
{
  return last_error[0] ? last_error : NULL;
}

NBD_API int
nbd_get_errno (void)
{
  return last_errno;
}

void
nbd_internal_debug (struct nbd_handle *h, const char *fmt, ...)
{
  char msg[ERRBUF_SIZE];
  va_list ap;
  int saved_errno = errno;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);

  if (h->debug_cb.callback)
    h->debug_cb.callback (h->debug_cb.user_data, nbd_internal_get_call (), msg);
  else
    fprintf (stderr, "libnbd: debug: %s: %s: %s\n",
             h->name ? h->name : "nbd", nbd_internal_get_call (), msg);
  errno = saved_errno;
}

/* ---- call tracing (LIBNBD_DEBUG=1 or nbd_set_debug) ------------------------
 * The generated wrappers in api.c call these on entry and exit of every
 * call while debugging is on ("enter: name=value ...", "leave: ret=..." or
 * "leave: error=..."). */
static void
trace (struct nbd_handle *h, const char *prefix, const char *fmt, va_list ap)
{
  char msg[ERRBUF_SIZE];
  size_t n = (size_t) snprintf (msg, sizeof msg, "%s", prefix);

  if (n < sizeof msg)
    vsnprintf (msg + n, sizeof msg - n, fmt, ap);
  nbd_internal_debug (h, "%s", msg);
}

void
nbd_internal_debug_enter (struct nbd_handle *h, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  trace (h, "enter:", fmt, ap);
  va_end (ap);
}

void
nbd_internal_debug_leave_int (struct nbd_handle *h, bool failed, const char *fmt, ...)
{
  va_list ap;

  if (failed) {
    nbd_internal_debug (h, "leave: error=\"%s\" (errno %d)", last_error, last_errno);
    return;
  }
  va_start (ap, fmt);
  trace (h, "leave: ret=", fmt, ap);
  va_end (ap);
}

void
nbd_internal_debug_leave_str (struct nbd_handle *h, const char *ret)
{
  if (ret)
    nbd_internal_debug (h, "leave: ret=%s", nbd_internal_printable_string (ret));
  else
    nbd_internal_debug (h, "leave: error=\"%s\" (errno %d)", last_error, last_errno);
}

/* A few per-thread buffers, used in turn, so that one trace line can show
 * several strings (nbd_connect_tcp's hostname and port). */
#define PRINTABLE_BUFS 4
#define PRINTABLE_SIZE 512
static __thread char printable[PRINTABLE_BUFS][PRINTABLE_SIZE];
static __thread unsigned printable_next;

static char *
printable_buf (void)
{
  return printable[printable_next++ % PRINTABLE_BUFS];
}

/* Appends s quoted, with control characters escaped, truncated with "...". */
static size_t
quote (char *buf, size_t len, size_t n, const char *s)
{
  if (n + 1 < len)
    buf[n++] = '"';
  for (; *s && n + 6 < len; s++) {
    unsigned char c = (unsigned char) *s;
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
      n += (size_t) snprintf (buf + n, len - n, "\\x%02x", c);
    else
      buf[n++] = (char) c;
  }
  if (*s && n + 4 < len) { memcpy (buf + n, "...", 3); n += 3; }
  if (n + 1 < len)
    buf[n++] = '"';
  buf[n] = '\0';
  return n;
}

const char *
nbd_internal_printable_string (const char *s)
{
  char *buf = printable_buf ();

  if (!s)
    return "NULL";
  quote (buf, PRINTABLE_SIZE, 0, s);
  return buf;
}

const char *
nbd_internal_printable_list (char **list)
{
  char *buf = printable_buf ();
  size_t n = 0, i;

  if (!list)
    return "NULL";
  buf[n++] = '[';
  for (i = 0; list[i] && n + 8 < PRINTABLE_SIZE; i++) {
    if (i > 0) { buf[n++] = ','; buf[n++] = ' '; }
    n = quote (buf, PRINTABLE_SIZE - 2, n, list[i]);
  }
  buf[n++] = ']';
  buf[n] = '\0';
  return buf;
}
