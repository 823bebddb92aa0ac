package nbd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Pool spreads the requests of many goroutines over several connections
// to one export, behind the same calls as a Handle (io.ReaderAt,
// io.WriterAt, Read, Write, Flush, ...). Make one with DialPool. It is
// safe for concurrent use.
//
// Several connections are only opened when the server advertises
// multi-conn (CanMultiConn): then every connection sees the writes
// completed on the others, and a flush on any one of them makes all
// writes that had completed (on any connection) before it persistent.
// Pool.Flush relies on that: it flushes one connection, which covers
// every write whose call had returned before Flush was called. Without
// multi-conn a Pool has one connection.
//
// With WithReconnect, a connection that ends is dialled again and the
// requests it did not answer are retried; see WithReconnect.
type Pool struct {
	uri   string
	opts  []Option
	cfg   dialConfig
	slots []*slot
	next  atomic.Uint32
	size  int64

	stop       context.Context // done once the pool is shut down or closed
	cancel     context.CancelFunc
	epoch      atomic.Int64 // connections re-established so far
	flushMu    sync.Mutex
	flushEpoch int64 // epoch covered by the last successful Flush
	closed     atomic.Bool
}

// slot is one connection of a pool; reconnecting replaces h.
type slot struct {
	mu  sync.RWMutex
	h   *Handle
	gen int // incremented whenever h is replaced
}

func (sl *slot) get() (*Handle, int) {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return sl.h, sl.gen
}

// WithReconnect makes a Pool (DialPool; Dial ignores it) dial a
// connection again when it ends (the server restarted, the network
// failed), waiting 50 ms before the second attempt and doubling the
// wait up to 2 s; a request is retried for at most maxWait from its
// first failure, then fails with the error that ended the connection.
//
// Requests that the lost connection did not answer are sent again on
// the new one: reads, block status and cache, and also writes, trims
// and zeroes, because in NBD each of these leaves the same result when
// done twice with the same arguments (a retried write puts the same
// bytes at the same place). The one thing a new connection cannot
// vouch for is durability: writes answered by the lost connection but
// not yet flushed may have been lost with the server. Flush is
// therefore not retried blindly: the first Flush after a reconnect
// flushes, then fails with an error matching ErrDisconnected, telling
// the caller that earlier writes may not be durable (write them again
// if that matters); later Flushes succeed as usual. A request whose
// context ended is not retried.
func WithReconnect(maxWait time.Duration) Option {
	return func(c *dialConfig) { c.reconnect = maxWait }
}

// DialPool dials uri (see Dial) and, when the server advertises
// multi-conn, n-1 further connections with the same options, at the same
// time. n must be at least 1. If any connection fails, all are closed and
// the error is returned.
func DialPool(ctx context.Context, uri string, n int, opts ...Option) (*Pool, error) {
	if n < 1 {
		return nil, &Error{Op: "DialPool", Errno: syscall.EINVAL, Msg: "a pool needs at least one connection"}
	}
	p := &Pool{uri: uri, opts: opts}
	p.stop, p.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(&p.cfg)
	}
	first, err := Dial(ctx, uri, opts...)
	if err != nil {
		p.cancel()
		return nil, withOpIf(err, "DialPool")
	}
	p.slots = []*slot{{h: first}}
	p.size, _ = first.Size()
	if multi, _ := first.CanMultiConn(); !multi || n == 1 {
		return p, nil
	}
	more := make([]*Handle, n-1)
	errs := make([]error, n-1)
	var wg sync.WaitGroup
	for i := range more {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			more[i], errs[i] = Dial(ctx, uri, opts...)
		}(i)
	}
	wg.Wait()
	for i, h := range more {
		if h != nil {
			p.slots = append(p.slots, &slot{h: h})
		}
		if errs[i] == nil {
			if sz, _ := h.Size(); sz != p.size {
				errs[i] = &Error{Op: "DialPool", Errno: syscall.EIO, Msg: "connections disagree about the export size"}
			}
		}
	}
	for _, e := range errs {
		if e != nil {
			p.Close()
			return nil, withOpIf(e, "DialPool")
		}
	}
	return p, nil
}

// withOpIf is withOp for an *Error and leaves other errors (a context's)
// alone.
func withOpIf(err error, op string) error {
	if _, ok := err.(*Error); ok {
		return withOp(err, op)
	}
	return err
}

// Conns returns the number of connections in the pool.
func (p *Pool) Conns() int {
	if p == nil {
		return 0
	}
	return len(p.slots)
}

