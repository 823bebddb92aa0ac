package nbd_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// wantErrno fails unless err is an *nbd.Error with the given Op whose
// Errno is one of want.
func wantErrno(t *testing.T, err error, op string, want ...syscall.Errno) {
	t.Helper()
	var ne *nbd.Error
	if !errors.As(err, &ne) {
		t.Fatalf("%s: got %v (%T), want *nbd.Error", op, err, err)
	}
	if ne.Op != op {
		t.Errorf("%s: Op = %q", op, ne.Op)
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("%s: got %v, want errno in %v", op, err, want)
}

// exportsServer serves three named memory disks (the exportname filter
// advertises them with descriptions; any name gives a memory disk).
func exportsServer(t *testing.T) *server {
	return startNbdkit(t, "--filter=exportname", "memory", "1M",
		"exportname-list=explicit", "exportname-strict=true",
		"exportname=alpha", "exportname=beta", "exportname=gamma",
		"exportdesc=fixed:ram disk")
}

func TestOptList(t *testing.T) {
	srv := exportsServer(t)
	h := create(t)
	if err := h.SetOptMode(true); err != nil {
		t.Fatal(err)
	}
	if !h.OptMode() {
		t.Fatal("OptMode = false after SetOptMode(true)")
	}
	withTimeout(t, 20*time.Second, "opt list", func() {
		if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
			t.Errorf("ConnectUnix: %v\n%s", err, srv.logText())
			return
		}
		if !h.AioIsNegotiating() || h.AioIsReady() {
			t.Errorf("after connect in opt mode: negotiating %v ready %v", h.AioIsNegotiating(), h.AioIsReady())
		}
		l, err := h.OptList(context.Background())
		if err != nil {
			t.Errorf("OptList: %v", err)
			return
		}
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
		want := []nbd.Export{{"alpha", "ram disk"}, {"beta", "ram disk"}, {"gamma", "ram disk"}}
		if len(l) != len(want) {
			t.Errorf("OptList = %+v, want %+v", l, want)
			return
		}
		for i := range want {
			if l[i] != want[i] {
				t.Errorf("OptList[%d] = %+v, want %+v", i, l[i], want[i])
			}
		}
		// Still negotiating; I/O is refused until OptGo.
		if !h.AioIsNegotiating() {
			t.Error("not negotiating after OptList")
		}
		_, err = h.ReadAt(make([]byte, 512), 0)
		if err == nil {
			t.Error("ReadAt while negotiating succeeded")
		}
	})
}

func TestOptGoInfoAbort(t *testing.T) {
	srv := exportsServer(t)

	t.Run("go", func(t *testing.T) {
		h := create(t)
		h.SetOptMode(true)
		withTimeout(t, 20*time.Second, "opt go", func() {
			if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
				t.Errorf("ConnectUnix: %v", err)
				return
			}
			// A name the strict filter refuses: the server says no, the
			// handle stays negotiating and can try again.
			h.SetExportName("delta")
			err := h.OptGo(context.Background())
			if err == nil {
				t.Error("OptGo(delta) succeeded")
				return
			}
			var ne *nbd.Error
			if !errors.As(err, &ne) || ne.Op != "OptGo" || ne.Errno == 0 {
				t.Errorf("OptGo(delta): %#v", err)
			}
			if !h.AioIsNegotiating() {
				t.Error("not negotiating after a refused OptGo")
			}
			if err := h.SetExportName("beta"); err != nil {
				t.Error(err)
			}
			if err := h.SetFullInfo(true); err != nil {
				t.Error(err)
			}
			if err := h.OptGo(context.Background()); err != nil {
				t.Errorf("OptGo(beta): %v\n%s", err, srv.logText())
				return
			}
			if !h.AioIsReady() || h.AioIsNegotiating() {
				t.Error("not ready after OptGo")
			}
			checkIO(t, h)
			if d, err := h.ExportDescription(); err != nil || d != "ram disk" {
				t.Errorf("ExportDescription = %q, %v", d, err)
			}
			if n, err := h.CanonicalExportName(); err != nil || n != "beta" {
				t.Errorf("CanonicalExportName = %q, %v", n, err)
			}
			// Options are over.
			wantErrno(t, h.OptGo(context.Background()), "OptGo", syscall.EINVAL)
			_, err = h.OptList(context.Background())
			wantErrno(t, err, "OptList", syscall.EINVAL)
		})
	})

	t.Run("info", func(t *testing.T) {
		h := create(t)
		h.SetOptMode(true)
		withTimeout(t, 20*time.Second, "opt info", func() {
			if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
				t.Errorf("ConnectUnix: %v", err)
				return
			}
			h.SetExportName("gamma")
			if err := h.OptInfo(context.Background()); err != nil {
				t.Errorf("OptInfo: %v", err)
				return
			}
			if sz, err := h.Size(); err != nil || sz != 1<<20 {
				t.Errorf("Size after OptInfo = %d, %v", sz, err)
			}
			if !h.AioIsNegotiating() {
				t.Error("not negotiating after OptInfo")
			}
			if err := h.OptAbort(context.Background()); err != nil {
				t.Errorf("OptAbort: %v", err)
			}
			if h.AioIsNegotiating() || h.AioIsReady() {
				t.Error("still negotiating or ready after OptAbort")
			}
			_, err := h.ReadAt(make([]byte, 512), 0)
			if err == nil {
				t.Error("ReadAt after OptAbort succeeded")
			}
		})
	})
}

