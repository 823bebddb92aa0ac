package nbd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// startQemuNbd serves a fresh 16 MiB raw image with "qemu-nbd --persistent"
// on a private Unix socket (killed at cleanup) and returns the socket path.
func startQemuNbd(t testing.TB, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		t.Skip("qemu-nbd is not installed")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, pattern(16<<20, 3), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nbd.sock")
	pid := filepath.Join(dir, "qemu-nbd.pid")
	args := append([]string{"-t", "-e", "8", "-f", "raw", "-k", sock, "--pid-file", pid}, extra...)
	cmd := exec.Command("qemu-nbd", append(args, img)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(pid); err == nil {
			if _, err := os.Stat(sock); err == nil {
				return sock
			}
		}
		select {
		case <-done:
			t.Fatal("qemu-nbd exited early")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("qemu-nbd did not create its socket within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shutdownIterations is how often the abandoned-read/Shutdown sequence
// runs per server: the lost wake-up it guards against showed up about
// once in 200-600 tries.
func shutdownIterations() int {
	if testing.Short() {
		return 200
	}
	return 2000
}

// TestShutdownAfterAbandonedRead: reads abandoned through their context,
// then Shutdown(context.Background()). The server answers the reads and
// closes the connection, often in one burst (the last reply and the EOF
// arrive together); Shutdown must notice the EOF every time. Each round
// is bounded, so a lost wake-up fails the test instead of hanging it.
func TestShutdownAfterAbandonedRead(t *testing.T) {
	servers := map[string]string{}
	if _, err := exec.LookPath("qemu-nbd"); err == nil {
		servers["qemu-nbd"] = startQemuNbd(t)
	}
	if _, err := exec.LookPath("nbdkit"); err == nil {
		servers["nbdkit"] = startNbdkit(t, "memory", "16M").sock
	}
	if len(servers) == 0 {
		t.Skip("neither qemu-nbd nor nbdkit is installed")
	}
	for name, sock := range servers {
		t.Run(name, func(t *testing.T) {
			for i := 0; i < shutdownIterations(); i++ {
				shutdownRound(t, sock, i)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func shutdownRound(t *testing.T, sock string, i int) {
	h, err := nbd.Create()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.ConnectUnix(context.Background(), sock); err != nil {
		t.Fatalf("round %d: ConnectUnix: %v", i, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Vary how far the reads get before they are abandoned.
	sizes := []int{512, 64 << 10, 1 << 20}
	errs := make(chan error, len(sizes))
	for k, n := range sizes {
		go func(n, k int) {
			errs <- h.Read(ctx, make([]byte, n), uint64(k)<<20)
		}(n, k)
	}
	for k := 0; k < i%4; k++ {
		runtime.Gosched()
	}
	cancel()
	for range sizes {
		<-errs // nil or context.Canceled: either is fine here
	}
	res := make(chan error, 1)
	go func() { res <- h.Shutdown(context.Background()) }()
	select {
	case err := <-res:
		if err != nil {
			t.Errorf("round %d: Shutdown: %v", i, err)
		}
	case <-time.After(10 * time.Second):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("round %d: Shutdown did not return within 10s (lost wake-up)\n%s", i, buf)
		h.Close() // unblocks Shutdown
		<-res
	}
}

// oldstyleServer accepts one connection at a time on a private Unix
// socket, greets oldstyle (size 1 MiB), reads two requests, answers the
// first and closes at once, so that the last reply and the EOF arrive
// together. It returns the socket path.
func oldstyleServer(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "old.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			greet := make([]byte, 152)
			copy(greet, "NBDMAGIC")
			binary.BigEndian.PutUint64(greet[8:], 0x00420281861253)
			binary.BigEndian.PutUint64(greet[16:], 1<<20)
			binary.BigEndian.PutUint32(greet[24:], 1) // NBD_FLAG_HAS_FLAGS
			c.Write(greet)
			reqs := make([]byte, 56)
			if _, err := io.ReadFull(c, reqs); err == nil {
				reply := make([]byte, 16+binary.BigEndian.Uint32(reqs[24:]))
				binary.BigEndian.PutUint32(reply, 0x67446698)
				copy(reply[8:16], reqs[8:16]) // the first request's cookie
				c.Write(reply)
			}
			c.Close()
		}
	}()
	return sock
}

// The server answers one of two reads and closes the connection in the
// same breath: the other read must fail promptly with ErrDisconnected
// (not a bad-argument error, not a hang), every time. (Whether the reply
// and the end-of-file reach the poller as one event depends on timing;
// TestShutdownAfterAbandonedRead is the case that reliably made them.)
func TestDeathRightAfterLastReply(t *testing.T) {
	sock := oldstyleServer(t)
	for i := 0; i < 100; i++ {
		h := create(t)
		if err := h.ConnectUnix(context.Background(), sock); err != nil {
			t.Fatalf("round %d: ConnectUnix: %v", i, err)
		}
		errs := make(chan error, 2)
		for k := 0; k < 2; k++ {
			go func(k int) {
				_, err := h.ReadAt(make([]byte, 512), int64(k)*512)
				errs <- err
			}(k)
		}
		var got []error
		withTimeout(t, 10*time.Second, fmt.Sprintf("round %d: reads when the server closed", i), func() {
			got = append(got, <-errs, <-errs)
		})
		ok, gone := 0, 0
		for _, err := range got {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, nbd.ErrDisconnected):
				gone++
			default:
				t.Errorf("round %d: %v", i, err)
			}
		}
		if ok != 1 || gone != 1 {
			t.Errorf("round %d: %d answered, %d disconnected; want 1 and 1", i, ok, gone)
		}
		h.Close()
	}
}
