package main

// The call × state test (c/tests/test_states.c): every provided call with
// a handle, made once in each handle state the test can reach, on a fresh
// handle per (call, state) pair, checked against the table's permitted
// states.  The same source builds against the system libnbd 1.14 (each
// call is wrapped in #ifdef LIBNBD_HAVE_NBD_<NAME>), so the table is
// checked against both libraries.

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/nbd-cleanroom/libnbd/api"
)

func init() {
	register(generator{name: "statetest", run: genStateTest})
}

// stStates are the test's states, in the order of api.State's bits.
var stStates = []struct {
	s    api.State
	name string // C enum suffix and the name printed
}{
	{api.Created, "created"},
	{api.Connecting, "connecting"},
	{api.Negotiating, "negotiating"},
	{api.Connected, "connected"},
	{api.Closed, "closed"},
	{api.Dead, "dead"},
}

func genStateTest(t *table) ([]output, error) {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	cbs := map[string]api.Callback{}
	for _, cb := range t.callbacks {
		cbs[cb.Name] = cb
	}
	groups := map[string]api.Group{}
	for _, g := range t.groups {
		groups[g.Name] = g
	}

	var calls []api.Call
	for _, c := range t.provided() {
		if c.Custom {
			continue // no handle (create, close, get_error, get_errno)
		}
		for _, w := range c.Was {
			if !versionRE.MatchString(w.Until) {
				return nil, fmt.Errorf("%s: Was: bad Until %q", c.Name, w.Until)
			}
			if w.Why == "" {
				return nil, fmt.Errorf("%s: Was: no Why", c.Name)
			}
		}
		calls = append(calls, c)
	}

	p("%s", stPrelude(genNotice))

	// One no-op callback per callback struct: counts its calls, returns 0.
	p("/* No-op callbacks: each counts its calls in the struct cc it is given. */\n")
	for _, cb := range t.callbacks {
		// A callback type newer than the system libnbd's header is
		// absent there (its macro says whether it exists).
		p("#ifdef LIBNBD_HAVE_NBD_%s_CALLBACK\n", strings.ToUpper(cb.Name))
		p("static UNUSED int\ncb_%s (void *user_data, %s)\n{\n  ((struct cc *) user_data)->calls++;\n  return 0;\n}\n#endif\n\n", cb.Name, cb.Params)
	}

	// One function per call.
	for _, c := range calls {
		if err := stCallFunc(p, c, cbs, groups); err != nil {
			return nil, err
		}
	}

	// The table the test walks.
	p("/* The table's view of each call (states: S_* bits; was: older libnbd\n * releases, see the header comment). */\n")
	for _, c := range calls {
		if len(c.Was) == 0 {
			continue
		}
		was := append([]api.StateChange(nil), c.Was...)
		sort.Slice(was, func(i, j int) bool { return versionLess(was[i].Until, was[j].Until) })
		p("#ifdef LIBNBD_HAVE_NBD_%s\n", strings.ToUpper(c.Name))
		p("static const struct was was_%s[] = {\n", c.Name)
		for _, w := range was {
			var minor int
			fmt.Sscanf(w.Until, "1.%d", &minor)
			p("  /* %s */\n", strings.Join(wrapComment(w.Why, 66), "\n   * "))
			p("  { %d, %s },\n", minor, stMask(w.States))
		}
		p("};\n#endif\n")
	}
	p("\nstatic const struct call_info calls[] = {\n")
	for _, c := range calls {
		states := c.States
		if states == 0 {
			states = api.Any
		}
		was, nrWas := "NULL", "0"
		if len(c.Was) > 0 {
			was, nrWas = "was_"+c.Name, fmt.Sprint(len(c.Was))
		}
		p("#ifdef LIBNBD_HAVE_NBD_%s\n", strings.ToUpper(c.Name))
		p("  { \"%s\", %s, %s, %s, %v, t_%s },\n", c.Name, stMask(states), was, nrWas, !c.NoError && errValue(c.Ret) != "", c.Name)
		p("#endif\n")
	}
	p("};\n\n")
	p("%s", stMain)
	return []output{{"c/tests/test_states.c", b.Bytes()}}, nil
}

