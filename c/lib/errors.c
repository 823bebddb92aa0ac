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