// Handle returns the pool's i-th connection as it is now (0 <= i <
// Conns(); nil otherwise), for the calls a Pool does not offer. Do not
// Close it: Close the Pool. After a reconnect the slot holds a new Handle.
func (p *Pool) Handle(i int) *Handle {
	if i < 0 || i >= p.Conns() {
		return nil
	}
	h, _ := p.slots[i].get()
	return h
}

// Reconnects returns how many connections were re-established.
func (p *Pool) Reconnects() int64 {
	if p == nil {
		return 0
	}
	return p.epoch.Load()
}

// do runs f on the next connection (round robin); with reconnect
// enabled, a request that failed because its connection ended is run
// again on a re-established one.
func (p *Pool) do(ctx context.Context, op string, f func(*Handle) error) error {
	n := p.Conns()
	if n == 0 {
		return closedError(op)
	}
	sl := p.slots[0]
	if n > 1 {
		sl = p.slots[int(p.next.Add(1)%uint32(n))]
	}
	var deadline time.Time // of this request's retries, from its first failure
	for {
		h, gen := sl.get()
		err := f(h)
		if err == nil || p.cfg.reconnect <= 0 || ctx.Err() != nil || p.closed.Load() {
			return err
		}
		if errors.Is(err, ErrClosed) {
			// Another request's reconnect closed h under us: go on with
			// its replacement.
			if _, now := sl.get(); now != gen {
				continue
			}
			return err
		}
		if !errors.Is(err, ErrDisconnected) {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(p.cfg.reconnect)
		} else if time.Now().After(deadline) {
			return err
		}
		if rerr := p.redial(ctx, sl, gen, deadline); rerr != nil {
			return err
		}
	}
}

// redial replaces sl's connection, unless another request already did
// (gen changed). It retries with a doubling wait until deadline.
func (p *Pool) redial(ctx context.Context, sl *slot, gen int, deadline time.Time) error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.gen != gen {
		return nil
	}
	wait := 50 * time.Millisecond
	for {
		if p.closed.Load() {
			return closedError("reconnect")
		}
		// Bounded by the deadline, the caller's context and Close.
		dctx, cancel := context.WithDeadline(p.stop, deadline)
		stopAfter := context.AfterFunc(ctx, cancel)
		h, err := Dial(dctx, p.uri, p.opts...)
		stopAfter()
		cancel()
		if err == nil {
			if sz, _ := h.Size(); sz != p.size {
				h.Close()
				return &Error{Op: "reconnect", Errno: syscall.EIO, Msg: "the export changed size"}
			}
			sl.h.Close()
			sl.h = h
			sl.gen++
			p.epoch.Add(1)
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-p.stop.Done():
			t.Stop()
			return closedError("reconnect")
		}
		if wait *= 2; wait > 2*time.Second {
			wait = 2 * time.Second
		}
	}
}

// Size returns the export size in bytes.
func (p *Pool) Size() (int64, error) {
	if p.Conns() == 0 {
		return 0, closedError("Size")
	}
	return p.size, nil
}

// poolSplit is the size from which a transfer is spread over all the
// connections of a pool; parts start at multiples of it, so that they
// never share a block (the protocol's minimum block size is at most
// 64 KiB).
const poolSplit = 1 << 20

// spread runs f on parts of b (at off) on all connections at once when
// b is large, else on b as a whole. It returns how many bytes from the
// start of b were done and the error of the first part that failed.
func (p *Pool) spread(b []byte, off int64, f func(part []byte, off int64) (int, error)) (int, error) {
	n := p.Conns()
	if n <= 1 || len(b) < 2*poolSplit {
		return f(b, off)
	}
	// Part boundaries at multiples of poolSplit (absolute offsets).
	per := (int64(len(b))/int64(n) + poolSplit - 1) / poolSplit * poolSplit
	var bounds []int
	for pos := int64(0); pos < int64(len(b)); {
		end := (off+pos+per)/poolSplit*poolSplit - off
		if end <= pos || end > int64(len(b)) {
			end = int64(len(b))
		}
		bounds = append(bounds, int(end))
		pos = end
	}
	done := make([]int, len(bounds))
	errs := make([]error, len(bounds))
	var wg sync.WaitGroup
	start := 0
	for i, end := range bounds {
		wg.Add(1)
		go func(i, start, end int) {
			defer wg.Done()
			done[i], errs[i] = f(b[start:end], off+int64(start))
		}(i, start, end)
		start = end
	}
	wg.Wait()
	total := 0
	start = 0
	for i, end := range bounds {
		total += done[i]
		if errs[i] != nil || done[i] < end-start {
			return total, errs[i]
		}
		start = end
	}
	return total, nil
}

