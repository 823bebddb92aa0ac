package nbd

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"runtime"
	"syscall"
	"unsafe"
)

// cconnect is one nbd_aio_connect_* call through the shim.
type cconnect = func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int

// connectRunner is h.aioConnect (the Aio* calls) or h.connect (the
// blocking ones).
type connectRunner = func(op string, call cconnect) error

// aioConnect runs one nbd_aio_connect_* call and starts the connector.
func (h *Handle) aioConnect(op string, call cconnect) error {
	s, err := h.live(op)
	if err != nil {
		return err
	}
	err = s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if call(c, &e) == -1 {
			return cerr(op, &e)
		}
		s.startDriver()
		return nil
	})
	runtime.KeepAlive(h)
	return err
}

// connectWith returns the blocking connect runner for ctx: aioConnect
// followed by WaitConnected(ctx).
func (h *Handle) connectWith(ctx context.Context) connectRunner {
	if ctx == nil {
		return func(op string, _ cconnect) error {
			return &Error{Op: op, Errno: syscall.EINVAL, Msg: "nil context"}
		}
	}
	return func(op string, call cconnect) error {
		if err := h.aioConnect(op, call); err != nil {
			return err
		}
		return h.waitConnected(ctx, op)
	}
}

// WaitConnected waits until a connection started with one of the Aio
// connect calls has finished connecting and negotiating. It returns nil
// if the handle is ready for commands, the connection error if it
// failed, or ctx.Err() if ctx is done first (the connection attempt
// continues in the background; Close abandons it).
func (h *Handle) WaitConnected(ctx context.Context) error {
	return h.waitConnected(ctx, "WaitConnected")
}

func (h *Handle) waitConnected(ctx context.Context, op string) error {
	defer runtime.KeepAlive(h)
	s, err := h.live(op)
	if err != nil {
		return err
	}
	if ctx == nil {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: "nil context"}
	}
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return &Error{Op: op, Errno: syscall.ENOTCONN, Msg: "no connection was started"}
	}
	select {
	case <-s.connDone:
	case <-s.stop:
		return closedError(op)
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	err = s.deadErr
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return closedError(op)
	}
	if err != nil {
		return withOp(err, op)
	}
	return nil
}

// ConnectUnix connects to the NBD server listening on the Unix-domain
// socket path and completes the handshake.
//
// Like every Connect call it returns ctx.Err() if ctx ends first; the
// attempt then goes on in the background (WaitConnected waits for it
// again) until Close abandons it.
func (h *Handle) ConnectUnix(ctx context.Context, path string) error {
	return h.connectUnix("ConnectUnix", path, h.connectWith(ctx))
}

// AioConnectUnix starts connecting to a Unix-domain socket and returns
// at once; see WaitConnected, AioIsConnecting and AioIsReady.
func (h *Handle) AioConnectUnix(path string) error {
	return h.connectUnix("AioConnectUnix", path, h.aioConnect)
}

func (h *Handle) connectUnix(op, path string, run connectRunner) error {
	cp, err := cString(op, path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cp))
	return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		return C.gonbd_aio_connect_unix(c, cp, e)
	})
}

// ConnectTCP connects to host and port (a service name or number).
func (h *Handle) ConnectTCP(ctx context.Context, host, port string) error {
	return h.connectTCP("ConnectTCP", host, port, h.connectWith(ctx))
}

// AioConnectTCP is the non-blocking form of ConnectTCP.
func (h *Handle) AioConnectTCP(host, port string) error {
	return h.connectTCP("AioConnectTCP", host, port, h.aioConnect)
}

func (h *Handle) connectTCP(op, host, port string, run connectRunner) error {
	ch, err := cString(op, host)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(ch))
	cp, err := cString(op, port)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cp))
	return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		return C.gonbd_aio_connect_tcp(c, ch, cp, e)
	})
}

// ConnectVsock connects to an AF_VSOCK server at cid and port.
func (h *Handle) ConnectVsock(ctx context.Context, cid, port uint32) error {
	return h.connectVsock("ConnectVsock", cid, port, h.connectWith(ctx))
}

// AioConnectVsock starts connecting to an AF_VSOCK server and returns at
// once; see WaitConnected, AioIsConnecting and AioIsReady.
func (h *Handle) AioConnectVsock(cid, port uint32) error {
	return h.connectVsock("AioConnectVsock", cid, port, h.aioConnect)
}

func (h *Handle) connectVsock(op string, cid, port uint32, run connectRunner) error {
	return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		return C.gonbd_aio_connect_vsock(c, C.uint32_t(cid), C.uint32_t(port), e)
	})
}

