package nbd

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Handle is one NBD connection. It is safe for concurrent use by many
// goroutines; their requests are pipelined on the one connection.
//
// Close releases the handle. A finalizer closes a Handle that became
// unreachable without Close, but relying on it is a bug: call Close.
//
// After Close (and on a nil *Handle) every method that can fail returns
// an error matching ErrClosed; methods of calls that cannot fail, such as
// AioIsReady or Debug, return the zero value, except AioIsClosed, which
// returns true.
type Handle struct {
	s *state // everything background goroutines need (so Handle itself can be finalized)
}

// state is the shared part of a Handle. Lock order: cmu (read) -> mu;
// pumpMu -> mu. mu is never held across a blocking wait.
type state struct {
	cmu sync.RWMutex         // C calls hold cmu.RLock; Close holds cmu.Lock around nbd_close
	c   *C.struct_nbd_handle // nil after Close

	mu        sync.Mutex
	closed    bool
	started   bool               // connector goroutine started
	pending   map[int64]*command // in-flight commands by cookie
	free      []*command         // recycled commands (own C memory)
	deadErr   error              // why the connection ended (or failed to start), once it has
	wasLive   bool               // the connection reached transmission (goLive)
	shutdown  bool               // Shutdown sent NBD_CMD_DISC
	pf        *os.File           // our dup of the socket, watched by the runtime poller
	rc        syscall.RawConn    // pf's RawConn
	connDone  chan struct{}      // closed when the connecting phase is over
	stop      chan struct{}      // closed by Close when it starts
	closeDone chan struct{}      // closed by Close when it has finished
	kick      chan struct{}      // wakes the writer goroutine (cap 1)
	lead      chan struct{}      // the leadership token (cap 1): its holder drives the connection
	deadCh    chan struct{}      // closed when deadErr is set
	wg        sync.WaitGroup     // connector + writer

	pumpMu sync.Mutex
	drv    *C.struct_gonbd_drive // C memory, used under pumpMu

	size atomic.Int64 // export size once connected, else -1
	// The server's block size limits once connected (0: not advertised):
	// ReadAt, WriteAt, Read and Write split and align requests by them.
	blockMin, blockMax atomic.Int64

	leaderCmd    *command // under mu: the command of the goroutine leading
	pumpByLeader bool     // under pumpMu: the running pump is the leader's

	batching atomic.Int32 // see leadStep
	deferred atomic.Int32 // requests queued but not flushed during batching

	optMu      sync.Mutex            // serializes Opt* calls (option mode)
	orphanOpts []*C.struct_gonbd_opt // under mu: collectors of interrupted options, freed after nbd_close
}

// Create allocates a new, unconnected handle.
func Create() (*Handle, error) {
	var e C.struct_gonbd_err
	c := C.gonbd_create(&e)
	if c == nil {
		return nil, cerr("Create", &e)
	}
	s := &state{
		c:         c,
		pending:   make(map[int64]*command),
		connDone:  make(chan struct{}),
		stop:      make(chan struct{}),
		closeDone: make(chan struct{}),
		kick:      make(chan struct{}, 1),
		lead:      make(chan struct{}, 1),
		deadCh:    make(chan struct{}),
		drv:       (*C.struct_gonbd_drive)(C.calloc(1, C.sizeof_struct_gonbd_drive)),
	}
	s.drv.fd = -1
	s.size.Store(-1)
	h := &Handle{s: s}
	runtime.SetFinalizer(h, (*Handle).Close)
	return h, nil
}

// Close closes the connection and frees the handle. It is safe to call
// more than once and while other goroutines are using the handle: their
// calls return an error matching ErrClosed (and syscall.ENOTCONN). After
// Close returns, the C library holds no reference to any caller buffer.
// Close does not send NBD_CMD_DISC; use Shutdown for a clean disconnect.
//
// A server subprocess (ConnectCommand, ConnectSystemdSocketActivation)
// is reaped by Close: a ConnectCommand server gets 2 s to exit after its
// socket closed, then SIGTERM, and SIGKILL 2 s later, so Close waits at
// most about 4 s for it (a socket-activated one gets SIGTERM at once).
func (h *Handle) Close() error {
	if h == nil || h.s == nil {
		return nil
	}
	runtime.SetFinalizer(h, nil)
	h.s.close()
	return nil
}

