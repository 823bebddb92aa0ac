package nbd

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"io"
	"runtime"
	"syscall"
	"unsafe"
)

// Flag is a per-command flag; pass any number to the command methods.
type Flag uint32

const (
	FUA      Flag = C.LIBNBD_CMD_FLAG_FUA       // Write, Trim, Zero: force unit access
	NoHole   Flag = C.LIBNBD_CMD_FLAG_NO_HOLE   // Zero: allocate, do not punch a hole
	DF       Flag = C.LIBNBD_CMD_FLAG_DF        // Read: do not fragment the reply
	ReqOne   Flag = C.LIBNBD_CMD_FLAG_REQ_ONE   // BlockStatus: one extent is enough
	FastZero Flag = C.LIBNBD_CMD_FLAG_FAST_ZERO // Zero: fail rather than zero slowly
)

func cflags(fs []Flag) C.uint32_t {
	var f Flag
	for _, x := range fs {
		f |= x
	}
	return C.uint32_t(f)
}

// MetaContextBaseAllocation is the metadata context that reports holes
// and zeroes (see AddMetaContext, WithMetaContext, BlockStatus).
const MetaContextBaseAllocation = "base:allocation"

// Extent flags reported by the "base:allocation" metadata context.
const (
	StateHole uint32 = 1 // the range is unallocated
	StateZero uint32 = 2 // the range reads as zeroes
)

// Extent is one range reported by BlockStatus.
type Extent struct {
	Offset uint64
	Length uint64
	Flags  uint32
}

// maxRequest bounds one NBD command; larger ReadAt/WriteAt/Read/Write
// calls are split.
const maxRequest = 32 << 20

const (
	kRead = iota
	kWrite
	kFlush
	kTrim
	kZero
	kCache
	kBlockStatus
)

type req struct {
	kind   int
	p      []byte
	off    uint64
	length uint64
	flags  C.uint32_t
}

// submit issues one command and registers it as pending.
func (s *state) submit(op string, cmd *command, r *req, buf unsafe.Pointer) error {
	s.cmu.RLock()
	defer s.cmu.RUnlock()
	if s.c == nil {
		return closedError(op)
	}
	s.mu.Lock()
	var cookie C.int64_t
	c, sub := s.c, cmd.sub
	switch r.kind {
	case kRead:
		cookie = C.gonbd_pread(c, buf, C.size_t(len(r.p)), C.uint64_t(r.off), r.flags, sub)
	case kWrite:
		cookie = C.gonbd_pwrite(c, buf, C.size_t(len(r.p)), C.uint64_t(r.off), r.flags, sub)
	case kFlush:
		cookie = C.gonbd_flush(c, r.flags, sub)
	case kTrim:
		cookie = C.gonbd_trim(c, C.uint64_t(r.length), C.uint64_t(r.off), r.flags, sub)
	case kZero:
		cookie = C.gonbd_zero(c, C.uint64_t(r.length), C.uint64_t(r.off), r.flags, sub)
	case kCache:
		cookie = C.gonbd_cache(c, C.uint64_t(r.length), C.uint64_t(r.off), r.flags, sub)
	case kBlockStatus:
		cookie = C.gonbd_block_status(c, C.uint64_t(r.length), C.uint64_t(r.off), r.flags, cmd.ext, sub)
	}
	if cookie == -1 {
		s.mu.Unlock()
		return cerr(op, &sub.err)
	}
	s.pending[int64(cookie)] = cmd
	s.mu.Unlock()
	// Send now unless a leader is about to flush a batch (see leadStep);
	// the order (count, then check) guarantees one of us flushes.
	s.deferred.Add(1)
	if s.batching.Load() == 0 {
		s.flushLocked()
	}
	return nil
}