func TestOptListMetaContext(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	h := create(t)
	h.SetOptMode(true)
	withTimeout(t, 20*time.Second, "opt list meta context", func() {
		if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
			t.Errorf("ConnectUnix: %v", err)
			return
		}
		if err := h.AddMetaContext("base:"); err != nil {
			t.Error(err)
		}
		l, err := h.OptListMetaContext(context.Background())
		if err != nil {
			t.Errorf("OptListMetaContext: %v", err)
			return
		}
		if len(l) != 1 || l[0] != "base:allocation" {
			t.Errorf("OptListMetaContext = %q, want [base:allocation]", l)
		}
		if err := h.OptGo(context.Background()); err != nil {
			t.Errorf("OptGo: %v", err)
			return
		}
		checkIO(t, h)
	})
}

func TestOptErrors(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	// Before connecting: the handle is not negotiating.
	h := create(t)
	wantErrno(t, h.OptGo(context.Background()), "OptGo", syscall.ENOTCONN)
	_, err := h.OptList(context.Background())
	wantErrno(t, err, "OptList", syscall.ENOTCONN)
	// Connected without opt mode: ready, so options are refused.
	h2 := connectUnix(t, srv.sock)
	wantErrno(t, h2.OptGo(context.Background()), "OptGo", syscall.EINVAL)
	wantErrno(t, h2.OptInfo(context.Background()), "OptInfo", syscall.EINVAL)
	_, err = h2.OptListMetaContext(context.Background())
	wantErrno(t, err, "OptListMetaContext", syscall.EINVAL)
	if h2.AioIsNegotiating() {
		t.Error("AioIsNegotiating on a ready handle")
	}
	// SetOptMode after connecting is refused.
	wantErrno(t, h2.SetOptMode(true), "SetOptMode", syscall.EINVAL)
	// After Close.
	h2.Close()
	_, err = h2.OptList(context.Background())
	if !errors.Is(err, nbd.ErrClosed) {
		t.Errorf("OptList after Close: %v", err)
	}
	// Without structured replies the server is still asked (libnbd 1.16
	// and later do so; the protocol allows it), and nbdkit answers.
	h3 := create(t)
	h3.SetOptMode(true)
	h3.SetRequestStructuredReplies(false)
	withTimeout(t, 20*time.Second, "no structured replies", func() {
		if err := h3.ConnectUnix(context.Background(), srv.sock); err != nil {
			t.Errorf("ConnectUnix: %v", err)
			return
		}
		l, err := h3.OptListMetaContext(context.Background())
		if err != nil || len(l) == 0 {
			t.Errorf("OptListMetaContext without structured replies = %v, %v; want nbdkit's contexts", l, err)
		}
	})
}

// Close while an option waits for a slow server reply returns promptly.
func TestOptCloseDuringOption(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "slow.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A fake server: sends a newstyle-fixed greeting, then never replies.
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		greet := []byte("NBDMAGICIHAVEOPT\x00\x03")
		c.Write(greet)
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	h := create(t)
	h.SetOptMode(true)
	h.SetRequestStructuredReplies(false)
	h.SetHandshakeFlags(1) // fixed newstyle only: no other negotiation
	withTimeout(t, 20*time.Second, "close during option", func() {
		if err := h.ConnectUnix(context.Background(), sock); err != nil {
			t.Errorf("ConnectUnix: %v", err)
			return
		}
		errc := make(chan error, 1)
		go func() { _, err := h.OptList(context.Background()); errc <- err }()
		time.Sleep(100 * time.Millisecond)
		h.Close()
		if err := <-errc; !errors.Is(err, nbd.ErrClosed) {
			t.Errorf("OptList interrupted by Close: %v", err)
		}
	})

	// The same server, and the option's context ends first: the call
	// returns the context's error, the connection is given up.
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("NBDMAGICIHAVEOPT\x00\x03"))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	h = create(t)
	h.SetOptMode(true)
	h.SetRequestStructuredReplies(false)
	h.SetHandshakeFlags(1)
	withTimeout(t, 20*time.Second, "option whose context ends", func() {
		if err := h.ConnectUnix(context.Background(), sock); err != nil {
			t.Errorf("ConnectUnix: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := h.OptList(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("OptList with an ending context: %v", err)
		}
		if err := h.OptGo(context.Background()); !errors.Is(err, nbd.ErrDisconnected) {
			t.Errorf("OptGo after an abandoned option: %v, want ErrDisconnected", err)
		}
		h.Close()
	})
}