func (s *state) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.closeDone // another Close is finishing: wait for it
		return
	}
	s.closed = true
	pf := s.pf
	s.mu.Unlock()

	// Stop the connector, the writer and any leader: closing our dup
	// wakes their poller waits.
	close(s.stop)
	if pf != nil {
		pf.Close()
	}
	s.wg.Wait()

	s.cmu.Lock()
	C.nbd_close(s.c)
	s.c = nil
	s.cmu.Unlock()

	// Nothing in C refers to any buffer now: fail what is still waiting
	// and free C memory that no goroutine owns.
	s.mu.Lock()
	for cookie, cmd := range s.pending {
		delete(s.pending, cookie)
		if cmd.abandoned {
			cmd.freeC()
			continue
		}
		cmd.err = closedError(cmd.op)
		cmd.finished = true
		cmd.done <- struct{}{}
	}
	for _, cmd := range s.free {
		cmd.freeC()
	}
	s.free = nil
	for _, o := range s.orphanOpts {
		C.gonbd_opt_reset(o)
		C.free(unsafe.Pointer(o))
	}
	s.orphanOpts = nil
	s.mu.Unlock()

	s.pumpMu.Lock()
	C.free(unsafe.Pointer(s.drv))
	s.drv = nil
	s.pumpMu.Unlock()
	close(s.closeDone)
}

// command is the per-request state; pooled per handle so that steady
// state I/O does not allocate.
type command struct {
	op        string
	sub       *C.struct_gonbd_sub     // C memory: submission out-values
	ext       *C.struct_gonbd_extents // C memory, block status only
	done      chan struct{}           // cap 1; one send per use
	pin       runtime.Pinner          // pins a caller buffer for uncancellable calls
	bounce    unsafe.Pointer          // C buffer for cancellable reads/writes
	bounceCap int
	finished  bool // under state.mu
	abandoned bool // under state.mu: the waiter left (context done)
	err       error
	ctx       context.Context    // of the current waiter, while it leads
	leadFn    func(uintptr) bool // preallocated RawConn.Read callback (see leadStep)
}

const maxKeptBounce = 1 << 20

func (s *state) getCmd(op string) (*command, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, closedError(op)
	}
	if s.deadErr != nil && s.wasLive {
		err := disconnected(op, s.deadErr)
		s.mu.Unlock()
		return nil, err
	}
	if s.shutdown {
		// NBD_CMD_DISC is queued: no request may follow it.
		s.mu.Unlock()
		return nil, disconnected(op, &Error{Op: "Shutdown", Errno: syscall.ESHUTDOWN, Msg: "the connection is being shut down (Shutdown)"})
	}
	var cmd *command
	if n := len(s.free); n > 0 {
		cmd = s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
	}
	s.mu.Unlock()
	if cmd == nil {
		cmd = &command{
			sub:  (*C.struct_gonbd_sub)(C.calloc(1, C.sizeof_struct_gonbd_sub)),
			done: make(chan struct{}, 1),
		}
		c := cmd
		cmd.leadFn = func(uintptr) bool { return s.leadStep(c.ctx, c) }
	}
	cmd.op = op
	cmd.err = nil
	cmd.finished = false
	cmd.abandoned = false
	return cmd, nil
}

// putCmd returns a command whose waiter is done with it.
func (s *state) putCmd(cmd *command) {
	cmd.pin.Unpin()
	s.mu.Lock()
	s.recycleLocked(cmd)
	s.mu.Unlock()
}

func (s *state) recycleLocked(cmd *command) {
	if cmd.bounceCap > maxKeptBounce {
		C.free(cmd.bounce)
		cmd.bounce = nil
		cmd.bounceCap = 0
	}
	cmd.err = nil
	if s.closed {
		cmd.freeC()
		return
	}
	s.free = append(s.free, cmd)
}