// stMask is a state set as S_* bits.
func stMask(s api.State) string {
	if s&api.Any == api.Any {
		return "S_ANY"
	}
	var w []string
	for _, st := range stStates {
		if s&st.s != 0 {
			w = append(w, "S_"+strings.ToUpper(st.name))
		}
	}
	if len(w) == 0 {
		return "0"
	}
	return strings.Join(w, " | ")
}

// stCallFunc writes "static void t_NAME (const struct call_info *ci, int st)":
// bring a fresh handle to st, make the call with benign arguments, check.
func stCallFunc(p func(string, ...any), c api.Call, cbs map[string]api.Callback, groups map[string]api.Group) error {
	var (
		decls   []string // local declarations
		setup   []string // statements before the call
		args    []string // C arguments after the handle
		after   []string // statements after finish(), before nbd_close
		cleanup []string // statements after nbd_close
		skip    string   // C condition: skip the pair when the state is permitted
		skipWhy string
	)
	for _, a := range c.Args {
		switch a.Kind {
		case api.Bool:
			args = append(args, "false")
		case api.Int:
			// timeout (poll): 0 never blocks; signum (kill_subprocess):
			// 0 means SIGTERM, and no test handle has a subprocess.
			args = append(args, "0")
		case api.UInt, api.Int64, api.SizeT, api.UIntPtr:
			args = append(args, "0")
		case api.UInt32:
			switch a.Name {
			case "cid":
				// Only ever CID 1 (VMADDR_CID_LOCAL): nothing leaves the
				// machine.  In a permitted state only when a probe bind()
				// to CID 1 succeeded (vsock_ok), else the pair is skipped.
				args = append(args, "1 /* VMADDR_CID_LOCAL */")
				skip, skipWhy = "!vsock_ok", "vsock loopback (CID 1) unavailable: a probe bind() failed"
			case "port":
				args = append(args, "vsock_port")
			default:
				args = append(args, "0")
			}
		case api.UInt64:
			switch a.Name {
			case "count":
				args = append(args, "512")
			case "cookie":
				args = append(args, "1")
			default:
				args = append(args, "0")
			}
		case api.String:
			args = append(args, stString(a.Name))
		case api.Path:
			switch a.Name {
			case "dir":
				args = append(args, "tmpdir")
			case "filename":
				args = append(args, "nosuch_psk")
			default:
				args = append(args, "nosuch_path")
			}
		case api.StringList:
			v := "LIBNBD_CONTEXT_BASE_ALLOCATION"
			if a.Name == "argv" {
				// A private nbdkit serving memory: the connect works.
				// On stdin/stdout for connect_command, on the socket
				// passed with LISTEN_FDS for socket activation.
				v = `"nbdkit", (char *) "-s", (char *) "--exit-with-parent", (char *) "memory", (char *) "1M"`
				if strings.Contains(c.Name, "systemd") {
					v = `"nbdkit", (char *) "--exit-with-parent", (char *) "memory", (char *) "1M"`
				}
			}
			decls = append(decls, fmt.Sprintf("char *%s[] = { (char *) %s, NULL };", a.Name, v))
			args = append(args, a.Name)
		case api.BytesIn, api.BytesPersistIn:
			decls = append(decls, fmt.Sprintf("char %s[512];", a.Name))
			setup = append(setup, fmt.Sprintf("memset (%s, 0, sizeof %s);", a.Name, a.Name))
			args = append(args, a.Name, "sizeof "+a.Name)
		case api.BytesOut, api.BytesPersistOut:
			decls = append(decls, fmt.Sprintf("char %s[512];", a.Name))
			setup = append(setup, fmt.Sprintf("memset (%s, 0xaa, sizeof %s);", a.Name, a.Name))
			args = append(args, a.Name, "sizeof "+a.Name)
			after = append(after, fmt.Sprintf("if (!permitted (ci, st))\n    check_zeroed (ci, st, \"%s\", %s, sizeof %s);", a.Name, a.Name, a.Name))
		case api.Fd:
			if c.Name == "poll2" {
				args = append(args, "-1") // no extra fd to watch
				break
			}
			// See connected_socket.  If the call did not take it, we
			// close it.
			decls = append(decls, fmt.Sprintf("int %s;", a.Name))
			setup = append(setup,
				fmt.Sprintf("%s = connected_socket (ci, st);\n  if (%s == -1) {\n    close_handle (h);\n    return;\n  }", a.Name, a.Name))
			args = append(args, a.Name)
			cleanup = append(cleanup, fmt.Sprintf("if (h_fd_is_open (%s))\n    close (%s);", a.Name, a.Name))
		case api.Flags:
			if _, ok := groups[a.Type]; !ok {
				return fmt.Errorf("%s: %s: unknown flag set %q", c.Name, a.Name, a.Type)
			}
			args = append(args, "0")
		case api.Enum:
			g, ok := groups[a.Type]
			if !ok || len(g.Members) == 0 {
				return fmt.Errorf("%s: %s: unknown enum %q", c.Name, a.Name, a.Type)
			}
			args = append(args, "LIBNBD_"+g.Name+"_"+g.Members[0].Name)
		case api.Closure:
			if _, ok := cbs[a.Type]; !ok {
				return fmt.Errorf("%s: %s: unknown callback %q", c.Name, a.Name, a.Type)
			}
			decls = append(decls,
				fmt.Sprintf("struct cc cc_%s = { 0, 0 };", a.Name),
				fmt.Sprintf("nbd_%s_callback %s = { .callback = cb_%s, .user_data = &cc_%s, .free = cc_free };", a.Type, a.Name, a.Type, a.Name))
			args = append(args, a.Name)
			cleanup = append(cleanup, fmt.Sprintf("check_frees (ci, st, \"%s\", &cc_%s);", a.Name, a.Name))
		case api.SockAddr:
			decls = append(decls, fmt.Sprintf("struct sockaddr_un %s;", a.Name))
			setup = append(setup, fmt.Sprintf("h_sockaddr_un (&%s, nosuch_path);", a.Name))
			args = append(args, "(struct sockaddr *) &"+a.Name, "sizeof "+a.Name)
		default:
			return fmt.Errorf("%s: %s: kind %d not handled", c.Name, a.Name, a.Kind)
		}
	}

	upper := strings.ToUpper(c.Name)
	p("#ifdef LIBNBD_HAVE_NBD_%s\n", upper)
	p("static void\nt_%s (const struct call_info *ci, int st)\n{\n", c.Name)
	p("  struct nbd_handle *h;\n  struct outcome o;\n")
	retDecl := ""
	switch errValue(c.Ret) {
	case "":
	default:
		retDecl = decl(cRet(c.Ret), "r")
		p("  %s;\n", retDecl)
	}
	for _, d := range decls {
		p("  %s\n", d)
	}
	p("\n")
	if skip != "" {
		p("  if (permitted (ci, st) && %s) {\n    skip_pair (ci, st, %q);\n    return;\n  }\n", skip, skipWhy)
	}
	p("  h = make_handle (ci, st);\n  if (h == NULL)\n    return;\n")
	for _, s := range setup {
		p("  %s\n", s)
	}
	p("  poison (ci);\n")
	call := fmt.Sprintf("nbd_%s (%s)", c.Name, strings.Join(append([]string{"h"}, args...), ", "))
	switch ev := errValue(c.Ret); {
	case ev == "":
		// Cannot fail: it must only return.
		p("  (void) %s;\n", call)
		p("  capture (&o, false);\n")
	case c.Ret == api.RString:
		p("  r = %s;\n  capture (&o, r == NULL);\n  free (r);\n", call)
	case c.Ret == api.RStaticString:
		p("  r = %s;\n  capture (&o, r == NULL);\n", call)
	default:
		p("  r = %s;\n  capture (&o, r == -1);\n", call)
	}
	p("  finish (ci, st, h, &o);\n")
	for _, s := range after {
		p("  %s\n", s)
	}
	p("  close_handle (h);\n")
	for _, s := range cleanup {
		p("  %s\n", s)
	}
	p("}\n#endif\n\n")
	return nil
}

