package nbd_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// TestMain runs the tests, then checks that no connector or writer goroutine and no
// descriptor opened by the package outlived its handle.
func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := exec.LookPath("nbdkit"); err != nil && flag.Lookup("test.run").Value.String() == "" {
		// Examples cannot skip themselves; without nbdkit run only tests
		// (which skip) and not the examples.
		flag.Set("test.run", "^Test")
	}
	code := m.Run()
	if code == 0 {
		if leaked := waitNoDrivers(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "FAIL: connector/writer goroutines still running after all tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoDrivers returns the stacks of leftover connector/writer goroutines,
// or "" once there are none.
func waitNoDrivers(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		runtime.GC()
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "nbd.(*state).connector") || strings.Contains(g, "nbd.(*state).writer") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func needNbdkit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nbdkit"); err != nil {
		t.Skip("nbdkit is not installed")
	}
}

// server is one nbdkit process serving on a private Unix socket.
type server struct {
	sock string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// startNbdkit starts "nbdkit -f --exit-with-parent -U sock args..." and
// waits (bounded) for the socket to appear. It is killed at cleanup.
func startNbdkit(t testing.TB, args ...string) *server {
	t.Helper()
	needNbdkit(t)
	dir := t.TempDir()
	s := &server{sock: filepath.Join(dir, "nbd.sock"), log: new(bytes.Buffer), done: make(chan struct{})}
	pid := filepath.Join(dir, "nbdkit.pid")
	// The pid file is written once nbdkit listens: wait for it, not the socket.
	all := append([]string{"-f", "--exit-with-parent", "-U", s.sock, "-P", pid}, args...)
	s.cmd = exec.Command("nbdkit", all...)
	s.cmd.Stdout = lockedBuf{&s.mu, s.log}
	s.cmd.Stderr = lockedBuf{&s.mu, s.log}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start nbdkit: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	servers.Store(s.sock, s)
	t.Cleanup(func() { servers.Delete(s.sock) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(pid); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("nbdkit %v exited early: %s", args, s.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nbdkit did not create its socket within 10s: %s", s.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var servers sync.Map // socket path -> *server

func serverLog(sock string) string {
	if s, ok := servers.Load(sock); ok {
		return s.(*server).logText()
	}
	return ""
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

// startNbdkitTCP starts nbdkit on a loopback TCP listener created here
// and passed by socket activation (no port race).
func startNbdkitTCP(t testing.TB, args ...string) (host, port string) {
	t.Helper()
	needNbdkit(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec nbdkit -f --exit-with-parent "$@"`, "sh")
	cmd.Args = append(cmd.Args, args...)
	cmd.ExtraFiles = []*os.File{f}
	var log bytes.Buffer
	cmd.Stderr = &log
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
	h, p, _ := net.SplitHostPort(l.Addr().String())
	return h, p
}

func create(t testing.TB) *nbd.Handle {
	t.Helper()
	h, err := nbd.Create()
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connectUnix(t testing.TB, sock string) *nbd.Handle {
	t.Helper()
	h := create(t)
	if err := h.ConnectUnix(context.Background(), sock); err != nil {
		t.Fatalf("ConnectUnix: %v\nserver log:\n%s", err, serverLog(sock))
	}
	return h
}

// countFDs returns the number of open descriptors of this process.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents) - 1 // the directory being read
}

// fdsSettle waits (bounded) for the descriptor count to return to want.
func fdsSettle(t testing.TB, want int) int {
	t.Helper()
	var n int
	for i := 0; i < 200; i++ {
		n = countFDs(t)
		if n == want {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed ^ byte(i>>9)
	}
	return b
}

// withTimeout fails the test if f does not return within d.
func withTimeout(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%s did not finish within %v\n%s", what, d, buf)
	}
}
