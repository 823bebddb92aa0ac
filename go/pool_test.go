package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// On a multi-conn server a pool opens n connections; writes through any
// connection are read back through the others, and Flush works.
func TestPoolMultiConn(t *testing.T) {
	srv := startNbdkit(t, "memory", "4M")
	ctx := context.Background()
	p, err := nbd.DialPool(ctx, "nbd+unix:///?socket="+srv.sock, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Conns() != 4 {
		t.Fatalf("Conns = %d, want 4 (nbdkit memory advertises multi-conn)", p.Conns())
	}
	if sz, err := p.Size(); sz != 4<<20 || err != nil {
		t.Errorf("Size = %d, %v", sz, err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			want := pattern(64<<10, byte(g))
			off := int64(g) * (64 << 10)
			if _, err := p.WriteAt(want, off); err != nil {
				t.Error(err)
				return
			}
			// Read it back several times: each read may use another connection.
			for i := 0; i < 4; i++ {
				got := make([]byte, len(want))
				if _, err := p.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
					t.Errorf("goroutine %d read %d: %v, equal=%v", g, i, err, bytes.Equal(got, want))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	// Large transfers are spread over the connections; odd offsets and
	// lengths, and a read running past the end.
	big := pattern(3<<20-12345, 77)
	if _, err := p.WriteAt(big, 1<<20-4321); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(big))
	if err := p.Read(ctx, got, 1<<20-4321); err != nil || !bytes.Equal(got, big) {
		t.Errorf("spread Read: %v, equal=%v", err, bytes.Equal(got, big))
	}
	tail := make([]byte, 3<<20)
	if n, err := p.ReadAt(tail, 2<<20); n != 2<<20 || err != io.EOF {
		t.Errorf("spread ReadAt past the end: %d, %v; want %d, EOF", n, err, 2<<20)
	} else if !bytes.Equal(tail[:1<<20], big[1<<20+4321:2<<20+4321]) {
		t.Error("spread ReadAt past the end: wrong data")
	}
	if err := p.Flush(ctx); err != nil {
		t.Error(err)
	}
	for i := 0; i < p.Conns(); i++ {
		if n, _ := p.Handle(i).AioInFlight(); n != 0 {
			t.Errorf("connection %d has %d requests in flight", i, n)
		}
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	if _, err := p.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("ReadAt after Shutdown: %v", err)
	}
}

// Without multi-conn a pool has one connection.
func TestPoolNoMultiConn(t *testing.T) {
	srv := startNbdkit(t, "--filter=multi-conn", "memory", "1M", "multi-conn-mode=disable")
	p, err := nbd.DialPool(context.Background(), "nbd+unix:///?socket="+srv.sock, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Conns() != 1 {
		t.Errorf("Conns = %d, want 1", p.Conns())
	}
	if _, err := p.WriteAt(pattern(4096, 1), 0); err != nil {
		t.Error(err)
	}
	if _, err := nbd.DialPool(context.Background(), "nbd+unix:///?socket="+srv.sock, 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("DialPool n=0: %v", err)
	}
	var zero *nbd.Pool
	if _, err := zero.ReadAt(make([]byte, 1), 0); !errors.Is(err, nbd.ErrClosed) {
		t.Errorf("nil Pool ReadAt: %v", err)
	}
}

// restartable is an nbdkit serving a file on a fixed socket path, which
// the test can kill and start again.
type restartable struct {
	t    *testing.T
	sock string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *restartable) start() {
	r.t.Helper()
	os.Remove(r.sock)
	r.cmd = exec.Command("nbdkit", append([]string{"-f", "--exit-with-parent", "-U", r.sock}, r.args...)...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, d chan struct{}) { c.Wait(); close(d) }(r.cmd, r.done)
	for i := 0; i < 1000; i++ {
		if c, err := net.Dial("unix", r.sock); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatal("nbdkit did not start listening")
}

func (r *restartable) kill() {
	r.cmd.Process.Kill()
	<-r.done
}

// The server restarts under running readers and writers: with
// WithReconnect none of them sees an error, the data written survive
// (the export is a file), and the first Flush after the restart says
// that earlier writes may not be durable.
func TestPoolReconnect(t *testing.T) {
	needNbdkit(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &restartable{t: t, sock: filepath.Join(dir, "nbd.sock"), args: []string{"file", img}}
	srv.start()
	t.Cleanup(srv.kill)
	ctx := context.Background()
	p, err := nbd.DialPool(ctx, "nbd+unix:///?socket="+srv.sock, 2, nbd.WithReconnect(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			want := pattern(32<<10, byte(g))
			off := int64(g) * (1 << 20)
			got := make([]byte, len(want))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.WriteAt(want, off); err != nil {
					t.Errorf("goroutine %d: WriteAt: %v", g, err)
					return
				}
				if err := p.Read(ctx, got, uint64(off)); err != nil {
					t.Errorf("goroutine %d: Read: %v", g, err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("goroutine %d: read back different data", g)
					return
				}
				ops.Add(1)
			}
		}(g)
	}
	time.Sleep(200 * time.Millisecond)
	srv.kill()
	time.Sleep(300 * time.Millisecond)
	srv.start()
	before := ops.Load()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	withTimeout(t, 20*time.Second, "readers and writers across the restart", wg.Wait)
	if ops.Load() == before {
		t.Error("no operation completed after the restart")
	}
	if p.Reconnects() == 0 {
		t.Error("no reconnect counted")
	}
	if err := p.Flush(ctx); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("first Flush after the restart: %v, want ErrDisconnected", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Errorf("second Flush: %v", err)
	}
	t.Logf("%d operations, %d reconnects", ops.Load(), p.Reconnects())

	// A server that stays away: retries end after maxWait.
	r, err := nbd.DialPool(ctx, "nbd+unix:///?socket="+srv.sock, 1, nbd.WithReconnect(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv.kill()
	start := time.Now()
	if _, err := r.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("ReadAt with the server gone: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ReadAt gave up after %v, want about 500ms", d)
	}
	srv.start()

	// Without WithReconnect the error is returned.
	q, err := nbd.DialPool(ctx, "nbd+unix:///?socket="+srv.sock, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	srv.kill()
	if _, err := q.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("ReadAt without reconnect after the server died: %v", err)
	}
	srv.start()
}