// wait blocks until cmd retires or ctx is done, leading the connection
// whenever it holds the token. If it returns abandoned=true, the command
// is still in flight and now belongs to the handle, which recycles it
// when it retires.
func (s *state) wait(ctx context.Context, cmd *command) (err error, abandoned bool) {
	done := ctx.Done()
	lead := s.lead
	for {
		select {
		case <-cmd.done:
			return cmd.err, false
		case <-done:
			s.mu.Lock()
			if !cmd.finished {
				cmd.abandoned = true
				s.mu.Unlock()
				return ctx.Err(), true
			}
			s.mu.Unlock()
			<-cmd.done
			return cmd.err, false
		case <-lead:
			if !s.leadTurn(ctx, cmd, cmd.leadFn) {
				lead = nil
			}
		}
	}
}

// run performs one command of at most maxRequest bytes.
func (h *Handle) run(ctx context.Context, op string, r *req) (map[string][]Extent, error) {
	s, err := h.live(op)
	if err != nil {
		return nil, err
	}
	cmd, buf, err := s.issue(ctx, op, r)
	if err != nil {
		return nil, err
	}
	return s.complete(ctx, op, cmd, r, buf)
}

// issue starts one command.
//
// Buffers: if ctx can be cancelled, data goes through a C buffer owned
// by the command, because the command may outlive the call; otherwise
// the caller's buffer is pinned and used directly (only Close, which
// waits for nbd_close, can end such a wait early).
func (s *state) issue(ctx context.Context, op string, r *req) (*command, unsafe.Pointer, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	cmd, err := s.getCmd(op)
	if err != nil {
		return nil, nil, err
	}
	var buf unsafe.Pointer
	if n := len(r.p); n > 0 {
		if ctx.Done() != nil {
			buf = cmd.bounceBuf(n)
			if r.kind == kWrite {
				copy(unsafe.Slice((*byte)(buf), n), r.p)
			}
		} else {
			cmd.pin.Pin(&r.p[0])
			buf = unsafe.Pointer(&r.p[0])
		}
	}
	if r.kind == kBlockStatus && cmd.ext == nil {
		cmd.ext = (*C.struct_gonbd_extents)(C.calloc(1, C.sizeof_struct_gonbd_extents))
	}
	if err := s.submit(op, cmd, r, buf); err != nil {
		s.putCmd(cmd)
		return nil, nil, err
	}
	return cmd, buf, nil
}

// complete waits for a command started by issue and delivers its result.
// If ctx ends first the command is abandoned to the handle (see wait).
func (s *state) complete(ctx context.Context, op string, cmd *command, r *req, buf unsafe.Pointer) (map[string][]Extent, error) {
	err, abandoned := s.wait(ctx, cmd)
	if abandoned {
		return nil, err
	}
	var ext map[string][]Extent
	if err == nil {
		switch {
		case r.kind == kRead && ctx.Done() != nil:
			copy(r.p, unsafe.Slice((*byte)(buf), len(r.p)))
		case r.kind == kBlockStatus:
			ext, err = extents(op, cmd.ext)
		}
	}
	s.putCmd(cmd)
	return ext, err
}

