package nbd_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

func TestDial(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	ctx := context.Background()
	h, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srv.sock,
		nbd.WithMetaContext(nbd.MetaContextBaseAllocation), nbd.WithHandleName("dialled"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer h.Close()
	if name, _ := h.HandleName(); name != "dialled" {
		t.Errorf("HandleName = %q", name)
	}
	if ok, _ := h.CanMetaContext(nbd.MetaContextBaseAllocation); !ok {
		t.Error("base:allocation not negotiated")
	}
	checkIO(t, h)
	if err := h.Shutdown(ctx); err != nil {
		t.Error(err)
	}

	// Failures close the handle and say why.
	if _, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srv.sock+".none"); !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial to a missing socket: %v", err)
	}
	if _, err := nbd.Dial(ctx, "http://example/"); err == nil {
		t.Error("Dial of a non-NBD URI succeeded")
	}
	bad := errors.New("setup failed")
	if _, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srv.sock, nbd.WithSetup(func(*nbd.Handle) error { return bad })); err != bad {
		t.Errorf("Dial with a failing setup: %v", err)
	}
}

// A server that accepts and never greets: Dial and every blocking
// Connect form return when their context ends.
func TestConnectContext(t *testing.T) {
	dir := t.TempDir()
	sock := dir + "/mute.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 100*time.Millisecond)
	}
	withTimeout(t, 10*time.Second, "connects against a mute server", func() {
		ctx, cancel := short()
		defer cancel()
		if _, err := nbd.Dial(ctx, "nbd+unix:///?socket="+sock); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial: %v, want DeadlineExceeded", err)
		}
		forms := map[string]func(context.Context, *nbd.Handle) error{
			"ConnectUnix": func(ctx context.Context, h *nbd.Handle) error { return h.ConnectUnix(ctx, sock) },
			"ConnectURI":  func(ctx context.Context, h *nbd.Handle) error { return h.ConnectURI(ctx, "nbd+unix:///?socket="+sock) },
			"ConnectAddr": func(ctx context.Context, h *nbd.Handle) error {
				return h.ConnectAddr(ctx, &net.UnixAddr{Name: sock, Net: "unix"})
			},
			"ConnectConn": func(ctx context.Context, h *nbd.Handle) error {
				c, err := net.Dial("unix", sock)
				if err != nil {
					return err
				}
				defer c.Close()
				return h.ConnectConn(ctx, c.(*net.UnixConn))
			},
			"ConnectCommand": func(ctx context.Context, h *nbd.Handle) error {
				// cat never greets, and exits at end-of-file when closed.
				return h.ConnectCommand(ctx, "cat")
			},
		}
		for name, f := range forms {
			h := create(t)
			ctx, cancel := short()
			err := f(ctx, h)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v, want DeadlineExceeded", name, err)
			}
			h.Close()
		}
		h := create(t)
		//lint:ignore SA1012 a nil context on purpose: it must be refused, not crash
		if err := h.ConnectUnix(nil, sock); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ConnectUnix(nil ctx): %v, want EINVAL", err)
		}
	})
}

// The Aio forms of the command, socket-activation, socket and conn
// connects return at once; WaitConnected finishes them.
func TestAioConnectForms(t *testing.T) {
	needNbdkit(t)
	srv := startNbdkit(t, "memory", "1M")
	ctx := context.Background()
	forms := map[string]func(*nbd.Handle) error{
		"AioConnectCommand": func(h *nbd.Handle) error {
			return h.AioConnectCommand("nbdkit", "-s", "--exit-with-parent", "memory", "1M")
		},
		"AioConnectSystemdSocketActivation": func(h *nbd.Handle) error {
			return h.AioConnectSystemdSocketActivation("nbdkit", "--exit-with-parent", "memory", "1M")
		},
		"AioConnectConn": func(h *nbd.Handle) error {
			c, err := net.Dial("unix", srv.sock)
			if err != nil {
				return err
			}
			defer c.Close()
			return h.AioConnectConn(c.(*net.UnixConn))
		},
		"AioConnectSocket": func(h *nbd.Handle) error {
			c, err := net.Dial("unix", srv.sock)
			if err != nil {
				return err
			}
			defer c.Close()
			f, err := c.(*net.UnixConn).File()
			if err != nil {
				return err
			}
			defer f.Close()
			return h.AioConnectSocket(f)
		},
	}
	for name, f := range forms {
		h := create(t)
		if err := f(h); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := h.WaitConnected(ctx); err != nil {
			t.Errorf("%s: WaitConnected: %v", name, err)
			continue
		}
		checkIO(t, h)
		h.Close()
	}
	h := create(t)
	if err := h.AioConnectSocket(nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("AioConnectSocket(nil): %v", err)
	}
	if err := h.AioConnectConn((*net.UnixConn)(nil)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("AioConnectConn(nil *UnixConn): %v", err)
	}
}

// Close does not wait without limit for a ConnectCommand server that
// ignores SIGTERM: the C core gives it 2 s to exit after EOF, then sends
// SIGTERM, and SIGKILL 2 s later.
func TestCloseStubbornCommand(t *testing.T) {
	needNbdkit(t)
	if !nbd.EmbeddedCore {
		t.Skip("the bound on Close is the embedded core's (libnbd 1.14 waits for the process)")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	h := create(t)
	pidFile := t.TempDir() + "/pid"
	// The shell ignores SIGTERM, serves through nbdkit, then lingers as
	// sleep (exec: the same pid, and SIGTERM still ignored).
	err := h.ConnectCommand(context.Background(), "sh", "-c",
		`echo $$ > "$1"; trap "" TERM; nbdkit -s memory 1M; exec sleep 60`, "sh", pidFile)
	if err != nil {
		t.Fatal(err)
	}
	checkIO(t, h)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range b {
		if c >= '0' && c <= '9' {
			pid = pid*10 + int(c-'0')
		}
	}
	start := time.Now()
	withTimeout(t, 10*time.Second, "Close with a server ignoring SIGTERM", func() { h.Close() })
	t.Logf("Close took %v", time.Since(start))
	// Reaped by Close: the pid no longer exists (not even as a zombie).
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("subprocess %d still exists after Close", pid)
	}
}

// A large cancellable Read is pipelined in handle-owned chunks: when its
// context ends it returns at once, the caller's buffer is never written
// afterwards, and the handle stays usable.
func TestLargeReadCancel(t *testing.T) {
	srv := startNbdkit(t, "--filter=delay", "memory", "16M", "delay-read=1")
	h := connectUnix(t, srv.sock)
	buf := pattern(8<<20, 9)
	want := append([]byte(nil), buf...)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.Read(ctx, buf, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("cancelled Read returned after %v", d)
	}
	time.Sleep(1500 * time.Millisecond) // the abandoned replies arrive
	if _, err := h.ReadAt(make([]byte, 4096), 0); err != nil {
		t.Fatalf("ReadAt after the cancelled Read: %v", err)
	}
	for i := range buf {
		if buf[i] != want[i] {
			t.Fatalf("caller's buffer written at %d after Read returned", i)
		}
	}
}
