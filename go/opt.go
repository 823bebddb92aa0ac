package nbd

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"runtime"
	"syscall"
	"unsafe"
)

// Option negotiation mode.
//
// With SetOptMode(true) set before connecting, the Connect* calls return
// once the server's greeting is done and the handle is negotiating
// (AioIsNegotiating reports true). The caller may then ask the server
// questions (OptList, OptListMetaContext, OptInfo), change settings such
// as SetExportName, and finally OptGo (enter transmission, after which
// the handle is used as usual) or OptAbort (end the connection).
//
// Each Opt* call starts the option with the C library's non-blocking
// call and then waits for the reply in the calling goroutine (poll() in
// C with a short timeout, so Close and the end of ctx interrupt it).
// An option cannot be taken back once sent: if ctx ends first, the call
// returns ctx.Err() and the connection is given up (later calls fail
// with ErrDisconnected; Close the handle). Results are gathered by C
// callbacks into C memory; no C code calls into Go.

// Export is one entry of the server's export list (OptList).
type Export struct {
	Name        string
	Description string // "" if the server sent none
}

// OptGo asks the server for the export set with SetExportName and, on
// success, enters transmission: the handle is then ready for I/O. If the
// server refuses, the handle stays negotiating and the error carries the
// server's errno (for example ENOENT for an unknown export).
func (h *Handle) OptGo(ctx context.Context) error {
	_, err := h.opt(ctx, "OptGo", C.GONBD_OPT_GO)
	return err
}

// OptInfo asks the server about the export set with SetExportName
// without entering transmission; afterwards Size, IsReadOnly, CanFlush,
// ExportDescription ... describe that export. The handle stays
// negotiating.
func (h *Handle) OptInfo(ctx context.Context) error {
	_, err := h.opt(ctx, "OptInfo", C.GONBD_OPT_INFO)
	return err
}

// OptAbort ends the negotiation and the connection cleanly; the handle
// is closed for I/O afterwards (Close still has to be called).
func (h *Handle) OptAbort(ctx context.Context) error {
	_, err := h.opt(ctx, "OptAbort", C.GONBD_OPT_ABORT)
	return err
}

// OptList asks the server for the list of its exports.
func (h *Handle) OptList(ctx context.Context) ([]Export, error) {
	r, err := h.opt(ctx, "OptList", C.GONBD_OPT_LIST)
	if err != nil {
		return nil, err
	}
	l := make([]Export, len(r))
	for i, x := range r {
		l[i] = Export{Name: x[0], Description: x[1]}
	}
	return l, nil
}

// OptListMetaContext asks the server which metadata contexts it offers
// for the export set with SetExportName, matching the queries added with
// AddMetaContext (all contexts if there are none). It requires
// structured replies.
func (h *Handle) OptListMetaContext(ctx context.Context) ([]string, error) {
	r, err := h.opt(ctx, "OptListMetaContext", C.GONBD_OPT_LIST_META_CONTEXT)
	if err != nil {
		return nil, err
	}
	l := make([]string, len(r))
	for i, x := range r {
		l[i] = x[0]
	}
	return l, nil
}

// opt runs one option to completion. It returns the (name, description)
// pairs gathered by the list callbacks.
func (h *Handle) opt(ctx context.Context, op string, which C.int) ([][2]string, error) {
	r, refused, err := h.optRun(ctx, op, which)
	if err == nil && refused != 0 {
		err = &Error{Op: op, Errno: refused, Msg: "server refused the option: " + refused.Error()}
	}
	return r, err
}

// OptStartTLS asks the server to start TLS now (NBD_OPT_STARTTLS) and
// runs the TLS handshake with the handle's TLS settings
// (SetTLSCertificates, SetTLSPSKFile, ...). It reports true once the
// connection is encrypted, and false, with the handle still negotiating
// in plaintext, if the server refused. A failed TLS handshake (for
// example a rejected certificate, EACCES) ends the connection and is an
// error. Everything negotiated before is forgotten and must be
// negotiated again. It is for servers that offer TLS selectively; with
// SetTLS(TLSRequire) (or an nbds URI) TLS is started before option mode
// begins and this is not needed. It needs the gnutls build tag (ENOTSUP
// otherwise). See nbd_opt_starttls(3).
func (h *Handle) OptStartTLS(ctx context.Context) (bool, error) {
	return h.optAnswer(ctx, "OptStartTLS", C.GONBD_OPT_STARTTLS)
}

