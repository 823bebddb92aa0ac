package nbd

// #include "shim.h"
import "C"

import (
	"errors"
	"syscall"
)

// Error is the error type returned by every method in this package.
type Error struct {
	Op    string        // Go operation that failed, e.g. "ConnectUnix"
	Errno syscall.Errno // errno reported by the C library (0 if none)
	Msg   string        // message reported by the C library
}

func (e *Error) Error() string {
	s := "nbd: " + e.Op + ": " + e.Msg
	if e.Errno != 0 {
		s += " (" + e.Errno.Error() + ")"
	}
	return s
}

// Unwrap returns the errno, so errors.Is(err, syscall.EIO) works.
func (e *Error) Unwrap() error {
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

// Is makes errors.Is(err, ErrClosed) true for use-after-Close errors.
func (e *Error) Is(target error) bool {
	return target == ErrClosed && e.Msg == closedMsg
}

// withOp returns a copy of err, an *Error, with Op set to op.
func withOp(err error, op string) error {
	e := *err.(*Error)
	e.Op = op
	return &e
}

// cerr converts a captured C error to an error value.
func cerr(op string, e *C.struct_gonbd_err) error {
	return &Error{Op: op, Errno: syscall.Errno(e.errnum), Msg: C.GoString(&e.msg[0])}
}
