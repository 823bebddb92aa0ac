package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"

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
