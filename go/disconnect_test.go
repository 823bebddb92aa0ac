package nbd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
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

// While Shutdown waits for the server to close, new requests are refused
// with ErrDisconnected (ESHUTDOWN); the server here never closes, so
// Shutdown ends with its context.
func TestDisconnectedDuringShutdown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mute.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	end := make(chan struct{})
	defer close(end)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		greet := make([]byte, 152) // oldstyle, 1 MiB, then silence
		copy(greet, "NBDMAGIC")
		binary.BigEndian.PutUint64(greet[8:], 0x00420281861253)
		binary.BigEndian.PutUint64(greet[16:], 1<<20)
		binary.BigEndian.PutUint32(greet[24:], 1)
		c.Write(greet)
		io.Copy(io.Discard, c)
		<-end // even after the client's end-of-file: never close
	}()
	h := connectUnix(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(ctx) }()
	time.Sleep(100 * time.Millisecond)
	_, err = h.ReadAt(make([]byte, 512), 4096)
	if !errors.Is(err, nbd.ErrDisconnected) || !errors.Is(err, syscall.ESHUTDOWN) {
		t.Errorf("ReadAt during Shutdown: %v, want ErrDisconnected with ESHUTDOWN", err)
	}
	withTimeout(t, 10*time.Second, "Shutdown against a server that never closes", func() {
		if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
		}
		// A second Shutdown waits again (it does not send a second
		// NBD_CMD_DISC, which the core would refuse).
		ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel2()
		if err := h.Shutdown(ctx2); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Shutdown: %v, want DeadlineExceeded", err)
		}
	})
}