// settle disposes of a command started by issue whose result is no
// longer wanted: an uncancellable one (the caller's buffer is pinned in
// it) is waited for; a cancellable one is abandoned to the handle.
func (s *state) settle(ctx context.Context, cmd *command) {
	if ctx.Done() == nil {
		s.wait(ctx, cmd)
		s.putCmd(cmd)
		return
	}
	s.mu.Lock()
	if !cmd.finished {
		cmd.abandoned = true
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	<-cmd.done
	s.putCmd(cmd)
}

func extents(op string, e *C.struct_gonbd_extents) (map[string][]Extent, error) {
	if e.oom != 0 {
		return nil, &Error{Op: op, Errno: syscall.ENOMEM, Msg: "out of memory collecting extents"}
	}
	m := make(map[string][]Extent, int(e.nctx))
	names := make([]string, int(e.nctx))
	for i := range names {
		names[i] = C.GoString(e.ctx[i])
	}
	recs := unsafe.Slice(e.ext, int(e.n))
	for _, x := range recs {
		name := names[x.ctx]
		m[name] = append(m[name], Extent{Offset: uint64(x.offset), Length: uint64(x.length), Flags: uint32(x.flags)})
	}
	C.gonbd_extents_reset(e)
	return m, nil
}

// transfer reads or writes p at off, and returns how many bytes were done
// before any error.  Any offset and length work, as io.ReaderAt and
// io.WriterAt promise: requests are split at the server's maximum block
// size (and maxRequest), and where the server has a minimum block size,
// a piece that does not cover whole blocks goes through the one block
// that holds it: read around for a read, read-modify-write for a write
// (which, like any read-modify-write, is not atomic against another
// writer of the same block).
func (h *Handle) transfer(ctx context.Context, op string, kind int, p []byte, off uint64, flags C.uint32_t) (int, error) {
	s, err := h.live(op)
	if err != nil {
		return 0, err
	}
	bmin := uint64(s.blockMin.Load())
	limit := uint64(maxRequest)
	if bmax := uint64(s.blockMax.Load()); bmax > 0 && bmax < limit {
		limit = bmax
	}
	n := 0
	for n < len(p) {
		pos := off + uint64(n)
		rest := p[n:]
		if bmin > 1 && (pos%bmin != 0 || uint64(len(rest)) < bmin) {
			k, err := h.partialBlock(ctx, op, kind, rest, pos, bmin, flags)
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		// The aligned middle, in pipelined chunks.
		mid := uint64(len(rest))
		if bmin > 1 {
			mid -= mid % bmin
		}
		k, err := h.pipeline(ctx, s, op, kind, rest[:mid], pos, limit, flags)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Pipelining of large transfers: up to pipeWindow commands in flight.
// A cancellable call moves data through per-command C buffers, so its
// chunks are kept to maxKeptBounce bytes: those buffers are then reused
// from call to call instead of being allocated (and faulted in) afresh.
const pipeWindow = 8

// pipeChunk bounds the commands of a large transfer even where the
// server would take more: several medium commands in flight keep the
// server's threads and the socket busy at once (a 32 MiB ReadAt: 16.5 ms
// as one command, 6-8 ms as 4 MiB pieces, nbdkit memory, this box).
const pipeChunk = 4 << 20

// pipeline moves p (aligned to the server's minimum block) at off in
// chunks of at most limit bytes with several commands in flight. It
// returns how many bytes from the start of p were moved.
func (h *Handle) pipeline(ctx context.Context, s *state, op string, kind int, p []byte, off, limit uint64, flags C.uint32_t) (int, error) {
	if limit > pipeChunk {
		limit = pipeChunk
	}
	if ctx.Done() != nil && limit > maxKeptBounce {
		limit = maxKeptBounce
		if bmin := uint64(s.blockMin.Load()); bmin > 1 {
			limit -= limit % bmin
			if limit == 0 {
				limit = bmin
			}
		}
	}
	type slot struct {
		cmd *command
		buf unsafe.Pointer
		r   req
	}
	var ring [pipeWindow]slot
	head, count, sent, done := 0, 0, 0, 0
	var firstErr error
	for (sent < len(p) && firstErr == nil) || count > 0 {
		if count < pipeWindow && sent < len(p) && firstErr == nil {
			chunk := p[sent:]
			if uint64(len(chunk)) > limit {
				chunk = chunk[:limit]
			}
			x := &ring[(head+count)%pipeWindow]
			x.r = req{kind: kind, p: chunk, off: off + uint64(sent), flags: flags}
			cmd, buf, err := s.issue(ctx, op, &x.r)
			if err != nil {
				firstErr = err
				continue
			}
			x.cmd, x.buf = cmd, buf
			count++
			sent += len(chunk)
			continue
		}
		x := &ring[head]
		if firstErr != nil {
			s.settle(ctx, x.cmd)
		} else if _, err := s.complete(ctx, op, x.cmd, &x.r, x.buf); err != nil {
			firstErr = err
		} else {
			done += len(x.r.p)
		}
		*x = slot{}
		head = (head + 1) % pipeWindow
		count--
	}
	return done, firstErr
}

// partialBlock moves the part of p that lies in the bmin-sized block
// holding pos, and returns how many bytes of p that was.
func (h *Handle) partialBlock(ctx context.Context, op string, kind int, p []byte, pos, bmin uint64, flags C.uint32_t) (int, error) {
	start := pos - pos%bmin
	k := bmin - (pos - start)
	if k > uint64(len(p)) {
		k = uint64(len(p))
	}
	blk := make([]byte, bmin)
	if _, err := h.run(ctx, op, &req{kind: kRead, p: blk, off: start}); err != nil {
		return 0, err
	}
	if kind == kRead {
		copy(p[:k], blk[pos-start:])
		return int(k), nil
	}
	copy(blk[pos-start:], p[:k])
	if _, err := h.run(ctx, op, &req{kind: kWrite, p: blk, off: start, flags: flags}); err != nil {
		return 0, err
	}
	return int(k), nil
}

// ReadAt reads len(p) bytes at offset off (io.ReaderAt). Reads that
// extend past the end of the export return the bytes before the end and
// io.EOF. ReadAt cannot be cancelled; use Read with a context for that.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	defer runtime.KeepAlive(h)
	s, err := h.live("ReadAt")
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &Error{Op: "ReadAt", Errno: syscall.EINVAL, Msg: "negative offset"}
	}
	var eof error
	if size := s.size.Load(); size >= 0 {
		if off >= size {
			if len(p) == 0 {
				return 0, nil
			}
			return 0, io.EOF
		}
		if rest := size - off; int64(len(p)) > rest {
			p = p[:rest]
			eof = io.EOF
		}
	}
	n, err := h.transfer(context.Background(), "ReadAt", kRead, p, uint64(off), 0)
	if err != nil {
		return n, err
	}
	return n, eof
}

// WriteAt writes p at offset off (io.WriterAt). It cannot be cancelled;
// use Write with a context for that.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	defer runtime.KeepAlive(h)
	if off < 0 {
		return 0, &Error{Op: "WriteAt", Errno: syscall.EINVAL, Msg: "negative offset"}
	}
	return h.transfer(context.Background(), "WriteAt", kWrite, p, uint64(off), 0)
}

// Read fills p from offset off. If ctx is done first, Read returns
// ctx.Err() at once; the request stays in flight inside the handle
// (into a buffer the handle owns, never p) and the handle stays usable.
// An empty p is a no-op: nothing is sent.
func (h *Handle) Read(ctx context.Context, p []byte, off uint64, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	if len(p) == 0 {
		// Nothing to read: no request (the protocol's zero-length request
		// is one that servers may refuse).
		if _, err := h.live("Read"); err != nil {
			return err
		}
		return ctx.Err()
	}
	_, err := h.transfer(ctx, "Read", kRead, p, off, cflags(flags))
	return err
}

// Write writes p at offset off. Cancellation behaves as for Read: p is
// copied, so the caller may reuse it as soon as Write returns. An empty p
// is a no-op.
func (h *Handle) Write(ctx context.Context, p []byte, off uint64, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	if len(p) == 0 {
		if _, err := h.live("Write"); err != nil {
			return err
		}
		return ctx.Err()
	}
	_, err := h.transfer(ctx, "Write", kWrite, p, off, cflags(flags))
	return err
}

// Flush asks the server to commit written data to stable storage.
func (h *Handle) Flush(ctx context.Context, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	_, err := h.run(ctx, "Flush", &req{kind: kFlush, flags: cflags(flags)})
	return err
}

// Trim tells the server the range [off, off+length) is no longer needed.
func (h *Handle) Trim(ctx context.Context, off, length uint64, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	_, err := h.run(ctx, "Trim", &req{kind: kTrim, off: off, length: length, flags: cflags(flags)})
	return err
}

// Zero writes zeroes to [off, off+length) (flags NoHole, FastZero, FUA).
func (h *Handle) Zero(ctx context.Context, off, length uint64, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	_, err := h.run(ctx, "Zero", &req{kind: kZero, off: off, length: length, flags: cflags(flags)})
	return err
}

// Cache asks the server to prefetch [off, off+length).
func (h *Handle) Cache(ctx context.Context, off, length uint64, flags ...Flag) error {
	defer runtime.KeepAlive(h)
	_, err := h.run(ctx, "Cache", &req{kind: kCache, off: off, length: length, flags: cflags(flags)})
	return err
}

// BlockStatus queries the metadata contexts requested with
// AddMetaContext for [off, off+length) and returns the extents per
// context name (e.g. "base:allocation", flags StateHole/StateZero).
// length must fit in 32 bits unless ExtendedHeadersNegotiated; with
// extended headers it may be larger, and an extent of 4 GiB or more is
// reported whole.  The server may cover less than length (ask again
// from the end of the last extent), and the last extent of a context may
// reach past off+length (it is not clipped).  Flags beyond 32 bits,
// which no well-known context uses, are dropped.
func (h *Handle) BlockStatus(ctx context.Context, off, length uint64, flags ...Flag) (map[string][]Extent, error) {
	defer runtime.KeepAlive(h)
	return h.run(ctx, "BlockStatus", &req{kind: kBlockStatus, off: off, length: length, flags: cflags(flags)})
}

// Shutdown sends NBD_CMD_DISC after the commands in flight and waits
// until the server has closed the connection or ctx is done. The handle
// must still be closed with Close. Calling it again after it succeeded
// does nothing.
func (h *Handle) Shutdown(ctx context.Context) error {
	defer runtime.KeepAlive(h)
	s, err := h.live("Shutdown")
	if err != nil {
		return err
	}
	var sub C.struct_gonbd_sub
	done := false
	err = s.withC("Shutdown", func(c *C.struct_nbd_handle) error {
		s.mu.Lock()
		dead, live, again := s.deadErr, s.wasLive, s.shutdown
		if !again && (dead == nil || !live) {
			s.shutdown = true // claimed: concurrent Shutdowns only wait
		}
		s.mu.Unlock()
		if again {
			// Already shut down: nothing to do; or NBD_CMD_DISC went out
			// and an earlier Shutdown's context ended: wait again.
			done = dead != nil || C.gonbd_aio_is_closed(c) != 0
			return nil
		}
		if dead != nil && live {
			return disconnected("Shutdown", dead)
		}
		fail := func(err error) error {
			s.mu.Lock()
			s.shutdown = false
			s.mu.Unlock()
			return err
		}
		if C.gonbd_aio_is_closed(c) != 0 {
			done = true
			return nil
		}
		if C.gonbd_disconnect(c, 0, &sub) == -1 {
			return fail(cerr("Shutdown", &sub.err))
		}
		// Drive once whatever the flags say: the disconnect may already
		// have ended the connection, and then nothing will wake us.
		s.pumpN(pumpOther)
		return nil
	})
	if err != nil || done {
		return err
	}
	fn := func(uintptr) bool {
		if s.leadStep(ctx, nil) {
			return true
		}
		select {
		case <-s.deadCh:
			return true
		default:
			return false
		}
	}
	lead := s.lead
	for {
		select {
		case <-s.deadCh:
			return nil
		case <-s.stop:
			return closedError("Shutdown")
		case <-ctx.Done():
			return ctx.Err()
		case <-lead:
			if !s.leadTurn(ctx, nil, fn) {
				lead = nil
			}
		}
	}
}
