package nbd

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
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
type Pool struct {
	conns []*Handle
	next  atomic.Uint32
	size  int64
}

// DialPool dials uri (see Dial) and, when the server advertises
// multi-conn, n-1 further connections with the same options, at the same
// time. n must be at least 1. If any connection fails, all are closed and
// the error is returned.
func DialPool(ctx context.Context, uri string, n int, opts ...Option) (*Pool, error) {
	if n < 1 {
		return nil, &Error{Op: "DialPool", Errno: syscall.EINVAL, Msg: "a pool needs at least one connection"}
	}
	first, err := Dial(ctx, uri, opts...)
	if err != nil {
		return nil, withOpIf(err, "DialPool")
	}
	p := &Pool{conns: []*Handle{first}}
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
			p.conns = append(p.conns, h)
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
	return len(p.conns)
}

// Handle returns the pool's i-th connection (0 <= i < Conns(); nil
// otherwise), for the calls a Pool does not offer. Do not Close it:
// Close the Pool.
func (p *Pool) Handle(i int) *Handle {
	if i < 0 || i >= p.Conns() {
		return nil
	}
	return p.conns[i]
}

// pick returns the connection for the next request (round robin); nil
// (whose methods fail with ErrClosed) for a nil or zero Pool.
func (p *Pool) pick() *Handle {
	switch p.Conns() {
	case 0:
		return nil
	case 1:
		return p.conns[0]
	}
	return p.conns[int(p.next.Add(1)%uint32(len(p.conns)))]
}

// Size returns the export size in bytes.
func (p *Pool) Size() (int64, error) {
	if p.Conns() == 0 {
		return 0, closedError("Size")
	}
	return p.size, nil
}

// ReadAt reads len(p) bytes at off (io.ReaderAt); see Handle.ReadAt.
func (p *Pool) ReadAt(b []byte, off int64) (int, error) { return p.pick().ReadAt(b, off) }

// WriteAt writes b at off (io.WriterAt); see Handle.WriteAt.
func (p *Pool) WriteAt(b []byte, off int64) (int, error) { return p.pick().WriteAt(b, off) }

// Read fills b from off; see Handle.Read.
func (p *Pool) Read(ctx context.Context, b []byte, off uint64, flags ...Flag) error {
	return p.pick().Read(ctx, b, off, flags...)
}

// Write writes b at off; see Handle.Write.
func (p *Pool) Write(ctx context.Context, b []byte, off uint64, flags ...Flag) error {
	return p.pick().Write(ctx, b, off, flags...)
}

// Flush makes every write whose call returned before Flush was called
// persistent (on a multi-conn server one connection's flush covers
// them all).
func (p *Pool) Flush(ctx context.Context, flags ...Flag) error {
	return p.pick().Flush(ctx, flags...)
}

// Trim; see Handle.Trim.
func (p *Pool) Trim(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.pick().Trim(ctx, off, length, flags...)
}

// Zero; see Handle.Zero.
func (p *Pool) Zero(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.pick().Zero(ctx, off, length, flags...)
}

// Cache; see Handle.Cache.
func (p *Pool) Cache(ctx context.Context, off, length uint64, flags ...Flag) error {
	return p.pick().Cache(ctx, off, length, flags...)
}

// BlockStatus; see Handle.BlockStatus.
func (p *Pool) BlockStatus(ctx context.Context, off, length uint64, flags ...Flag) (map[string][]Extent, error) {
	return p.pick().BlockStatus(ctx, off, length, flags...)
}

// Shutdown shuts every connection down (see Handle.Shutdown) and returns
// the first error.
func (p *Pool) Shutdown(ctx context.Context) error {
	if p.Conns() == 0 {
		return closedError("Shutdown")
	}
	errs := make([]error, len(p.conns))
	var wg sync.WaitGroup
	for i, h := range p.conns {
		wg.Add(1)
		go func(i int, h *Handle) {
			defer wg.Done()
			errs[i] = h.Shutdown(ctx)
		}(i, h)
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
	for _, h := range p.conns {
		h.Close()
	}
	return nil
}