// optAnswer runs an option whose refusal is an answer (false), not an
// error: STARTTLS, structured replies, extended headers.
func (h *Handle) optAnswer(ctx context.Context, op string, which C.int) (bool, error) {
	_, refused, err := h.optRun(ctx, op, which)
	if err != nil {
		return false, err
	}
	return refused == 0, nil
}

// optRun runs one option to completion. It returns the (name,
// description) pairs gathered by the list callbacks, or the errno of the
// server's refusal.
func (h *Handle) optRun(ctx context.Context, op string, which C.int) ([][2]string, syscall.Errno, error) {
	defer runtime.KeepAlive(h)
	s, err := h.live(op)
	if err != nil {
		return nil, 0, err
	}
	if ctx == nil {
		return nil, 0, &Error{Op: op, Errno: syscall.EINVAL, Msg: "nil context"}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.optMu.Lock()
	defer s.optMu.Unlock()
	s.mu.Lock()
	gone := s.deadErr
	s.mu.Unlock()
	if gone != nil {
		return nil, 0, disconnected(op, gone)
	}

	// A connection still in its connecting phase belongs to the connector.
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started {
		select {
		case <-s.connDone:
		case <-s.stop:
			return nil, 0, closedError(op)
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}

	// The collector lives in C memory: the core keeps a pointer to it
	// until the option finishes or the handle is closed.
	o := (*C.struct_gonbd_opt)(C.calloc(1, C.sizeof_struct_gonbd_opt))
	if o == nil {
		return nil, 0, &Error{Op: op, Errno: syscall.ENOMEM, Msg: "out of memory"}
	}
	inFlight := false
	defer func() {
		if inFlight {
			// Interrupted: the core may still write to o until
			// nbd_close; the handle frees it then.
			s.mu.Lock()
			s.orphanOpts = append(s.orphanOpts, o)
			s.mu.Unlock()
			return
		}
		C.gonbd_opt_reset(o)
		C.free(unsafe.Pointer(o))
	}()

	err = s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if C.gonbd_aio_opt(c, which, o, &e) == -1 {
			return cerr(op, &e)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	inFlight = true

	var st stepState
	for {
		if s.stopping() {
			return nil, 0, closedError(op)
		}
		if err := ctx.Err(); err != nil {
			s.die(&Error{Op: op, Errno: syscall.ECANCELED, Msg: "option abandoned: its context ended"})
			return nil, 0, err
		}
		var ok bool
		if st, ok = s.step(op, true); !ok {
			return nil, 0, closedError(op)
		}
		if st.err != nil || st.dead || st.closed || o.done != 0 || st.dir == 0 {
			break
		}
	}
	inFlight = false

	switch {
	case which == C.GONBD_OPT_ABORT && !st.dead && (st.closed || !st.negotiating):
		s.die(nil)
		return nil, 0, nil
	case st.dead || st.closed || st.err != nil:
		derr := st.err
		if derr == nil {
			derr = &Error{Op: op, Errno: syscall.ENOTCONN, Msg: "connection ended during option negotiation"}
		}
		if st.dead || st.closed {
			s.die(derr)
		}
		return nil, 0, derr
	case o.done == 0:
		return nil, 0, &Error{Op: op, Errno: syscall.EIO, Msg: "option ended without a reply"}
	case o.err != 0:
		return nil, syscall.Errno(o.err), nil
	case o.oom != 0:
		return nil, 0, &Error{Op: op, Errno: syscall.ENOMEM, Msg: "out of memory collecting the reply"}
	}

	var r [][2]string
	if o.n > 0 {
		names := unsafe.Slice(o.names, o.n)
		descs := unsafe.Slice(o.descs, o.n)
		r = make([][2]string, len(names))
		for i := range names {
			r[i] = [2]string{C.GoString(names[i]), C.GoString(descs[i])}
		}
	}
	if which == C.GONBD_OPT_GO && st.ready {
		s.goLive()
	}
	return r, 0, nil
}