func (cmd *command) freeC() {
	if cmd.ext != nil {
		C.gonbd_extents_reset(cmd.ext)
		C.free(unsafe.Pointer(cmd.ext.ext))
		C.free(unsafe.Pointer(cmd.ext))
		cmd.ext = nil
	}
	C.free(cmd.bounce)
	cmd.bounce = nil
	cmd.bounceCap = 0
	C.free(unsafe.Pointer(cmd.sub))
	cmd.sub = nil
}

// bounceBuf returns a C buffer of at least n bytes owned by cmd.
func (cmd *command) bounceBuf(n int) unsafe.Pointer {
	if n > cmd.bounceCap {
		C.free(cmd.bounce)
		cmd.bounce = C.malloc(C.size_t(n))
		if cmd.bounce == nil {
			panic("nbd: out of C memory")
		}
		cmd.bounceCap = n
	}
	return cmd.bounce
}

// finishLocked records that cmd retired (or will never retire because
// the C handle is gone) and wakes its waiter.
func (s *state) finishLocked(cmd *command) {
	cmd.finished = true
	if cmd == s.leaderCmd && !s.pumpByLeader {
		// Retired by someone other than its waiter, which leads and is
		// waiting for input that may never come: interrupt its wait.
		s.pf.SetReadDeadline(time.Unix(1, 0))
	}
	if cmd.abandoned {
		s.recycleLocked(cmd)
		return
	}
	cmd.done <- struct{}{}
}

// withC runs f with the C handle while holding cmu.RLock.
func (s *state) withC(op string, f func(c *C.struct_nbd_handle) error) error {
	s.cmu.RLock()
	defer s.cmu.RUnlock()
	if s.c == nil {
		return closedError(op)
	}
	return f(s.c)
}

// live returns h's shared state, or an error matching ErrClosed for a
// nil Handle or one not made by Create (every method starts here, so
// misuse is an error, never a panic).
func (h *Handle) live(op string) (*state, error) {
	if h == nil || h.s == nil {
		return nil, closedError(op)
	}
	return h.s, nil
}

// withC is s.withC for a method of h: a nil or closed h is an error
// matching ErrClosed, and h stays reachable (so its finalizer cannot run)
// until f has returned.
func (h *Handle) withC(op string, f func(c *C.struct_nbd_handle) error) error {
	s, err := h.live(op)
	if err != nil {
		return err
	}
	err = s.withC(op, f)
	runtime.KeepAlive(h)
	return err
}

// cString copies s to C memory (free it with C.free). A string with a
// NUL byte cannot be passed to C without being cut short, so it is
// refused with EINVAL.
func cString(op, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Op: op, Errno: syscall.EINVAL, Msg: "a string argument contains a NUL byte"}
	}
	return C.CString(s), nil
}

// cStringList copies list to a NULL-terminated array of C strings in C
// memory (free it with freeCStringList); like cString it refuses NUL bytes.
func cStringList(op string, list []string) (**C.char, error) {
	for _, s := range list {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, &Error{Op: op, Errno: syscall.EINVAL, Msg: "a string argument contains a NUL byte"}
		}
	}
	ptrSize := C.size_t(unsafe.Sizeof((*C.char)(nil)))
	p := (**C.char)(C.calloc(C.size_t(len(list)+1), ptrSize))
	if p == nil {
		return nil, &Error{Op: op, Errno: syscall.ENOMEM, Msg: "out of memory"}
	}
	arr := unsafe.Slice(p, len(list)+1)
	for i, s := range list {
		arr[i] = C.CString(s)
	}
	return p, nil
}

func freeCStringList(p **C.char) {
	for q := p; *q != nil; q = (**C.char)(unsafe.Add(unsafe.Pointer(q), unsafe.Sizeof(*q))) {
		C.free(unsafe.Pointer(*q))
	}
	C.free(unsafe.Pointer(p))
}

const (
	pumpOther  = iota // a submitter or Shutdown
	pumpLeader        // the goroutine holding the leadership token
	pumpWriter        // the writer goroutine: sends only
)