// ReadAt reads len(b) bytes at off (io.ReaderAt); see Handle.ReadAt. A
// large read is spread over all connections.
func (p *Pool) ReadAt(b []byte, off int64) (int, error) {
	return p.spread(b, off, func(part []byte, off int64) (n int, err error) {
		err = p.do(context.Background(), "ReadAt", func(h *Handle) error {
			n, err = h.ReadAt(part, off)
			return err
		})
		return n, err
	})
}

// WriteAt writes b at off (io.WriterAt); see Handle.WriteAt. A large
// write is spread over all connections.
func (p *Pool) WriteAt(b []byte, off int64) (int, error) {
	return p.spread(b, off, func(part []byte, off int64) (n int, err error) {
		err = p.do(context.Background(), "WriteAt", func(h *Handle) error {
			n, err = h.WriteAt(part, off)
			return err
		})
		return n, err
	})
}

// Read fills b from off; see Handle.Read. A large read is spread over
// all connections.
func (p *Pool) Read(ctx context.Context, b []byte, off uint64, flags ...Flag) error {
	_, err := p.spread(b, int64(off), func(part []byte, off int64) (int, error) {
		err := p.do(ctx, "Read", func(h *Handle) error { return h.Read(ctx, part, uint64(off), flags...) })
		if err != nil {
			return 0, err
		}
		return len(part), nil
	})
	return err
}

// Write writes b at off; see Handle.Write. A large write is spread over
// all connections.
func (p *Pool) Write(ctx context.Context, b []byte, off uint64, flags ...Flag) error {
	_, err := p.spread(b, int64(off), func(part []byte, off int64) (int, error) {
		err := p.do(ctx, "Write", func(h *Handle) error { return h.Write(ctx, part, uint64(off), flags...) })
		if err != nil {
			return 0, err
		}
		return len(part), nil
	})
	return err
}

// Flush makes every write whose call returned before Flush was called
// persistent (on a multi-conn server one connection's flush covers
// them all). After a reconnect see WithReconnect.
func (p *Pool) Flush(ctx context.Context, flags ...Flag) error {
	if p.Conns() == 0 {
		return closedError("Flush")
	}
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	err := p.do(ctx, "Flush", func(h *Handle) error { return h.Flush(ctx, flags...) })
	if err != nil {
		return err
	}
	// Read the epoch after the flush: a reconnect during it counts.
	if epoch := p.epoch.Load(); epoch != p.flushEpoch {
		p.flushEpoch = epoch
		return disconnected("Flush", &Error{Op: "reconnect", Errno: syscall.EIO,
			Msg: "a connection was re-established since the last flush: writes answered before it may not be durable"})
	}
	return nil
}

// Trim; see Handle.Trim.
func (p *Pool) Trim(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.do(ctx, "Trim", func(h *Handle) error { return h.Trim(ctx, off, length, flags...) })
}

// Zero; see Handle.Zero.
func (p *Pool) Zero(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.do(ctx, "Zero", func(h *Handle) error { return h.Zero(ctx, off, length, flags...) })
}

// Cache; see Handle.Cache.
func (p *Pool) Cache(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.do(ctx, "Cache", func(h *Handle) error { return h.Cache(ctx, off, length, flags...) })
}

// BlockStatus; see Handle.BlockStatus.
func (p *Pool) BlockStatus(ctx context.Context, off, length uint64, flags ...Flag) (m map[string][]Extent, err error) {
	err = p.do(ctx, "BlockStatus", func(h *Handle) error {
		m, err = h.BlockStatus(ctx, off, length, flags...)
		return err
	})
	return m, err
}

// Shutdown shuts every connection down (see Handle.Shutdown) and returns
// the first error. A shut-down pool does not reconnect.
func (p *Pool) Shutdown(ctx context.Context) error {
	if p.Conns() == 0 {
		return closedError("Shutdown")
	}
	p.closed.Store(true)
	p.cancel()
	errs := make([]error, len(p.slots))
	var wg sync.WaitGroup
	for i := range p.slots {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = p.Handle(i).Shutdown(ctx)
		}(i)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Close closes every connection; see Handle.Close.
func (p *Pool) Close() error {
	if p == nil {
		return nil
	}
	p.closed.Store(true)
	if p.cancel != nil {
		p.cancel()
	}
	for _, sl := range p.slots {
		sl.mu.Lock()
		sl.h.Close()
		sl.mu.Unlock()
	}
	return nil
}