// ConnectURI connects to the server named by an NBD URI
// (nbd://, nbds://, nbd+unix://, nbd+vsock://, ...).
func (h *Handle) ConnectURI(ctx context.Context, uri string) error {
	return h.connectURI("ConnectURI", uri, h.connectWith(ctx))
}

// AioConnectURI is the non-blocking form of ConnectURI.
func (h *Handle) AioConnectURI(uri string) error {
	return h.connectURI("AioConnectURI", uri, h.aioConnect)
}

func (h *Handle) connectURI(op, uri string, run connectRunner) error {
	cu, err := cString(op, uri)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cu))
	return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		return C.gonbd_aio_connect_uri(c, cu, e)
	})
}

// ConnectCommand runs argv[0] with arguments argv[1:] as a subprocess
// speaking NBD on its stdin/stdout (for example "nbdkit -s ...").
func (h *Handle) ConnectCommand(ctx context.Context, argv ...string) error {
	return h.connectArgv("ConnectCommand", argv, h.connectWith(ctx), connectCommandC)
}

// AioConnectCommand is the non-blocking form of ConnectCommand.
func (h *Handle) AioConnectCommand(argv ...string) error {
	return h.connectArgv("AioConnectCommand", argv, h.aioConnect, connectCommandC)
}

func connectCommandC(c *C.struct_nbd_handle, a **C.char, e *C.struct_gonbd_err) C.int {
	return C.gonbd_aio_connect_command(c, a, e)
}

// ConnectSystemdSocketActivation runs argv[0] with arguments argv[1:] as
// a subprocess, passing it a listening Unix socket the systemd way
// (LISTEN_FDS=1, LISTEN_PID, the socket as descriptor 3), and connects
// to it. nbdkit supports this: ConnectSystemdSocketActivation("nbdkit",
// "memory", "1M").
func (h *Handle) ConnectSystemdSocketActivation(ctx context.Context, argv ...string) error {
	return h.connectArgv("ConnectSystemdSocketActivation", argv, h.connectWith(ctx), connectActivationC)
}

// AioConnectSystemdSocketActivation is the non-blocking form of
// ConnectSystemdSocketActivation.
func (h *Handle) AioConnectSystemdSocketActivation(argv ...string) error {
	return h.connectArgv("AioConnectSystemdSocketActivation", argv, h.aioConnect, connectActivationC)
}

func connectActivationC(c *C.struct_nbd_handle, a **C.char, e *C.struct_gonbd_err) C.int {
	return C.gonbd_aio_connect_systemd_socket_activation(c, a, e)
}

func (h *Handle) connectArgv(op string, argv []string, run connectRunner, call func(*C.struct_nbd_handle, **C.char, *C.struct_gonbd_err) C.int) error {
	if len(argv) == 0 {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: "empty argv"}
	}
	// argv lives in C memory: an array of C strings, NULL-terminated.
	arr, err := cStringList(op, argv)
	if err != nil {
		return err
	}
	defer freeCStringList(arr)
	return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		return call(c, arr, e)
	})
}

// KillSubprocess sends sig to the server subprocess started by
// ConnectCommand or ConnectSystemdSocketActivation (0 means SIGTERM),
// as nbd_kill_subprocess does. It only sends the signal and never
// blocks (so it takes no context): Close reaps the process, and kills
// it with SIGKILL if it is still running 2 s after SIGTERM. It fails
// with ESRCH if there is no subprocess.
func (h *Handle) KillSubprocess(sig syscall.Signal) error {
	const op = "KillSubprocess"
	return h.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if C.gonbd_kill_subprocess(c, C.int(sig), &e) == -1 {
			return cerr(op, &e)
		}
		return nil
	})
}

// ConnectAddr connects to a server address: a *net.UnixAddr (a name
// starting with '@' is an abstract socket) or a *net.TCPAddr with an IP
// address (no host name lookup is done; see ConnectTCP for names).
func (h *Handle) ConnectAddr(ctx context.Context, addr net.Addr) error {
	return h.connectAddr("ConnectAddr", addr, h.connectWith(ctx))
}

// AioConnectAddr is the non-blocking form of ConnectAddr.
func (h *Handle) AioConnectAddr(addr net.Addr) error {
	return h.connectAddr("AioConnectAddr", addr, h.aioConnect)
}