// pumpN advances the state machine without blocking and retires
// completed commands. Caller holds cmu.RLock. It returns the direction
// the state machine waits for, the number of retired commands and
// whether the connection is still alive.
func (s *state) pumpN(who int) (dir uint, n int, alive bool) {
	if s.c == nil {
		return 0, 0, false
	}
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	d := s.drv
	s.pumpByLeader = who == pumpLeader
	d.write_only = 0
	if who == pumpWriter {
		d.write_only = 1
	}
	for {
		C.gonbd_drive(s.c, d)
		n += int(d.n)
		s.dispatch(d)
		if d.flags&C.GONBD_HAVE_DONE == 0 {
			break
		}
	}
	dir = uint(d.dir)
	if d.dead != 0 || d.closed != 0 {
		var err error
		if d.failed != 0 {
			err = cerr("connection", &d.err)
		}
		s.die(err)
		return dir, n, false
	}
	if dir&C.LIBNBD_AIO_DIRECTION_WRITE != 0 {
		s.kickWriter()
	}
	return dir, n, true
}

// flushLocked lets the core send requests it queued (nbd_aio_get_direction
// does that) and wakes the writer if some are left; caller holds cmu.RLock.
//
// Sending can end the connection (the server reset it): in transmission
// the core always wants to read, so no direction at all means the handle
// is dead or closed, and the waiters must learn it now, because the
// socket may never signal again.
func (s *state) flushLocked() {
	if s.c == nil {
		return
	}
	dir := C.nbd_aio_get_direction(s.c)
	switch {
	case dir == 0:
		s.pumpN(pumpOther)
	case dir&C.LIBNBD_AIO_DIRECTION_WRITE != 0:
		s.kickWriter()
	}
}

// dispatch hands the results of one drive call to their waiters.
// Caller holds pumpMu.
func (s *state) dispatch(d *C.struct_gonbd_drive) {
	n := int(d.n)
	if n == 0 {
		return
	}
	gone := d.dead != 0 || d.closed != 0
	var death *Error
	if gone && d.failed != 0 {
		death = cerr("connection", &d.err).(*Error)
	}
	s.mu.Lock()
	for i := 0; i < n; i++ {
		x := &d.done[i]
		cookie := int64(x.cookie)
		cmd := s.pending[cookie]
		if cmd == nil {
			continue
		}
		delete(s.pending, cookie)
		if x.ok == 0 {
			cmd.err = cerr(cmd.op, &x.err)
			if gone && endedBy(cmd.err.(*Error), death) {
				cause := withOp(cmd.err, "connection")
				if death != nil {
					cause = death
				}
				cmd.err = disconnected(cmd.op, cause)
			}
		}
		s.finishLocked(cmd)
	}
	s.mu.Unlock()
}

// endedBy reports whether a command failed because the connection ended
// (death: the error that ended it, when this drive saw it) rather than
// by the server's error reply. The server can only send the errnos of
// the protocol's list; anything else came from the connection.
func endedBy(e, death *Error) bool {
	if death != nil && e.Errno == death.Errno && e.Msg == death.Msg {
		return true
	}
	switch e.Errno {
	case syscall.EPERM, syscall.EIO, syscall.ENOMEM, syscall.EINVAL,
		syscall.ENOSPC, syscall.EOVERFLOW, syscall.ENOTSUP, syscall.ESHUTDOWN:
		return false
	}
	return true
}

// die fails every pending command once the connection is dead or closed:
// the C library will not touch their buffers again.
func (s *state) die(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deadErr == nil {
		if err == nil {
			msg := "the server closed the connection"
			if s.shutdown {
				msg = "the connection was shut down (Shutdown)"
			}
			err = &Error{Op: "connection", Errno: syscall.ENOTCONN, Msg: msg}
		}
		s.deadErr = err
		close(s.deadCh)
	}
	for cookie, cmd := range s.pending {
		delete(s.pending, cookie)
		if !cmd.abandoned {
			cmd.err = disconnected(cmd.op, s.deadErr)
		}
		s.finishLocked(cmd)
	}
}