// stString is the benign value of a String argument, by its name.
func stString(name string) string {
	switch name {
	case "uri":
		return "nosuch_uri" // nbd+unix:// to a socket that does not exist
	case "hostname":
		return `"127.0.0.1"`
	case "port":
		return "free_port" // nothing listens there
	case "export_name":
		return `""`
	case "name", "metacontext":
		return "LIBNBD_CONTEXT_BASE_ALLOCATION"
	}
	return `"statetest"`
}

func stPrelude(notice string) string {
	return `/* test_states.c: every call × every handle state the test can reach.
 * ` + notice + `
 * (api/gen/statetest.go writes it: go run ./api/gen -only statetest)
 *
 * For every call with a handle that the table lists as provided, and for
 * each state (created, connecting, negotiating, connected, closed, dead),
 * a FRESH handle is brought to the state and the call is made once with
 * harmless arguments chosen by argument kind:
 *  - state not permitted: the call fails (-1 or NULL) with errno ENOTCONN
 *    (created) or EINVAL (any other state), its message starts with
 *    "nbd_<call>: ", the handle stays in its state, and a read buffer
 *    (filled with 0xaa before) is all zero (pread_initialize is on by
 *    default);
 *  - state permitted: the call may still fail for other reasons (the
 *    harmless arguments name things that do not exist), but then with a
 *    non-zero errno, its own "nbd_<call>: " message and no "invalid state";
 *  - calls that cannot fail only have to return;
 *  - every callback's .free has run exactly once once nbd_close returns.
 *
 * How the states are reached: created = nbd_create; connecting =
 * nbd_aio_connect_unix to a socket this test listens on and accepts from
 * but never writes to (the handle waits for the greeting); negotiating =
 * nbd_set_opt_mode + nbd_connect_unix to nbdkit memory; connected =
 * nbd_connect_unix to nbdkit memory 1M; closed = connected + nbd_shutdown;
 * dead = the test's listener answers the handshake with garbage.
 *
 * Nothing leaves the machine: Unix sockets in a private mkdtemp directory,
 * TCP only to 127.0.0.1 on a port nothing listens on, vsock only to CID 1
 * (local) and, where the call would really connect, only after a probe
 * bind() to CID 1 succeeded (else the pair is skipped, with a SKIP line);
 * commands are "true".  Polls use timeout 0.
 *
 * Expected states are the table's (libnbd 1.22).  Built against the system
 * libnbd (-DAGAINST_SYSTEM_LIBNBD) whose nbd_get_version() is 1.N with
 * N <= a call's Was Until, the older states recorded there are expected
 * instead (api.Call.Was, each with its reason).  Our library always
 * follows the table.
 *
 * STATETEST_VERBOSE=1 prints every permitted call that failed, with its
 * message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include <CUnit/CUnit.h>
#include <libnbd.h>

#include "harness.h"

#define UNUSED __attribute__ ((unused))

/* api.State bits. */
#define S_CREATED     0x01u
#define S_CONNECTING  0x02u
#define S_NEGOTIATING 0x04u
#define S_CONNECTED   0x08u
#define S_CLOSED      0x10u
#define S_DEAD        0x20u
#define S_ANY         0x3fu

enum { ST_CREATED, ST_CONNECTING, ST_NEGOTIATING, ST_CONNECTED, ST_CLOSED,
       ST_DEAD, NR_STATES };
static const char *const state_names[NR_STATES] = {
  "created", "connecting", "negotiating", "connected", "closed", "dead",
};

/* States of older libnbd releases: used against the system libnbd when
 * its version is 1.<until_minor> or older. */
struct was {
  int until_minor;
  unsigned states;
};

struct call_info {
  const char *name;             /* without nbd_ */
  unsigned states;              /* permitted states in the table */
  const struct was *was;        /* sorted by until_minor */
  size_t nr_was;
  bool may_fail;                /* false: cannot fail (NoError) */
  void (*run) (const struct call_info *ci, int st);
};

/* What one call did. */
struct outcome {
  bool failed;
  int err;
  char msg[1024];
};

/* Closure counters. */
struct cc {
  int frees;
  int calls;
};

static UNUSED void
cc_free (void *user_data)
{
  ((struct cc *) user_data)->frees++;
}

/* Fixtures (set up once in main, except the nbdkit server). */
static struct h_server srv;             /* nbdkit memory 1M, per state test */
static bool srv_up;
static char tmpdir[256];                /* private directory */
static char listen_path[300];           /* our silent listener: tmpdir/sock */
static int listen_fd = -1;
static int held_fd = -1;                /* accepted peer of the current handle */
static char nosuch_path[300];           /* tmpdir/nosuch: does not exist */
static char nosuch_psk[300];
static char nosuch_uri[400];
static char free_port[16];              /* a 127.0.0.1 port nothing listens on */
static bool vsock_ok;                   /* a bind() to CID 1 worked */
static unsigned vsock_port;             /* a CID 1 port nothing listens on */
static struct nbd_handle *poison_h;     /* a created handle: poison () */
static int lib_major = -1, lib_minor = -1;
static bool verbose;

/* Counts (summary). */
static unsigned n_pairs, n_refused, n_permitted, n_perm_failed, n_skipped,
  n_mismatch;

/* The pair being tried, for the watchdog message. */
static const char *volatile cur_call = "(none)";
static volatile int cur_state;

static const char *
errname (int e)
{
  const char *s = e == 0 ? "0" : strerrorname_np (e);
  return s ? s : "(unknown errno)";
}

static unsigned
expected (const struct call_info *ci)
{
  if (H_SYSTEM_LIBNBD && lib_major == 1)
    for (size_t i = 0; i < ci->nr_was; i++)
      if (lib_minor <= ci->was[i].until_minor)
        return ci->was[i].states;
  return ci->states;
}

static bool
permitted (const struct call_info *ci, int st)
{
  return (expected (ci) & (1u << st)) != 0;
}

static void
mismatch (const struct call_info *ci, int st, const char *fmt, ...)
{
  va_list ap;

  n_mismatch++;
  fprintf (stderr, "\nMISMATCH: nbd_%s in state %s: ", ci->name,
           state_names[st]);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  CU_FAIL ("call x state mismatch (see the MISMATCH line)");
}

static UNUSED void
skip_pair (const struct call_info *ci, int st, const char *why)
{
  char what[128];

  snprintf (what, sizeof what, "nbd_%s in state %s", ci->name,
            state_names[st]);
  n_skipped++;
  h_skip (what, why);
}

/* Which state h is in (-1 if none of the predicates holds). */
static int
state_of (struct nbd_handle *h)
{
  if (nbd_aio_is_created (h)) return ST_CREATED;
  if (nbd_aio_is_negotiating (h)) return ST_NEGOTIATING;
  if (nbd_aio_is_connecting (h)) return ST_CONNECTING;
  if (nbd_aio_is_ready (h) || nbd_aio_is_processing (h)) return ST_CONNECTED;
  if (nbd_aio_is_closed (h)) return ST_CLOSED;
  if (nbd_aio_is_dead (h)) return ST_DEAD;
  return -1;
}

/* Connect h to our listener and accept (held_fd): the handle then waits
 * for a greeting that never comes. */
static int
connect_to_listener (struct nbd_handle *h)
{
  struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };

  if (nbd_aio_connect_unix (h, listen_path) == -1)
    return -1;
  if (poll (&pfd, 1, 5000) != 1) {
    fprintf (stderr, "\n  listener: no connection\n");
    return -1;
  }
  held_fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (held_fd == -1) {
    perror ("accept4");
    return -1;
  }
  /* Let the handle see that connect(2) finished (libnbd 1.14 stays in
   * CONNECT.START until it is told the socket is writable): it then
   * waits for the greeting.  Nothing is readable yet: this never waits. */
  nbd_poll (h, 0);
  return 0;
}

/* A fresh handle in state st, or NULL (a failure is recorded). */
static struct nbd_handle *
make_handle (const struct call_info *ci, int st)
{
  static const char garbage[] = "GARBAGE!GARBAGE!GARBAGE!";
  struct nbd_handle *h;
  const char *step = "nbd_create";

  cur_call = ci->name;
  cur_state = st;
  h = nbd_create ();
  if (h == NULL)
    goto fail;
  switch (st) {
  case ST_CREATED:
    break;
  case ST_CONNECTING:
    step = "connect to the silent listener";
    if (connect_to_listener (h) == -1)
      goto fail;
    break;
  case ST_NEGOTIATING:
    step = "nbd_set_opt_mode + nbd_connect_unix";
    if (nbd_set_opt_mode (h, true) == -1 ||
        nbd_connect_unix (h, srv.sock) == -1)
      goto fail;
    break;
  case ST_CONNECTED:
  case ST_CLOSED:
    step = "nbd_connect_unix";
    if (nbd_connect_unix (h, srv.sock) == -1)
      goto fail;
    if (st == ST_CLOSED) {
      step = "nbd_shutdown";
      if (nbd_shutdown (h, 0) == -1)
        goto fail;
    }
    break;
  case ST_DEAD:
    step = "garbage greeting";
    if (connect_to_listener (h) == -1)
      goto fail;
    if (write (held_fd, garbage, sizeof garbage - 1) != sizeof garbage - 1)
      goto fail;
    close (held_fd);
    held_fd = -1;
    for (int i = 0; i < 100 && !nbd_aio_is_dead (h); i++)
      nbd_poll (h, 100);
    break;
  }
  if (state_of (h) != st) {
    step = "state check";
    goto fail;
  }
  return h;

 fail:
  fprintf (stderr, "\n  cannot bring a handle to state %s for nbd_%s: %s "
           "failed: %s (now: %s)\n", state_names[st], ci->name, step,
           nbd_get_error (), h ? nbd_connection_state (h) : "no handle");
  CU_FAIL ("could not reach the state");
  if (h)
    nbd_close (h);
  if (held_fd >= 0) {
    close (held_fd);
    held_fd = -1;
  }
  return NULL;
}

/* A connected socket for connect_socket: where the call is permitted one
 * end of a socketpair whose other end is nbdkit -s memory 1M (the connect
 * works); elsewhere a socket whose peer is already closed. */
static UNUSED int
connected_socket (const struct call_info *ci, int st)
{
  pid_t pid;
  int fd, sv[2];

  if (permitted (ci, st)) {
    fd = h_start_socketpair (&pid, "memory", "1M", NULL);
    if (fd == -1)
      CU_FAIL ("cannot start nbdkit -s");
    return fd;
  }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    CU_FAIL ("socketpair");
    return -1;
  }
  close (sv[1]);
  return sv[0];
}

static void
close_handle (struct nbd_handle *h)
{
  nbd_close (h);
  if (held_fd >= 0) {
    close (held_fd);
    held_fd = -1;
  }
}

/* Leave a known error behind, so that a call that fails without setting
 * its own cannot pass for one that did. */
static void
poison (const struct call_info *ci)
{
  if (strcmp (ci->name, "kill_subprocess") != 0)
    nbd_kill_subprocess (poison_h, 0);         /* no subprocess: ESRCH */
  else
    nbd_aio_command_completed (poison_h, 7777); /* no such command */
}

static void
capture (struct outcome *o, bool failed)
{
  const char *m = nbd_get_error ();

  o->failed = failed;
  o->err = nbd_get_errno ();
  snprintf (o->msg, sizeof o->msg, "%s", m ? m : "(no message)");
}

/* The checks common to every pair. */
static void
finish (const struct call_info *ci, int st, struct nbd_handle *h,
        const struct outcome *o)
{
  char prefix[96];
  int want, now;

  snprintf (prefix, sizeof prefix, "nbd_%s: ", ci->name);
  n_pairs++;
  if (!permitted (ci, st)) {
    n_refused++;
    want = st == ST_CREATED ? ENOTCONN : EINVAL;
    if (!o->failed)
      mismatch (ci, st, "not permitted: expected a refusal with errno %s; "
                "got success", errname (want));
    else if (o->err != want || !h_has_prefix (o->msg, prefix))
      mismatch (ci, st, "not permitted: expected a refusal with errno %s "
                "and a message starting \"%s\"; got errno %s, message \"%s\"",
                errname (want), prefix, errname (o->err), o->msg);
    now = state_of (h);
    if (now != st)
      mismatch (ci, st, "the refused call changed the state to %s",
                now >= 0 ? state_names[now] : "(none)");
    return;
  }
  n_permitted++;
  if (!ci->may_fail || !o->failed)
    return;
  n_perm_failed++;
  if (verbose)
    printf ("\n  permitted, failed: nbd_%s in state %s: errno %s: %s",
            ci->name, state_names[st], errname (o->err), o->msg);
  if (o->err == 0 || !h_has_prefix (o->msg, prefix) ||
      strstr (o->msg, "invalid state") != NULL)
    mismatch (ci, st, "permitted: expected success, or a failure for another "
              "reason (errno != 0, message starting \"%s\", no \"invalid "
              "state\"); got errno %s, message \"%s\"",
              prefix, errname (o->err), o->msg);
}

static UNUSED void
check_zeroed (const struct call_info *ci, int st, const char *arg,
              const char *buf, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (buf[i] != 0) {
      mismatch (ci, st, "refused, but %s was not zeroed (byte %zu is 0x%02x; "
                "pread_initialize is on)", arg, i, (unsigned char) buf[i]);
      return;
    }
}

static UNUSED void
check_frees (const struct call_info *ci, int st, const char *arg,
             const struct cc *c)
{
  if (c->frees != 1)
    mismatch (ci, st, "%s.free ran %d times by nbd_close (want exactly 1)",
              arg, c->frees);
}

`
}

