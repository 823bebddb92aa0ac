package nbd_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// qemuNbdExt is a qemu-nbd that speaks extended headers (qemu 10 from
// bookworm-backports, unpacked by `make qemu-nbd-ext`), or "".
func qemuNbdExt() string {
	if p := os.Getenv("NBD_TEST_QEMU_NBD_EXT"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../build/qemu-ext/root/usr/bin/qemu-nbd")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// BlockStatus with extended headers: a request longer than 4 GiB, and a
// hole longer than 4 GiB reported as one extent.
func TestBlockStatusExtended(t *testing.T) {
	bin := qemuNbdExt()
	if bin == "" {
		t.Skip("no qemu-nbd with extended headers (run `make qemu-nbd-ext`, or set NBD_TEST_QEMU_NBD_EXT)")
	}
	const gib = uint64(1) << 30
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(16 * gib)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sock := filepath.Join(dir, "sock")
	cmd := exec.Command(bin, "-f", "raw", "-t", "-k", sock, disk)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 500 {
			t.Fatal("qemu-nbd did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	h := create(t)
	if err := h.AddMetaContext("base:allocation"); err != nil {
		t.Fatal(err)
	}
	if err := h.ConnectUnix(context.Background(), sock); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.ExtendedHeadersNegotiated(); err != nil || !ok {
		t.Fatalf("ExtendedHeadersNegotiated = %v, %v; want true", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := pattern(65536, 3)
	if _, err := h.WriteAt(data, int64(14*gib)); err != nil {
		t.Fatal(err)
	}
	m, err := h.BlockStatus(ctx, 0, 12*gib)
	if err != nil {
		t.Fatalf("BlockStatus of 12 GiB: %v", err)
	}
	ext := m["base:allocation"]
	if len(ext) == 0 || ext[0].Offset != 0 || ext[0].Length <= 4*gib ||
		ext[0].Flags != nbd.StateHole|nbd.StateZero {
		t.Fatalf("extents %+v: want a first hole longer than 4 GiB", ext)
	}
	if err := h.Zero(ctx, 0, 6*gib); err != nil {
		t.Fatalf("Zero of 6 GiB: %v", err)
	}
}
