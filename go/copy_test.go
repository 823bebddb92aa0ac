package nbd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// CopyTo writes only the data of a sparse export to a file (which stays
// sparse), and CopyFrom puts it back into another export.
func TestSparseCopy(t *testing.T) {
	const size = 64 << 20
	srcSrv := startNbdkit(t, "memory", "64M")
	ctx := context.Background()
	src, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srcSrv.sock, nbd.WithMetaContext(nbd.MetaContextBaseAllocation))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pieces := map[int64][]byte{0: pattern(4096, 1), 20 << 20: pattern(100000, 2), size - 512: pattern(512, 3)}
	for off, b := range pieces {
		if _, err := src.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "copy.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	n, err := src.CopyTo(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if n > 1<<20 {
		t.Errorf("CopyTo wrote %d bytes for about 100 KiB of data", n)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 4<<20 {
		t.Errorf("copy allocates %d bytes: not sparse", st.Blocks*512)
	}
	for off, want := range pieces {
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
			t.Errorf("copy at %d differs (%v)", off, err)
		}
	}

	// And back, into a second export.
	dstSrv := startNbdkit(t, "memory", "64M")
	dst, err := nbd.Dial(ctx, "nbd+unix:///?socket="+dstSrv.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.WriteAt(pattern(8192, 4), 30<<20); err != nil { // must be zeroed by the copy
		t.Fatal(err)
	}
	if _, err := dst.CopyFrom(ctx, f, size); err != nil {
		t.Fatal(err)
	}
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < size; off += 1 << 20 {
		if _, err := src.ReadAt(a, off); err != nil {
			t.Fatal(err)
		}
		if _, err := dst.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip differs in the MiB at %d", off)
		}
	}

	// Without block status every byte is read; zero chunks still skipped.
	plain, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srcSrv.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var buf bytesWriterAt
	if n, err := plain.CopyTo(ctx, &buf); err != nil || n != 3*(4<<20) {
		t.Errorf("CopyTo without block status: %d, %v (want 3 chunks of data)", n, err)
	}
}

// bytesWriterAt is an in-memory io.WriterAt.
type bytesWriterAt struct{ b []byte }

func (w *bytesWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(w.b) {
		w.b = append(w.b, make([]byte, need-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