const stMain = `/* The library forks for connect_command and socket activation, and may
 * signal the child (SIGTERM) before it has exec'd: such a child still has
 * the harness's crash handlers, whose cleanup would remove THIS process's
 * temporary files.  So a child only dies; the test process itself hands
 * the signal on to the harness. */
static pid_t main_pid;
static struct sigaction harness_sa[NSIG];

static void
forward_signal (int sig)
{
  if (getpid () != main_pid) {
    signal (sig, SIG_DFL);
    raise (sig);
    return;
  }
  sigaction (sig, &harness_sa[sig], NULL);
  raise (sig);
}

static void
guard_forked_children (void)
{
  static const int sigs[] = { SIGTERM, SIGINT, SIGPIPE };
  struct sigaction sa;

  main_pid = getpid ();
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_NODEFER;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction (sigs[i], &sa, &harness_sa[sigs[i]]);
}

/* The watchdog names the pair that hung, then leaves the cleanup and the
 * exit to the harness's own watchdog. */
static void
pair_watchdog (int sig)
{
  static const char m1[] = "\n*** test_states: nbd_";
  static const char m2[] = " did not return (state ";
  static const char m3[] = ")\n";
  const char *c = cur_call;
  const char *s = state_names[cur_state];
  ssize_t r;

  (void) sig;
  r = write (2, m1, sizeof m1 - 1);
  r = write (2, c, strlen (c));
  r = write (2, m2, sizeof m2 - 1);
  r = write (2, s, strlen (s));
  r = write (2, m3, sizeof m3 - 1);
  (void) r;
  h_watchdog (1);
}

static void
run_state (int st)
{
  const char *env = getenv ("CTESTS_WATCHDOG");
  unsigned secs = env && atoi (env) > 0 ? (unsigned) atoi (env) : 50;
  struct sigaction sa;
  unsigned before = n_mismatch, pairs = n_pairs, refused = n_refused,
    perm = n_permitted, pfail = n_perm_failed, skipped = n_skipped;

  if (st == ST_NEGOTIATING || st == ST_CONNECTED || st == ST_CLOSED) {
    CU_ASSERT_EQUAL_FATAL (h_start_unix (&srv, "memory", "1M", NULL), 0);
    srv_up = true;
  }
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = pair_watchdog;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGALRM, &sa, NULL);
  alarm (secs);

  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
    calls[i].run (&calls[i], st);

  alarm (0);
  if (srv_up) {
    h_stop (&srv);
    srv_up = false;
  }
  printf ("\n  state %s: %u calls: %u refused, %u permitted (%u of them "
          "failed for other reasons), %u skipped; %u mismatches",
          state_names[st], n_pairs - pairs, n_refused - refused,
          n_permitted - perm, n_perm_failed - pfail, n_skipped - skipped,
          n_mismatch - before);
}

static void test_created (void) { run_state (ST_CREATED); }
static void test_connecting (void) { run_state (ST_CONNECTING); }
static void test_negotiating (void) { run_state (ST_NEGOTIATING); }
static void test_connected (void) { run_state (ST_CONNECTED); }
static void test_closed (void) { run_state (ST_CLOSED); }
static void test_dead (void) { run_state (ST_DEAD); }

/* The fixtures every state test shares. */
static int
setup (void)
{
  struct sockaddr_un sun;
  struct sockaddr_vm svm;
  socklen_t len = sizeof svm;
  const char *v;
  int port, fd;

  verbose = getenv ("STATETEST_VERBOSE") != NULL;
  if (h_mkdtemp (tmpdir, sizeof tmpdir) == -1)
    return -1;
  snprintf (listen_path, sizeof listen_path, "%s/sock", tmpdir);
  snprintf (nosuch_path, sizeof nosuch_path, "%s/nosuch", tmpdir);
  snprintf (nosuch_psk, sizeof nosuch_psk, "%s/nosuch.psk", tmpdir);
  snprintf (nosuch_uri, sizeof nosuch_uri, "nbd+unix:///?socket=%s",
            nosuch_path);
  if (h_sockaddr_un (&sun, listen_path) == -1)
    return -1;
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd == -1 ||
      bind (listen_fd, (struct sockaddr *) &sun, sizeof sun) == -1 ||
      listen (listen_fd, 16) == -1) {
    perror ("test_states: listener");
    return -1;
  }
  port = h_free_port ();
  if (port <= 0) {
    fprintf (stderr, "test_states: no free port\n");
    return -1;
  }
  snprintf (free_port, sizeof free_port, "%d", port);

  /* vsock: only CID 1 (local loopback), only if a bind() there works;
   * the port it was given is free again once the socket is closed. */
  fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    memset (&svm, 0, sizeof svm);
    svm.svm_family = AF_VSOCK;
    svm.svm_cid = VMADDR_CID_LOCAL;
    svm.svm_port = VMADDR_PORT_ANY;
    if (bind (fd, (struct sockaddr *) &svm, sizeof svm) == 0 &&
        getsockname (fd, (struct sockaddr *) &svm, &len) == 0 &&
        svm.svm_port != VMADDR_PORT_ANY) {
      vsock_ok = true;
      vsock_port = svm.svm_port;
    }
    close (fd);
  }

  poison_h = nbd_create ();
  if (poison_h == NULL) {
    fprintf (stderr, "test_states: nbd_create: %s\n", nbd_get_error ());
    return -1;
  }
  v = nbd_get_version (poison_h);
  if (v == NULL || sscanf (v, "%d.%d", &lib_major, &lib_minor) != 2) {
    fprintf (stderr, "test_states: cannot parse nbd_get_version \"%s\"\n",
             v ? v : "(null)");
    return -1;
  }
  printf ("test_states: %zu calls x %d states against %s %s%s; vsock "
          "loopback %s\n", sizeof calls / sizeof calls[0], NR_STATES,
          nbd_get_package_name (poison_h), v,
          H_SYSTEM_LIBNBD ? " (system)" : " (ours)",
          vsock_ok ? "available" : "unavailable");
  return 0;
}

int
main (void)
{
  CU_pSuite s;
  int r;

  if (h_init ("test_states") == -1)
    return EXIT_FAILURE;
  guard_forked_children ();
  if (setup () == -1)
    return EXIT_FAILURE;
  s = h_add_suite ("states");
  if (!s) return h_cunit_fail ();
  H_ADD_TEST (s, test_created);
  H_ADD_TEST (s, test_connecting);
  H_ADD_TEST (s, test_negotiating);
  H_ADD_TEST (s, test_connected);
  H_ADD_TEST (s, test_closed);
  H_ADD_TEST (s, test_dead);
  r = h_run_all ();
  printf ("test_states: %u pairs: %u refused, %u permitted (%u failed for "
          "other reasons), %u skipped; %u mismatches\n", n_pairs, n_refused,
          n_permitted, n_perm_failed, n_skipped, n_mismatch);
  nbd_close (poison_h);
  if (listen_fd >= 0)
    close (listen_fd);
  return r;
}
`
