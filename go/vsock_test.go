package nbd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// The vsock test never touches a real AF_VSOCK peer: it re-runs this
// test binary with LD_PRELOAD=vsock_preload.so (built here from
// ../testdata/vsock_preload.c), which turns AF_VSOCK connects into
// connects to the Unix socket $NBD_VSOCK_DIR/vsock-<cid>-<port>, where
// an nbdkit started by the parent listens.

const (
	vsockCID  = 1 // VMADDR_CID_LOCAL, in case the interposer were absent
	vsockPort = 10809
)

func TestConnectVsock(t *testing.T) {
	if os.Getenv("GO_NBD_VSOCK_CHILD") != "" {
		t.Skip("child process")
	}
	needNbdkit(t)
	src, err := filepath.Abs("../testdata/vsock_preload.c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Skipf("interposer source not present: %v", err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := t.TempDir()
	so := filepath.Join(dir, "vsock_preload.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", so, src, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("building the interposer: %v\n%s", err, out)
	}
	srv := startNbdkit(t, "memory", "1M")
	vdir := t.TempDir()
	if err := os.Symlink(srv.sock, filepath.Join(vdir, "vsock-1-10809")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVsockChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GO_NBD_VSOCK_CHILD=1", "LD_PRELOAD="+so, "NBD_VSOCK_DIR="+vdir)
	var out []byte
	withTimeout(t, 60*time.Second, "vsock child", func() { out, err = cmd.CombinedOutput() })
	if err != nil || !strings.Contains(string(out), "--- PASS: TestVsockChild") {
		t.Fatalf("vsock child failed: %v\n%s", err, out)
	}
}

// TestVsockChild runs only inside TestConnectVsock's child process.
func TestVsockChild(t *testing.T) {
	if os.Getenv("GO_NBD_VSOCK_CHILD") == "" {
		t.Skip("run by TestConnectVsock")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil || !strings.Contains(string(maps), "vsock_preload.so") {
		t.Fatal("interposer not loaded: refusing to open a real AF_VSOCK socket")
	}
	h := create(t)
	if err := h.ConnectVsock(context.Background(), vsockCID, vsockPort); err != nil {
		t.Fatalf("ConnectVsock: %v", err)
	}
	checkIO(t, h)
	h.Close()

	h2 := create(t)
	if err := h2.AioConnectVsock(vsockCID, vsockPort); err != nil {
		t.Fatalf("AioConnectVsock: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h2.AioIsConnecting() {
		if time.Now().After(deadline) {
			t.Fatal("still connecting after 10s")
		}
		time.Sleep(time.Millisecond)
	}
	if !h2.AioIsReady() {
		t.Fatal("AioConnectVsock: not ready after connecting")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h2.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	checkIO(t, h2)

	// Nobody listening on another port: refused, through the interposer.
	h3 := create(t)
	if err := h3.ConnectVsock(context.Background(), vsockCID, vsockPort+1); err == nil {
		t.Error("ConnectVsock to a port nobody listens on succeeded")
	}
	_ = nbd.FUA
}