func (h *Handle) connectAddr(op string, addr net.Addr, run connectRunner) error {
	switch a := addr.(type) {
	case *net.UnixAddr:
		if a == nil || (a.Net != "" && a.Net != "unix") {
			return &Error{Op: op, Errno: syscall.EINVAL, Msg: "only stream (\"unix\") Unix sockets are supported"}
		}
		cp, err := cString(op, a.Name)
		if err != nil {
			return err
		}
		defer C.free(unsafe.Pointer(cp))
		n := C.size_t(len(a.Name))
		return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
			return C.gonbd_aio_connect_unix_addr(c, cp, n, e)
		})
	case *net.TCPAddr:
		if a == nil {
			break
		}
		var ip [16]byte
		n := 16
		var scope uint32
		if ip4 := a.IP.To4(); ip4 != nil {
			n = copy(ip[:], ip4)
		} else if len(a.IP) == net.IPv6len {
			copy(ip[:], a.IP)
			if a.Zone != "" {
				ifi, err := net.InterfaceByName(a.Zone)
				if err != nil {
					return &Error{Op: op, Errno: syscall.EINVAL, Msg: "zone: " + err.Error()}
				}
				scope = uint32(ifi.Index)
			}
		} else {
			return &Error{Op: op, Errno: syscall.EINVAL, Msg: "TCP address has no IP address"}
		}
		port := C.int(a.Port)
		return run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
			return C.gonbd_aio_connect_inet(c, (*C.uchar)(unsafe.Pointer(&ip[0])), C.int(n), port, C.uint32_t(scope), e)
		})
	}
	return &Error{Op: op, Errno: syscall.EAFNOSUPPORT, Msg: fmt.Sprintf("unsupported address type %T", addr)}
}

// ConnectSocket connects over an already-connected stream socket f.
//
// Like net.FileConn, ConnectSocket duplicates the descriptor (with
// close-on-exec) and hands the duplicate to the C library, which owns
// and closes it when the handle is closed. f remains the caller's: it
// may be closed at once, and closing it does not affect the handle.
// The two descriptors share one open file description, so the socket
// is set to non-blocking mode. The caller must not read from or write
// to the socket after the call.
func (h *Handle) ConnectSocket(ctx context.Context, f *os.File) error {
	return h.connectSocket("ConnectSocket", f, h.connectWith(ctx))
}

// AioConnectSocket is the non-blocking form of ConnectSocket.
func (h *Handle) AioConnectSocket(f *os.File) error {
	return h.connectSocket("AioConnectSocket", f, h.aioConnect)
}

func (h *Handle) connectSocket(op string, f *os.File, run connectRunner) error {
	if f == nil {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: "file is nil"}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: err.Error()}
	}
	return h.connectRaw(op, rc, run)
}

// ConnectConn is ConnectSocket for any connected stream socket that
// exposes its descriptor, e.g. *net.UnixConn or *net.TCPConn. The same
// ownership rules apply: the handle gets a duplicate, conn stays the
// caller's (close it whenever you like, but do not use it for I/O).
func (h *Handle) ConnectConn(ctx context.Context, conn syscall.Conn) error {
	return h.connectConn("ConnectConn", conn, h.connectWith(ctx))
}

// AioConnectConn is the non-blocking form of ConnectConn.
func (h *Handle) AioConnectConn(conn syscall.Conn) error {
	return h.connectConn("AioConnectConn", conn, h.aioConnect)
}

func (h *Handle) connectConn(op string, conn syscall.Conn, run connectRunner) error {
	if conn == nil || reflect.ValueOf(conn).Kind() == reflect.Pointer && reflect.ValueOf(conn).IsNil() {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: "conn is nil"}
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: err.Error()}
	}
	return h.connectRaw(op, rc, run)
}

func (h *Handle) connectRaw(op string, rc syscall.RawConn, run connectRunner) error {
	// Refuse early on a used handle so no descriptor is duplicated.
	var created bool
	if err := h.withC(op, func(c *C.struct_nbd_handle) error {
		created = C.gonbd_aio_is_created(c) != 0
		return nil
	}); err != nil {
		return err
	}
	if !created {
		return &Error{Op: op, Errno: syscall.EINVAL, Msg: "invalid state: the handle must be newly created"}
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = dupCloexec(int(fd))
	}); err != nil {
		return &Error{Op: op, Errno: syscall.EBADF, Msg: err.Error()}
	}
	if derr != nil {
		return &Error{Op: op, Errno: derr.(syscall.Errno), Msg: "dup: " + derr.Error()}
	}
	if err := syscall.SetNonblock(nfd, true); err != nil {
		syscall.Close(nfd)
		return &Error{Op: op, Errno: err.(syscall.Errno), Msg: err.Error()}
	}
	handedOver := false
	err := run(op, func(c *C.struct_nbd_handle, e *C.struct_gonbd_err) C.int {
		r := C.gonbd_aio_connect_socket(c, C.int(nfd), e)
		handedOver = r != -1
		return r
	})
	if !handedOver {
		// On failure the socket stays ours (nbd_connect_socket(3)).
		syscall.Close(nfd)
	}
	return err
}