func (s *state) kickWriter() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *state) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// startDriver starts the goroutine that drives the connection after an
// aio connect call succeeded. Caller holds cmu.RLock.
func (s *state) startDriver() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.connector()
}

// connector drives the connecting phase, then sets up the poller and
// hands the connection over to the waiting goroutines (see leadStep).
// In option mode (SetOptMode) a handshake that ends in the negotiating
// state leaves the handle to the Opt* calls (see opt.go), and OptGo
// calls goLive.
func (s *state) connector() {
	defer s.wg.Done()
	defer close(s.connDone)

	// Connecting phase (short): poll the C handle's fd with a timeout so
	// that Close is noticed; the descriptor may change between attempts.
	for {
		if s.stopping() {
			return
		}
		st, ok := s.step("connection", false)
		if !ok {
			return
		}
		if !st.connecting {
			switch {
			case st.ready:
				s.goLive()
			case st.negotiating && !st.dead && !st.closed:
				// Option mode: the Opt* calls take over.
			default:
				s.die(st.err)
			}
			return
		}
	}
}

// stepState is what one handshake step (step) left behind.
type stepState struct {
	dir                                          uint
	connecting, negotiating, ready, dead, closed bool
	err                                          error // a notify call failed
}

// step runs one blocking handshake step of up to 50ms:
// gonbd_connect_step, or gonbd_opt_step if opt. ok is false after Close.
func (s *state) step(op string, opt bool) (st stepState, ok bool) {
	s.cmu.RLock()
	defer s.cmu.RUnlock()
	if s.c == nil {
		return st, false
	}
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	d := s.drv
	if opt {
		C.gonbd_opt_step(s.c, d, 50)
	} else {
		C.gonbd_connect_step(s.c, d, 50)
	}
	st = stepState{
		dir:         uint(d.dir),
		connecting:  d.connecting != 0,
		negotiating: d.negotiating != 0,
		ready:       d.ready != 0,
		dead:        d.dead != 0,
		closed:      d.closed != 0,
	}
	if d.failed != 0 {
		st.err = cerr(op, &d.err)
	}
	return st, true
}

// goLive switches a connected handle (state READY) to the poller: it
// records the size, dups the socket, starts the writer and hands out
// the leadership token. Called once, by the connector or by OptGo.
func (s *state) goLive() {
	s.withC("connection", func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if sz := C.gonbd_get_size(c, &e); sz >= 0 {
			s.size.Store(int64(sz))
		}
		if v := C.gonbd_get_block_size(c, C.LIBNBD_SIZE_MINIMUM, &e); v > 0 {
			s.blockMin.Store(int64(v))
		}
		if v := C.gonbd_get_block_size(c, C.LIBNBD_SIZE_MAXIMUM, &e); v > 0 {
			s.blockMax.Store(int64(v))
		}
		return nil
	})

	pf, err := s.pollFile()
	if err != nil {
		s.die(err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pf.Close()
		return
	}
	rc, err := pf.SyscallConn()
	if err != nil {
		s.mu.Unlock()
		pf.Close()
		s.die(&Error{Op: "connection", Msg: err.Error()})
		return
	}
	s.pf = pf
	s.rc = rc
	s.wasLive = true
	s.wg.Add(1)
	s.mu.Unlock()
	go s.writer(rc)
	// From now on the connection is driven by the goroutines that wait
	// for replies (see leadStep); hand out the one leadership token.
	s.lead <- struct{}{}
}

// writer waits for writability when the state machine has output that
// did not fit in the socket buffer.
func (s *state) writer(rc syscall.RawConn) {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		err := rc.Write(func(uintptr) bool {
			s.cmu.RLock()
			dir, _, alive := s.pumpN(pumpWriter)
			s.cmu.RUnlock()
			return !alive || s.stopping() || dir&C.LIBNBD_AIO_DIRECTION_WRITE == 0
		})
		if err != nil {
			return
		}
	}
}

