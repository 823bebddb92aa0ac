package nbd

// #include "shim.h"
import "C"

import (
	"errors"
	"strings"
	"syscall"
)

// Error is the error type returned by every method in this package.
type Error struct {
	Op    string        // Go operation that failed, e.g. "ConnectUnix"
	Errno syscall.Errno // errno reported by the C library (0 if none)
	Msg   string        // message reported by the C library, without its call name
	Call  string        // the C call that reported it, e.g. "nbd_aio_connect_unix" ("" if none)
	// Err is why the connection ended, for an error matching
	// ErrDisconnected (Errno and Call are then the cause's); else nil.
	Err error
}

// Error reads "nbd: <Op>: <Msg> (<errno text>)"; the errno text is left
// out when the message already says it.
func (e *Error) Error() string {
	s := "nbd: " + e.Op + ": " + e.Msg
	if e.Errno != 0 && !strings.Contains(strings.ToLower(e.Msg), strings.ToLower(e.Errno.Error())) {
		s += " (" + e.Errno.Error() + ")"
	}
	return s
}

// Unwrap returns the cause of a disconnection (Err) if there is one,
// else the errno, so errors.Is(err, syscall.EIO) works either way.
func (e *Error) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// ErrClosed is matched (with errors.Is) by the error returned when a
// Handle is used after Close, or when Close interrupts a call. Such
// errors also carry Errno ENOTCONN.
var ErrClosed = errors.New("nbd: handle is closed")

const closedMsg = "handle is closed"

func closedError(op string) error {
	return &Error{Op: op, Errno: syscall.ENOTCONN, Msg: closedMsg}
}

// ErrDisconnected is matched (with errors.Is) by the error of a call
// that needs the connection after it ended: the server closed it or
// died, a send or receive failed, or Shutdown completed. Such an error
// is an *Error whose Err (also its Unwrap) is the cause, so
// errors.Is(err, syscall.ECONNRESET) and the like still see the
// original errno. Requests in flight when the connection ended fail
// with it too. The handle cannot be reconnected: Close it.
var ErrDisconnected = errors.New("nbd: disconnected")

// disconnected is op's error after the connection ended with cause.
func disconnected(op string, cause error) error {
	e := &Error{Op: op, Errno: syscall.ENOTCONN, Msg: "disconnected", Err: cause}
	if c, ok := cause.(*Error); ok {
		e.Errno, e.Call = c.Errno, c.Call
		e.Msg = "disconnected: " + c.Msg
	}
	return e
}

// Is makes errors.Is(err, ErrClosed) true for use-after-Close errors and
// errors.Is(err, ErrDisconnected) for calls after the connection ended.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrClosed:
		return e.Msg == closedMsg
	case ErrDisconnected:
		return e.Err != nil
	}
	return false
}

// withOp returns a copy of err, an *Error, with Op set to op.
func withOp(err error, op string) error {
	e := *err.(*Error)
	e.Op = op
	return &e
}

// cerr converts a captured C error to an error value.  The C message
// starts with the C call's name ("nbd_aio_pread: ..."), which the Go
// caller never called: it moves to Call, out of the text.
func cerr(op string, e *C.struct_gonbd_err) error {
	msg := C.GoString(&e.msg[0])
	call := ""
	if strings.HasPrefix(msg, "nbd_") {
		if i := strings.Index(msg, ": "); i > 0 && !strings.ContainsAny(msg[:i], " \t") {
			call, msg = msg[:i], msg[i+2:]
		}
	}
	return &Error{Op: op, Errno: syscall.Errno(e.errnum), Msg: msg, Call: call}
}
