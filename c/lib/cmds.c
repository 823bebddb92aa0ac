/* cmds.c: command records and the queues they move through: allocation
 * and recycling, the in-flight index, completion (which runs the caller's
 * completion callback) and failing everything when the connection ends.
 * It knows nothing of sockets, parsers or states. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_FREE_CMDS 256

struct command *
nbd_internal_cmd_alloc (struct nbd_handle *h)
{
  struct command *c = h->free_cmds;
  if (c) {
    struct covered_range *ranges = c->ranges;
    size_t cap = c->cap_ranges;
    h->free_cmds = c->next;
    h->nr_free_cmds--;
    memset (c, 0, offsetof (struct command, hdr));
    c->ranges = ranges;
    c->cap_ranges = cap;
    return c;
  }
  c = calloc (1, sizeof *c);
  if (!c)
    set_error (ENOMEM, "out of memory");
  return c;
}

void
nbd_internal_free_callbacks (struct command *c)
{
  FREE_CALLBACK (c->chunk);
  FREE_CALLBACK (c->extent);
  FREE_CALLBACK (c->extent64);
  FREE_CALLBACK (c->completion);
}

void
nbd_internal_cmd_free (struct nbd_handle *h, struct command *c)
{
  nbd_internal_free_callbacks (c);
  free (c->payload);
  c->payload = NULL;
  c->payload_len = 0;
  if (h->nr_free_cmds < MAX_FREE_CMDS) {
    c->next = h->free_cmds;
    h->free_cmds = c;
    h->nr_free_cmds++;
    c->nr_ranges = 0;
    return;
  }
  free (c->ranges);
  free (c);
}

void
nbd_internal_add_inflight (struct nbd_handle *h, struct command *c)
{
  struct command **bucket = &h->inflight_index[c->cookie % NBD_INFLIGHT_BUCKETS];

  c->next = NULL;
  c->iprev = h->inflight_tail;
  if (h->inflight_tail) h->inflight_tail->next = c; else h->inflight_head = c;
  h->inflight_tail = c;
  c->hnext = *bucket;
  *bucket = c;
  h->nr_inflight++;
}

struct command *
nbd_internal_find_inflight (struct nbd_handle *h, uint64_t cookie, bool unlink)
{
  struct command **pp = &h->inflight_index[cookie % NBD_INFLIGHT_BUCKETS];
  struct command *c;

  while ((c = *pp) != NULL && c->cookie != cookie)
    pp = &c->hnext;
  if (c && unlink) {
    *pp = c->hnext;
    if (c->iprev) c->iprev->next = c->next; else h->inflight_head = c->next;
    if (c->next) c->next->iprev = c->iprev; else h->inflight_tail = c->iprev;
    c->next = c->iprev = c->hnext = NULL;
    h->nr_inflight--;
  }
  return c;
}

/* A command got its last reply (or was stranded).  It has already been
 * unlinked from the send queue / in-flight list. */
void
nbd_internal_cmd_complete (struct nbd_handle *h, struct command *c)
{
  int err = c->error;

  if (nbd_internal_is_big_read (c))
    h->nr_big_reads--;
  /* With pread_initialize the caller never sees stale memory, even after a
   * failed read: zeroing on failure gives that guarantee without paying
   * for a memset on every successful read. */
  if (err && c->type == NBD_CMD_READ && h->pread_initialize && c->buf)
    memset (c->buf, 0, c->count);

  c->done = true;
  if (c->sync)
    return;                   /* its waiter is woken by wake_waiters */
  /* Callbacks are called at most once; their .free runs when the command
   * retires (here if the completion callback retires it, else in
   * nbd_aio_command_completed or nbd_close). */
  c->chunk.callback = NULL;
  c->extent.callback = NULL;
  c->extent64.callback = NULL;
  if (c->completion.callback) {
    int r = c->completion.callback (c->completion.user_data, &err);
    c->completion.callback = NULL;
    if (r == 1) {
      nbd_internal_cmd_free (h, c);
      return;
    }
  }
  c->next = NULL;
  if (h->done_tail) h->done_tail->next = c; else h->done_head = c;
  h->done_tail = c;
  h->nr_done++;
}

void
nbd_internal_complete_replied (struct nbd_handle *h)
{
  while (h->replied_head) {
    struct command *c = h->replied_head;
    h->replied_head = c->next;
    if (!h->replied_head) h->replied_tail = NULL;
    c->next = NULL;
    nbd_internal_cmd_complete (h, c);
  }
}

/* Fails every command not yet completed (the connection is gone).  Those
 * whose replies already arrived complete with their own result. */
void
nbd_internal_fail_all_commands (struct nbd_handle *h, int errnum)
{
  nbd_internal_complete_replied (h);
  struct command *lists[2] = { h->sendq_head, h->inflight_head };
  int i;

  h->sendq_head = h->sendq_tail = NULL;
  h->inflight_head = h->inflight_tail = NULL;
  memset (h->inflight_index, 0, sizeof h->inflight_index);
  h->nr_sendq = h->nr_inflight = 0;
  h->sendq_bytes = 0;
  h->send_off = 0;
  h->rcmd = NULL;
  h->rphase = RP_HEADER;
  for (i = 0; i < 2; i++) {
    struct command *c = lists[i];
    while (c) {
      struct command *next = c->next;
      c->next = NULL;
      if (c->type == NBD_CMD_DISC) {
        nbd_internal_cmd_free (h, c);
      }
      else {
        if (c->error == 0) c->error = errnum;
        nbd_internal_cmd_complete (h, c);
      }
      c = next;
    }
  }
}