// pollFile dups the C handle's socket (close-on-exec) for the runtime
// poller. The dup shares the file description, so it is non-blocking
// exactly when the C library's descriptor is.
func (s *state) pollFile() (*os.File, error) {
	var fd int
	err := s.withC("connection", func(c *C.struct_nbd_handle) error {
		cfd := C.nbd_aio_get_fd(c)
		if cfd < 0 {
			return &Error{Op: "connection", Errno: syscall.EBADF, Msg: "nbd_aio_get_fd failed"}
		}
		nfd, err := dupCloexec(int(cfd))
		if err != nil {
			return &Error{Op: "connection", Errno: err.(syscall.Errno), Msg: "dup: " + err.Error()}
		}
		fd = nfd
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, &Error{Op: "connection", Errno: err.(syscall.Errno), Msg: "set non-blocking: " + err.Error()}
	}
	s.pumpMu.Lock()
	s.drv.fd = C.int(fd)
	s.pumpMu.Unlock()
	return os.NewFile(uintptr(fd), "nbd"), nil
}

func dupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// Leadership: there is no dedicated reader goroutine. Whichever waiting
// goroutine holds the one token in s.lead drives the connection: it
// waits for readability with the runtime poller (RawConn.Read, so no OS
// thread is held while it waits), advances the C state machine and
// wakes the owners of completed commands. It gives the token back when
// its own command is done, its context ends, or the handle closes; one
// of the other waiters then takes over. A lone caller thus goes from
// poller wake-up to its own result without a goroutine hand-off.

// leadStep is one poller callback: drive, then decide whether to stop
// leading (true) or wait for more input (false).
//
// Batching: while the leader is waking the owners of completed commands
// (s.batching != 0) their next requests are only queued in the core
// (submit skips the flush and counts itself in s.deferred); the leader
// yields once so that they run, then flushes them all with one call, so
// a burst leaves in one sendmsg instead of one per goroutine.
func (s *state) leadStep(ctx context.Context, cmd *command) bool {
	s.batching.Store(1)
	s.cmu.RLock()
	_, n, alive := s.pumpN(pumpLeader)
	s.cmu.RUnlock()
	own := false
	if cmd != nil {
		s.mu.Lock()
		own = cmd.finished
		s.mu.Unlock()
	}
	if alive && (n > 1 || (n == 1 && !own)) {
		runtime.Gosched()
	}
	s.batching.Store(0)
	if s.deferred.Swap(0) > 0 {
		s.cmu.RLock()
		s.flushLocked()
		s.cmu.RUnlock()
	}
	if !alive || s.stopping() || own {
		return true
	}
	return ctx != nil && ctx.Err() != nil
}

// leadTurn is one turn with the leadership token, just taken: unless
// Close is running it drives with fn (recording cmd, if any, as the
// leader's command), then gives the token back. It returns false if
// Close is running, in which case the caller must stop taking the token.
func (s *state) leadTurn(ctx context.Context, cmd *command, fn func(uintptr) bool) bool {
	if s.stopping() {
		// Close is running and will fail what is waiting; stop leading.
		s.lead <- struct{}{}
		return false
	}
	if cmd != nil {
		cmd.ctx = ctx
		s.mu.Lock()
		s.leaderCmd = cmd
		s.mu.Unlock()
	}
	s.drive(ctx, fn)
	if cmd != nil {
		s.mu.Lock()
		s.leaderCmd = nil
		s.mu.Unlock()
		cmd.ctx = nil
	}
	s.lead <- struct{}{}
	return true
}

// drive drives the connection with fn as the poller callback until fn
// returns true, ctx is done, or the poller fails. Caller holds the token.
func (s *state) drive(ctx context.Context, fn func(uintptr) bool) {
	var stop func() bool
	if ctx.Done() != nil {
		pf := s.pf
		stop = context.AfterFunc(ctx, func() { pf.SetReadDeadline(time.Unix(1, 0)) })
	}
	err := s.rc.Read(fn)
	if stop != nil {
		stop()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Ours, or a late one left by an earlier leader: clear it.
		s.pf.SetReadDeadline(time.Time{})
	}
}
