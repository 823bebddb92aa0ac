package nbd_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// checkDisconnected checks the shape of an error after the connection
// ended: it matches ErrDisconnected (and not ErrClosed or EINVAL), and
// errors.Unwrap gives the cause, whose errno errors.Is also sees.
func checkDisconnected(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded after the connection ended", what)
	}
	if !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("%s: %v does not match ErrDisconnected", what, err)
	}
	if errors.Is(err, nbd.ErrClosed) || errors.Is(err, syscall.EINVAL) {
		t.Errorf("%s: %v matches ErrClosed or EINVAL", what, err)
	}
	var e *nbd.Error
	if !errors.As(err, &e) || e.Err == nil {
		t.Fatalf("%s: %v is not an *nbd.Error with a cause", what, err)
	}
	cause, ok := errors.Unwrap(err).(*nbd.Error)
	if !ok || cause != e.Err {
		t.Fatalf("%s: errors.Unwrap(%v) = %v, want the cause", what, err, errors.Unwrap(err))
	}
	if cause.Errno == 0 || !errors.Is(err, cause.Errno) || e.Errno != cause.Errno {
		t.Errorf("%s: errno %d of the cause %v not carried (outer errno %d)", what, cause.Errno, cause, e.Errno)
	}
}

// The server dies: requests in flight, and later ones, fail with
// ErrDisconnected wrapping why; so does Shutdown.
func TestDisconnectedServerDies(t *testing.T) {
	srv := startNbdkit(t, "--filter=delay", "memory", "1M", "delay-read=30")
	h := connectUnix(t, srv.sock)
	errc := make(chan error, 1)
	go func() { _, err := h.ReadAt(make([]byte, 512), 0); errc <- err }()
	for i := 0; i < 500; i++ {
		if n, _ := h.AioInFlight(); n == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill()
	var inflight error
	withTimeout(t, 10*time.Second, "read in flight when the server died", func() { inflight = <-errc })
	checkDisconnected(t, "ReadAt in flight", inflight)
	if !errors.Is(inflight, syscall.ENOTCONN) && !errors.Is(inflight, syscall.ECONNRESET) {
		t.Errorf("ReadAt in flight: %v: want ENOTCONN or ECONNRESET", inflight)
	}
	_, err := h.ReadAt(make([]byte, 512), 0)
	checkDisconnected(t, "ReadAt after", err)
	checkDisconnected(t, "Flush after", h.Flush(context.Background()))
	checkDisconnected(t, "Shutdown after", h.Shutdown(context.Background()))
	h.Close()
	if _, err := h.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrClosed) || errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("ReadAt after Close: %v, want ErrClosed only", err)
	}
}

// After Shutdown: calls fail with ErrDisconnected, not with a bad-argument
// EINVAL; a second Shutdown does nothing.
func TestDisconnectedAfterShutdown(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	h := connectUnix(t, srv.sock)
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := h.ReadAt(make([]byte, 512), 0)
	checkDisconnected(t, "ReadAt after Shutdown", err)
	if e := errors.Unwrap(err).(*nbd.Error); e.Errno != syscall.ENOTCONN {
		t.Errorf("cause after Shutdown: %v, want ENOTCONN", e)
	}
	checkDisconnected(t, "Write after Shutdown", h.Write(context.Background(), make([]byte, 512), 0))
	if err := h.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if sz, err := h.Size(); err != nil || sz != 1<<20 {
		t.Errorf("Size after Shutdown = %d, %v; export facts stay readable", sz, err)
	}
}