func TestConnectAddr(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	t.Run("unix", func(t *testing.T) {
		h := create(t)
		withTimeout(t, 20*time.Second, "ConnectAddr unix", func() {
			if err := h.ConnectAddr(context.Background(), &net.UnixAddr{Name: srv.sock, Net: "unix"}); err != nil {
				t.Errorf("ConnectAddr: %v", err)
				return
			}
			checkIO(t, h)
		})
	})
	t.Run("tcp", func(t *testing.T) {
		host, port := startNbdkitTCP(t, "memory", "1M")
		addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatal(err)
		}
		h := create(t)
		withTimeout(t, 20*time.Second, "ConnectAddr tcp", func() {
			if err := h.ConnectAddr(context.Background(), addr); err != nil {
				t.Errorf("ConnectAddr: %v", err)
				return
			}
			checkIO(t, h)
		})
	})
	t.Run("errors", func(t *testing.T) {
		before := countFDs(t)
		h := create(t)
		// Bound but not listening: refused.
		dir := t.TempDir()
		p := filepath.Join(dir, "dead.sock")
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: p}); err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		withTimeout(t, 20*time.Second, "refused", func() {
			wantErrno(t, h.ConnectAddr(context.Background(), &net.UnixAddr{Name: p, Net: "unix"}), "ConnectAddr", syscall.ECONNREFUSED)
		})
		h2 := create(t)
		wantErrno(t, h2.ConnectAddr(context.Background(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}), "ConnectAddr", syscall.EAFNOSUPPORT)
		wantErrno(t, h2.ConnectAddr(context.Background(), &net.UnixAddr{Name: strings.Repeat("x", 200), Net: "unix"}), "ConnectAddr", syscall.ENAMETOOLONG)
		wantErrno(t, h2.ConnectAddr(context.Background(), &net.TCPAddr{Port: 10809}), "ConnectAddr", syscall.EINVAL)
		h.Close()
		h2.Close()
		if n := fdsSettle(t, before+1); n != before+1 { // +1: the bound socket
			t.Errorf("descriptor leak: %d open, want %d", n, before+1)
		}
	})
}

func TestConnectSystemdSocketActivation(t *testing.T) {
	needNbdkit(t)
	h := create(t)
	withTimeout(t, 20*time.Second, "systemd socket activation", func() {
		if err := h.ConnectSystemdSocketActivation(context.Background(), "nbdkit", "--exit-with-parent", "memory", "1M"); err != nil {
			t.Errorf("ConnectSystemdSocketActivation: %v", err)
			return
		}
		checkIO(t, h)
		if err := h.KillSubprocess(syscall.SIGTERM); err != nil {
			t.Errorf("KillSubprocess: %v", err)
		}
	})
	// No subprocess on a Unix-socket handle.
	srv := startNbdkit(t, "memory", "1M")
	h2 := connectUnix(t, srv.sock)
	if err := h2.KillSubprocess(0); err == nil {
		t.Error("KillSubprocess without a subprocess succeeded")
	} else {
		var ne *nbd.Error
		if !errors.As(err, &ne) || ne.Op != "KillSubprocess" || ne.Errno == 0 {
			t.Errorf("KillSubprocess: %#v", err)
		}
	}
}

func TestSettingsGetters(t *testing.T) {
	h := create(t)
	if err := h.SetFullInfo(true); err != nil {
		t.Fatal(err)
	}
	if v, err := h.FullInfo(); err != nil || !v {
		t.Errorf("FullInfo = %v, %v", v, err)
	}
	if err := h.SetRequestBlockSize(false); err != nil {
		t.Fatal(err)
	}
	if v, err := h.RequestBlockSize(); err != nil || v {
		t.Errorf("RequestBlockSize = %v, %v", v, err)
	}
}
